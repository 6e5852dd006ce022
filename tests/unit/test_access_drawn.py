"""The ``drawn`` access policy (a sortition council: only current drawees and the bot) and seats drawn by
lot in other assemblies (delegates: admitted, and moderators when their draw says so)."""

from __future__ import annotations

from datetime import UTC, datetime

from hypothesis import given
from hypothesis import strategies as st

from harmony_matrix.assemblies.access import Enforcement, Outcome, PersonFacts, decide_access, may_stay
from harmony_matrix.assemblies.assembly import Access, Assembly, AssemblyKind, parse_access
from harmony_matrix.assemblies.federation import Federation
from harmony_matrix.assemblies.room_policy import (
    MODERATOR_LEVEL,
    RoomKind,
    desired_room_state,
    join_rules_content,
    power_levels_content,
    room_join_rules_content,
)
from harmony_matrix.event_types import ROOM_JOIN_RULES, ROOM_POWER_LEVELS
from harmony_matrix.ids import RoomId, UserId

NOW = datetime(2026, 3, 1, tzinfo=UTC)
SECRETARY = UserId("@sec:hs")
BOT = UserId("@bot:hs")
FED = Federation([
    Assembly("party", "Party", AssemblyKind.PARTY),
    Assembly("council", "People's Council", AssemblyKind.ASSEMBLY, Access.DRAWN, parents=("party",),
             secretary=SECRETARY, automatic_participation=True),
    Assembly("region", "Region", AssemblyKind.REGION, Access.INVITE, parents=("party",)),
    Assembly("north", "North", AssemblyKind.CITY, parents=("region",)),
])


def decide(facts: PersonFacts, slug: str, room: RoomKind = RoomKind.SPACE) -> Outcome:
    return decide_access(facts, FED[slug], FED, room=room, prefix="!h").outcome


def test_drawn_is_a_policy_people_can_type() -> None:
    assert parse_access("drawn") is Access.DRAWN
    assert join_rules_content(Access.DRAWN, []) == {"join_rule": "invite"}
    child = room_join_rules_content(Access.DRAWN, RoomKind.DISCUSSION, space_id=RoomId("!space"))
    assert child == {"join_rule": "restricted", "allow": [{"type": "m.room_membership", "room_id": "!space"}]}


def test_a_drawn_council_admits_only_its_current_drawees() -> None:
    drawee = PersonFacts(UserId("@d:hs"), seated_in=frozenset({"council"}))
    assert decide(drawee, "council") is Outcome.ADMIT
    assert decide(drawee, "council", RoomKind.DISCUSSION) is Outcome.ADMIT
    # Everything that opens other assemblies does not open this one: membership, an invitation,
    # participation elsewhere (automatic participation), even being its secretary.
    outsider = PersonFacts(UserId("@o:hs"), is_member=True, invited_to=frozenset({"council"}),
                           participates_in=frozenset({"party", "north"}), declared=frozenset({"council"}))
    assert decide(outsider, "council") is Outcome.REFUSE
    assert decide(PersonFacts(SECRETARY), "council") is Outcome.REFUSE
    refused = decide_access(outsider, FED["council"], FED, prefix="!h")
    assert refused.reason == "People's Council is for the members drawn by lot to sit in it, during their term."
    assert refused.public_reason == "does not meet this assembly's access rule"
    # A seat somewhere else is no seat here.
    assert decide(PersonFacts(UserId("@x:hs"), seated_in=frozenset({"region"})), "council") is Outcome.REFUSE


def test_the_secretariat_keeps_its_own_rule() -> None:
    assert decide(PersonFacts(SECRETARY), "council", RoomKind.SECRETARIAT) is Outcome.ADMIT
    drawee = PersonFacts(UserId("@d:hs"), seated_in=frozenset({"council"}))
    assert decide(drawee, "council", RoomKind.SECRETARIAT) is Outcome.REFUSE


def test_a_drawee_whose_term_ended_is_removed() -> None:
    ended = PersonFacts(UserId("@d:hs"))
    action = may_stay(ended, FED["council"], FED, now=NOW, prefix="!h")
    assert action.action is Enforcement.REMOVE
    assert "drawn by lot" in action.reason


def test_a_delegate_seat_admits_to_an_invite_only_umbrella() -> None:
    delegate = PersonFacts(UserId("@del:hs"), seated_in=frozenset({"region"}))
    assert decide(delegate, "region") is Outcome.ADMIT
    assert decide(PersonFacts(UserId("@del:hs")), "region") is Outcome.REFUSE


def test_delegates_with_power_are_moderators_like_officers() -> None:
    content = power_levels_content(BOT, [SECRETARY], [], RoomKind.DISCUSSION, creator_is_bot=True,
                                   moderators=[UserId("@del:hs")],
                                   existing={"users": {"@gone:hs": 50, "@muted:hs": -1}})
    assert content["users"] == {"@del:hs": MODERATOR_LEVEL, "@muted:hs": -1, str(SECRETARY): MODERATOR_LEVEL}
    state = desired_room_state(FED["region"], RoomKind.VOTES, bot=BOT, via=["hs"], space_id=RoomId("!s"),
                               creator_is_bot=True, moderators=[UserId("@del:hs")])
    assert state.events[(ROOM_POWER_LEVELS, "")]["users"] == {"@del:hs": MODERATOR_LEVEL}
    assert state.events[(ROOM_JOIN_RULES, "")]["join_rule"] == "restricted"


facts = st.builds(
    PersonFacts, user_id=st.sampled_from([UserId("@a:hs"), SECRETARY]), is_member=st.booleans(),
    is_admin=st.booleans(), invited_to=st.frozensets(st.sampled_from(FED.slugs)),
    participates_in=st.frozensets(st.sampled_from(FED.slugs)),
    seated_in=st.frozensets(st.sampled_from(FED.slugs)))


@given(facts, st.sampled_from(FED.slugs), st.sampled_from(list(RoomKind)))
def test_a_seat_never_lowers_an_outcome(base: PersonFacts, slug: str, room: RoomKind) -> None:
    seated = PersonFacts(base.user_id, is_member=base.is_member, is_admin=base.is_admin,
                         invited_to=base.invited_to, participates_in=base.participates_in,
                         seated_in=base.seated_in | {slug})
    if decide(base, slug, room) is Outcome.ADMIT:
        assert decide(seated, slug, room) is Outcome.ADMIT
