"""A ``MatrixGateway`` without a homeserver: it records what the bot sends and answers from state the
test sets up, so the edge (dispatcher, router, handlers) runs in milliseconds.

It subclasses the real gateway and overrides the calls the edge makes; any other call reaches
``request`` and fails the test, naming the endpoint, so nothing passes by talking to no one. Like
Synapse, it treats a repeated transaction ID as the same send (a command re-handled after a crash
answers once).
"""

from __future__ import annotations

import itertools
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from nio import SyncResponse

from handlers.matrix.gateway import Forbidden, MatrixGateway, Member, new_txn_id
from handlers.matrix.state_cache import SyncState, sync_state
from harmony_matrix.event_types import MEGOLM_ALGORITHM, ROOM_ENCRYPTION, ROOM_MESSAGE
from harmony_matrix.ids import EventId, RoomId, UserId

from .html_check import check_sent


@dataclass
class FakeRoom:
    """What nio's room cache holds about a room (``MatrixGateway.cached_joined`` reads it)."""

    users: set[str] = field(default_factory=set)  # joined and invited, as nio keeps them
    invited_users: set[str] = field(default_factory=set)
    join_rule: str = "invite"
    encrypted: bool = False


class FakeClient:
    """The parts of ``nio.AsyncClient`` the gateway and dispatcher use: the account, the room cache,
    and ``sync``, answering with queued responses (``nio.SyncResponse.from_dict`` builds them)."""

    def __init__(self, user_id: str) -> None:
        self.user_id = user_id
        self.rooms: dict[str, FakeRoom] = {}
        self.sync_responses: list[Any] = []
        self.sync_calls: list[dict[str, Any]] = []
        self.device_id = "BOTDEVICE"
        self.received: list[Any] = []  # batches handed to receive_response (appservice mode)
        self._sync_state: SyncState | None = None

    async def sync(self, **kwargs: Any) -> Any:
        """The next queued response; the arguments are recorded. A queued dict is a /sync body as the
        server sends it: what it says about room state is kept first, as ``StateKeepingClient`` does."""
        self.sync_calls.append(kwargs)
        if not self.sync_responses:
            raise AssertionError("the test queued no more sync responses")
        response = self.sync_responses.pop(0)
        if isinstance(response, dict):
            self._sync_state = sync_state(response, bot=self.user_id)
            response = SyncResponse.from_dict(response)
        return response

    def pop_sync_state(self) -> SyncState | None:
        """What the last /sync body said about room state (``StateKeepingClient.pop_sync_state``)."""
        taken, self._sync_state = self._sync_state, None
        return taken

    async def receive_response(self, response: Any) -> None:
        """nio would take in the batch's state, keys and device lists; here it is recorded."""
        self.received.append(response)
        for room_id in response.rooms.join:
            self.rooms.setdefault(room_id, FakeRoom())

    async def close(self) -> None:
        """Nothing to close."""


@dataclass(frozen=True)
class Sent:
    """One event the bot sent."""

    room_id: str
    event_type: str
    content: dict[str, Any]
    txn_id: str
    event_id: EventId

    @property
    def body(self) -> str:
        """The plain-text body (empty for events without one)."""
        return str(self.content.get("body", ""))


