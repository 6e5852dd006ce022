"""An assembly's offices: which there are, how each is filled, who holds them, vacancies and races.

Every assembly has a secretary (one seat) and deputies (as many as it chooses), elected by consensus or
by ballot; their holders are ``RoleAssignment``s (``harmony_matrix.consensus.roles``). The party-wide body
(the All Thing's assembly) adds the other Party Secretaries' offices from config (``party_offices``):
elected ones, and appointed ones such as the Treasurer, which the secretaries fill without an election.
Their holders are ``Holding``s. Seats drawn by lot are shown beside them, filled by the sortition feature.

The constitution's rules kept here:

* the Party Secretaries (every office of the party-wide body) must be registered members; anyone else
  who takes part in an assembly may stand for its offices;
* anyone may stand when a race is declared, or when a post is vacant (standing for a vacant post opens
  its race);
* an assembly should have at least four members before it elects a secretary: a warning, never a
  refusal (``election_warning``).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace
from datetime import datetime
from enum import StrEnum

from harmony_matrix.consensus.roles import HowDecided, Mandate, Role, RoleAssignment
from harmony_matrix.errors import PrivateRefusal, UserError
from harmony_matrix.ids import EventId, UserId
from harmony_matrix.refs import make_ref

__all__ = [
    "DEFAULT_MIN_MEMBERS_TO_ELECT",
    "Candidacy",
    "Eligibility",
    "Filling",
    "HeldBy",
    "Holding",
    "Office",
    "OfficeLine",
    "PrivateRefusal",
    "Race",
    "RaceStatus",
    "appoint",
    "ballot_started",
    "check_standing",
    "declare_race",
    "elect_holders",
    "election_warning",
    "find_office",
    "make_race_ref",
    "office_board",
    "offices_of",
    "open_by_vacancy",
    "race_candidates",
    "race_decided",
    "require_elected",
    "stand",
    "vacate",
    "withdraw",
]

#: The constitution's suggested minimum of members before an assembly elects a secretary.
DEFAULT_MIN_MEMBERS_TO_ELECT = 4


class Filling(StrEnum):
    """How an office is filled."""

    ELECTED = "elected"  # by consensus or a STAR / Bloc STAR ballot, after a race
    APPOINTED = "appointed"  # by the assembly's secretaries, no election
    DRAWN = "drawn"  # by lot (sortition)


@dataclass(frozen=True)
class Office:
    """An office of an assembly. ``seats`` None: as many as the assembly chooses (deputies, seats drawn by
    lot). ``party``: one of the Party Secretaries' offices, for registered members only."""

    name: str  # what people type
    title: str  # what is shown
    filling: Filling
    seats: int | None = 1
    party: bool = False

    def what(self, assembly: str) -> str:
        """``the Treasurer of party``."""
        return f"the {self.title} of {assembly}"


SECRETARY = Office(name=Role.SECRETARY.value, title="Secretary", filling=Filling.ELECTED)
DEPUTY = Office(name=Role.DEPUTY.value, title="Deputy secretary", filling=Filling.ELECTED, seats=None)
DRAWN_SEATS = Office(name="seat", title="Seat drawn by lot", filling=Filling.DRAWN, seats=None)


def offices_of(assembly: str, *, party_body: str | None, party_offices: Sequence[Office] = ()) -> tuple[Office, ...]:
    """The offices of ``assembly``: secretary and deputies everywhere, and in the party-wide body
    (``party_body``, None when there is none) the other Party Secretaries' offices, all for members only."""
    if assembly != party_body:
        return (SECRETARY, DEPUTY)
    return tuple(replace(office, party=True) for office in (SECRETARY, DEPUTY, *party_offices))


def find_office(offices: Sequence[Office], name: str, *, assembly: str) -> Office:
    """The office called ``name`` (any case), or a refusal naming the offices there are."""
    wanted = name.strip().lower()
    for office in (*offices, DRAWN_SEATS):
        if office.name == wanted:
            return office
    names = ", ".join(o.name for o in offices)
    raise UserError(f'{assembly} has no office "{name}": its offices are {names}')


# --- holders of the configured offices -----------------------------------------------------------


