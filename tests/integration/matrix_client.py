"""A small Matrix client for the *people* in integration tests, on raw aiohttp.

Waiting is done by listening, never by sleeping: a :class:`SyncListener` records the sync
position *before* the test acts, then long-polls ``/sync`` from there until an event
matching a predicate arrives or the deadline passes::

    async with alice.listening() as listener:
        event_id = await alice.send_text(room_id, "!poll start")
        reply = await listener.wait_for(room_id, replies_to(event_id, sender=bot_id))
        # or, inside the block: await alice.wait_for_event(room_id, replies_to(event_id))

or, for the common case, ``await alice.send_and_wait_reply(room_id, "!help", from_user=bot_id)``.
A timeout raises AssertionError naming what was awaited and listing the events seen.

Each listener keeps its own sync token, so several can run side by side for one user, and
a listener never loses events between two ``wait_for`` calls.
"""

from __future__ import annotations

import contextlib
import json
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable, Mapping
from typing import Any
from urllib.parse import quote

import aiohttp

from tests.fakes.html_check import assert_readable

Event = dict[str, Any]
EventPredicate = Callable[[Event], bool]
MakeUser = Callable[..., Awaitable["TestMatrixUser"]]
"""The ``make_user`` fixture: ``await make_user(name="user", *, server=None, admin=False)``."""

# Keeps /sync small: no presence, account data or typing; enough timeline per room that a
# test never sees a gap (gaps are filled from /messages anyway).
_LISTEN_FILTER = {
    "presence": {"not_types": ["*"]},
    "account_data": {"not_types": ["*"]},
    "room": {
        "ephemeral": {"not_types": ["*"]},
        "account_data": {"not_types": ["*"]},
        "state": {"lazy_load_members": True},
        "timeline": {"limit": 100},
    },
}
# Only the stream position (and pending invites) are wanted from the first sync.
_POSITION_FILTER = {
    **_LISTEN_FILTER,
    "room": {**_LISTEN_FILTER["room"], "state": {"not_types": ["*"]}, "timeline": {"limit": 1}},
}


class MatrixRequestError(RuntimeError):
    """The homeserver answered a request with an error."""

    def __init__(self, method: str, path: str, status: int, body: Mapping[str, Any]) -> None:
        self.status = status
        self.errcode: str | None = body.get("errcode")
        self.error: str | None = body.get("error")
        super().__init__(f"{method} {path} -> HTTP {status} {self.errcode}: {self.error}")


def replies_to(event_id: str, *, sender: str | None = None) -> EventPredicate:
    """Predicate: the event replies to ``event_id`` (``m.in_reply_to``), optionally from ``sender``."""

    def predicate(event: Event) -> bool:
        relates = event.get("content", {}).get("m.relates_to") or {}
        in_reply_to = relates.get("m.in_reply_to") or {}
        return in_reply_to.get("event_id") == event_id and (sender is None or event.get("sender") == sender)

    predicate.__name__ = f"a reply to {event_id}" + (f" from {sender}" if sender else "")
    return predicate


def of_type(event_type: str, *, sender: str | None = None, state_key: str | None = None) -> EventPredicate:
    """Predicate: the event has ``event_type`` (and the given sender / state key, if any)."""

    def predicate(event: Event) -> bool:
        return (
            event.get("type") == event_type
            and (sender is None or event.get("sender") == sender)
            and (state_key is None or event.get("state_key") == state_key)
        )

    predicate.__name__ = " ".join(
        [f"a {event_type} event"]
        + ([f"from {sender}"] if sender else [])
        + ([f"with state key {state_key!r}"] if state_key is not None else [])
    )
    return predicate


def _summary(event: Event) -> str:
    content = event.get("content", {})
    detail = content.get("body") or content.get("membership") or content.get("m.relates_to", {}).get("key")
    text = f"{event.get('type')} from {event.get('sender')} in {event.get('room_id')}"
    return f"{text}: {str(detail)[:80]!r}" if detail else text


