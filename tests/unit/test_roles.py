"""Secretaries, deputies, terms and petitions for re-election."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from harmony_matrix.errors import PrivateRefusal, UserError
from harmony_matrix.ids import EventId, UserId
from harmony_matrix.consensus.petitions import (
    Petition,
    PetitionStatus,
    close_petition,
    nominate,
    open_petition,
    petition_election,
    sign_petition,
    threshold_reached,
    withdraw_signature,
)
from harmony_matrix.consensus.roles import (
    HowDecided,
    Mandate,
    Role,
    RoleAssignment,
    TermReminderKind,
    add_deputy,
    apply_election_result,
    remove_deputy,
    set_secretary,
    term_reminders,
    validate_election,
)

NOW = datetime(2026, 6, 1, 12, 0, tzinfo=UTC)
ALICE, BOB, CAROL, DAN = (UserId(f"@{n}:example.org") for n in ("alice", "bob", "carol", "dan"))


def roles_with_alice_secretary_and_bob_deputy() -> tuple[RoleAssignment, ...]:
    change = set_secretary((), assembly="ops", user=ALICE,
        mandate=Mandate(since=NOW, how_decided=HowDecided.CONSENSUS, evidence=(EventId("$s"),)))
    change = add_deputy(change.assignments, assembly="ops", user=BOB,
        mandate=Mandate(since=NOW, how_decided=HowDecided.APPOINTED))
    return change.assignments


def test_set_secretary_replaces_the_previous_one() -> None:
    current = roles_with_alice_secretary_and_bob_deputy()
    change = set_secretary(current, assembly="ops", user=CAROL,
        mandate=Mandate(since=NOW, how_decided=HowDecided.CONSENSUS, term_ends=NOW + timedelta(days=365), evidence=(EventId("$c"),)))
    assert change.secretary is not None and change.secretary.user == CAROL
    assert change.secretary.evidence == ("$c",)
    assert [a.user for a in change.removed] == [ALICE]
    assert [a.user for a in change.added] == [CAROL]
    assert [a.user for a in change.deputies] == [BOB]


def test_a_deputy_who_becomes_secretary_stops_being_a_deputy() -> None:
    change = set_secretary(roles_with_alice_secretary_and_bob_deputy(), assembly="ops", user=BOB,
        mandate=Mandate(since=NOW, how_decided=HowDecided.CONSENSUS))
    assert change.deputies == ()
    assert {(a.user, a.role) for a in change.removed} == {(ALICE, Role.SECRETARY), (BOB, Role.DEPUTY)}


def test_other_assemblies_are_untouched() -> None:
    other = RoleAssignment("housing", DAN, Role.SECRETARY, NOW, HowDecided.ELECTION)
    change = set_secretary([*roles_with_alice_secretary_and_bob_deputy(), other], assembly="ops", user=CAROL,
        mandate=Mandate(since=NOW, how_decided=HowDecided.CONSENSUS))
    assert other not in change.removed and other not in change.assignments


def test_role_errors() -> None:
    current = roles_with_alice_secretary_and_bob_deputy()
    with pytest.raises(UserError, match="already the secretary"):
        set_secretary(current, assembly="ops", user=ALICE,
            mandate=Mandate(since=NOW, how_decided=HowDecided.CONSENSUS))
    with pytest.raises(UserError, match="term must end after"):
        set_secretary(current, assembly="ops", user=CAROL,
            mandate=Mandate(since=NOW, how_decided=HowDecided.CONSENSUS, term_ends=NOW))
    with pytest.raises(UserError, match="already the deputy"):
        add_deputy(current, assembly="ops", user=BOB, mandate=Mandate(since=NOW, how_decided=HowDecided.CONSENSUS))
    with pytest.raises(UserError, match="already the secretary"):
        add_deputy(current, assembly="ops", user=ALICE,
            mandate=Mandate(since=NOW, how_decided=HowDecided.CONSENSUS))
    with pytest.raises(UserError, match="not a deputy"):
        remove_deputy(current, assembly="ops", user=CAROL)
    assert remove_deputy(current, assembly="ops", user=BOB).deputies == ()


def test_validate_election() -> None:
    current = roles_with_alice_secretary_and_bob_deputy()
    validate_election(current, assembly="ops", role=Role.DEPUTY, options=[BOB, CAROL, DAN], seats=2)
    with pytest.raises(UserError, match="only once"):
        validate_election(current, assembly="ops", role=Role.DEPUTY, options=[BOB, BOB])
    with pytest.raises(UserError, match="one secretary"):
        validate_election(current, assembly="ops", role=Role.SECRETARY, options=[BOB, CAROL], seats=2)
    with pytest.raises(UserError, match="at least two candidates"):
        validate_election(current, assembly="ops", role=Role.SECRETARY, options=[BOB])
    with pytest.raises(UserError, match="one fewer than"):
        validate_election(current, assembly="ops", role=Role.DEPUTY, options=[BOB, CAROL], seats=2)
    with pytest.raises(UserError, match="is the secretary"):
        validate_election(current, assembly="ops", role=Role.DEPUTY, options=[ALICE, CAROL])


def test_secretary_election_moves_the_role() -> None:
    change = apply_election_result(roles_with_alice_secretary_and_bob_deputy(), assembly="ops",
                                   role=Role.SECRETARY, winners=[CAROL], decided_at=NOW,
                                   evidence=[EventId("$poll")], poll_ref="poll-7")
    assert change.secretary is not None
    assert (change.secretary.user, change.secretary.how_decided, change.secretary.decision_ref) == (
        CAROL, HowDecided.ELECTION, "poll-7")
    assert [a.user for a in change.removed] == [ALICE]


def test_re_elected_secretary_gets_a_fresh_term_and_keeps_power() -> None:
    later = NOW + timedelta(days=300)
    change = apply_election_result(roles_with_alice_secretary_and_bob_deputy(), assembly="ops",
                                   role=Role.SECRETARY, winners=[ALICE], decided_at=later,
                                   term_ends=later + timedelta(days=365))
    assert change.secretary is not None and change.secretary.user == ALICE
    assert change.secretary.since == later and change.secretary.how_decided is HowDecided.ELECTION
    # The same person still holds the role: power levels need no change beyond re-stating it.
    assert {a.user for a in change.removed} == {ALICE} == {a.user for a in change.added}


def test_deputy_election_replaces_all_deputies() -> None:
    change = apply_election_result(roles_with_alice_secretary_and_bob_deputy(), assembly="ops",
                                   role=Role.DEPUTY, winners=[CAROL, DAN], decided_at=NOW)
    assert [a.user for a in change.deputies] == [CAROL, DAN]
    assert [a.user for a in change.removed] == [BOB]
    assert change.secretary is not None and change.secretary.user == ALICE
    with pytest.raises(UserError, match="is the secretary"):
        apply_election_result(change.assignments, assembly="ops", role=Role.DEPUTY, winners=[ALICE],
                              decided_at=NOW)
    with pytest.raises(ValueError):
        apply_election_result(change.assignments, assembly="ops", role=Role.SECRETARY, winners=[CAROL, DAN],
                              decided_at=NOW)


def test_term_reminders() -> None:
    def assignment(user: UserId, ends: datetime | None) -> RoleAssignment:
        return RoleAssignment("ops", user, Role.DEPUTY, NOW - timedelta(days=300), HowDecided.ELECTION, ends)

    soon = assignment(ALICE, NOW + timedelta(days=10))
    edge = assignment(BOB, NOW + timedelta(days=14))
    later = assignment(CAROL, NOW + timedelta(days=15))
    ended = assignment(DAN, NOW - timedelta(days=1))
    open_ended = assignment(UserId("@eve:example.org"), None)
    reminders = term_reminders([later, soon, ended, edge, open_ended], now=NOW)
    assert [(r.assignment.user, r.kind) for r in reminders] == [
        (DAN, TermReminderKind.ENDED),
        (ALICE, TermReminderKind.ENDING),
        (BOB, TermReminderKind.ENDING),
    ]
    assert reminders[1].remaining == timedelta(days=10)
    assert len({r.key for r in reminders}) == 3
    assert term_reminders([later], now=NOW, notice=timedelta(days=30))[0].kind is TermReminderKind.ENDING


# --- petitions ---------------------------------------------------------------------------------


def a_petition() -> Petition:
    return open_petition(ref="PET-ops-1", assembly="ops", role=Role.SECRETARY, opened_by=BOB, now=NOW,
                         is_member=True, event_id=EventId("$open"))


def test_petition_collects_unique_member_signatures() -> None:
    petition = a_petition()
    assert petition.signers == {BOB}
    petition = sign_petition(petition, CAROL, now=NOW, is_member=True)
    with pytest.raises(UserError, match="already signed"):
        sign_petition(petition, CAROL, now=NOW, is_member=True)
    with pytest.raises(PrivateRefusal, match="only registered party members"):
        sign_petition(petition, DAN, now=NOW, is_member=False)
    assert not threshold_reached(petition, threshold=3)
    petition = sign_petition(petition, DAN, now=NOW, is_member=True)
    assert threshold_reached(petition, threshold=3)
    petition = withdraw_signature(petition, DAN)
    assert not threshold_reached(petition, threshold=3)
    with pytest.raises(UserError, match="have not signed"):
        withdraw_signature(petition, DAN)


def test_petition_lifecycle_errors() -> None:
    petition = a_petition()
    with pytest.raises(UserError, match="already open"):
        open_petition(ref="PET-ops-2", assembly="ops", role=Role.SECRETARY, opened_by=CAROL, now=NOW,
                      is_member=True, open_petitions=[petition])
    with pytest.raises(PrivateRefusal, match="only registered party members"):
        open_petition(ref="PET-ops-2", assembly="ops", role=Role.DEPUTY, opened_by=CAROL, now=NOW, is_member=False)
    closed = close_petition(petition, status=PetitionStatus.ELECTION_STARTED)
    with pytest.raises(UserError, match="closed"):
        sign_petition(closed, CAROL, now=NOW, is_member=True)
    with pytest.raises(UserError, match="already closed"):
        close_petition(closed, status=PetitionStatus.WITHDRAWN)
    with pytest.raises(ValueError):
        threshold_reached(petition, threshold=0)
    with pytest.raises(ValueError):
        Petition("P", "ops", Role.SECRETARY, NOW, BOB, signatures=(petition.signatures[0],) * 2)


@given(st.lists(st.sampled_from([ALICE, CAROL, DAN, UserId("@eve:example.org")]), max_size=12),
       st.integers(min_value=1, max_value=6))
def test_threshold_counts_distinct_signers(attempts: list[UserId], threshold: int) -> None:
    petition = a_petition()
    for user in attempts:
        try:
            petition = sign_petition(petition, user, now=NOW, is_member=True)
        except UserError:
            pass
    assert len(petition.signatures) == len({BOB, *attempts})
    assert threshold_reached(petition, threshold=threshold) == (len({BOB, *attempts}) >= threshold)


def test_petition_election_stands_the_holders_and_the_named() -> None:
    current = roles_with_alice_secretary_and_bob_deputy()
    petition = a_petition()
    with pytest.raises(UserError, match="only @alice:example.org would stand"):
        petition_election(petition, current)
    petition = nominate(nominate(petition, [CAROL, ALICE]), [CAROL])
    assert petition.candidates == (CAROL, ALICE)
    assert petition_election(petition, current) == ([ALICE, CAROL], 1)
    deputies = replace(petition, role=Role.DEPUTY)
    assert petition_election(deputies, current) == ([BOB, CAROL], 1)  # the secretary never stands for deputy
    with pytest.raises(UserError, match="closed"):
        nominate(close_petition(petition, status=PetitionStatus.WITHDRAWN), [DAN])