@dataclass(frozen=True)
class Holding:
    """``user`` holds ``office`` (a configured Party Secretary's office) of ``assembly`` by ``mandate``
    (since when, appointed or elected, until when, the evidence); ``by``: the secretary who appointed them."""

    assembly: str
    office: str
    user: UserId
    mandate: Mandate
    by: UserId | None = None


def _held(holdings: Iterable[Holding], *, assembly: str, office: str) -> list[Holding]:
    return [h for h in holdings if h.assembly == assembly and h.office == office]


def appoint(office: Office, holdings: Iterable[Holding], *, assembly: str, user: UserId, since: datetime,
            by: UserId, evidence: Sequence[EventId] = ()) -> Holding:
    """Appoint ``user`` to an appointed office; refused for an elected or drawn one, a seat already
    taken, or someone who holds it already."""
    if office.filling is Filling.ELECTED:
        raise UserError(f"{office.what(assembly)} is elected, not appointed: declare a race for it "
                        f"(race declare {office.name}) and hold an election")
    if office.filling is Filling.DRAWN:
        raise UserError("seats drawn by lot are filled by a draw, not by appointment")
    held = _held(holdings, assembly=assembly, office=office.name)
    if any(h.user == user for h in held):
        raise UserError(f"{user} already holds {office.what(assembly)}")
    if office.seats is not None and len(held) >= office.seats:
        taken = ", ".join(h.user for h in held)
        raise UserError(f"{office.what(assembly)} is held by {taken}: vacate it first "
                        f"(office vacate {office.name} {held[0].user})")
    return Holding(assembly=assembly, office=office.name, user=user, by=by,
                   mandate=Mandate(since=since, how_decided=HowDecided.APPOINTED, evidence=tuple(evidence)))


def vacate(office: Office, holdings: Iterable[Holding], *, assembly: str, user: UserId) -> Holding:
    """The holding that ends when ``user`` leaves ``office``; refused if they do not hold it."""
    held = next((h for h in _held(holdings, assembly=assembly, office=office.name) if h.user == user), None)
    if held is None:
        raise UserError(f"{user} does not hold {office.what(assembly)}")
    return held


def elect_holders(office: Office, holdings: Iterable[Holding], *, assembly: str, winners: Sequence[UserId],
                  decided_at: datetime, term_ends: datetime | None, poll_ref: str | None,
                  evidence: Sequence[EventId] = ()) -> tuple[list[Holding], list[Holding]]:
    """An election's winners take a configured elected office for a term: (holdings that end, holdings
    that begin). A winner who held it already begins a fresh term, with the new poll as its evidence."""
    if not winners or len(set(winners)) != len(winners):
        raise ValueError("an election result needs distinct winners")
    ended = _held(holdings, assembly=assembly, office=office.name)
    mandate = Mandate(since=decided_at, how_decided=HowDecided.ELECTION, term_ends=term_ends,
                      evidence=tuple(evidence), decision_ref=poll_ref)
    begun = [Holding(assembly=assembly, office=office.name, user=winner, mandate=mandate) for winner in winners]
    return ended, begun


# --- races -----------------------------------------------------------------------------------------


def make_race_ref(assembly: str, number: int) -> str:
    """The reference of the ``number``-th race of an assembly: ``E-<assembly>-<n>``."""
    return make_ref("E", assembly, number)


class RaceStatus(StrEnum):
    OPEN = "open"  # people may stand and withdraw
    VOTING = "voting"  # its election's poll is open
    DECIDED = "decided"  # the poll's result has been applied


@dataclass(frozen=True)
class Candidacy:
    user: UserId
    stood_at: datetime
    event_id: EventId | None = None


@dataclass(frozen=True)
class Race:
    """A race for ``office`` of ``assembly``: declared by a secretary (``opened_by``), or opened by a
    vacancy (``opened_by`` None, the first to stand opening it)."""

    ref: str
    assembly: str
    office: str
    seats: int
    opened_at: datetime
    opened_by: UserId | None
    candidates: tuple[Candidacy, ...] = ()
    status: RaceStatus = RaceStatus.OPEN
    ballot_id: int | None = None
    poll_ref: str | None = None

    @property
    def standing(self) -> tuple[UserId, ...]:
        """Who stands, in the order they stood."""
        return tuple(c.user for c in self.candidates)


