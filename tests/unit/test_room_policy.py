"""Desired Matrix state and drift detection."""

from __future__ import annotations

import pytest

from harmony_matrix import event_types as et
from harmony_matrix.assemblies.assembly import Access, Assembly, AssemblyKind
from harmony_matrix.ids import RoomId, UserId
from harmony_matrix.assemblies.room_policy import (
    CHILD_ROOM_KINDS,
    RoomKind,
    assembly_state_content,
    desired_room_state,
    join_rules_content,
    power_levels_content,
    room_join_rules_content,
    space_child_content,
    space_parent_content,
)
from harmony_matrix.assemblies.room_state import DriftKind, RoomState, detect_drift
from harmony_matrix.assemblies.server_acl import (
    acl_denies,
    acl_inexpressible,
    server_acl_content,
    server_denied,
)

BOT = UserId("@harmony:hs")
SEC = UserId("@sec:hs")
DEP = UserId("@dep:hs")
SPACE = RoomId("!space")
PARENT = RoomId("!parent")


def test_join_rules_table() -> None:
    assert join_rules_content(Access.OPEN, []) == {"join_rule": "public"}
    assert join_rules_content(Access.PARTICIPANTS, [PARENT, RoomId("!p2")]) == {
        "join_rule": "restricted",
        "allow": [
            {"type": "m.room_membership", "room_id": "!parent"},
            {"type": "m.room_membership", "room_id": "!p2"},
        ],
    }
    assert join_rules_content(Access.SELF_IDENTIFIED, [])["join_rule"] == "knock"
    assert join_rules_content(Access.MEMBERS, [])["join_rule"] == "knock"
    assert join_rules_content(Access.INVITE, [])["join_rule"] == "invite"
    with pytest.raises(ValueError):
        join_rules_content(Access.PARTICIPANTS, [])


def test_child_room_join_rules() -> None:
    for access in Access:
        rules = room_join_rules_content(
            access, RoomKind.SECRETARIAT, space_id=SPACE, parent_space_ids=[PARENT]
        )
        assert rules == {"join_rule": "invite"}
    assert room_join_rules_content(Access.OPEN, RoomKind.VOTES, space_id=SPACE) == {
        "join_rule": "public"
    }
    members = room_join_rules_content(Access.MEMBERS, RoomKind.DISCUSSION, space_id=SPACE)
    assert [x["room_id"] for x in members["allow"]] == ["!space"]
    participants = room_join_rules_content(
        Access.PARTICIPANTS, RoomKind.DISCUSSION, space_id=SPACE, parent_space_ids=[PARENT]
    )
    assert [x["room_id"] for x in participants["allow"]] == ["!space", "!parent"]
    assert set(CHILD_ROOM_KINDS) == set(RoomKind) - {RoomKind.SPACE}


def test_power_levels_baseline_v12() -> None:
    pl = power_levels_content(BOT, [SEC], [DEP], RoomKind.VOTES, creator_is_bot=True)
    assert pl["invite"] == 100
    assert pl["kick"] == pl["ban"] == pl["redact"] == 50
    assert pl["events_default"] == 0 and pl["users_default"] == 0
    for locked in (et.ROOM_JOIN_RULES, et.ROOM_POWER_LEVELS, et.SPACE_CHILD, et.SPACE_PARENT,
                   et.ROOM_SERVER_ACL, et.ROOM_HISTORY_VISIBILITY, et.ROOM_GUEST_ACCESS,
                   et.HARMONY_ASSEMBLY):
        assert pl["events"][locked] == 100
    assert pl["events"][et.REACTION] == 0 and pl["events"][et.ROOM_REDACTION] == 0
    # v12: the creator must not appear in users
    assert pl["users"] == {SEC: 50, DEP: 50}


def test_power_levels_v11_and_room_kinds() -> None:
    pl = power_levels_content(BOT, [], [], RoomKind.ANNOUNCEMENTS, creator_is_bot=False)
    assert pl["users"] == {BOT: 100}
    assert pl["events_default"] == 50
    space = power_levels_content(BOT, [], [], RoomKind.SPACE, creator_is_bot=True)
    assert space["events_default"] == 100


