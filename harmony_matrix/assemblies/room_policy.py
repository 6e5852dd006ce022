"""The Matrix state an assembly's rooms should have, and how actual state drifts from it (pure).

The handlers provision rooms from these contents and, on ``!h assembly sync`` or when a state
event arrives, compare desired with actual via :func:`detect_drift` and revert what differs.
The power-level baseline follows matrix-facts.md §3: only the bot (invite 100) admits; join
rules, power levels, the space tree and ACLs are locked at 100; voters can react and un-react.
"""

from __future__ import annotations

import copy
import re
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from harmony_matrix import event_types as et
from harmony_matrix.assemblies.assembly import Access, Assembly
from harmony_matrix.ids import RoomId, UserId

#: Power level of secretaries and deputies: enough to kick, ban, redact and rename, not to touch
#: join rules, power levels, the space tree or ACLs (those stay at ``ADMIN_LEVEL``).
MODERATOR_LEVEL = 50
ADMIN_LEVEL = 100

# The state that decides who gets in and what the tree looks like: only the bot may send it.
LOCKED_STATE_EVENTS: tuple[str, ...] = (
    et.ROOM_JOIN_RULES,
    et.ROOM_POWER_LEVELS,
    et.SPACE_CHILD,
    et.SPACE_PARENT,
    et.ROOM_SERVER_ACL,
    et.ROOM_HISTORY_VISIBILITY,
    et.ROOM_GUEST_ACCESS,
    et.HARMONY_ASSEMBLY,
)
# Element hides the reaction button (and un-reacting) unless these are at or below the voter's
# level; voters are at users_default 0 (matrix-facts §3).
OPEN_TO_EVERYONE_EVENTS: tuple[str, ...] = (et.REACTION, et.ROOM_REDACTION)


class RoomKind(StrEnum):
    """The rooms of an assembly: its space and the child rooms provisioned in it."""

    SPACE = "space"
    #: The main room.
    DISCUSSION = "discussion"
    #: The bot and secretaries post; everyone else reads.
    ANNOUNCEMENTS = "announcements"
    #: Polls: one message per option, voters react.
    VOTES = "votes"
    #: Private: secretaries, deputies and the bot; management commands work here.
    SECRETARIAT = "secretariat"


#: The child rooms every assembly gets, in display order.
CHILD_ROOM_KINDS: tuple[RoomKind, ...] = (
    RoomKind.DISCUSSION,
    RoomKind.ANNOUNCEMENTS,
    RoomKind.VOTES,
    RoomKind.SECRETARIAT,
)


# --- join rules ------------------------------------------------------------------------------
def join_rules_content(access: Access, parent_space_ids: Sequence[RoomId]) -> dict[str, Any]:
    """``m.room.join_rules`` content for an assembly's *space* (product.md §2 table).

    ``participants`` becomes ``restricted`` with the parent spaces as the allow list; the
    self-identified and members-only policies use ``knock`` because the bot must check something
    the server cannot (a private declaration, the registry) before inviting.
    """
    if access is Access.OPEN:
        return {"join_rule": "public"}
    if access is Access.PARTICIPANTS:
        if not parent_space_ids:
            raise ValueError("a 'participants' assembly needs at least one parent space")
        return _restricted(parent_space_ids)
    if access in (Access.SELF_IDENTIFIED, Access.MEMBERS):
        return {"join_rule": "knock"}
    if access is Access.INVITE:
        return {"join_rule": "invite"}
    raise ValueError(f"unknown access {access!r}")  # pragma: no cover - exhaustive above


def room_join_rules_content(
    access: Access,
    room_kind: RoomKind,
    *,
    space_id: RoomId,
    parent_space_ids: Sequence[RoomId] = (),
) -> dict[str, Any]:
    """``m.room.join_rules`` content for any room of an assembly, the space included.

    Child rooms of a gated assembly are ``restricted`` to the assembly's own space: whoever the
    bot admitted to the space can then join its rooms without a second knock. For a
    ``participants`` assembly the parent spaces are allowed as well, so participants of the
    umbrella can open the discussion room directly. The secretariat is always invite-only.
    """
    if room_kind is RoomKind.SPACE:
        return join_rules_content(access, parent_space_ids)
    if room_kind is RoomKind.SECRETARIAT:
        return {"join_rule": "invite"}
    if access is Access.OPEN:
        return {"join_rule": "public"}
    allowed = [space_id]
    if access is Access.PARTICIPANTS:
        allowed += [p for p in parent_space_ids if p != space_id]
    return _restricted(allowed)


def _restricted(room_ids: Iterable[RoomId]) -> dict[str, Any]:
    return {
        "join_rule": "restricted",
        "allow": [{"type": "m.room_membership", "room_id": r} for r in room_ids],
    }