def _open_race(office: Office, races: Iterable[Race], assembly: str) -> Race | None:
    return next((r for r in races if r.assembly == assembly and r.office == office.name
                 and r.status is not RaceStatus.DECIDED), None)


def _race_seats(office: Office, seats: int | None, assembly: str) -> int:
    if office.seats is None:
        return seats or 1
    if seats is not None and seats != office.seats:
        raise UserError(f"{office.what(assembly)} has {office.seats} seat{'s' if office.seats > 1 else ''}, "
                        f"so a race for it fills {office.seats}")
    return office.seats


def require_elected(office: Office, assembly: str) -> None:
    """Refuse a race or an election for an office that is appointed or drawn by lot."""
    if office.filling is Filling.APPOINTED:
        raise UserError(f"{office.what(assembly)} is appointed by the secretaries, not elected, so nobody "
                        f"stands for it (office appoint {office.name} <user>)")
    if office.filling is Filling.DRAWN:
        raise UserError("seats drawn by lot are filled by a draw: nobody stands for them")


def declare_race(office: Office, races: Iterable[Race], *, ref: str, assembly: str, seats: int | None,
                 by: UserId, now: datetime) -> Race:
    """A secretary declares a race for an elected office; one race per office at a time."""
    require_elected(office, assembly)
    running = _open_race(office, races, assembly)
    if running is not None:
        raise UserError(f"a race for {office.what(assembly)} is already {running.status.value}: {running.ref}")
    return Race(ref=ref, assembly=assembly, office=office.name, seats=_race_seats(office, seats, assembly), opened_at=now,
                opened_by=by)


def open_by_vacancy(office: Office, races: Iterable[Race], *, ref: str, assembly: str, vacant: int,
                    now: datetime) -> Race:
    """The race a vacancy opens when someone stands for it (``vacant``: seats without a holder); refused
    when the office is held and no race is declared."""
    require_elected(office, assembly)
    running = _open_race(office, races, assembly)
    if running is not None:
        return running
    if vacant < 1:
        raise UserError(f"no race is declared for {office.what(assembly)}, and it is held: its secretaries "
                        f"declare one (race declare {office.name})")
    return Race(ref=ref, assembly=assembly, office=office.name, seats=vacant, opened_at=now, opened_by=None)


@dataclass(frozen=True)
class Eligibility:
    """What standing depends on about the person: a registered party member; taking part in the
    assembly (joined its rooms, which its access rule lets only the eligible do)."""

    is_member: bool
    takes_part: bool


def check_standing(office: Office, *, assembly: str, user: UserId, eligibility: Eligibility,
                   secretary: UserId | None = None) -> None:
    """Whether ``user`` may stand for ``office``: refused (``PrivateRefusal`` when the reason is about
    them) for a non-member for a Party Secretary's office, for someone who does not take part in the
    assembly, and for the secretary standing as deputy."""
    what = office.what(assembly)
    if office.party and not eligibility.is_member:
        raise PrivateRefusal(f"Only registered party members may stand for the Party Secretaries' offices, "
                             f"such as {what}, and the party's membership registry does not list you.")
    if not eligibility.takes_part:
        raise PrivateRefusal(f"Only people who take part in {assembly} may stand for {what}: join it "
                             f"first (join {assembly}).")
    if office.name == Role.DEPUTY.value and user == secretary:
        raise UserError(f"you are the secretary of {assembly} and can't also stand as a deputy")


def stand(race: Race, office: Office, *, user: UserId, eligibility: Eligibility, now: datetime,
          secretary: UserId | None = None, event_id: EventId | None = None) -> Race:
    """``user`` stands in ``race`` (see ``check_standing``); refused once voting has begun, and for
    standing twice."""
    what = office.what(race.assembly)
    if race.status is not RaceStatus.OPEN:
        raise UserError(f"voting in {race.ref} for {what} has begun (poll {race.poll_ref}): nobody can stand now")
    if user in race.standing:
        raise UserError(f"you already stand in {race.ref} for {what}")
    check_standing(office, assembly=race.assembly, user=user, eligibility=eligibility, secretary=secretary)
    return replace(race, candidates=(*race.candidates, Candidacy(user, now, event_id)))


