"""Access decisions and enforcement."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from hypothesis import given
from hypothesis import strategies as st

from harmony_matrix.assemblies.access import (
    AccessDecision,
    Enforcement,
    EnforcementPolicy,
    Outcome,
    PersonFacts,
    decide_access,
    may_manage,
    may_stay,
)
from harmony_matrix.assemblies.assembly import Access, Assembly, AssemblyKind
from harmony_matrix.assemblies.federation import Federation
from harmony_matrix.assemblies.room_policy import RoomKind
from harmony_matrix.ids import UserId

NOW = datetime(2025, 9, 1, 12, tzinfo=UTC)
SECRETARY = UserId("@sec:hs")
DEPUTY = UserId("@dep:hs")


def _fed() -> Federation:
    wg = AssemblyKind.WORKING_GROUP
    return Federation(
        [
            Assembly("party", "Party", AssemblyKind.PARTY),
            Assembly("city", "City", AssemblyKind.CITY, parents=("party",)),
            Assembly("ward", "Ward", AssemblyKind.CONSTITUENCY, Access.PARTICIPANTS,
                     parents=("city",)),
            Assembly("deep", "Deep", wg, Access.PARTICIPANTS, parents=("ward",)),
            Assembly("das", "Disability Activism Society", AssemblyKind.SOCIETY_WORKING_GROUP,
                     Access.SELF_IDENTIFIED, declaration="I identify as disabled.",
                     parents=("party",), secretary=SECRETARY, deputies=(DEPUTY,)),
            Assembly("fin", "Finance", wg, Access.MEMBERS, parents=("party",)),
            Assembly("inner", "Inner Circle", wg, Access.INVITE, parents=("party",)),
            Assembly("owg", "Operational WG", wg, Access.INVITE, parents=("party",),
                     automatic_participation=True),
            Assembly("walled", "Walled", wg, parents=("party",),
                     denied_servers=("evil.example", "*.evil.example")),
        ]
    )


FED = _fed()


def person(**kw: object) -> PersonFacts:
    kw.setdefault("user_id", UserId("@alice:hs"))
    return PersonFacts(**kw)  # type: ignore[arg-type]


def decide(p: PersonFacts, slug: str, room: RoomKind = RoomKind.SPACE) -> AccessDecision:
    return decide_access(p, FED[slug], FED, room=room, prefix="!h")


def test_open_admits_anyone() -> None:
    assert decide(person(), "party").outcome is Outcome.ADMIT


def test_participants_need_a_parent() -> None:
    refused = decide(person(), "ward")
    assert refused.outcome is Outcome.REFUSE
    assert "City" in refused.reason
    assert decide(person(participates_in={"city"}), "ward").admitted
    # umbrella participation: being in something else nested in the parent counts
    fed = FED.with_assembly(Assembly("ward2", "Ward 2", AssemblyKind.CONSTITUENCY,
                                     parents=("city",)))
    assert decide_access(person(participates_in={"ward2"}), fed["ward"], fed, prefix="!h").admitted


def test_participation_through_the_assembly_itself_does_not_count() -> None:
    # Someone in ward (and deep, nested in it) who left city must not qualify for ward.
    p = person(participates_in={"ward", "deep"})
    assert decide(p, "ward").outcome is Outcome.REFUSE
    # but for deep, being in ward (its parent) is what counts
    assert decide(person(participates_in={"ward"}), "deep").admitted


def test_self_identified_asks_then_admits() -> None:
    asked = decide(person(), "das")
    assert asked.outcome is Outcome.ASK_DECLARATION
    assert asked.declaration == "I identify as disabled."
    assert "I identify as disabled." in asked.reason
    assert decide(person(declared={"das"}), "das").admitted
    # a declaration for another assembly does not count
    assert decide(person(declared={"other"}), "das").outcome is Outcome.ASK_DECLARATION
    # secretaries may admit people
    assert decide(person(invited_to={"das"}), "das").admitted


def test_members_only_checks_the_registry() -> None:
    refused = decide(person(), "fin")
    assert refused.outcome is Outcome.REFUSE
    assert decide(person(is_member=True), "fin").admitted
    # a secretary's invitation does not replace the registry: it decides who votes
    assert not decide(person(invited_to={"fin"}), "fin").admitted


def test_invite_only() -> None:
    assert decide(person(), "inner").outcome is Outcome.REFUSE
    assert decide(person(invited_to={"inner"}), "inner").admitted
    assert not decide(person(is_member=True, declared={"inner"}), "inner").admitted


def test_automatic_participation() -> None:
    assert decide(person(), "owg").outcome is Outcome.REFUSE
    assert decide(person(participates_in={"ward"}), "owg").admitted
    # being only in the automatic assembly itself is not participating "anywhere else"
    assert not decide(person(participates_in={"owg"}), "owg").admitted


def test_officers_and_secretariat() -> None:
    sec = person(user_id=SECRETARY)
    dep = person(user_id=DEPUTY)
    assert decide(sec, "das").admitted and decide(dep, "das").admitted
    assert decide(sec, "das", RoomKind.SECRETARIAT).admitted
    assert decide(person(is_admin=True), "das", RoomKind.SECRETARIAT).admitted
    everyone_else = person(declared={"das"}, is_member=True, invited_to={"das"})
    assert decide(everyone_else, "das", RoomKind.SECRETARIAT).outcome is Outcome.REFUSE
    assert decide(everyone_else, "party", RoomKind.SECRETARIAT).outcome is Outcome.REFUSE
    assert may_manage(sec, FED["das"]) and may_manage(person(is_admin=True), FED["das"])
    assert not may_manage(sec, FED["fin"])


def test_denied_servers_refused_first() -> None:
    for uid in ("@x:evil.example", "@x:sub.evil.example:8448", "@x:EVIL.example"):
        assert decide(person(user_id=uid), "walled").outcome is Outcome.REFUSE
    assert decide(person(user_id="@x:good.example"), "walled").admitted


def test_public_reasons_never_depend_on_status() -> None:
    # Whatever the sensitive facts, a refusal looks the same from outside.
    texts = {
        decide(person(), "fin").public_reason,
        decide(person(), "inner").public_reason,
        decide(person(), "ward").public_reason,
        decide(person(declared={"x"}), "inner").public_reason,
    }
    assert len(texts) == 1
    for text in texts:
        assert "member" not in text and "declar" not in text and "disab" not in text.lower()
    assert decide(person(is_member=True), "fin").public_reason == decide(
        person(), "party").public_reason


# --- enforcement -----------------------------------------------------------------------------
def test_may_stay_keeps_those_who_meet_the_rule() -> None:
    action = may_stay(person(is_member=True), FED["fin"], FED, now=NOW, prefix="!h")
    assert action.action is Enforcement.KEEP


def test_may_stay_removes_with_private_reason() -> None:
    action = may_stay(person(), FED["fin"], FED, now=NOW, prefix="!h")
    assert action.action is Enforcement.REMOVE
    assert "registered party members" in action.reason
    assert "member" not in action.public_reason
    # left the parent space of a participants room
    gone = may_stay(person(participates_in={"ward"}), FED["ward"], FED, now=NOW, prefix="!h")
    assert gone.action is Enforcement.REMOVE
    # no declaration in a self-identified room
    undeclared = may_stay(person(), FED["das"], FED, now=NOW, prefix="!h", room=RoomKind.DISCUSSION)
    assert undeclared.action is Enforcement.REMOVE
    assert "!h join das" in undeclared.reason


def test_explanations_name_commands_with_the_configured_prefix() -> None:
    asked = decide_access(person(), FED["das"], FED, prefix="!harmony")
    assert "`!harmony confirm`" in asked.reason and "`!harmony cancel`" in asked.reason
    assert "!h " not in asked.reason
    undeclared = may_stay(person(), FED["das"], FED, now=NOW, prefix="!harmony")
    assert "`!harmony join das`" in undeclared.reason


def test_warn_then_remove() -> None:
    policy = EnforcementPolicy.WARN_THEN_REMOVE
    grace = timedelta(hours=2)
    first = may_stay(person(), FED["fin"], FED, now=NOW, prefix="!h", policy=policy, grace=grace)
    assert first.action is Enforcement.WARN and first.remove_after == NOW + grace
    waiting = may_stay(person(), FED["fin"], FED, now=NOW + timedelta(hours=1), prefix="!h", policy=policy,
                       warned_at=NOW, grace=grace)
    assert waiting.action is Enforcement.PENDING
    due = may_stay(person(), FED["fin"], FED, now=NOW + grace, prefix="!h", policy=policy, warned_at=NOW,
                   grace=grace)
    assert due.action is Enforcement.REMOVE


def test_removed_secretary_leaves_the_secretariat() -> None:
    fed = FED.with_assembly(Assembly("das", "DAS", AssemblyKind.SOCIETY, Access.SELF_IDENTIFIED,
                                     declaration="I identify as disabled.", parents=("party",)))
    action = may_stay(person(user_id=SECRETARY), fed["das"], fed, now=NOW, prefix="!h",
                      room=RoomKind.SECRETARIAT)
    assert action.action is Enforcement.REMOVE


# --- monotonicity ----------------------------------------------------------------------------
slugs = st.sampled_from([x.slug for x in FED] + ["unknown"])
facts = st.builds(
    PersonFacts,
    user_id=st.sampled_from([UserId("@a:hs"), SECRETARY, UserId("@e:evil.example")]),
    is_member=st.booleans(),
    is_admin=st.booleans(),
    declared=st.frozensets(slugs),
    participates_in=st.frozensets(slugs),
    invited_to=st.frozensets(slugs),
)
RANK = {Outcome.REFUSE: 0, Outcome.ASK_DECLARATION: 1, Outcome.ADMIT: 2}


@given(facts, facts, st.sampled_from([x.slug for x in FED]), st.sampled_from(list(RoomKind)))
def test_more_facts_never_lower_the_outcome(
    base: PersonFacts, extra: PersonFacts, slug: str, room: RoomKind
) -> None:
    more = PersonFacts(
        user_id=base.user_id,
        is_member=base.is_member or extra.is_member,
        is_admin=base.is_admin or extra.is_admin,
        declared=base.declared | extra.declared,
        participates_in=base.participates_in | extra.participates_in,
        invited_to=base.invited_to | extra.invited_to,
    )
    before = decide_access(base, FED[slug], FED, room=room, prefix="!h")
    after = decide_access(more, FED[slug], FED, room=room, prefix="!h")
    if before.admitted:
        assert after.admitted
    assert RANK[after.outcome] >= RANK[before.outcome]


@given(facts, st.sampled_from([x.slug for x in FED]))
def test_may_stay_agrees_with_decide_access(p: PersonFacts, slug: str) -> None:
    admitted = decide_access(p, FED[slug], FED, prefix="!h").admitted
    kept = may_stay(p, FED[slug], FED, now=NOW, prefix="!h").action is Enforcement.KEEP
    assert admitted == kept


def test_a_participants_refusal_says_what_to_do_next() -> None:
    """Issue 11: not "Join that first", but the exact next step, with the configured prefix."""
    never_joined = decide(person(), "ward")
    assert never_joined.reason == (
        "Ward is open to participants of City, and you are not in it. Send `!h join city`, "
        "accept the invite, then send `!h join ward` again.")
    invite_waiting = decide(person(pending_invites={"city"}), "ward")
    assert invite_waiting.reason == (
        "Ward is open to participants of City. You have an invite to City that you have not accepted "
        "yet: accept the invite to City first, then send `!h join ward` again.")
    # A waiting invite grants nothing, and the public reason never tells the two apart.
    assert invite_waiting.outcome is Outcome.REFUSE
    assert invite_waiting.public_reason == never_joined.public_reason


def test_a_statement_that_ends_a_sentence_gets_no_second_full_stop() -> None:
    asked = decide(person(), "das")
    assert "“I identify as disabled.” If it applies" in asked.reason
    plain = FED.with_assembly(Assembly("tla", "TLA", AssemblyKind.ASSEMBLY, Access.SELF_IDENTIFIED,
                                       declaration="I am trans", parents=("party",)))
    reason = decide_access(person(), plain["tla"], plain, prefix="!h").reason
    assert "“I am trans”. If it applies" in reason
