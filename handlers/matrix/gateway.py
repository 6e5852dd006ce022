"""One gateway over matrix-nio: every call the bot makes to its homeserver goes through here.

nio *returns* error objects and retries rate limits forever by default; here errors are *raised* as one
exception class per Matrix errcode (as mautrix does), and 429s are retried a bounded number of times
(``AsyncClientConfig.max_limit_exceeded``), honouring ``retry_after_ms``. Endpoints nio lacks or gets
wrong for room version 12 (join/knock with ``via``, leave with a reason, raw relations) share the same
path through ``nio.AsyncClient._send`` so they get the same retry and error handling. In an encrypted
room, messages and attachments go through ``encryption`` (``handlers/matrix/crypto.py``) instead.
"""

from __future__ import annotations

import io
import json
import logging
import uuid
from collections.abc import AsyncIterator, Iterable
from dataclasses import dataclass
from typing import Any, Protocol
from urllib.parse import quote, urlencode

from nio import AsyncClient, ErrorResponse, Response, UploadResponse

from handlers.matrix.errors import (  # re-exported: the edge imports its errors from the gateway
    BadJson as BadJson,
    DuplicateAnnotation as DuplicateAnnotation,
    Forbidden as Forbidden,
    InvalidParam as InvalidParam,
    LimitExceeded as LimitExceeded,
    MatrixError as MatrixError,
    NotFound as NotFound,
    ServerUnavailable as ServerUnavailable,
    UnknownToken as UnknownToken,
    UserInUse as UserInUse,
    raise_for as raise_for,
)
from handlers.matrix.state_cache import RoomStateCache
from harmony_matrix.event_types import MEGOLM_ALGORITHM, REACTION, ROOM_ENCRYPTION, ROOM_JOIN_RULES
from harmony_matrix.ids import EventId, RoomId, UserId

log = logging.getLogger(__name__)


class JsonResponse(Response):  # type: ignore[misc]  # nio ships no type information
    """Any successful JSON answer, kept as a dict (nio's per-endpoint classes cannot parse all of ours)."""

    def __init__(self, content: dict[str, Any]) -> None:
        super().__init__()
        self.content = content

    @classmethod
    def from_dict(cls, parsed_dict: dict[str, Any]) -> JsonResponse | ErrorResponse:
        """nio's parsing hook: an error answer becomes nio's ``ErrorResponse`` (see ``raise_for``)."""
        if isinstance(parsed_dict, dict) and "errcode" in parsed_dict:
            return ErrorResponse.from_dict(parsed_dict)
        if isinstance(parsed_dict, list):  # e.g. GET /rooms/{id}/state answers with a JSON array
            return cls({"chunk": parsed_dict})
        return cls(parsed_dict if isinstance(parsed_dict, dict) else {})


def new_txn_id(seed: str | None = None) -> str:
    """A transaction ID; a seed makes it deterministic so a retried send is deduplicated by the server.

    Synapse remembers transaction IDs per device for a while, so a command re-handled after a crash
    (seed = the command's event ID) does not produce a second reply.
    """
    if seed is None:
        return uuid.uuid4().hex
    return "hm" + uuid.uuid5(uuid.NAMESPACE_URL, seed).hex


class Encryption(Protocol):
    """End-to-end encryption of the bot's device (``handlers/matrix/crypto.py``), as sending needs it."""

    direct_chats_encrypted: bool
    """Whether the direct chats the bot opens itself get ``m.room.encryption`` in their initial state."""

    async def is_encrypted(self, room_id: str) -> bool:
        """Whether ``room_id`` is encrypted (never a wrong "no": see ``RoomCrypto.is_encrypted``)."""
        ...

    async def send(self, room_id: str, event_type: str, content: dict[str, Any], *, txn_id: str) -> EventId:
        """Encrypt and send a timeline event with the gateway's transaction ID."""
        ...

    async def upload(self, data: bytes) -> dict[str, Any]:
        """Encrypt and upload; the ``file`` object of an encrypted attachment."""
        ...


@dataclass(frozen=True)
class Member:
    """One room member as ``/members`` lists them."""

    user_id: UserId
    membership: str
    display_name: str | None = None


