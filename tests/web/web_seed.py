"""A database like the demo federation's, written through the real stores, for the web view's tests,
its browser test and its benchmark.

Besides the public record it holds private data of every kind the bot keeps (members, declarations,
admissions, votes and secret ballots, attendees, minutes, direct chats, a secretariat poll, the
record of an invite-only assembly). ``PRIVATE`` lists strings from that data: no page or feed may
contain any of them.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

from harmony_matrix.assemblies.assembly import Access, Assembly, AssemblyKind
from harmony_matrix.assemblies.federation import Federation
from harmony_matrix.assemblies.federation_file import load_federation
from harmony_matrix.consensus.decisions import Decision, Level, Method, make_decision_ref
from harmony_matrix.consensus.moots import Moot, MootStatus
from harmony_matrix.ids import EventId, RoomId, UserId
from harmony_matrix.polls.poll import Eligibility, PollSpec
from harmony_matrix.polls.reactions import CountedReaction
from harmony_matrix.polls.results import poll_result
from storage.database import Database

REPO = Path(__file__).resolve().parents[2]
SERVER = "example.org"
KINDS = ("space", "discussion", "announcements", "votes", "secretariat")
SECRETARY = UserId("@sam-secretary:example.org")
DEPUTY = UserId("@dee-deputy:example.org")
HIDDEN_SECRETARY = UserId("@hidden-safeguarding-secretary:example.org")
NAMES = {SECRETARY: "Sam Okafor", DEPUTY: "Dee Rhys"}

#: Strings from private data: none may appear in any page, feed or API answer.
PRIVATE = (
    "@member-private-1:example.org", "@member-private-2:example.org",   # party members
    "@declarer-private:example.org",                                     # a self-declaration
    "@admitted-private:example.org",                                     # an admission
    "@voter-private-1:example.org", "@voter-private-2:example.org",      # votes (open and secret)
    "@secret-voter-private:example.org",
    "@attendee-private:example.org", "MINUTES-PRIVATE-TEXT",             # a moot's attendees and minutes
    "@scheduler-private:example.org", "@poll-creator-private:example.org",
    "!dm-private:example.org",                                           # a direct chat
    "SECRETARIAT-ONLY-QUESTION", "!party-secretariat:example.org",       # the secretariat
    "SAFEGUARDING-DECISION-PRIVATE", "SAFEGUARDING-MOOT-PRIVATE",        # an invite-only assembly
    "TRANS-POLL-PRIVATE", str(HIDDEN_SECRETARY), "@das-secretary-hidden:example.org",
)


def room_id(slug: str, kind: str) -> RoomId:
    """The fake room ID of ``slug``'s room of ``kind``."""
    return RoomId(f"!{slug}-{kind}:{SERVER}")


@dataclass
class Seeded:
    """What the seed wrote, for tests to compare pages with."""

    federation: Federation
    now: datetime
    decisions: dict[str, Decision] = field(default_factory=dict)
    moots: dict[str, Moot] = field(default_factory=dict)
    polls: dict[str, int] = field(default_factory=dict)


def demo_federation() -> Federation:
    """The sample federation with officers, and an invite-only assembly added."""
    path = REPO / "examples" / "harmony-federation.yaml"
    federation = load_federation(path.read_text(encoding="utf-8"), source=str(path))
    assemblies = []
    for assembly in federation:
        if assembly.slug == "party":
            assembly = replace(assembly, secretary=SECRETARY, deputies=(DEPUTY,))
        if assembly.slug == "disability-activism-society":
            assembly = replace(assembly, secretary=UserId("@das-secretary-hidden:example.org"))
        assemblies.append(assembly)
    assemblies.append(Assembly(slug="safeguarding", name="Safeguarding Panel", kind=AssemblyKind.COMMITTEE,
                               access=Access.INVITE, remit="Handles safeguarding concerns.", parents=("party",),
                               secretary=HIDDEN_SECRETARY))
    return Federation(tuple(assemblies))