class FakeGateway(MatrixGateway):
    """Records sends, joins, leaves, invites and uploads; answers membership from ``joined``."""

    def __init__(self, user_id: str = "@bot:test") -> None:
        self.fake_client = FakeClient(user_id)
        super().__init__(self.fake_client)
        self.sent: list[Sent] = []
        self.joined: dict[str, set[str]] = {}  # room -> who has joined (the server's answer)
        self.member_lists: dict[str, list[Member]] = {}
        self.state: dict[tuple[str, str, str], dict[str, Any]] = {}  # (room, type, state key) -> content
        self.history: dict[str, list[dict[str, Any]]] = {}  # room -> events /messages pages back over
        self.room_states: dict[str, list[dict[str, Any]] | None] = {}  # room -> GET /state (None: not in the room)
        self.joins: list[str] = []
        self.leaves: list[tuple[str, str | None]] = []
        self.invites: list[tuple[str, str]] = []
        self.uploads: list[tuple[str, bytes]] = []
        self.created: list[dict[str, Any]] = []
        self._by_txn: dict[str, EventId] = {}
        self._numbers = itertools.count(1)
        #: Whether every ``m.room.message`` sent is checked with ``html_check.assert_readable``.
        self.check_messages = True

    def encrypt(self, room_id: str) -> None:
        """``room_id`` has ``m.room.encryption`` in its state, as an Element direct chat does."""
        self.state[(room_id, ROOM_ENCRYPTION, "")] = {"algorithm": MEGOLM_ALGORITHM}

    # -- what the test reads -----------------------------------------------------------------------

    def in_room(self, room_id: str) -> list[Sent]:
        """What the bot sent in ``room_id``, oldest first."""
        return [sent for sent in self.sent if sent.room_id == room_id]

    def bodies(self, room_id: str | None = None) -> list[str]:
        """The bodies the bot sent (in ``room_id``, or anywhere), oldest first."""
        return [sent.body for sent in self.sent if room_id is None or sent.room_id == room_id]

    # -- the calls the edge makes ------------------------------------------------------------------

    async def request(self, method: str, path: str, body: Any = None, *,
                      query: dict[str, Any] | None = None) -> dict[str, Any]:
        raise AssertionError(f"FakeGateway has no answer for {method} {path}")

    async def send_event(self, room_id: str, event_type: str, content: dict[str, Any], *,
                         txn_seed: str | None = None) -> EventId:
        if event_type == ROOM_MESSAGE and self.check_messages:
            check_sent(content)  # every message the bot sends in a fast test reads well
        txn_id = new_txn_id(txn_seed)
        if txn_id in self._by_txn:  # the server's transaction deduplication
            return self._by_txn[txn_id]
        event_id = EventId(f"$sent{next(self._numbers)}")
        self._by_txn[txn_id] = event_id
        self.sent.append(Sent(room_id, event_type, content, txn_id, event_id))
        return event_id

    async def set_display_name(self, name: str) -> None:
        pass

    async def get_state(self, room_id: str) -> list[dict[str, Any]]:
        if room_id not in self.room_states:
            return await super().get_state(room_id)  # a simulated homeserver may answer (tests/fakes/homeserver.py)
        state = self.room_states[room_id]
        if state is None:
            raise Forbidden("you are not in this room", path=f"/v3/rooms/{room_id}/state")
        return list(state)

    async def get_state_event(self, room_id: str, event_type: str, state_key: str = "") -> dict[str, Any] | None:
        return self.state.get((room_id, event_type, state_key))

    async def upload(self, data: bytes, *, content_type: str, filename: str) -> str:
        self.uploads.append((filename, data))
        return f"mxc://test/{len(self.uploads)}"

    async def join(self, room_id: str, *, via: Iterable[str] = ()) -> RoomId:
        self.joins.append(room_id)
        self.joined.setdefault(room_id, set()).add(self.user_id)
        return RoomId(room_id)

    async def leave(self, room_id: str, *, reason: str | None = None) -> None:
        self.leaves.append((room_id, reason))
        self.joined.get(room_id, set()).discard(self.user_id)
        self.room_state.left(room_id)

    async def invite(self, room_id: str, user_id: str, *, reason: str | None = None) -> None:
        self.invites.append((room_id, user_id))

    async def members(self, room_id: str) -> list[Member]:
        return list(self.member_lists.get(room_id, []))

    async def joined_members(self, room_id: str) -> set[UserId]:
        return {UserId(user) for user in self.joined.get(room_id, set())}

    async def create_room(self, body: dict[str, Any]) -> RoomId:
        self.created.append(body)
        room_id = RoomId(f"!created{len(self.created)}:test")
        # The creator joins; invitees are invited (they join when the test says so).
        self.joined[room_id] = {self.user_id}
        self.member_lists[room_id] = [Member(UserId(user), "invite") for user in body.get("invite", [])]
        for event in body.get("initial_state", []):  # e.g. m.room.encryption, as the server applies it
            self.state[(room_id, event["type"], event.get("state_key", ""))] = dict(event["content"])
        return room_id

    async def messages(self, room_id: str, *, start: str | None, end: str | None = None, direction: str = "b",
                       limit: int = 100) -> dict[str, Any]:
        # One page, newest first as the server sends them backwards; the next call ends the gap.
        events: Sequence[dict[str, Any]] = self.history.pop(room_id, [])
        return {"chunk": list(reversed(events)), "end": "gap-end" if events else None}
