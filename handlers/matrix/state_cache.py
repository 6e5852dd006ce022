"""The bot's copy of each joined room's state other than memberships, kept current from what it receives.

Reading a room's state from the server (``GET /rooms/{id}/state``) returns every ``m.room.member``
event too: 10,000 of them in a party's space. The bot already receives every state change of the rooms
it is in (``/sync``, or the transactions pushed in appservice mode), so it keeps the rest here and
``assembly sync`` compares against this copy. The rules, all in this class:

* **What makes a room known.** A batch that carries the room's whole state: the first ``/sync`` after
  start (``full_state``), or any batch holding the room's ``m.room.create`` (in the state section, as
  /sync sends the full state of a room just joined and appservice mode loads it; or in the timeline,
  which then holds the room from its first event). Or a ``/state`` read of a room whose answer shows
  the bot joined, when no change to the room arrived while it was read (``remember_read``).
* **How a known room is kept current.** The state section, then the timeline's state events, in
  order; a later event for a type and state key replaces the earlier one; empty content (a removed
  space child, a redacted event) is kept as the server keeps it. A state write of the bot's own is
  written in at once (``wrote``), so a repair read before its echo arrives does not repair again.
  (A batch the server made before such a write but handled after it can bring back the older value
  until the next batch brings the write: at worst one repeated write, never a lasting wrong copy.)
* **What makes a room unknown again.** The bot leaving, being removed or banned (its own membership
  other than ``join``, a room in the batch's ``leave`` section, or ``left`` after its own leave), or
  a redaction of a state event held here (its content changed without a new state event): the next
  reader asks the server once.

The events are taken from the batch's JSON before nio parses it: nio's schemas fill defaults into the
very dicts they check (``suggested: false`` into a space child, ``notifications`` into power levels), and
held content must be the server's, or ``detect_drift`` would see a difference on every read. So
``StateKeepingClient`` (the bot's nio client) copies what this class needs out of each /sync body as it
arrives (``sync_state``), and appservice mode does the same with each pushed batch.

**Whole rooms.** A room whose whole state came in a batch (the first two ways above) since the bot
last joined it is also *whole* in nio's cache, which takes in the same batches: its member list there
is complete (``came_whole``). A room nio took in only from a change (after a restart without
``full_state``, nio knows just the rooms something happened in, and only what happened) is not.
Leaving the room, or a redaction of its state, ends it.

Membership is never held here (``handlers/matrix/gateway.py`` answers "who has joined" from nio's
cache), and nothing here logs a room's state.
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from aiohttp import ClientResponse
from nio import AsyncClient

from harmony_matrix.event_types import ROOM_CREATE, ROOM_MEMBER, ROOM_REDACTION

StateKey = tuple[str, str]
#: The parts of a state event kept (as ``/state`` gives them; ``unsigned`` only to know a redaction).
KEPT_FIELDS: tuple[str, ...] = ("type", "state_key", "content", "sender", "event_id", "origin_server_ts")


def _state_key_of(event: Mapping[str, Any]) -> StateKey | None:
    """``(type, state key)`` of a well-formed state event, else None."""
    event_type, state_key = event.get("type"), event.get("state_key")
    if not isinstance(event_type, str) or not isinstance(state_key, str):
        return None
    if not isinstance(event.get("content", {}), Mapping):
        return None
    return event_type, state_key


def _kept(event: Mapping[str, Any]) -> dict[str, Any]:
    kept = {name: copy.deepcopy(event[name]) for name in KEPT_FIELDS if name in event}
    kept.setdefault("content", {})
    redacted_because = (event.get("unsigned") or {}).get("redacted_because")
    if redacted_because is not None:
        kept["unsigned"] = {"redacted_because": {"event_id": (redacted_because or {}).get("event_id")}}
    return kept


def _redacts(event: Mapping[str, Any]) -> str | None:
    """The event a redaction removes (top level before room version 11, in the content since)."""
    target = event.get("redacts") or (event.get("content") or {}).get("redacts")
    return target if isinstance(target, str) else None


@dataclass(frozen=True)
class SyncState:
    """What a /sync batch (or a pushed one) says about room state, copied from its JSON: per joined room
    its state section and its timeline's state events and redactions, and the rooms left."""

    joined: Mapping[str, tuple[list[dict[str, Any]], list[dict[str, Any]]]] = field(default_factory=dict)
    left: tuple[str, ...] = ()


def _wanted(event: Any, bot: str) -> bool:
    if not isinstance(event, dict):
        return False
    if event.get("type") == ROOM_REDACTION:
        return True
    if not isinstance(event.get("state_key"), str):
        return False
    return event.get("type") != ROOM_MEMBER or event.get("state_key") == bot


def sync_state(body: Mapping[str, Any], *, bot: str) -> SyncState:
    """The state a /sync body carries (copies: nio changes the body's events as it parses them).
    Memberships are left out but for the bot's own."""
    rooms = body.get("rooms") or {}
    joined: dict[str, tuple[list[dict[str, Any]], list[dict[str, Any]]]] = {}
    for room_id, room in (rooms.get("join") or {}).items():
        if not isinstance(room, Mapping):
            continue
        sections = [((room.get(name) or {}).get("events") or []) for name in ("state", "timeline")]
        state, timeline = ([copy.deepcopy(e) for e in events if _wanted(e, bot)] for events in sections)
        joined[str(room_id)] = (state, timeline)
    return SyncState(joined=joined, left=tuple(str(room_id) for room_id in (rooms.get("leave") or {})))


