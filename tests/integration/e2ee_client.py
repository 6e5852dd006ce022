"""An encrypting Matrix client for the *people* in integration tests: matrix-nio with its ``e2e`` extra.

:class:`E2EEUser` wraps a person from the ``make_user`` fixture (a :class:`TestMatrixUser`, which it
keeps for raw API calls) with a nio ``AsyncClient`` that has its own crypto store (under the test's
``tmp_path``) on the same device. It does what Element does for a direct chat with the bot::

    alice = await E2EEUser.start(await make_user("alice"), tmp_path)
    dm = await alice.create_dm(bot_id)                       # is_direct, m.room.encryption in the initial state
    reply = await alice.send_and_wait_reply(dm, "!h help", from_user=bot_id)   # decrypted nio event

Waiting is done by listening, never by sleeping: every event the client syncs is recorded in order (nio
decrypts what it can; what it cannot stays a ``MegolmEvent``), and ``wait_for`` syncs until an event
after the last one it returned matches. Nothing is lost between two waits, because the client only
syncs inside them.

``withholding_keys(room_id)`` sends messages encrypted with a fresh Megolm session whose key is shared
with nobody: the deterministic way to make a message no other device can read.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any
from urllib.parse import quote

import aiohttp
from nio import (
    AsyncClient,
    AsyncClientConfig,
    Event,
    JoinedMembersResponse,
    JoinResponse,
    KeysQueryResponse,
    MegolmEvent,
    RoomCreateResponse,
    RoomMemberEvent,
    RoomPreset,
    RoomSendResponse,
    SyncResponse,
)
from nio.crypto.attachments import decrypt_attachment

from matrix_client import TestMatrixUser

MEGOLM = "m.megolm.v1.aes-sha2"
NioEventPredicate = Callable[[Event], bool]

# Whole member lists (nio must know everyone it encrypts for); no presence or typing.
_SYNC_FILTER = {
    "presence": {"not_types": ["*"]},
    "room": {"ephemeral": {"not_types": ["*"]}, "timeline": {"limit": 100}, "state": {"lazy_load_members": False}},
}


def nio_replies_to(event_id: str, *, sender: str | None = None) -> NioEventPredicate:
    """Predicate on nio events: a reply to ``event_id`` (optionally from ``sender``)."""

    def predicate(event: Event) -> bool:
        relates = (event.source.get("content") or {}).get("m.relates_to") or {}
        return ((relates.get("m.in_reply_to") or {}).get("event_id") == event_id
                and (sender is None or event.sender == sender))

    predicate.__name__ = f"a reply to {event_id}" + (f" from {sender}" if sender else "")
    return predicate


def _summary(room_id: str, event: Event) -> str:
    body = getattr(event, "body", None)
    kind = type(event).__name__
    return f"{kind} from {getattr(event, 'sender', '?')} in {room_id}" + (f": {body[:80]!r}" if body else "")


class E2EEUser:
    """A person in a test, with an encrypting client (see the module docstring)."""

    __test__ = False

    def __init__(self, plain: TestMatrixUser, store_path: Path) -> None:
        assert plain.device_id, "the user needs a device ID to keep encryption keys"
        self.plain = plain
        self.user_id = plain.user_id
        self.device_id = plain.device_id
        store_path.mkdir(parents=True, exist_ok=True)
        self.client = AsyncClient(plain.homeserver, plain.user_id, device_id=plain.device_id,
                                  store_path=str(store_path),
                                  config=AsyncClientConfig(encryption_enabled=True, store_sync_tokens=False,
                                                           max_limit_exceeded=5))
        self.events: list[tuple[str, Event]] = []
        self._returned: set[int] = set()
        self._http: aiohttp.ClientSession | None = None

    @classmethod
    async def start(cls, plain: TestMatrixUser, tmp_path: Path) -> E2EEUser:
        """Open the crypto store, upload the device's keys and take the current sync position."""
        user = cls(plain, tmp_path / f"crypto-{plain.user_id.strip('@').split(':')[0]}")
        user.client.restore_login(plain.user_id, plain.device_id, plain.access_token)
        assert user.client.olm is not None, "nio's e2e extra (vodozemac) is not installed"
        await user._upkeep()
        first = await user.client.sync(timeout=0, sync_filter=_SYNC_FILTER, full_state=True)
        assert isinstance(first, SyncResponse), first
        await user._upkeep()
        return user

    async def close(self) -> None:
        await self.client.close()
        if self._http is not None:
            await self._http.close()

    # -- syncing ------------------------------------------------------------------------------------

    async def sync_once(self, timeout: float = 10.0) -> None:
        """One /sync from the last position; nio decrypts; the events are recorded in order."""
        response = await self.client.sync(timeout=int(timeout * 1000), sync_filter=_SYNC_FILTER,
                                          since=self.client.next_batch)
        assert isinstance(response, SyncResponse), response
        for room_id, info in response.rooms.join.items():
            self.events.extend((room_id, event) for event in info.timeline.events)
        await self._upkeep()

    async def _upkeep(self) -> None:
        """What nio's sync_forever does between syncs: to-device messages, key upload/query/claim."""
        client = self.client
        if client.outgoing_to_device_messages:
            await client.send_to_device_messages()
        if client.should_upload_keys:
            await client.keys_upload()
        if client.should_query_keys:
            await client.keys_query()
        if client.should_claim_keys:
            await client.keys_claim(client.get_users_for_key_claiming())

    async def wait_for(self, room_id: str | None, predicate: NioEventPredicate, *, timeout: float = 30.0,
                       description: str | None = None) -> Event:
        """The first recorded event (in ``room_id``, or anywhere) matching ``predicate`` not yet returned."""
        what = description or getattr(predicate, "__name__", "an event")
        deadline = time.monotonic() + timeout
        checked = 0
        while True:
            for index in range(checked, len(self.events)):
                room, event = self.events[index]
                if index not in self._returned and (room_id is None or room == room_id) and predicate(event):
                    self._returned.add(index)
                    return event
            checked = len(self.events)
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                seen = "\n  ".join(_summary(r, e) for r, e in self.events[-30:]) or "(nothing)"
                raise AssertionError(f"{self.user_id} timed out after {timeout:g} s waiting for {what}. "
                                     f"Events seen:\n  {seen}")
            await self.sync_once(min(remaining, 10.0))

    # -- rooms --------------------------------------------------------------------------------------

    async def create_dm(self, other: str, *, preset: RoomPreset = RoomPreset.private_chat,
                        timeout: float = 30.0) -> str:
        """A direct chat with ``other`` created as Element creates one (``is_direct``, the invite, and
        ``m.room.encryption`` in the initial state); returns once ``other`` has joined."""
        response = await self.client.room_create(
            is_direct=True, invite=[other], preset=preset,
            initial_state=[{"type": "m.room.encryption", "state_key": "", "content": {"algorithm": MEGOLM}}])
        assert isinstance(response, RoomCreateResponse), response
        room_id = str(response.room_id)
        await self.wait_for(room_id, lambda e: isinstance(e, RoomMemberEvent) and e.state_key == other
                            and e.membership == "join", timeout=timeout, description=f"{other} joining the DM")
        return room_id

    async def wait_for_invite(self, room_id: str, *, timeout: float = 30.0) -> None:
        """Sync until an invite to ``room_id`` has arrived (a pending one counts)."""
        deadline = time.monotonic() + timeout
        while room_id not in self.client.invited_rooms and room_id not in self.client.rooms:
            remaining = deadline - time.monotonic()
            assert remaining > 0, f"{self.user_id} timed out after {timeout:g} s waiting for an invite to {room_id}"
            await self.sync_once(min(remaining, 10.0))

    async def join_when_invited(self, room_id: str, *, timeout: float = 30.0) -> None:
        """Wait for an invite to ``room_id`` (pending ones count), then join it."""
        await self.wait_for_invite(room_id, timeout=timeout)
        response = await self.client.join(room_id)
        assert isinstance(response, JoinResponse), response
        while room_id not in self.client.rooms:  # nio encrypts only for rooms it has synced
            await self.sync_once(1.0)

    # -- sending ------------------------------------------------------------------------------------

    async def send_text(self, room_id: str, body: str) -> str:
        """Send an encrypted ``m.text`` and return its event ID (the key goes to every member's device,
        unverified ones included, as a fresh Element user does)."""
        room = self.client.rooms.get(room_id)
        assert room is not None and room.encrypted, f"{room_id} is not an encrypted room this client knows"
        if self.client.should_query_keys:
            assert isinstance(await self.client.keys_query(), KeysQueryResponse)
        response = await self.client.room_send(room_id, "m.room.message", {"msgtype": "m.text", "body": body},
                                               ignore_unverified_devices=True)
        assert isinstance(response, RoomSendResponse), response
        return str(response.event_id)

    async def send_and_wait_reply(self, room_id: str, body: str, *, from_user: str, timeout: float = 30.0) -> Event:
        """Send ``body`` encrypted; return ``from_user``'s reply to it, decrypted (or a ``MegolmEvent``
        if it could not be)."""
        event_id = await self.send_text(room_id, body)
        return await self.wait_for(room_id, nio_replies_to(event_id, sender=from_user), timeout=timeout,
                                   description=f"a reply from {from_user} to {event_id} ({body!r})")

    @contextlib.asynccontextmanager
    async def withholding_keys(self, room_id: str) -> AsyncIterator[None]:
        """Inside the block, messages to ``room_id`` use a new Megolm session that is never shared:
        nobody else receives its key, so no other device can decrypt them. Afterwards the previous
        session is used again."""
        olm = self.client.olm
        room = self.client.rooms[room_id]
        if not room.members_synced:  # let room_send's member loading happen now, not share the session
            assert isinstance(await self.client.joined_members(room_id), JoinedMembersResponse)
        previous = olm.outbound_group_sessions.pop(room_id, None)
        olm.create_outbound_group_session(room_id)
        olm.outbound_group_sessions[room_id].shared = True  # so room_send encrypts without sharing it
        try:
            yield
        finally:
            olm.outbound_group_sessions.pop(room_id, None)
            if previous is not None:
                olm.outbound_group_sessions[room_id] = previous

    # -- media --------------------------------------------------------------------------------------

    async def download(self, content: dict[str, Any]) -> bytes:
        """The bytes of an attachment: ``content["file"]`` decrypted, or ``content["url"]`` as is."""
        file = content.get("file")
        mxc = file["url"] if file else content["url"]
        server, media_id = mxc[len("mxc://"):].split("/", 1)
        if self._http is None:
            self._http = aiohttp.ClientSession(headers={"Authorization": f"Bearer {self.plain.access_token}"})
        url = f"{self.plain.homeserver}/_matrix/client/v1/media/download/{quote(server)}/{quote(media_id)}"
        async with self._http.get(url) as response:
            assert response.status == 200, f"download of {mxc}: HTTP {response.status}"
            data = await response.read()
        if not file:
            return data
        return decrypt_attachment(data, file["key"]["k"], file["hashes"]["sha256"], file["iv"])

    # -- what the server holds ------------------------------------------------------------------------

    async def raw_event(self, room_id: str, event_id: str) -> dict[str, Any]:
        """The event as the homeserver stores it (``m.room.encrypted`` in an encrypted room)."""
        return await self.plain.request("GET", f"/_matrix/client/v3/rooms/{quote(room_id, safe='')}/event/"
                                               f"{quote(event_id, safe='')}")

    def undecryptable(self, room_id: str) -> list[MegolmEvent]:
        """Events in ``room_id`` this client could not decrypt."""
        return [e for r, e in self.events if r == room_id and isinstance(e, MegolmEvent)]
