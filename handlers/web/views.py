"""The pages' data, built from what the database holds: the federation tree, an assembly, a decision,
a poll and the decision record. Pure functions of loaded values; the JSON API returns these dicts and
the templates render them (see ``records.py`` for the objects inside them)."""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from dataclasses import replace
from datetime import datetime, tzinfo
from typing import Any
from zoneinfo import ZoneInfo

from handlers.assemblies.commands import HOW_TO_JOIN
from handlers.web.links import event_link, room_link, user_link
from handlers.web.records import (
    Site,
    assembly_path,
    decision_path,
    decision_summary,
    draw_summary,
    moot_summary,
    poll_summary,
)
from handlers.web.visibility import linked_room_kinds, poll_is_public, record_is_public, shows_record
from harmony_matrix.assemblies.assembly import Assembly
from harmony_matrix.assemblies.federation import Federation
from harmony_matrix.assemblies.room_policy import AssemblyRoom, RoomKind
from harmony_matrix.consensus.decisions import ChainEntry, chain_hash
from harmony_matrix.consensus.moots import Moot, MootStatus
from harmony_matrix.consensus.precedence import Link, decisions_in_force, overridden_by
from harmony_matrix.polls.poll import Poll

__all__ = ["Rooms", "assembly_view", "decision_view", "decisions_view", "federation_view", "known_names",
           "poll_view", "rooms_by_assembly"]

#: ``slug → room kind → room``.
Rooms = Mapping[str, Mapping[RoomKind, AssemblyRoom]]

_ROOM_NAMES = {RoomKind.SPACE: "Space", RoomKind.DISCUSSION: "Discussion",
               RoomKind.ANNOUNCEMENTS: "Announcements", RoomKind.VOTES: "Votes"}
#: How many past moots and closed polls an assembly's page lists.
RECENT = 10
#: How many of its own decisions an assembly's page lists (the rest: ``/decisions?assembly=<slug>``).
RECORD = 50


def rooms_by_assembly(rooms: Collection[AssemblyRoom]) -> dict[str, dict[RoomKind, AssemblyRoom]]:
    """Group provisioned rooms by assembly."""
    grouped: dict[str, dict[RoomKind, AssemblyRoom]] = {}
    for room in rooms:
        grouped.setdefault(room.slug, {})[room.kind] = room
    return grouped


def _zone(assembly: Assembly | None, site: Site) -> tzinfo:
    return ZoneInfo(assembly.timezone) if assembly is not None and assembly.timezone else site.tz


def _how_to_join(assembly: Assembly, federation: Federation, prefix: str) -> str:
    parents = ", ".join(federation[p].name for p in assembly.parents) or "—"
    how = str(HOW_TO_JOIN[assembly.access]).format(prefix=prefix, slug=assembly.slug, parents=parents)
    if assembly.automatic_participation:
        how += "; everyone taking part in the party is invited"
    return how


def _person(user_id: str, assembly_rooms: Mapping[RoomKind, AssemblyRoom], site: Site) -> dict[str, Any]:
    name = site.names.display_name(user_id, [room.room_id for room in assembly_rooms.values()])
    return {"name": name or user_id, "matrix_id": user_id, "link": user_link(user_id)}


def _assembly_card(assembly: Assembly, federation: Federation, rooms: Rooms, site: Site) -> dict[str, Any]:
    """What the tree and an assembly's page say about the assembly itself."""
    own_rooms = rooms.get(assembly.slug, {})
    public = shows_record(assembly)
    card: dict[str, Any] = {
        "slug": assembly.slug,
        "name": assembly.name,
        "url": assembly_path(assembly.slug),
        "kind": assembly.kind.value,
        "access": assembly.access.value,
        "purpose": assembly.purpose.value if assembly.purpose else None,
        "remit": assembly.remit,
        "reference": assembly.reference,
        "declaration": assembly.declaration,
        "automatic_participation": assembly.automatic_participation,
        "parents": [{"slug": p.slug, "name": p.name, "url": assembly_path(p.slug)}
                    for p in federation.parents(assembly.slug)],
        "children": [{"slug": c.slug, "name": c.name, "url": assembly_path(c.slug)}
                     for c in federation.children(assembly.slug)],
        "how_to_join": _how_to_join(assembly, federation, site.prefix),
        "public_record": public,
        "rooms": _room_links(assembly, own_rooms, site),
        "secretary": None,
        "deputies": [],
    }
    if public:
        card["secretary"] = None if assembly.secretary is None else _person(assembly.secretary, own_rooms, site)
        card["deputies"] = [_person(deputy, own_rooms, site) for deputy in assembly.deputies]
    return card


