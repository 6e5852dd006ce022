"""Offices, vacancies and races (pure rules of ``harmony_matrix.consensus.offices``)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from harmony_matrix.consensus.offices import (
    Eligibility,
    Filling,
    Holding,
    Office,
    PrivateRefusal,
    RaceStatus,
    appoint,
    ballot_started,
    declare_race,
    elect_holders,
    election_warning,
    find_office,
    office_board,
    offices_of,
    open_by_vacancy,
    race_candidates,
    race_decided,
    stand,
    vacate,
    withdraw,
)
from harmony_matrix.consensus.roles import HowDecided, Mandate, Role, RoleAssignment
from harmony_matrix.errors import UserError
from harmony_matrix.ids import UserId

NOW = datetime(2026, 3, 1, 12, tzinfo=UTC)
ANN, BO, CY, DI = (UserId(f"@{n}:example.org") for n in ("ann", "bo", "cy", "di"))
TREASURER = Office(name="treasurer", title="Treasurer", filling=Filling.APPOINTED)
CHAIR = Office(name="chair", title="Chair", filling=Filling.ELECTED, seats=2)
MEMBER = Eligibility(is_member=True, takes_part=True)
PARTICIPANT = Eligibility(is_member=False, takes_part=True)


def party() -> tuple[Office, ...]:
    return offices_of("party", party_body="party", party_offices=(TREASURER, CHAIR))


def test_every_assembly_has_a_secretary_and_deputies_and_the_party_body_its_party_secretaries() -> None:
    local = offices_of("ops", party_body="party", party_offices=(TREASURER,))
    assert [(o.name, o.filling, o.seats, o.party) for o in local] == [
        ("secretary", Filling.ELECTED, 1, False), ("deputy", Filling.ELECTED, None, False)]
    assert [(o.name, o.filling, o.party) for o in party()] == [
        ("secretary", Filling.ELECTED, True), ("deputy", Filling.ELECTED, True),
        ("treasurer", Filling.APPOINTED, True), ("chair", Filling.ELECTED, True)]
    assert offices_of("party", party_body=None, party_offices=(TREASURER,)) == local
    assert find_office(party(), "Treasurer", assembly="party").title == "Treasurer"
    with pytest.raises(UserError, match='party has no office "bursar": its offices are secretary, deputy, '
                                        'treasurer, chair'):
        find_office(party(), "bursar", assembly="party")


def test_a_declared_race_takes_candidates_who_may_stand() -> None:
    secretary = find_office(party(), "secretary", assembly="party")
    race = declare_race(secretary, [], ref="E-party-1", assembly="party", seats=None, by=ANN, now=NOW)
    assert (race.seats, race.status, race.opened_by) == (1, RaceStatus.OPEN, ANN)
    with pytest.raises(UserError, match="already open: E-party-1"):
        declare_race(secretary, [race], ref="E-party-2", assembly="party", seats=None, by=ANN, now=NOW)
    with pytest.raises(UserError, match="has 1 seat, so a race for it fills 1"):
        declare_race(secretary, [], ref="E-party-2", assembly="party", seats=2, by=ANN, now=NOW)

    race = stand(race, secretary, user=BO, eligibility=MEMBER, now=NOW)
    # A Party Secretary must be a member: the reason is about the person, so it is a private refusal.
    with pytest.raises(PrivateRefusal, match="Only registered party members may stand for the Party "
                                             "Secretaries' offices, such as the Secretary of party"):
        stand(race, secretary, user=CY, eligibility=PARTICIPANT, now=NOW)
    with pytest.raises(PrivateRefusal, match="take part in party"):
        stand(race, secretary, user=CY, eligibility=Eligibility(is_member=True, takes_part=False), now=NOW)
    with pytest.raises(UserError, match="you already stand in E-party-1"):
        stand(race, secretary, user=BO, eligibility=MEMBER, now=NOW)
    race = stand(race, secretary, user=CY, eligibility=MEMBER, now=NOW + timedelta(minutes=1))
    assert race.standing == (BO, CY)
    assert race_candidates(race) == ([BO, CY], 1)

    # Outside the party body anyone taking part may stand; the secretary never as deputy.
    deputy = find_office(offices_of("ops", party_body="party"), "deputy", assembly="ops")
    ops = declare_race(deputy, [], ref="E-ops-1", assembly="ops", seats=2, by=ANN, now=NOW)
    assert stand(ops, deputy, user=CY, eligibility=PARTICIPANT, now=NOW).standing == (CY,)
    with pytest.raises(UserError, match="you are the secretary of ops"):
        stand(ops, deputy, user=ANN, eligibility=PARTICIPANT, now=NOW, secretary=ANN)


def test_withdrawing_and_the_ballot_closing_the_race() -> None:
    secretary = find_office(party(), "secretary", assembly="party")
    race = declare_race(secretary, [], ref="E-party-1", assembly="party", seats=None, by=ANN, now=NOW)
    race = stand(stand(race, secretary, user=BO, eligibility=MEMBER, now=NOW), secretary, user=CY,
                 eligibility=MEMBER, now=NOW)
    alone = withdraw(race, user=BO)
    assert alone.standing == (CY,)
    with pytest.raises(UserError, match=r"E-party-1 has 1 candidate \(@cy:example.org\) for 1 seat: an election "
                                        r"needs more candidates than seats"):
        race_candidates(alone)
    with pytest.raises(UserError, match="you do not stand in E-party-1"):
        withdraw(alone, user=BO)
    voting = ballot_started(race, ballot_id=7, poll_ref="12")
    assert (voting.status, voting.ballot_id, voting.poll_ref) == (RaceStatus.VOTING, 7, "12")
    with pytest.raises(UserError, match=r"voting in E-party-1 has begun \(poll 12\)"):
        withdraw(voting, user=BO)
    with pytest.raises(UserError, match="has begun"):
        stand(voting, secretary, user=DI, eligibility=MEMBER, now=NOW)
    with pytest.raises(UserError, match="has started already: poll 12"):
        race_candidates(voting)
    # A race is "open" for its office until decided; then a new one may be declared.
    with pytest.raises(UserError, match="already voting"):
        declare_race(secretary, [voting], ref="E-party-2", assembly="party", seats=None, by=ANN, now=NOW)
    assert declare_race(secretary, [race_decided(voting)], ref="E-party-2", assembly="party", seats=None, by=ANN,
                        now=NOW).ref == "E-party-2"


def test_a_vacant_post_opens_its_race_and_a_held_one_needs_a_declaration() -> None:
    secretary = find_office(party(), "secretary", assembly="party")
    race = open_by_vacancy(secretary, [], ref="E-party-1", assembly="party", vacant=1, now=NOW)
    assert (race.opened_by, race.seats) == (None, 1)
    with pytest.raises(UserError, match="no race is declared for the Secretary of party, and it is held"):
        open_by_vacancy(secretary, [], ref="E-party-1", assembly="party", vacant=0, now=NOW)
    treasurer = find_office(party(), "treasurer", assembly="party")
    with pytest.raises(UserError, match="the Treasurer of party is appointed by the secretaries, not elected"):
        open_by_vacancy(treasurer, [], ref="E-party-1", assembly="party", vacant=1, now=NOW)
    with pytest.raises(UserError, match="appointed by the secretaries"):
        declare_race(treasurer, [], ref="E-party-1", assembly="party", seats=None, by=ANN, now=NOW)


def test_appointed_offices_are_filled_by_the_secretaries_without_election() -> None:
    treasurer = find_office(party(), "treasurer", assembly="party")
    held = appoint(treasurer, [], assembly="party", user=CY, since=NOW, by=ANN)
    assert (held.user, held.mandate.how_decided, held.mandate.since, held.by) == (CY, HowDecided.APPOINTED, NOW, ANN)
    with pytest.raises(UserError, match="@cy:example.org already holds the Treasurer of party"):
        appoint(treasurer, [held], assembly="party", user=CY, since=NOW, by=ANN)
    with pytest.raises(UserError, match="is held by @cy:example.org: vacate it first"):
        appoint(treasurer, [held], assembly="party", user=DI, since=NOW, by=ANN)
    with pytest.raises(UserError, match="the Secretary of party is elected, not appointed"):
        appoint(find_office(party(), "secretary", assembly="party"), [], assembly="party", user=CY, since=NOW, by=ANN)
    assert vacate(treasurer, [held], assembly="party", user=CY) == held
    with pytest.raises(UserError, match="@di:example.org does not hold the Treasurer"):
        vacate(treasurer, [held], assembly="party", user=DI)


def test_an_elected_configured_office_takes_the_winners() -> None:
    old = Holding(assembly="party", office="chair", user=ANN, mandate=Mandate(NOW, HowDecided.ELECTION))
    other = Holding(assembly="party", office="treasurer", user=DI, mandate=Mandate(NOW, HowDecided.APPOINTED))
    ends = NOW + timedelta(days=365)
    ended, begun = elect_holders(CHAIR, [old, other], assembly="party", winners=[BO, CY], decided_at=NOW,
                                 term_ends=ends, poll_ref="4")
    assert ended == [old]
    assert [(h.user, h.mandate) for h in begun] == [
        (BO, Mandate(NOW, HowDecided.ELECTION, term_ends=ends, decision_ref="4")),
        (CY, Mandate(NOW, HowDecided.ELECTION, term_ends=ends, decision_ref="4"))]


def test_the_board_lists_holders_how_they_came_vacancies_and_races() -> None:
    offices = party()
    roles = [RoleAssignment("party", ANN, Role.SECRETARY, NOW, HowDecided.ELECTION, term_ends=NOW + timedelta(days=9)),
             RoleAssignment("party", BO, Role.DEPUTY, NOW, HowDecided.CONSENSUS),
             RoleAssignment("ops", CY, Role.SECRETARY, NOW, HowDecided.APPOINTED)]
    chair_race = declare_race(CHAIR, [], ref="E-party-3", assembly="party", seats=None, by=ANN, now=NOW)
    board = office_board(offices, assembly="party", roles=roles, holdings=[
        Holding(assembly="party", office="chair", user=DI, mandate=Mandate(NOW, HowDecided.ELECTION))],
        seated=[CY, CY], races=[chair_race])
    summary = [(line.office.name, [(h.user, h.how) for h in line.holders], line.vacant,
                line.race.ref if line.race else None) for line in board]
    assert summary == [
        ("secretary", [(ANN, "elected")], 0, None),
        ("deputy", [(BO, "by consensus")], 0, None),
        ("treasurer", [], 1, None),
        ("chair", [(DI, "elected")], 1, "E-party-3"),
        ("seat", [(CY, "drawn by lot")], 0, None),
    ]
    assert board[0].holders[0].until == NOW + timedelta(days=9)
    empty = office_board(offices_of("ops", party_body="party"), assembly="ops", roles=[], holdings=[])
    assert [(line.office.name, line.vacant) for line in empty] == [("secretary", 1), ("deputy", 0)]


def test_the_minimum_membership_is_a_warning_for_secretaries_only() -> None:
    secretary, deputy = offices_of("ops", party_body=None)
    warning = election_warning(secretary, assembly="ops", members=3, minimum=4)
    assert warning is not None
    assert "ops has 3 members taking part; the constitution suggests at least 4" in warning
    assert "not a refusal" in warning
    assert "1 member taking part" in (election_warning(deputy, assembly="ops", members=1, minimum=4) or "")
    assert election_warning(secretary, assembly="ops", members=4, minimum=4) is None
    assert election_warning(CHAIR, assembly="party", members=1, minimum=4) is None