# --- power levels ----------------------------------------------------------------------------
def power_levels_content(
    bot: UserId,
    secretaries: Iterable[UserId],
    deputies: Iterable[UserId],
    room_kind: RoomKind,
    *,
    creator_is_bot: bool,
    existing: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """The whole ``m.room.power_levels`` content the room should have.

    Pass the room's current content as ``existing``: keys we do not manage (``historical``,
    ``notifications``, levels of other event types such as ``m.room.name``) are kept, so
    comparing the result with the current content shows only real drift. Positive ``users``
    entries for anyone but the bot and the officers are dropped (only they hold elevated
    power); zero or negative entries (muted people) are kept.

    ``creator_is_bot``: in room version 12 the creator has infinite power and Synapse rejects a
    ``users`` entry for it (matrix-facts §0.1), so the bot is left out; in v11 and older the
    bot needs its explicit 100.
    """
    content: dict[str, Any] = copy.deepcopy(dict(existing or {}))
    events: dict[str, Any] = dict(content.get("events") or {})
    for event_type in LOCKED_STATE_EVENTS:
        events[event_type] = ADMIN_LEVEL
    for event_type in OPEN_TO_EVERYONE_EVENTS:
        events[event_type] = 0
    content["events"] = events

    content["users_default"] = 0
    content["state_default"] = MODERATOR_LEVEL
    # invite at 100: knocks and invites go through the bot, which checks the access rule first.
    content["invite"] = ADMIN_LEVEL
    content["kick"] = MODERATOR_LEVEL
    content["ban"] = MODERATOR_LEVEL
    content["redact"] = MODERATOR_LEVEL
    if room_kind is RoomKind.SPACE:
        # Spec advice for spaces: nobody but the bot posts in the space itself.
        content["events_default"] = ADMIN_LEVEL
    elif room_kind is RoomKind.ANNOUNCEMENTS:
        content["events_default"] = MODERATOR_LEVEL
    else:
        content["events_default"] = 0

    officers = [u for u in (*secretaries, *deputies) if u != bot]
    users: dict[str, int] = {
        user: level
        for user, level in dict(content.get("users") or {}).items()
        if isinstance(level, int) and level <= 0 and user != bot and user not in officers
    }
    for officer in officers:
        users[officer] = MODERATOR_LEVEL
    if not creator_is_bot:
        users[bot] = ADMIN_LEVEL
    content["users"] = dict(sorted(users.items()))
    return content


# --- the space tree, our metadata, ACLs --------------------------------------------------------
def space_child_content(via: Sequence[str], *, suggested: bool = False) -> dict[str, Any]:
    """``m.space.child`` content (state key = the child's room ID).

    ``via`` is required: without it the child counts as removed. With v12 room IDs it is the
    only routing information, so it should include the bot's own server.
    """
    return {"via": _via(via), "suggested": suggested}


def space_parent_content(via: Sequence[str], *, canonical: bool = True) -> dict[str, Any]:
    """``m.space.parent`` content (state key = the parent space's room ID)."""
    return {"via": _via(via), "canonical": canonical}


def _via(via: Sequence[str]) -> list[str]:
    servers = list(dict.fromkeys(via))
    if not servers:
        raise ValueError("'via' needs at least one server (the bot's own)")
    return servers


def assembly_state_content(assembly: Assembly) -> dict[str, Any]:
    """``org.harmony.assembly`` content: the assembly's *public* metadata.

    Nothing about people goes here (no officers, no participants); the remit is the topic.
    """
    content: dict[str, Any] = {
        "version": 1,
        "slug": assembly.slug,
        "name": assembly.name,
        "kind": assembly.kind.value,
        "access": assembly.access.value,
        "parents": list(assembly.parents),
        "automatic_participation": assembly.automatic_participation,
    }
    if assembly.reference is not None:
        content["reference"] = assembly.reference
    if assembly.purpose is not None:
        content["purpose"] = assembly.purpose.value
    if assembly.declaration is not None:
        # The statement is the group's public definition, shown before anyone confirms it.
        content["declaration"] = assembly.declaration
    return content


def server_acl_content(
    denied_servers: Iterable[str], own_server: str, *, allow_ip_literals: bool = True
) -> dict[str, Any]:
    """``m.room.server_acl`` content denying ``denied_servers`` (globs) and allowing the rest.

    ACLs match hosts only (ports are ignored), so an entry with a port is written as its host.
    Entries that name another port of the bot's own host cannot be expressed without denying
    the bot itself: they are left out (see :func:`acl_inexpressible`; their users are still
    refused and removed by name, :func:`server_denied`). Refuses a deny list that would match
    the bot's own server: an ACL that locks the bot out of its own rooms cannot be undone by
    the bot. ``allow`` is always ``["*"]`` because a missing allow list denies everyone
    (matrix-facts §8).
    """
    entries = [s.lower() for s in denied_servers]
    if server_denied(own_server, entries):
        raise ValueError(f"the deny list would block the bot's own server {own_server!r}")
    skipped = set(acl_inexpressible(entries, own_server))
    denied = sorted(dict.fromkeys(_host(s) for s in entries if s not in skipped))
    if acl_denies(own_server, denied):
        raise ValueError(f"the deny list would block the bot's own server {own_server!r}")
    if not allow_ip_literals and _is_ip_literal(_host(own_server)):
        raise ValueError(f"the bot's server {own_server!r} is an IP literal; allow IP literals")
    return {"allow": ["*"], "deny": denied, "allow_ip_literals": allow_ip_literals}


def acl_denies(server: str, denied: Iterable[str]) -> bool:
    """Whether a server matches any deny glob, as ACLs match: case-insensitive, port ignored."""
    host = _host(server).lower()
    return any(re.fullmatch(_glob(pattern.lower()), host) is not None for pattern in denied)


def server_denied(server: str, denied: Iterable[str]) -> bool:
    """Whether a server (the part of a user ID after the colon) is blocked by ``denied``.

    An entry without a port matches the host, as ACLs do (``evil.example`` blocks
    ``evil.example:8448``); an entry with a port matches only that server, port included
    (``localhost:8449`` blocks ``@u:localhost:8449``, not ``@u:localhost:8448``).
    """
    full, host = server.lower(), _host(server).lower()
    for pattern in denied:
        pattern = pattern.lower()
        target = full if _has_port(pattern) else host
        if re.fullmatch(_glob(pattern), target) is not None:
            return True
    return False


def acl_inexpressible(denied: Iterable[str], own_server: str) -> list[str]:
    """Entries a server ACL cannot carry: with a port, on the bot's own host (ACLs ignore ports).

    Denying their host would deny the bot's own server as well, so they are kept out of the
    ACL; :func:`server_denied` still blocks their users by the full server name.
    """
    return [
        entry for entry in denied
        if _has_port(entry) and not server_denied(own_server, [entry])
        and acl_denies(own_server, [_host(entry)])
    ]


def _has_port(server: str) -> bool:
    return _host(server) != server


def _glob(pattern: str) -> str:
    # ACL globs know only * and ? (fnmatch would also read [...] as a class, breaking IPv6).
    return "".join(
        ".*" if ch == "*" else "." if ch == "?" else re.escape(ch) for ch in pattern
    )


def _host(server: str) -> str:
    # "[::1]:8448" → "[::1]"; "example.org:8448" → "example.org".
    if server.startswith("["):
        end = server.find("]")
        return server[: end + 1] if end != -1 else server
    return server.rsplit(":", 1)[0] if server.count(":") == 1 else server


def _is_ip_literal(host: str) -> bool:
    return host.startswith("[") or bool(re.fullmatch(r"[0-9.]+", host))


# --- desired and actual state ---------------------------------------------------------------
StateKey = tuple[str, str]


@dataclass(frozen=True)
class RoomState:
    """Some state of one room: ``(event type, state key) → content``.

    As *desired* state it lists what we manage; as *actual* state it may hold more (it is
    compared only on the keys and types we manage).
    """

    events: Mapping[StateKey, Mapping[str, Any]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        # Private copy, so a caller mutating its dict cannot change a frozen value.
        object.__setattr__(
            self, "events", {key: copy.deepcopy(dict(c)) for key, c in self.events.items()}
        )

    def get(self, event_type: str, state_key: str = "") -> Mapping[str, Any] | None:
        """The content of one state event, or None when absent."""
        return self.events.get((event_type, state_key))

    def __iter__(self) -> Iterator[StateKey]:
        return iter(self.events)

    def __len__(self) -> int:
        return len(self.events)


def desired_room_state(
    assembly: Assembly,
    room_kind: RoomKind,
    *,
    bot: UserId,
    via: Sequence[str],
    space_id: RoomId,
    parent_space_ids: Sequence[RoomId] = (),
    child_room_ids: Sequence[RoomId] = (),
    nested_space_ids: Sequence[RoomId] = (),
    creator_is_bot: bool,
    existing_power_levels: Mapping[str, Any] | None = None,
) -> RoomState:
    """Everything the bot enforces in one room of ``assembly``.

    For the space: join rules, power levels, server ACL, ``org.harmony.assembly``, a
    ``m.space.child`` for each of its rooms (suggested) and nested spaces, and a
    ``m.space.parent`` for each umbrella (the first canonical). For a child room: join rules,
    power levels, server ACL and its ``m.space.parent`` pointing to the space.
    ``existing_power_levels`` should be the room's current content (see
    :func:`power_levels_content`).
    """
    own_server = via[0] if via else ""
    events: dict[StateKey, Mapping[str, Any]] = {
        (et.ROOM_JOIN_RULES, ""): room_join_rules_content(
            assembly.access, room_kind, space_id=space_id, parent_space_ids=parent_space_ids
        ),
        (et.ROOM_POWER_LEVELS, ""): power_levels_content(
            bot,
            (assembly.secretary,) if assembly.secretary else (),
            assembly.deputies,
            room_kind,
            creator_is_bot=creator_is_bot,
            existing=existing_power_levels,
        ),
        (et.ROOM_SERVER_ACL, ""): server_acl_content(assembly.denied_servers, own_server),
    }
    if room_kind is RoomKind.SPACE:
        events[(et.HARMONY_ASSEMBLY, "")] = assembly_state_content(assembly)
        for room_id in child_room_ids:
            events[(et.SPACE_CHILD, room_id)] = space_child_content(via, suggested=True)
        for room_id in nested_space_ids:
            events[(et.SPACE_CHILD, room_id)] = space_child_content(via)
        for index, room_id in enumerate(parent_space_ids):
            events[(et.SPACE_PARENT, room_id)] = space_parent_content(via, canonical=index == 0)
    else:
        events[(et.SPACE_PARENT, space_id)] = space_parent_content(via)
    return RoomState(events)


class DriftKind(StrEnum):
    """How actual state differs from desired state."""

    #: A state event we want is absent (or emptied).
    MISSING = "missing"
    #: Present with different content.
    CHANGED = "changed"
    #: Present but not wanted (e.g. a space child someone added).
    UNEXPECTED = "unexpected"


@dataclass(frozen=True)
class Drift:
    """One difference between desired and actual room state, with what to send to revert it."""

    event_type: str
    state_key: str
    kind: DriftKind
    #: Readable differences, e.g. ``"join_rule: 'knock' → 'public'"``; safe to post.
    differences: tuple[str, ...]
    #: The content to put back (``{}`` removes an unexpected space child or parent).
    revert_content: Mapping[str, Any]

    def describe(self) -> str:
        """One line for the secretariat report."""
        where = self.event_type + (f" [{self.state_key}]" if self.state_key else "")
        if self.kind is DriftKind.MISSING:
            return f"{where}: missing"
        if self.kind is DriftKind.UNEXPECTED:
            return f"{where}: not expected here"
        return f"{where}: " + "; ".join(self.differences)


#: Types where any state key we did not ask for is drift (someone grafted onto the tree).
TREE_TYPES: frozenset[str] = frozenset({et.SPACE_CHILD, et.SPACE_PARENT})


def detect_drift(
    desired: RoomState,
    actual: RoomState,
    *,
    exclusive_types: frozenset[str] = TREE_TYPES,
) -> list[Drift]:
    """Compare desired with actual state; an empty list means nothing to repair.

    Each desired event is compared in full. For ``exclusive_types`` (the space tree by default),
    actual events with a state key we do not want are reported as UNEXPECTED, unless their
    content is already empty or lacks ``via`` (which Matrix treats as removed). The result is
    sorted by event type and state key so reports are stable.
    """
    drifts: list[Drift] = []
    for (event_type, state_key), want in desired.events.items():
        have = actual.get(event_type, state_key)
        if not have or (event_type in TREE_TYPES and not have.get("via")):
            drifts.append(
                Drift(event_type, state_key, DriftKind.MISSING, ("missing",), copy.deepcopy(want))
            )
            continue
        differences = tuple(_diff(want, have))
        if differences:
            drifts.append(
                Drift(event_type, state_key, DriftKind.CHANGED, differences, copy.deepcopy(want))
            )
    for (event_type, state_key), have in actual.events.items():
        if event_type not in exclusive_types or (event_type, state_key) in desired.events:
            continue
        if not have or (event_type in TREE_TYPES and not have.get("via")):
            continue
        drifts.append(
            Drift(event_type, state_key, DriftKind.UNEXPECTED, ("not expected",), {})
        )
    return sorted(drifts, key=lambda d: (d.event_type, d.state_key))


def _diff(want: Any, have: Any, path: str = "") -> Iterator[str]:
    """Readable differences between two JSON values, by dotted path."""
    if isinstance(want, Mapping) and isinstance(have, Mapping):
        for key in sorted(set(want) | set(have), key=str):
            sub = f"{path}.{key}" if path else str(key)
            if key not in have:
                yield f"{sub}: missing (want {want[key]!r})"
            elif key not in want:
                yield f"{sub}: unexpected {have[key]!r}"
            else:
                yield from _diff(want[key], have[key], sub)
    elif want != have or type(want) is not type(have):
        # type check: JSON 50 and 50.0 are different in power levels (v10+ want integers).
        yield f"{path or 'content'}: {have!r} → want {want!r}"