class SyncListener:
    """Events a user receives from a sync position onward; see the module docstring."""

    def __init__(self, user: TestMatrixUser, since: str, invites: Mapping[str, list[Event]]) -> None:
        self._user = user
        self._since = since
        self._events: list[Event] = []
        self._returned: set[int] = set()
        self.invites: dict[str, list[Event]] = dict(invites)
        """Rooms the user is invited to, with the stripped state of each invite."""

    @property
    def events(self) -> list[Event]:
        """Every timeline event seen so far (each with ``room_id`` added), in order."""
        return list(self._events)

    async def wait_for(
        self,
        room_id: str | None,
        predicate: EventPredicate | None = None,
        *,
        timeout: float = 20.0,
        description: str | None = None,
    ) -> Event:
        """Return the first event (in ``room_id``, or any room if None) matching ``predicate``.

        Events already returned by this listener are skipped, so waiting twice with the
        same predicate gives the first and then the second match. Raises AssertionError
        naming ``description`` and listing the events seen if nothing matches in time.
        """
        what = description or getattr(predicate, "__name__", "an event")

        def matches(index: int, event: Event) -> bool:
            return (
                index not in self._returned
                and (room_id is None or event["room_id"] == room_id)
                and (predicate is None or predicate(event))
            )

        deadline = time.monotonic() + timeout
        checked = 0
        while True:
            for index in range(checked, len(self._events)):
                if matches(index, self._events[index]):
                    self._returned.add(index)
                    return self._events[index]
            checked = len(self._events)
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                seen = "\n  ".join(_summary(event) for event in self._events[-30:]) or "(nothing)"
                where = f" in {room_id}" if room_id else ""
                raise AssertionError(
                    f"{self._user.user_id} timed out after {timeout:g} s waiting for {what}{where}. "
                    f"Events seen since listening began:\n  {seen}"
                )
            await self._poll(remaining)

    async def wait_for_invite(self, room_id: str | None = None, *, timeout: float = 20.0) -> str:
        """Return the ID of a room the user is invited to (``room_id`` if given)."""
        deadline = time.monotonic() + timeout
        while True:
            for invited in self.invites:
                if room_id is None or invited == room_id:
                    return invited
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise AssertionError(
                    f"{self._user.user_id} timed out after {timeout:g} s waiting for an invite"
                    + (f" to {room_id}" if room_id else "")
                )
            await self._poll(remaining)

    async def _poll(self, remaining: float) -> None:
        since = self._since
        reply = await self._user.sync(since=since, timeout=min(remaining, 10.0), sync_filter=_LISTEN_FILTER)
        rooms = reply.get("rooms", {})
        for section in ("join", "leave"):
            for room_id, room in rooms.get(section, {}).items():
                timeline = room.get("timeline", {})
                events = list(timeline.get("events", []))
                if timeline.get("limited") and timeline.get("prev_batch"):
                    events = await self._user.messages_between(room_id, timeline["prev_batch"], since) + events
                self._events.extend({**event, "room_id": room_id} for event in events)
        for room_id, room in rooms.get("invite", {}).items():
            self.invites[room_id] = room.get("invite_state", {}).get("events", [])
        for room_id in [*rooms.get("join", {}), *rooms.get("leave", {})]:
            self.invites.pop(room_id, None)  # accepted or rejected
        self._since = reply["next_batch"]