def test_power_levels_merge_existing() -> None:
    existing = {
        "users": {BOT: 100, "@usurper:hs": 50, "@muted:hs": -1, SEC: 0},
        "events": {"m.room.name": 50, et.ROOM_JOIN_RULES: 50, "m.room.tombstone": 150},
        "historical": 100,
        "invite": 0,
    }
    pl = power_levels_content(BOT, [SEC], [], RoomKind.DISCUSSION, creator_is_bot=True,
                              existing=existing)
    assert pl["users"] == {"@muted:hs": -1, SEC: 50}  # bot (creator) and usurper gone
    assert pl["events"]["m.room.name"] == 50 and pl["events"]["m.room.tombstone"] == 150
    assert pl["events"][et.ROOM_JOIN_RULES] == 100
    assert pl["historical"] == 100 and pl["invite"] == 100
    assert existing["users"]["@usurper:hs"] == 50  # input untouched


def test_space_tree_contents() -> None:
    assert space_child_content(["hs", "hs", "other"]) == {
        "via": ["hs", "other"], "suggested": False}
    assert space_parent_content(["hs"]) == {"via": ["hs"], "canonical": True}
    with pytest.raises(ValueError):
        space_child_content([])


def test_assembly_state_is_public_metadata_only() -> None:
    a = Assembly("das", "DAS", AssemblyKind.SOCIETY, Access.SELF_IDENTIFIED,
                 declaration="I identify as disabled.", reference="HPUK-ASSE-2025-09-4",
                 parents=("party",), secretary=SEC)
    content = assembly_state_content(a)
    assert content["slug"] == "das" and content["kind"] == "society"
    assert content["access"] == "self-identified"
    assert content["reference"] == "HPUK-ASSE-2025-09-4"
    assert SEC not in str(content)


def test_server_acl() -> None:
    acl = server_acl_content(["Evil.example", "*.evil.example"], "hs.example")
    assert acl == {"allow": ["*"], "deny": ["*.evil.example", "evil.example"],
                   "allow_ip_literals": True}
    with pytest.raises(ValueError, match="own server"):
        server_acl_content(["*.example"], "hs.example:8448")
    assert acl_denies("a.evil.example:8448", ["*.evil.example"])
    assert not acl_denies("evil.example.org", ["evil.example"])
    assert acl_denies("[::1]:8448", ["[::1]"])


def test_denied_servers_with_a_port() -> None:
    # People are matched by the full server name when the entry has a port…
    assert server_denied("localhost:8449", ["localhost:8449"])
    assert not server_denied("localhost:8448", ["localhost:8449"])
    assert server_denied("evil.example:8448", ["evil.example"])
    # …but ACLs ignore ports: an entry on the bot's own host cannot go in the ACL.
    assert acl_inexpressible(["localhost:8449", "evil.example:8448"], "localhost:8448") == ["localhost:8449"]
    acl = server_acl_content(["localhost:8449", "Evil.example:8448"], "localhost:8448")
    assert acl["deny"] == ["evil.example"]
    with pytest.raises(ValueError, match="own server"):
        server_acl_content(["localhost"], "localhost:8448")


def _space_state(**kw: object) -> RoomState:
    a = Assembly("ward", "Ward", AssemblyKind.CONSTITUENCY, Access.PARTICIPANTS,
                 parents=("city",), secretary=SEC)
    return desired_room_state(
        a, RoomKind.SPACE, bot=BOT, via=["hs"], space_id=SPACE, parent_space_ids=[PARENT],
        child_room_ids=[RoomId("!disc"), RoomId("!votes")], nested_space_ids=[RoomId("!sub")],
        creator_is_bot=True, **kw,  # type: ignore[arg-type]
    )