async def _decide(db: Database, seeded: Seeded, assembly: str, statement: str, *, topics: Sequence[str],
                  at: datetime, level: Level = Level.MOOT, method: Method = Method.CONSENSUS,
                  supersedes: str | None = None, evidence: Sequence[str] = ()) -> Decision:
    def build(number: int) -> Decision:
        return Decision(ref=make_decision_ref(assembly, number), assembly=assembly, level=level, method=method,
                        outcome="adopted" if method is not Method.REJECTED else "not adopted",
                        statement=statement, topics=tuple(topics), decided_at=at,
                        evidence=tuple(EventId(e) for e in evidence), supersedes=supersedes)

    entry = await db.consensus.decisions.append(build, assembly=assembly)
    seeded.decisions[statement] = entry.decision
    return entry.decision


async def _moot(db: Database, seeded: Seeded, assembly: str, topic: str, *, starts: datetime,
                status: MootStatus = MootStatus.SCHEDULED) -> Moot:
    def build(ref: str) -> Moot:
        return Moot(ref=ref, assembly=assembly, topic=topic, starts_at=starts, duration=timedelta(hours=1),
                    scheduled_at=seeded.now - timedelta(days=3), scheduled_by=UserId("@scheduler-private:example.org"),
                    proposals=("P-" + assembly + "-1",))

    moot = await db.consensus.moots.create(build, assembly=assembly, room_id=room_id(assembly, "announcements"))
    moot = replace(moot, status=status, minutes="MINUTES-PRIVATE-TEXT",
                   attendees=frozenset({UserId("@attendee-private:example.org")}))
    await db.consensus.moots.save(moot)
    seeded.moots[topic] = moot
    return moot


async def _poll(db: Database, seeded: Seeded, room: RoomId, question: str, options: Sequence[str], *,
                secret: bool = False, ballots: Sequence[dict[int, int]] = (), close: bool = True) -> int:
    spec = PollSpec(question=question, options=tuple(options), secret=secret, eligibility=Eligibility.MEMBERS,
                    closes_at=None if close else seeded.now + timedelta(days=2))
    poll, _ = await db.polls.create(spec, room_id=room, created_by="@poll-creator-private:example.org",
                                    created_at=seeded.now - timedelta(days=1))
    voters = ["@voter-private-1:example.org", "@voter-private-2:example.org", "@secret-voter-private:example.org"]
    for index, ballot in enumerate(ballots):
        voter = voters[index % len(voters)]
        if secret:
            await db.polls.save_secret_ballot(poll.number, voter, ballot, at=seeded.now - timedelta(hours=5))
        else:
            await db.polls.add_reactions(poll.number, [CountedReaction(
                event_id=f"$vote-{poll.number}-{index}-{position}", voter=voter, option=position, score=score,
                ts=int((seeded.now - timedelta(hours=5)).timestamp() * 1000)) for position, score in ballot.items()],
                settle=lambda stored, live: set())
    if close:
        result = poll_result(poll, list(ballots))
        await db.polls.close(poll.number, closed_at=seeded.now - timedelta(hours=1), result=result)
    seeded.polls[question] = poll.number
    return poll.number