class StateKeepingClient(AsyncClient):  # type: ignore[misc]  # nio ships no type information
    """nio's client, keeping what each /sync body says about room state before nio parses it (see the
    module docstring); the dispatcher takes it with ``pop_sync_state`` once the sync returns."""

    _sync_state: SyncState | None = None

    async def parse_body(self, transport_response: ClientResponse) -> dict[Any, Any]:
        body: dict[Any, Any] = await super().parse_body(transport_response)
        if transport_response.url.path.endswith("/sync") and isinstance(body, dict) and "next_batch" in body:
            self._sync_state = sync_state(body, bot=str(self.user_id))
        return body

    def pop_sync_state(self) -> SyncState | None:
        """What the last /sync body said about room state (once)."""
        taken, self._sync_state = self._sync_state, None
        return taken


class RoomStateCache:
    """The non-member state of the rooms the bot is in (see the module docstring for the rules)."""

    def __init__(self, bot: Callable[[], str]) -> None:
        self._bot = bot
        self._rooms: dict[str, dict[StateKey, dict[str, Any]]] = {}
        # How many changes each room has seen (known or not): a read that overlapped one is not kept.
        self._changes: dict[str, int] = {}
        self._whole: set[str] = set()  # rooms whose whole state came in a batch (``came_whole``)

    # -- reading ----------------------------------------------------------------------------------

    def knows(self, room_id: str) -> bool:
        """Whether the state of ``room_id`` is held here."""
        return room_id in self._rooms

    def get(self, room_id: str) -> list[dict[str, Any]] | None:
        """The non-member state events of ``room_id`` (copies, in ``/state``'s format), or None."""
        room = self._rooms.get(room_id)
        if room is None:
            return None
        return [copy.deepcopy(event) for event in room.values()]

    def came_whole(self, room_id: str) -> bool:
        """Whether a batch carried the whole state of ``room_id`` since the bot last joined it (so nio's
        cache of the room, fed by the same batches, holds its every member)."""
        return room_id in self._whole

    def __len__(self) -> int:
        return len(self._rooms)

    # -- what the bot receives ----------------------------------------------------------------------

    def take(self, update: SyncState, *, full_state: bool = False) -> None:
        """A whole batch: the rooms left first, then each joined room (``take_sync``)."""
        for room_id in update.left:
            self.left(room_id)
        for room_id, (state, timeline) in update.joined.items():
            self.take_sync(room_id, state=state, timeline=timeline, full_state=full_state)

    def take_sync(self, room_id: str, *, state: Sequence[Mapping[str, Any]], timeline: Sequence[Mapping[str, Any]],
                  full_state: bool = False) -> None:
        """One joined room of a /sync batch (or of a pushed transaction shaped as one): its state
        section, then its timeline, in order."""
        whole = full_state or any(event.get("type") == ROOM_CREATE and event.get("state_key") == ""
                                  for events in (state, timeline) for event in events)
        if whole:
            self._rooms[room_id] = {}
            self._whole.add(room_id)
        for event in (*state, *timeline):
            self._take(room_id, event)

    def take_redactions(self, room_id: str, events: Iterable[Mapping[str, Any]]) -> None:
        """Events the batch did not carry as state (a gap read back): only their redactions count."""
        for event in events:
            if event.get("type") == ROOM_REDACTION:
                self._take(room_id, event)

    def left(self, room_id: str) -> None:
        """The bot is no longer in ``room_id``: its state is no longer followed."""
        self._changed(room_id)
        self._rooms.pop(room_id, None)
        self._whole.discard(room_id)

    def wrote(self, room_id: str, event_type: str, state_key: str, content: Mapping[str, Any], *,
              event_id: str, sender: str) -> None:
        """The bot itself set a state event (the server accepted it)."""
        self._changed(room_id)
        room = self._rooms.get(room_id)
        if room is not None and event_type != ROOM_MEMBER:
            room[(event_type, state_key)] = _kept({"type": event_type, "state_key": state_key,
                                                   "content": content, "sender": sender, "event_id": event_id})

    # -- a read from the server ---------------------------------------------------------------------

    def mark(self, room_id: str) -> int:
        """Taken before reading ``room_id``'s state from the server (see ``remember_read``)."""
        return self._changes.get(room_id, 0)

    def remember_read(self, room_id: str, events: Sequence[Mapping[str, Any]], *, mark: int) -> list[dict[str, Any]]:
        """Keep the full state read from the server when it shows the bot joined and no change to the
        room arrived while it was read (``mark``); return its non-member part either way."""
        bot = self._bot()
        joined = any(event.get("type") == ROOM_MEMBER and event.get("state_key") == bot
                     and (event.get("content") or {}).get("membership") == "join" for event in events)
        kept = {key: _kept(event) for event in events
                if (key := _state_key_of(event)) is not None and key[0] != ROOM_MEMBER}
        if joined and self._changes.get(room_id, 0) == mark:
            self._rooms[room_id] = kept
        return [copy.deepcopy(event) for event in kept.values()]

    # -- the rule ------------------------------------------------------------------------------------

    def _changed(self, room_id: str) -> None:
        self._changes[room_id] = self._changes.get(room_id, 0) + 1

    def _take(self, room_id: str, event: Mapping[str, Any]) -> None:
        if event.get("type") == ROOM_REDACTION:
            target = _redacts(event)
            room = self._rooms.get(room_id)
            if room is not None and target is not None and any(
                    held.get("event_id") == target and "unsigned" not in held for held in room.values()):
                self.left(room_id)  # its content changed without a new state event: read it again
            return
        key = _state_key_of(event)
        if key is None:
            return
        if key[0] == ROOM_MEMBER:
            if key[1] == self._bot() and (event.get("content") or {}).get("membership") != "join":
                self.left(room_id)
            return
        self._changed(room_id)
        room = self._rooms.get(room_id)
        if room is not None:
            room[key] = _kept(event)