def _room_links(assembly: Assembly, own_rooms: Mapping[RoomKind, AssemblyRoom], site: Site) -> list[dict[str, str]]:
    """The assembly's rooms a page may link to (matrix.to), in the order ``linked_room_kinds`` gives."""
    return [{"kind": kind.value, "name": _ROOM_NAMES[kind], "link": room_link(own_rooms[kind].room_id, via=site.via)}
            for kind in linked_room_kinds(assembly) if kind in own_rooms]


def known_names(federation: Federation, rooms: Rooms, site: Site) -> tuple[tuple[str, str | None], ...]:
    """The display names the federation page would show now (part of what its cache is keyed by)."""
    return tuple((user, site.names.display_name(user, [r.room_id for r in rooms.get(a.slug, {}).values()]))
                 for a in federation if shows_record(a) for user in a.officers)


def federation_view(federation: Federation, rooms: Rooms, site: Site) -> dict[str, Any]:
    """The federation page: every assembly, and the nesting as a tree (an assembly with several
    umbrellas appears under each; later appearances are marked ``repeated`` and not expanded)."""
    expanded: set[str] = set()

    def branch(assembly: Assembly) -> dict[str, Any]:
        repeated = assembly.slug in expanded
        expanded.add(assembly.slug)
        return {"slug": assembly.slug, "repeated": repeated,
                "children": [] if repeated else [branch(c) for c in federation.children(assembly.slug)]}

    tree = [branch(root) for root in federation.roots()]
    return {
        "api_version": 1,
        "title": site.title,
        "assemblies": [_assembly_card(a, federation, rooms, site) for a in federation],
        "tree": tree,
        "calendar": "/calendar.ics",
        "atom": "/decisions.atom",
    }


def _link(link: Link, side: str, federation: Federation, chain_by_ref: Mapping[str, ChainEntry]) -> dict[str, Any]:
    ref = link.winner if side == "winner" else link.loser
    entry = chain_by_ref.get(ref)
    public = entry is not None and record_is_public(entry.decision.assembly, federation)
    return {"ref": ref, "relation": link.relation.value, "topic": link.topic,
            "url": decision_path(ref) if public else None, "public": public}


def _distinct(links: Sequence[Link]) -> list[Link]:
    """Links without repeats: an explicit ``supersedes`` (on every topic) makes the same winner's
    per-topic links redundant."""
    explicit = {(link.winner, link.relation) for link in links if link.topic is None}
    seen: set[tuple[str, str, str | None]] = set()
    kept = []
    for link in links:
        key = (link.winner, link.relation.value, link.topic)
        if key in seen or (link.topic is not None and (link.winner, link.relation) in explicit):
            continue
        seen.add(key)
        kept.append(link)
    return kept


def assembly_view(slug: str, *, federation: Federation, rooms: Rooms, chain: Sequence[ChainEntry],
                  moots: Sequence[Moot], polls: Sequence[Poll], draws: Sequence[Mapping[str, Any]],
                  site: Site, now: datetime) -> dict[str, Any] | None:
    """An assembly's page, or None when there is no such assembly. Limited assemblies get their card
    only (see ``visibility``)."""
    assembly = federation.get(slug)
    if assembly is None:
        return None
    tz = _zone(assembly, site)
    view: dict[str, Any] = {
        "api_version": 1,
        "assembly": _assembly_card(assembly, federation, rooms, site),
        "timezone": str(getattr(tz, "key", tz)),
        "calendar": f"{assembly_path(slug)}/calendar.ics",
        "atom": f"{assembly_path(slug)}/decisions.atom",
        "upcoming_moots": [], "past_moots": [], "open_polls": [], "closed_polls": [],
        "decisions_in_force": [], "record": [], "record_total": 0, "record_all": None, "draws": [],
    }
    if not shows_record(assembly):
        return view
    own = [m for m in moots if m.assembly == slug]
    view["upcoming_moots"] = [moot_summary(m, tz) for m in own
                              if m.status is MootStatus.SCHEDULED and m.ends_at > now]
    past = [m for m in own if not (m.status is MootStatus.SCHEDULED and m.ends_at > now)]
    view["past_moots"] = [moot_summary(m, tz) for m in reversed(past[-RECENT:])]
    by_room: dict[str, AssemblyRoom] = {room.room_id: room for room in rooms.get(slug, {}).values()}
    shown = [p for p in polls if poll_is_public(by_room.get(p.room_id), federation)]
    summaries = [poll_summary(p, assembly=slug, site=site, room_kind=by_room[p.room_id].kind.value) for p in shown]
    view["open_polls"] = [s for s in summaries if s["status"] == "open"]
    view["closed_polls"] = [s for s in summaries if s["status"] != "open"][:RECENT]
    decisions = [entry.decision for entry in chain]
    by_ref = {entry.decision.ref: entry for entry in chain}
    for held in decisions_in_force(decisions, assembly=slug, topic=None, ancestors_of=federation.ancestors):
        summary = decision_summary(held.decision, federation, tz)
        summary.update(
            topics_in_force=list(held.topics),
            displaced=[_link(link, "loser", federation, by_ref) for link in held.displaced],
            displaced_by=[_link(link, "winner", federation, by_ref) for link in held.displaced_by],
            conflicts_with=list(held.conflicts_with))
        view["decisions_in_force"].append(summary)
    own_record = [d for d in reversed(decisions) if d.assembly == slug]
    view["record"] = [decision_summary(d, federation, tz) for d in own_record[:RECORD]]
    view["record_total"] = len(own_record)
    view["record_all"] = f"/decisions?assembly={slug}"
    view["draws"] = [draw_summary(record) for record in draws]
    return view