class MatrixGateway:
    """Typed, raising access to the client-server API for one bot account."""

    def __init__(self, client: AsyncClient) -> None:
        self.client = client
        # Set by the composition root once the crypto store is loaded: sends to encrypted rooms go there.
        self.encryption: Encryption | None = None
        #: The non-member state of the rooms the bot is in, fed by the dispatcher (``current_state``).
        self.room_state = RoomStateCache(lambda: self.user_id)
        #: Whether nio's cache holds every room the bot is in, whole (bot mode: the first /sync's full
        #: state). False in appservice mode (nio holds only the rooms something was pushed from) and in
        #: bot mode with ``sync.full_state_at_start`` off (only the rooms heard from since the restart):
        #: then only rooms whose whole state came in a batch are answered from nio (``_synced_room``).
        self.caches_every_joined_room = True
        #: The display names the last ``joined_members`` read of each room gave (room → person → name):
        #: where nio does not hold a room, its members' names as of that read (a full sweep reads again).
        self.read_display_names: dict[str, dict[str, str]] = {}

    @property
    def user_id(self) -> UserId:
        """The bot's own user ID."""
        return UserId(str(self.client.user_id))

    @property
    def server_name(self) -> str:
        """The bot's homeserver name (the part of its user ID after the colon)."""
        return self.user_id.partition(":")[2]

    async def request(self, method: str, path: str, body: Any = None, *,
                      query: dict[str, Any] | None = None) -> dict[str, Any]:
        """One API call: ``path`` below ``/_matrix/client``; raises MatrixError on refusal."""
        full = f"/_matrix/client{path}"
        if query:
            full += "?" + urlencode(query, doseq=True)
        data = None if body is None else json.dumps(body)
        try:
            response = await self.client._send(JsonResponse, method, full, data)
        except (OSError, TimeoutError) as exc:
            raise ServerUnavailable(str(exc) or exc.__class__.__name__, path=path) from exc
        raise_for(response, path)
        content: dict[str, Any] = response.content
        return content

    async def appservice_ping(self, appservice_id: str) -> int | None:
        """Ask the homeserver to ping this appservice (``POST /v1/appservice/{id}/ping``, Matrix 1.7): it
        checks that the homeserver reaches us, and Synapse then retries at once the transactions it was
        holding back. Returns the round trip the homeserver measured (ms), when it says."""
        answer = await self.request("POST", f"/v1/appservice/{quote(appservice_id, safe='')}/ping",
                                    {"transaction_id": new_txn_id()})
        duration = answer.get("duration_ms")
        return duration if isinstance(duration, int) else None

    # -- identity -------------------------------------------------------------------------------

    async def whoami(self) -> dict[str, Any]:
        """Who the access token belongs to (``user_id``, ``device_id``)."""
        return await self.request("GET", "/v3/account/whoami")

    async def set_display_name(self, name: str) -> None:
        """Set the bot's display name."""
        await self.request("PUT", f"/v3/profile/{quote(self.user_id)}/displayname", {"displayname": name})

    # -- sending --------------------------------------------------------------------------------

    async def send_event(self, room_id: str, event_type: str, content: dict[str, Any], *,
                         txn_seed: str | None = None) -> EventId:
        """Send a timeline event and return its event ID (encrypted in an encrypted room)."""
        txn = new_txn_id(txn_seed)
        # Reactions stay in the clear (as nio sends them): their key and target are what clients count.
        if event_type != REACTION and self.encryption is not None and await self.encryption.is_encrypted(room_id):
            return await self.encryption.send(room_id, event_type, content, txn_id=txn)
        result = await self.request(
            "PUT", f"/v3/rooms/{quote(room_id)}/send/{quote(event_type)}/{txn}", content)
        return EventId(str(result["event_id"]))

    async def react(self, room_id: str, event_id: str, key: str, *, txn_seed: str | None = None) -> EventId:
        """Annotate ``event_id`` with ``key`` (a reaction) and return the reaction's event ID."""
        content = {"m.relates_to": {"rel_type": "m.annotation", "event_id": event_id, "key": key}}
        return await self.send_event(room_id, "m.reaction", content, txn_seed=txn_seed)

    async def redact(self, room_id: str, event_id: str, reason: str | None = None, *,
                     txn_seed: str | None = None) -> EventId:
        """Redact ``event_id``; returns the redaction's event ID (empty when the server sends none)."""
        body = {"reason": reason} if reason else {}
        result = await self.request(
            "PUT", f"/v3/rooms/{quote(room_id)}/redact/{quote(event_id)}/{new_txn_id(txn_seed)}", body)
        return EventId(str(result.get("event_id", "")))

    async def upload(self, data: bytes, *, content_type: str, filename: str) -> str:
        """Upload media and return its mxc:// URI."""
        response, _ = await self.client.upload(
            io.BytesIO(data), content_type=content_type, filename=filename, filesize=len(data))
        if not isinstance(response, UploadResponse):
            raise_for(response, "/media/v3/upload")
            raise MatrixError("upload failed", path="/media/v3/upload")
        return str(response.content_uri)

    async def attach(self, room_id: str, data: bytes, *, content_type: str, filename: str) -> dict[str, Any]:
        """Upload a file for a message in ``room_id``; return the content keys that point to it:
        ``{"url": mxc}``, or in an encrypted room ``{"file": {...}}`` (encrypted, its key inside)."""
        if self.encryption is not None and await self.encryption.is_encrypted(room_id):
            return {"file": await self.encryption.upload(data)}
        return {"url": await self.upload(data, content_type=content_type, filename=filename)}

    async def is_encrypted(self, room_id: str) -> bool:
        """Whether ``room_id`` is end-to-end encrypted (its ``m.room.encryption`` state)."""
        if self.encryption is not None:
            return await self.encryption.is_encrypted(room_id)
        room = self.client.rooms.get(room_id)
        if room is not None and room.encrypted:
            return True
        content = await self.get_state_event(room_id, ROOM_ENCRYPTION)
        return bool(content and content.get("algorithm"))

    # -- state ----------------------------------------------------------------------------------

    async def get_state_event(self, room_id: str, event_type: str, state_key: str = "") -> dict[str, Any] | None:
        """The content of a state event, or None if the room has none."""
        try:
            return await self.request(
                "GET", f"/v3/rooms/{quote(room_id)}/state/{quote(event_type)}/{quote(state_key)}")
        except NotFound:
            return None

    async def get_state(self, room_id: str) -> list[dict[str, Any]]:
        """Every current state event of ``room_id`` (``JsonResponse`` wraps the server's array)."""
        result = await self.request("GET", f"/v3/rooms/{quote(room_id)}/state")
        events: list[dict[str, Any]] = result.get("chunk", [])
        return events

    async def current_state(self, room_id: str) -> list[dict[str, Any]]:
        """The state events of ``room_id`` other than memberships: the bot's own copy when it holds
        one (``handlers/matrix/state_cache.py``), else read from the server once (and kept when the bot
        is in the room). A room the bot is not in is always read from the server."""
        held = self.room_state.get(room_id)
        if held is not None:
            return held
        mark = self.room_state.mark(room_id)
        return self.room_state.remember_read(room_id, await self.get_state(room_id), mark=mark)

    async def put_state(self, room_id: str, event_type: str, content: dict[str, Any],
                        state_key: str = "") -> EventId:
        """Set a state event and return its event ID (written into the bot's copy at once)."""
        result = await self.request(
            "PUT", f"/v3/rooms/{quote(room_id)}/state/{quote(event_type)}/{quote(state_key)}", content)
        event_id = EventId(str(result.get("event_id", "")))
        self.room_state.wrote(room_id, event_type, state_key, content, event_id=event_id, sender=self.user_id)
        return event_id

    # -- membership -----------------------------------------------------------------------------

    async def join(self, room_id: str, *, via: Iterable[str] = ()) -> RoomId:
        """Join a room; ``via`` is required for remote room-version-12 rooms (nio cannot pass it)."""
        servers = list(dict.fromkeys(via))
        query = {"via": servers, "server_name": servers} if servers else None
        result = await self.request("POST", f"/v3/join/{quote(room_id)}", {}, query=query)
        return RoomId(str(result.get("room_id", room_id)))

    async def knock(self, room_id: str, *, via: Iterable[str] = (), reason: str | None = None) -> None:
        """Ask to join ``room_id`` (``via`` as for :meth:`join`)."""
        servers = list(dict.fromkeys(via))
        body = {"reason": reason} if reason else {}
        await self.request("POST", f"/v3/knock/{quote(room_id)}", body,
                           query={"via": servers, "server_name": servers} if servers else None)

    async def leave(self, room_id: str, *, reason: str | None = None) -> None:
        """Leave ``room_id`` (or decline an invite to it)."""
        await self.request("POST", f"/v3/rooms/{quote(room_id)}/leave", {"reason": reason} if reason else {})
        self.room_state.left(room_id)

    async def invite(self, room_id: str, user_id: str, *, reason: str | None = None) -> None:
        """Invite ``user_id`` to ``room_id``."""
        body: dict[str, Any] = {"user_id": user_id}
        if reason:
            body["reason"] = reason
        await self.request("POST", f"/v3/rooms/{quote(room_id)}/invite", body)

    async def kick(self, room_id: str, user_id: str, *, reason: str | None = None) -> None:
        """Remove ``user_id`` from ``room_id``."""
        body: dict[str, Any] = {"user_id": user_id}
        if reason:
            body["reason"] = reason
        await self.request("POST", f"/v3/rooms/{quote(room_id)}/kick", body)

    async def ban(self, room_id: str, user_id: str, *, reason: str | None = None) -> None:
        """Ban ``user_id`` from ``room_id``."""
        body: dict[str, Any] = {"user_id": user_id}
        if reason:
            body["reason"] = reason
        await self.request("POST", f"/v3/rooms/{quote(room_id)}/ban", body)

    async def members(self, room_id: str) -> list[Member]:
        """Current members of any membership (join, invite, knock, leave, ban)."""
        result = await self.request("GET", f"/v3/rooms/{quote(room_id)}/members")
        members = []
        for event in result.get("chunk", []):
            content = event.get("content", {})
            members.append(Member(UserId(event["state_key"]), content.get("membership", ""),
                                  content.get("displayname")))
        return members

    async def joined_members(self, room_id: str) -> set[UserId]:
        """Who has joined ``room_id``, as the server says now (their display names kept in
        ``read_display_names``)."""
        result = await self.request("GET", f"/v3/rooms/{quote(room_id)}/joined_members")
        joined = result.get("joined", {})
        self.read_display_names[room_id] = {
            str(user): name.strip() for user, profile in joined.items()
            if isinstance(profile, dict) and isinstance(name := profile.get("display_name"), str) and name.strip()}
        return {UserId(user) for user in joined}

    def _synced_room(self, room_id: str) -> Any:
        """nio's cache of ``room_id`` when it holds the room whole (every member and all its state: see
        ``caches_every_joined_room``), else None."""
        room = self.client.rooms.get(room_id)
        if room is None or not (self.caches_every_joined_room or self.room_state.came_whole(room_id)):
            return None
        return room

    def cached_joined(self, room_id: str) -> set[UserId] | None:
        """Who has joined ``room_id`` as nio's sync cache knows it (lazy loading is off, so the lists
        are complete for rooms held whole), or None when the bot has no whole cache of the room."""
        room = self._synced_room(room_id)
        if room is None:
            return None
        return {UserId(user) for user in room.users if user not in room.invited_users}

    async def current_joined(self, room_id: str) -> set[UserId]:
        """Who has joined ``room_id``: from the sync cache when there is one, else from the server."""
        cached = self.cached_joined(room_id)
        return cached if cached is not None else await self.joined_members(room_id)

    async def current_members(self, room_id: str) -> set[UserId]:
        """Who has joined or is invited to ``room_id`` (everyone who can read what is said next): from
        the sync cache when there is one, else from the server."""
        room = self._synced_room(room_id)
        if room is not None:
            return {UserId(user) for user in room.users}
        invited = {m.user_id for m in await self.members(room_id) if m.membership == "invite"}
        return await self.joined_members(room_id) | invited

    async def join_rule(self, room_id: str) -> str:
        """``room_id``'s join rule (``invite``, ``public``, ``restricted`` …), cached or from the server."""
        room = self._synced_room(room_id)
        if room is not None:
            return str(room.join_rule)
        content = await self.get_state_event(room_id, ROOM_JOIN_RULES)
        return str((content or {}).get("join_rule", "invite"))

    async def first_joined(self, room_ids: Iterable[str], user_id: str) -> RoomId | None:
        """The first of ``room_ids`` that ``user_id`` has joined, or None: the one answer to "has this
        person joined?".

        The sync cache answers first; only when it does not show the person is the server asked, so a
        join the bot has not synced yet still counts. A room whose members cannot be read counts as not
        joined."""
        rooms = list(room_ids)
        for room_id in rooms:
            cached = self.cached_joined(room_id)
            if cached is not None and user_id in cached:
                return RoomId(room_id)
        for room_id in rooms:
            try:
                if user_id in await self.joined_members(room_id):
                    return RoomId(room_id)
            except MatrixError as exc:
                log.warning("could not read the members of %s: %s", room_id, exc)
        return None

    async def joined_rooms(self) -> list[RoomId]:
        """The rooms the bot has joined."""
        result = await self.request("GET", "/v3/joined_rooms")
        return [RoomId(room) for room in result.get("joined_rooms", [])]

    # -- rooms ----------------------------------------------------------------------------------

    async def create_room(self, body: dict[str, Any]) -> RoomId:
        """Create a room from a ``/createRoom`` body and return its ID."""
        result = await self.request("POST", "/v3/createRoom", body)
        return RoomId(str(result["room_id"]))

    @property
    def opens_encrypted_direct_chats(self) -> bool:
        """Whether the direct chats the bot opens are end-to-end encrypted (``bot.encrypt_direct_chats``)."""
        return self.encryption is not None and bool(self.encryption.direct_chats_encrypted)

    async def create_direct_room(self, user_id: str) -> RoomId:
        """A private room with one person, marked as a DM for their client; encrypted (as Element
        creates DMs) unless configured otherwise."""
        body: dict[str, Any] = {
            "is_direct": True, "invite": [user_id], "preset": "private_chat",
            "power_level_content_override": {"invite": 100},
        }
        if self.opens_encrypted_direct_chats:
            body["initial_state"] = [{"type": ROOM_ENCRYPTION, "state_key": "",
                                      "content": {"algorithm": MEGOLM_ALGORITHM}}]
        return await self.create_room(body)

    # -- history --------------------------------------------------------------------------------

    async def messages(self, room_id: str, *, start: str | None, end: str | None = None, direction: str = "b",
                       limit: int = 100) -> dict[str, Any]:
        """One page of /messages; ``start=None`` pages back from the newest event."""
        query: dict[str, Any] = {"dir": direction, "limit": limit}
        if start:
            query["from"] = start
        if end:
            query["to"] = end
        return await self.request("GET", f"/v3/rooms/{quote(room_id)}/messages", query=query)

    async def relations(self, room_id: str, event_id: str, *, rel_type: str = "m.annotation",
                        event_type: str = "m.reaction") -> AsyncIterator[dict[str, Any]]:
        """Every event relating to ``event_id``, paging through /relations (raw client-format dicts)."""
        path = (f"/v1/rooms/{quote(room_id)}/relations/{quote(event_id)}/"
                f"{quote(rel_type)}/{quote(event_type)}")
        token: str | None = None
        while True:
            query: dict[str, Any] = {"limit": 1000}
            if token:
                query["from"] = token
            page = await self.request("GET", path, query=query)
            for event in page.get("chunk", []):
                yield event
            token = page.get("next_batch")
            if not token:
                return

    async def get_event(self, room_id: str, event_id: str) -> dict[str, Any]:
        """One event, in client format."""
        return await self.request("GET", f"/v3/rooms/{quote(room_id)}/event/{quote(event_id)}")

    async def hierarchy(self, space_id: str, *, max_depth: int | None = None) -> list[dict[str, Any]]:
        """Every room below ``space_id`` (``/hierarchy``, all pages)."""
        rooms: list[dict[str, Any]] = []
        token: str | None = None
        while True:
            query: dict[str, Any] = {"limit": 50}
            if max_depth is not None:
                query["max_depth"] = max_depth
            if token:
                query["from"] = token
            page = await self.request("GET", f"/v1/rooms/{quote(space_id)}/hierarchy", query=query)
            rooms.extend(page.get("rooms", []))
            token = page.get("next_batch")
            if not token:
                return rooms
