"""The Matrix state an assembly's rooms should have (pure): join rules, power levels, the space tree
and our metadata, put together by :func:`desired_room_state`.

The handlers provision rooms from these contents and compare them with the actual state
(``room_state.detect_drift``) to revert what differs. The power-level baseline follows
docs/spec/matrix-facts.md §3: only the bot (invite 100) admits; join rules, power levels, the space tree and
ACLs are locked at 100; voters can react and un-react. The ACL content is ``server_acl``'s.
"""

from __future__ import annotations

import copy
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from harmony_matrix import event_types as et
from harmony_matrix.assemblies.assembly import Access, Assembly
from harmony_matrix.assemblies.room_state import RoomState, StateKey
from harmony_matrix.assemblies.server_acl import server_acl_content
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
# level; voters are at users_default 0 (docs/spec/matrix-facts.md §3).
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


@dataclass(frozen=True)
class AssemblyRoom:
    """A provisioned room: which assembly it belongs to, and which of its rooms it is."""

    slug: str
    kind: RoomKind
    room_id: RoomId
    room_version: str = "12"
    #: Its canonical alias (``room_alias``), once set; None while it has none.
    alias: str | None = None


# --- addresses -------------------------------------------------------------------------------
def room_alias_localpart(slug: str, kind: RoomKind) -> str:
    """The local part of the alias of an assembly's room: ``party`` for its space,
    ``party-discussion`` for its discussion room (slugs are already valid alias characters).

    Room version 12 IDs carry no server name and some clients cannot open them; an alias gives
    every room a readable address that works in any client.
    """
    return slug if kind is RoomKind.SPACE else f"{slug}-{kind.value}"


def room_alias(slug: str, kind: RoomKind, server_name: str) -> str:
    """The full alias, ``#party-discussion:example.org``."""
    return f"#{room_alias_localpart(slug, kind)}:{server_name}"


# --- join rules ------------------------------------------------------------------------------
def join_rules_content(access: Access, parent_space_ids: Sequence[RoomId],
                       also_allowed: Sequence[RoomId] = ()) -> dict[str, Any]:
    """``m.room.join_rules`` content for an assembly's *space* (docs/spec/product.md §2 table).

    ``participants`` becomes ``restricted`` with the parent spaces as the allow list (and
    ``also_allowed``: the spaces nested in a parent from another instance, whose participants
    take part in the umbrella too); the
    self-identified and members-only policies use ``knock`` because the bot must check something
    the server cannot (a private declaration, the registry) before inviting.
    """
    if access is Access.OPEN:
        return {"join_rule": "public"}
    if access is Access.PARTICIPANTS:
        if not parent_space_ids:
            raise ValueError("a 'participants' assembly needs at least one parent space")
        return _restricted([*parent_space_ids, *(r for r in also_allowed if r not in parent_space_ids)])
    if access in (Access.SELF_IDENTIFIED, Access.MEMBERS):
        return {"join_rule": "knock"}
    if access in (Access.INVITE, Access.DRAWN):
        # A drawn council's seats are filled by the bot's invitations after a draw, never by asking.
        return {"join_rule": "invite"}
    raise ValueError(f"unknown access {access!r}")  # pragma: no cover - exhaustive above


def room_join_rules_content(
    access: Access,
    room_kind: RoomKind,
    *,
    space_id: RoomId,
    parent_space_ids: Sequence[RoomId] = (),
    also_allowed: Sequence[RoomId] = (),
) -> dict[str, Any]:
    """``m.room.join_rules`` content for any room of an assembly, the space included.

    Child rooms of a gated assembly are ``restricted`` to the assembly's own space: whoever the
    bot admitted to the space can then join its rooms without a second knock. For a
    ``participants`` assembly the parent spaces are allowed as well, so participants of the
    umbrella can open the discussion room directly. The secretariat is always invite-only.
    """
    if room_kind is RoomKind.SPACE:
        return join_rules_content(access, parent_space_ids, also_allowed)
    if room_kind is RoomKind.SECRETARIAT:
        return {"join_rule": "invite"}
    if access is Access.OPEN:
        return {"join_rule": "public"}
    allowed = [space_id]
    if access is Access.PARTICIPANTS:
        allowed += [p for p in [*parent_space_ids, *also_allowed] if p not in allowed]
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
    moderators: Iterable[UserId] = (),
) -> dict[str, Any]:
    """The whole ``m.room.power_levels`` content the room should have.

    Pass the room's current content as ``existing``: keys we do not manage (``historical``,
    ``notifications``, levels of other event types such as ``m.room.name``) are kept, so
    comparing the result with the current content shows only real drift. Positive ``users``
    entries for anyone but the bot and the officers are dropped (only they hold elevated
    power); zero or negative entries (muted people) are kept. ``moderators`` are the members who
    hold moderator power by a seat drawn by lot (delegates whose draw gave them that power): they
    get ``MODERATOR_LEVEL`` like the officers, for their term.

    ``creator_is_bot``: in room version 12 the creator has infinite power and Synapse rejects a
    ``users`` entry for it (docs/spec/matrix-facts.md §0.1), so the bot is left out; in v11 and older the
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

    officers = [u for u in (*secretaries, *deputies, *moderators) if u != bot]
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


# --- the space tree and our metadata --------------------------------------------------------
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


# --- desired state ---------------------------------------------------------------------------
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
    moderators: Sequence[UserId] = (),
    remote_parents: Sequence[tuple[RoomId, Sequence[str]]] = (),
    remote_children: Sequence[tuple[RoomId, Sequence[str]]] = (),
    remote_allowed: Sequence[RoomId] = (),
) -> RoomState:
    """Everything the bot enforces in one room of ``assembly``.

    For the space: join rules, power levels, server ACL, ``org.harmony.assembly``, a
    ``m.space.child`` for each of its rooms (suggested) and nested spaces, and a
    ``m.space.parent`` for each umbrella (the first canonical). For a child room: join rules,
    power levels, server ACL and its ``m.space.parent`` pointing to the space.
    ``existing_power_levels`` should be the room's current content (see
    :func:`power_levels_content`); ``moderators`` are delegates holding moderator power by a drawn
    seat. ``remote_parents`` and ``remote_children`` are nestings across instances
    (``harmony_matrix.federation_peers.links``), each a space ID with the servers to reach it: the space
    gets a ``m.space.parent`` / ``m.space.child`` for each (a remote parent canonical only when there
    is no local one). ``remote_allowed``: spaces nested in a parent from another instance, allowed
    by a ``participants`` assembly's restricted join rules (their participants are the umbrella's).
    """
    own_server = via[0] if via else ""
    events: dict[StateKey, Mapping[str, Any]] = {
        (et.ROOM_JOIN_RULES, ""): room_join_rules_content(
            assembly.access, room_kind, space_id=space_id, parent_space_ids=parent_space_ids,
            also_allowed=remote_allowed,
        ),
        (et.ROOM_POWER_LEVELS, ""): power_levels_content(
            bot,
            (assembly.secretary,) if assembly.secretary else (),
            assembly.deputies,
            room_kind,
            creator_is_bot=creator_is_bot,
            existing=existing_power_levels,
            moderators=moderators,
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
        for room_id, remote_via in remote_children:
            events[(et.SPACE_CHILD, room_id)] = space_child_content(remote_via)
        for index, (room_id, remote_via) in enumerate(remote_parents):
            events[(et.SPACE_PARENT, room_id)] = space_parent_content(
                remote_via, canonical=index == 0 and not parent_space_ids)
    else:
        events[(et.SPACE_PARENT, space_id)] = space_parent_content(via)
    return RoomState(events)