def decision_view(ref: str, *, federation: Federation, rooms: Rooms, chain: Sequence[ChainEntry],
                  problems: Sequence[str], evidence_rooms: Mapping[str, str], site: Site) -> dict[str, Any] | None:
    """A decision's page: the decision, its evidence as matrix.to links, what it supersedes and what
    overrides it, its hash and whether the record verifies (``problems``: what ``verify_chain`` found in
    ``chain``). None when there is no such decision or it is not public."""
    entry = next((e for e in chain if e.decision.ref.casefold() == ref.casefold()), None)
    if entry is None or not record_is_public(entry.decision.assembly, federation):
        return None
    decision = entry.decision
    assembly = federation.get(decision.assembly)
    tz = _zone(assembly, site)
    by_ref = {e.decision.ref: e for e in chain}
    linkable: dict[str, AssemblyRoom] = {room.room_id: room for slug, kinds in rooms.items() for room in kinds.values()
                if (a := federation.get(slug)) is not None and room.kind in linked_room_kinds(a)}
    evidence = []
    for event_id in decision.evidence:
        room = linkable.get(evidence_rooms.get(event_id, ""))
        evidence.append({"event_id": event_id, "room": room.kind.value if room else None,
                         "link": event_link(room.room_id, event_id, via=site.via) if room else None})
    view = decision_summary(decision, federation, tz)
    view.update(
        api_version=1,
        assembly_url=assembly_path(decision.assembly),
        rooms=_room_links(assembly, rooms.get(decision.assembly, {}), site) if assembly is not None else [],
        evidence=evidence,
        supersedes=None if decision.supersedes is None else {
            "ref": decision.supersedes,
            "url": decision_path(decision.supersedes)
            if decision.supersedes in by_ref and record_is_public(by_ref[decision.supersedes].decision.assembly,
                                                                   federation) else None},
        overridden_by=[_link(link, "winner", federation, by_ref) for link in _distinct(
            overridden_by(decision, [e.decision for e in chain], ancestors_of=federation.ancestors))],
        chain={"seq": entry.seq, "hash": entry.hash, "prev_hash": entry.prev_hash,
               "entry_matches": chain_hash(entry.prev_hash, decision) == entry.hash,
               "record_verifies": not problems, "record_length": len(chain), "problems": len(problems)},
    )
    return view


def poll_view(poll: Poll | None, *, federation: Federation, rooms: Rooms, site: Site) -> dict[str, Any] | None:
    """A poll's page, or None when there is no such poll or it is not public."""
    if poll is None:
        return None
    room = next((r for kinds in rooms.values() for r in kinds.values() if r.room_id == poll.room_id), None)
    if room is None or not poll_is_public(room, federation):
        return None
    assembly = federation[room.slug]
    view = poll_summary(poll, assembly=room.slug, site=replace(site, tz=_zone(assembly, site)),
                        room_kind=room.kind.value)
    view.update(api_version=1, assembly_name=assembly.name, assembly_url=assembly_path(room.slug))
    return view


def decisions_view(chain: Sequence[ChainEntry], *, federation: Federation, site: Site,
                   assembly: str | None = None, limit: int | None = None) -> list[dict[str, Any]]:
    """The public decisions, newest first (of one assembly, or all)."""
    shown = [e.decision for e in reversed(chain)
             if record_is_public(e.decision.assembly, federation)
             and (assembly is None or e.decision.assembly == assembly)]
    return [decision_summary(d, federation, _zone(federation.get(d.assembly), site)) for d in shown[:limit]]