def withdraw(race: Race, *, user: UserId) -> Race:
    """``user`` stops standing, while the race is open."""
    if user not in race.standing:
        raise UserError(f"you do not stand in {race.ref}")
    if race.status is not RaceStatus.OPEN:
        raise UserError(f"voting in {race.ref} has begun (poll {race.poll_ref}): your name stays on the ballot")
    return replace(race, candidates=tuple(c for c in race.candidates if c.user != user))


def race_candidates(race: Race) -> tuple[list[UserId], int]:
    """Who is on the race's ballot, and for how many seats: more must stand than there are seats."""
    if race.status is not RaceStatus.OPEN:
        raise UserError(f"the election of {race.ref} has started already: poll {race.poll_ref}")
    if len(race.candidates) <= race.seats:
        standing = ", ".join(race.standing) or "nobody"
        raise UserError(f"{race.ref} has {len(race.candidates)} candidate{'s' if len(race.candidates) != 1 else ''} "
                        f"({standing}) for {race.seats} seat{'s' if race.seats > 1 else ''}: an election needs "
                        f"more candidates than seats (stand {race.office} {race.assembly})")
    return list(race.standing), race.seats


def ballot_started(race: Race, *, ballot_id: int, poll_ref: str) -> Race:
    """The race's election poll is open: standing and withdrawing are over."""
    return replace(race, status=RaceStatus.VOTING, ballot_id=ballot_id, poll_ref=poll_ref)


def race_decided(race: Race) -> Race:
    """The race's election result has been applied."""
    return replace(race, status=RaceStatus.DECIDED)


# --- the board: every office, its holders, vacancies and races -----------------------------------


_HOW = {HowDecided.CONSENSUS: "by consensus", HowDecided.ELECTION: "elected", HowDecided.APPOINTED: "appointed"}


@dataclass(frozen=True)
class HeldBy:
    """One holder of an office and how they came to hold it (``elected``, ``by consensus``,
    ``appointed``, ``drawn by lot``)."""

    user: UserId
    how: str
    until: datetime | None = None


@dataclass(frozen=True)
class OfficeLine:
    """One office on the board: its holders, its seats without one (``vacant``), its race if one is open."""

    office: Office
    holders: tuple[HeldBy, ...]
    vacant: int
    race: Race | None = None


def office_board(offices: Sequence[Office], *, assembly: str, roles: Iterable[RoleAssignment],
                 holdings: Iterable[Holding], seated: Iterable[UserId] = (), races: Iterable[Race] = ()
                 ) -> list[OfficeLine]:
    """Every office of ``assembly`` with its holders and vacancies, then the seats drawn by lot (when
    there are any). An office with a fixed number of seats and fewer holders is vacant; deputies and
    drawn seats are never vacant (an assembly chooses how many)."""
    roles, holdings, races = list(roles), list(holdings), list(races)
    lines = []
    for office in offices:
        if office.name in (Role.SECRETARY.value, Role.DEPUTY.value):
            holders = tuple(HeldBy(a.user, _HOW[a.how_decided], a.term_ends) for a in roles
                            if a.assembly == assembly and a.role.value == office.name)
        else:
            holders = tuple(HeldBy(h.user, _HOW[h.mandate.how_decided], h.mandate.term_ends)
                            for h in _held(holdings, assembly=assembly, office=office.name))
        vacant = max(0, office.seats - len(holders)) if office.seats is not None else 0
        lines.append(OfficeLine(office, holders, vacant, _open_race(office, races, assembly)))
    drawn = tuple(HeldBy(user, "drawn by lot") for user in dict.fromkeys(seated))
    if drawn:
        lines.append(OfficeLine(DRAWN_SEATS, drawn, 0))
    return lines


def election_warning(office: Office, *, assembly: str, members: int, minimum: int) -> str | None:
    """The constitution suggests an assembly has at least ``minimum`` members before it elects a
    secretary (or deputies): below that, a warning to show before the election; never a refusal."""
    if office.name not in (Role.SECRETARY.value, Role.DEPUTY.value) or members >= minimum:
        return None
    return (f"⚠️ {assembly} has {members} member{'s' if members != 1 else ''} taking part; the constitution "
            f"suggests at least {minimum} before an assembly elects a secretary. This is a warning, not a "
            f"refusal: the election goes ahead.")