def test_desired_space_state() -> None:
    state = _space_state()
    assert state.get(et.ROOM_JOIN_RULES)["join_rule"] == "restricted"  # type: ignore[index]
    assert state.get(et.SPACE_CHILD, "!disc") == {"via": ["hs"], "suggested": True}
    assert state.get(et.SPACE_CHILD, "!sub") == {"via": ["hs"], "suggested": False}
    assert state.get(et.SPACE_PARENT, "!parent") == {"via": ["hs"], "canonical": True}
    assert state.get(et.HARMONY_ASSEMBLY) is not None
    room = desired_room_state(
        Assembly("x", "X", AssemblyKind.WORKING_GROUP), RoomKind.DISCUSSION, bot=BOT,
        via=["hs"], space_id=SPACE, creator_is_bot=True,
    )
    assert room.get(et.SPACE_PARENT, SPACE) == {"via": ["hs"], "canonical": True}
    assert room.get(et.HARMONY_ASSEMBLY) is None


def test_no_drift_when_equal() -> None:
    state = _space_state()
    assert detect_drift(state, RoomState(dict(state.events))) == []


def test_drift_reports_and_reverts() -> None:
    desired = _space_state()
    actual = dict(desired.events)
    actual[(et.ROOM_JOIN_RULES, "")] = {"join_rule": "public"}
    pl = dict(actual[(et.ROOM_POWER_LEVELS, "")])
    pl["events"] = dict(pl["events"], **{et.ROOM_JOIN_RULES: 50})
    pl["users"] = dict(pl["users"], **{"@mod:hs": 50})
    actual[(et.ROOM_POWER_LEVELS, "")] = pl
    del actual[(et.SPACE_CHILD, "!votes")]                        # child removed
    actual[(et.SPACE_CHILD, "!intruder")] = {"via": ["x"]}       # child added
    actual[(et.SPACE_CHILD, "!old")] = {}                        # already removed: not drift
    actual[(et.ROOM_NAME, "")] = {"name": "Renamed"}             # not managed: not drift
    drifts = {(d.event_type, d.state_key): d for d in detect_drift(desired, RoomState(actual))}
    assert set(drifts) == {
        (et.ROOM_JOIN_RULES, ""), (et.ROOM_POWER_LEVELS, ""),
        (et.SPACE_CHILD, "!votes"), (et.SPACE_CHILD, "!intruder"),
    }
    jr = drifts[(et.ROOM_JOIN_RULES, "")]
    assert jr.kind is DriftKind.CHANGED
    assert jr.revert_content == desired.get(et.ROOM_JOIN_RULES)
    assert any("join_rule" in d for d in jr.differences)
    pld = drifts[(et.ROOM_POWER_LEVELS, "")]
    assert any("events.m.room.join_rules" in d for d in pld.differences)
    assert any("users.@mod:hs" in d for d in pld.differences)
    assert drifts[(et.SPACE_CHILD, "!votes")].kind is DriftKind.MISSING
    intruder = drifts[(et.SPACE_CHILD, "!intruder")]
    assert intruder.kind is DriftKind.UNEXPECTED and intruder.revert_content == {}
    assert "not expected" in intruder.describe()


def test_desired_pl_built_from_actual_shows_only_real_drift() -> None:
    # Synapse adds keys we do not manage; building desired from actual keeps them.
    synapse_pl = power_levels_content(BOT, [SEC], [], RoomKind.SPACE, creator_is_bot=True)
    synapse_pl["historical"] = 100
    synapse_pl["events"]["m.room.avatar"] = 50
    desired = _space_state(existing_power_levels=synapse_pl)
    actual = RoomState(dict(desired.events))
    assert detect_drift(desired, actual) == []


def test_room_state_is_a_copy() -> None:
    content = {"join_rule": "public"}
    state = RoomState({(et.ROOM_JOIN_RULES, ""): content})
    content["join_rule"] = "invite"
    assert state.get(et.ROOM_JOIN_RULES) == {"join_rule": "public"}


def test_every_room_has_a_readable_alias() -> None:
    from harmony_matrix.assemblies.room_policy import room_alias, room_alias_localpart

    assert room_alias("party", RoomKind.SPACE, "example.org") == "#party:example.org"
    assert room_alias("cardiff-west", RoomKind.DISCUSSION, "localhost:8448") == "#cardiff-west-discussion:localhost:8448"
    assert [room_alias_localpart("wg", kind) for kind in RoomKind] == [
        "wg", "wg-discussion", "wg-announcements", "wg-votes", "wg-secretariat"]