class TestMatrixUser:
    """A logged-in person in a test, talking to the homeserver's client-server API."""

    __test__ = False  # not a pytest test class despite the name

    def __init__(
        self,
        homeserver: str,
        *,
        user_id: str,
        access_token: str,
        device_id: str | None = None,
        password: str | None = None,
    ) -> None:
        self.homeserver = homeserver.rstrip("/")
        self.user_id = user_id
        self.access_token = access_token
        self.device_id = device_id
        self.password = password
        self._http = aiohttp.ClientSession(headers={"Authorization": f"Bearer {access_token}"})
        self._listeners: list[SyncListener] = []

    @property
    def server_name(self) -> str:
        """The user's homeserver name (the part after the first colon of the user ID)."""
        return self.user_id.split(":", 1)[1]

    def __repr__(self) -> str:
        return f"TestMatrixUser({self.user_id!r})"

    async def close(self) -> None:
        """Close the HTTP session (the access token stays valid)."""
        await self._http.close()

    # -- raw API --------------------------------------------------------------------

    async def request(
        self,
        method: str,
        path: str,
        *,
        body: Mapping[str, Any] | None = None,
        params: Mapping[str, str] | Iterable[tuple[str, str]] | None = None,
        timeout: float = 30.0,
    ) -> dict[str, Any]:
        """Call ``path`` (e.g. ``/_matrix/client/v3/joined_rooms``); raise MatrixRequestError on errors."""
        async with self._http.request(
            method,
            self.homeserver + path,
            json=dict(body) if body is not None else ({} if method in ("POST", "PUT") else None),
            params=params,
            timeout=aiohttp.ClientTimeout(total=timeout),
        ) as response:
            reply = await response.json(content_type=None)
            if response.status != 200:
                raise MatrixRequestError(method, path, response.status, reply or {})
            return reply

    async def sync(
        self,
        *,
        since: str | None = None,
        timeout: float = 0.0,
        sync_filter: Mapping[str, Any] | None = None,
    ) -> dict[str, Any]:
        """One ``/sync`` call; ``timeout`` in seconds is the long-poll duration."""
        params = {"timeout": str(int(timeout * 1000)), "set_presence": "offline"}
        if since is not None:
            params["since"] = since
        if sync_filter is not None:
            params["filter"] = json.dumps(sync_filter, separators=(",", ":"))
        return await self.request("GET", "/_matrix/client/v3/sync", params=params, timeout=timeout + 30)

    async def messages_between(self, room_id: str, start: str, end: str | None) -> list[Event]:
        """Timeline events from ``start`` back to ``end`` (exclusive), oldest first."""
        collected: list[Event] = []
        token: str | None = start
        while token:
            params = {"dir": "b", "from": token, "limit": "100"}
            if end is not None:
                params["to"] = end
            page = await self.request("GET", f"{_room(room_id)}/messages", params=params)
            collected.extend(page.get("chunk", []))
            token = page.get("end") if page.get("chunk") else None
        return list(reversed(collected))

    # -- listening ------------------------------------------------------------------

    async def listen(self) -> SyncListener:
        """Take the current sync position and return a listener for what comes after it."""
        reply = await self.sync(sync_filter=_POSITION_FILTER)
        invites = {
            room_id: room.get("invite_state", {}).get("events", [])
            for room_id, room in reply.get("rooms", {}).get("invite", {}).items()
        }
        return SyncListener(self, reply["next_batch"], invites)

    @contextlib.asynccontextmanager
    async def listening(self) -> AsyncIterator[SyncListener]:
        """``async with user.listening() as listener:`` -- listen, then act, then wait.

        Inside the block, ``user.wait_for_event`` waits on this (the innermost) listener.
        """
        listener = await self.listen()
        self._listeners.append(listener)
        try:
            yield listener
        finally:
            self._listeners.remove(listener)

    async def wait_for_event(
        self,
        room_id: str | None,
        predicate: EventPredicate | None = None,
        *,
        timeout: float = 20.0,
        description: str | None = None,
    ) -> Event:
        """Wait on the innermost ``listening()`` block's listener (see SyncListener.wait_for).

        Must be called inside ``async with user.listening():`` entered *before* the action
        whose effect is awaited; otherwise an event that arrived early would be missed.
        """
        if not self._listeners:
            raise RuntimeError(
                "wait_for_event needs a position taken before acting: "
                "use `async with user.listening(): <act>; await user.wait_for_event(...)`"
            )
        return await self._listeners[-1].wait_for(room_id, predicate, timeout=timeout, description=description)

    async def send_and_wait_reply(
        self, room_id: str, body: str, *, from_user: str, timeout: float = 20.0
    ) -> Event:
        """Send ``body`` and return the event from ``from_user`` that replies to it, having checked that
        the reply reads well in every client (``tests/fakes/html_check.py``: valid HTML of the Matrix
        subset, a plain body without tags or Markdown)."""
        async with self.listening() as listener:
            event_id = await self.send_text(room_id, body)
            reply = await listener.wait_for(
                room_id,
                replies_to(event_id, sender=from_user),
                timeout=timeout,
                description=f"a reply from {from_user} to {event_id} ({body!r})",
            )
        if reply.get("type") == "m.room.message":
            assert_readable(reply.get("content", {}))
        return reply

    async def wait_for_invite(self, timeout: float = 20.0, *, room_id: str | None = None) -> str:
        """Return a room the user is (or becomes) invited to; pending invites count."""
        listener = await self.listen()
        return await listener.wait_for_invite(room_id, timeout=timeout)

    # -- rooms ------------------------------------------------------------------------

    async def create_room(
        self,
        *,
        name: str | None = None,
        preset: str | None = "public_chat",
        invite: Iterable[str] = (),
        room_version: str | None = None,
        visibility: str | None = None,
        space: bool = False,
        initial_state: Iterable[Mapping[str, Any]] = (),
        power_level_content_override: Mapping[str, Any] | None = None,
        **extra: Any,
    ) -> str:
        """Create a room (``space=True`` for a space) and return its ID.

        ``extra`` is passed through to ``/createRoom`` (e.g. ``topic``, ``room_alias_name``).
        """
        body: dict[str, Any] = {"invite": list(invite), "initial_state": list(initial_state), **extra}
        if name is not None:
            body["name"] = name
        if preset is not None:
            body["preset"] = preset
        if room_version is not None:
            body["room_version"] = room_version
        if visibility is not None:
            body["visibility"] = visibility
        if power_level_content_override is not None:
            body["power_level_content_override"] = dict(power_level_content_override)
        if space:
            body["creation_content"] = {**body.get("creation_content", {}), "type": "m.space"}
        reply = await self.request("POST", "/_matrix/client/v3/createRoom", body=body)
        return reply["room_id"]

    async def join(self, room_id_or_alias: str, *, via: Iterable[str] = (), reason: str | None = None) -> str:
        """Join a room, routed over ``via`` servers (needed for remote v12 rooms); return its ID."""
        params = [(key, server) for server in via for key in ("via", "server_name")]
        body = {"reason": reason} if reason else {}
        reply = await self.request(
            "POST", f"/_matrix/client/v3/join/{quote(room_id_or_alias, safe='')}", body=body, params=params
        )
        return reply["room_id"]

    async def knock(self, room_id_or_alias: str, *, via: Iterable[str] = (), reason: str | None = None) -> str:
        """Knock on a room (join rule knock or knock_restricted); return its ID."""
        params = [(key, server) for server in via for key in ("via", "server_name")]
        body = {"reason": reason} if reason else {}
        reply = await self.request(
            "POST", f"/_matrix/client/v3/knock/{quote(room_id_or_alias, safe='')}", body=body, params=params
        )
        return reply["room_id"]

    async def leave(self, room_id: str, *, reason: str | None = None) -> None:
        """Leave a room (also rejects an invite or retracts a knock)."""
        await self.request("POST", f"{_room(room_id)}/leave", body={"reason": reason} if reason else {})

    async def invite(self, room_id: str, user_id: str, *, reason: str | None = None) -> None:
        """Invite ``user_id`` (also accepts a knock)."""
        body = {"user_id": user_id, **({"reason": reason} if reason else {})}
        await self.request("POST", f"{_room(room_id)}/invite", body=body)

    async def kick(self, room_id: str, user_id: str, *, reason: str | None = None) -> None:
        """Kick ``user_id`` (also rejects a knock)."""
        body = {"user_id": user_id, **({"reason": reason} if reason else {})}
        await self.request("POST", f"{_room(room_id)}/kick", body=body)

    async def joined_rooms(self) -> list[str]:
        """IDs of the rooms the user is joined to."""
        return (await self.request("GET", "/_matrix/client/v3/joined_rooms"))["joined_rooms"]

    async def joined_members(self, room_id: str) -> set[str]:
        """User IDs joined to ``room_id``."""
        return set((await self.request("GET", f"{_room(room_id)}/joined_members"))["joined"])

    # -- events -----------------------------------------------------------------------

    async def send_event(self, room_id: str, event_type: str, content: Mapping[str, Any]) -> str:
        """Send a message-like event and return its event ID."""
        path = f"{_room(room_id)}/send/{quote(event_type, safe='')}/{uuid.uuid4().hex}"
        return (await self.request("PUT", path, body=content))["event_id"]

    async def send_text(self, room_id: str, body: str, *, reply_to: str | None = None) -> str:
        """Send an ``m.text`` message (optionally as a reply) and return its event ID."""
        content: dict[str, Any] = {"msgtype": "m.text", "body": body}
        if reply_to is not None:
            content["m.relates_to"] = {"m.in_reply_to": {"event_id": reply_to}}
        return await self.send_event(room_id, "m.room.message", content)

    async def react(self, room_id: str, event_id: str, key: str) -> str:
        """Annotate ``event_id`` with ``key`` (e.g. ``"3\\uFE0F\\u20E3"``); return the reaction's ID."""
        content = {"m.relates_to": {"rel_type": "m.annotation", "event_id": event_id, "key": key}}
        return await self.send_event(room_id, "m.reaction", content)

    async def redact(self, room_id: str, event_id: str, *, reason: str | None = None) -> str:
        """Redact ``event_id`` (e.g. withdraw a reaction); return the redaction's ID."""
        path = f"{_room(room_id)}/redact/{quote(event_id, safe='')}/{uuid.uuid4().hex}"
        return (await self.request("PUT", path, body={"reason": reason} if reason else {}))["event_id"]

    async def get_state(self, room_id: str, event_type: str, state_key: str = "") -> dict[str, Any] | None:
        """Content of a state event, or None if the room has no such state."""
        path = f"{_room(room_id)}/state/{quote(event_type, safe='')}/{quote(state_key, safe='')}"
        try:
            return await self.request("GET", path)
        except MatrixRequestError as error:
            if error.errcode == "M_NOT_FOUND":
                return None
            raise

    async def put_state(
        self, room_id: str, event_type: str, content: Mapping[str, Any], state_key: str = ""
    ) -> str:
        """Set a state event (the whole content) and return its event ID."""
        path = f"{_room(room_id)}/state/{quote(event_type, safe='')}/{quote(state_key, safe='')}"
        return (await self.request("PUT", path, body=content))["event_id"]


def _room(room_id: str) -> str:
    return f"/_matrix/client/v3/rooms/{quote(room_id, safe='')}"