async def seed_demo(db: Database, *, now: datetime | None = None) -> Seeded:
    """Write the demo-like federation and its record (see the module docstring)."""
    now = (now or datetime.now(UTC)).replace(microsecond=0)
    federation = demo_federation()
    seeded = Seeded(federation=federation, now=now)
    for position, assembly in enumerate(federation):
        await db.assemblies.save(assembly, position=position)
        for kind in KINDS:
            await db.assemblies.set_room(assembly.slug, kind, room_id(assembly.slug, kind))
    # Private data of every kind.
    for member in ("@member-private-1:example.org", "@member-private-2:example.org"):
        await db.members.add(member, by=str(SECRETARY), at=now)
    await db.assembly_people.declare(UserId("@declarer-private:example.org"), "disability-activism-society", at=now)
    await db.assembly_people.admit(UserId("@admitted-private:example.org"), "committee-for-resolutions",
                                   by=SECRETARY, at=now)
    await db.direct_chats.remember("@member-private-1:example.org", "!dm-private:example.org", at=now)
    # Evidence the bot handled: one in a public room, one in the secretariat.
    await db.events.mark_processed(EventId("$consensus-cmd-1"), room_id("operational-working-group", "discussion"),
                                   "command", at=now)
    await db.events.mark_processed(EventId("$consensus-cmd-2"), room_id("party", "secretariat"), "command", at=now)
    # The record.
    day = timedelta(days=1)
    first = await _decide(db, seeded, "operational-working-group", "Meet on Tuesdays at 19:00",
                          topics=["meetings"], at=now - 30 * day, evidence=["$consensus-cmd-1"])
    await _decide(db, seeded, "operational-working-group", "Meet on Wednesdays at 19:00 instead",
                  topics=["meetings"], at=now - 10 * day, supersedes=first.ref, evidence=["$consensus-cmd-1"])
    await _decide(db, seeded, "foundational-committee", "Working groups publish minutes within a week",
                  topics=["minutes"], at=now - 20 * day, evidence=["$consensus-cmd-2"])
    await _decide(db, seeded, "operational-working-group", "Minutes may take two weeks", topics=["minutes"],
                  at=now - 5 * day)
    await _decide(db, seeded, "party", "Membership fees are voluntary", topics=["fees"], at=now - 3 * day,
                  level=Level.ALL_THING)
    await _decide(db, seeded, "financial-working-group", "A fee of £5 a month", topics=["fees"], at=now - 2 * day)
    await _decide(db, seeded, "safeguarding", "SAFEGUARDING-DECISION-PRIVATE", topics=["safety"], at=now - day)
    await _decide(db, seeded, "media-working-group", "Buy a projector", topics=["equipment"], at=now - day,
                  method=Method.STAR_BALLOT)
    # Moots: upcoming, cancelled, past; and one of the invite-only assembly.
    await _moot(db, seeded, "operational-working-group", "Budget review", starts=now + 2 * day)
    await _moot(db, seeded, "operational-working-group", "Cancelled planning session", starts=now + 3 * day,
                status=MootStatus.CANCELLED)
    await _moot(db, seeded, "operational-working-group", "Last month's retrospective", starts=now - 7 * day,
                status=MootStatus.FINISHED)
    await _moot(db, seeded, "safeguarding", "SAFEGUARDING-MOOT-PRIVATE", starts=now + 2 * day)
    # Polls: open, closed (reactions), closed secret, in the secretariat, in a self-identified assembly.
    await _poll(db, seeded, room_id("operational-working-group", "votes"), "Where should we meet?",
                ["Library", "Community hall"], close=False)
    await _poll(db, seeded, room_id("operational-working-group", "votes"), "Which newsletter name?",
                ["Harmony News", "The Commons", "Consensus"],
                ballots=[{0: 5, 1: 3, 2: 0}, {0: 4, 1: 5, 2: 1}, {0: 2, 1: 1, 2: 5}])
    await _poll(db, seeded, room_id("operational-working-group", "votes"), "Who should hold the keys?",
                ["Ash", "Bo"], secret=True, ballots=[{0: 5, 1: 2}, {0: 1, 1: 4}, {0: 5, 1: 0}])
    await _poll(db, seeded, room_id("party", "secretariat"), "SECRETARIAT-ONLY-QUESTION", ["Yes", "No"],
                ballots=[{0: 5, 1: 0}])
    await _poll(db, seeded, room_id("trans-liberation-assembly", "votes"), "TRANS-POLL-PRIVATE", ["A", "B"],
                ballots=[{0: 5, 1: 0}])
    return seeded


class FakeNames:
    """Display names as sync would know them (``handlers.web.ports.DisplayNames``)."""

    def display_name(self, user_id: str, room_ids: object) -> str | None:
        """The seeded officers' names."""
        return NAMES.get(UserId(user_id))
