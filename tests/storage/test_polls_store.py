"""The polls store on SQLite (always) and PostgreSQL (when HARMONY_TEST_POSTGRES is a DSN)."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta, timezone

import pytest
import pytest_asyncio

from harmony_matrix.polls.poll import Eligibility, PollSpec
from harmony_matrix.polls.reactions import CountedReaction
from harmony_matrix.polls.results import poll_result
from storage.database import Database, open_database

pytestmark = pytest.mark.asyncio(loop_scope="session")

NOW = datetime(2026, 3, 1, 12, 0, tzinfo=timezone.utc)
SPEC = PollSpec(question="Where?", options=("Library", "Café", "Online"), closes_at=NOW + timedelta(days=1))


@pytest_asyncio.fixture(loop_scope="session")
async def db(database: Database) -> Database:
    """The shared fixture: SQLite always, a throwaway PostgreSQL database when configured."""
    return database


def vote(event_id: str, voter: str, option: int, score: int, ts: int) -> CountedReaction:
    return CountedReaction(event_id=event_id, voter=voter, option=option, score=score, ts=ts)


async def test_create_is_idempotent_by_source_key_and_round_trips(db: Database) -> None:
    poll, created = await db.polls.create(SPEC, room_id="!r", created_by="@sec:x", created_at=NOW,
                                          origin="consensus:ballot:1", source_key="$cmd")
    again, created_again = await db.polls.create(SPEC, room_id="!r", created_by="@sec:x", created_at=NOW,
                                                 source_key="$cmd")
    assert created and not created_again and again.number == poll.number
    await db.polls.set_header(poll.number, "$header")
    for position in range(3):
        await db.polls.set_option_event(poll.number, position, f"$opt{position}")
    loaded = await db.polls.get(poll.number)
    assert loaded is not None
    assert loaded.labels == SPEC.options and loaded.header_event_id == "$header"
    assert loaded.closes_at == SPEC.closes_at and loaded.origin == "consensus:ballot:1" and loaded.is_open
    assert loaded.ref == f"#{poll.number}"
    found = await db.polls.option_by_event("$opt2")
    assert found is not None and found[0].number == poll.number and found[1] == 2
    assert await db.polls.option_by_event("$nope") is None
    assert [p.number for p in await db.polls.list_polls(status="open")] == [poll.number]
    assert loaded.eligibility is Eligibility.MEMBERS


def nothing_superseded(stored: tuple[CountedReaction, ...], live: tuple[CountedReaction, ...]) -> set[str]:
    return set()


def superseding(*event_ids: str) -> Callable[[tuple[CountedReaction, ...], tuple[CountedReaction, ...]], set[str]]:
    """A settle rule naming ``event_ids`` superseded, whatever it is handed."""
    return lambda stored, live: set(event_ids)


async def test_votes_are_stored_once_and_superseded_in_the_same_write(db: Database) -> None:
    poll, _ = await db.polls.create(SPEC, room_id="!r", created_by="@s:x", created_at=NOW)
    n = poll.number
    assert await db.polls.add_reactions(n, [vote("$1", "@a:x", 0, 3, 100)], settle=nothing_superseded) == (
        vote("$1", "@a:x", 0, 3, 100),)
    # A replay changes nothing.
    assert await db.polls.add_reactions(n, [vote("$1", "@a:x", 0, 3, 100)], settle=nothing_superseded) == ()
    assert await db.polls.known_reaction_ids(n) == {"$1": "live"}
    assert await db.polls.add_reactions(n, [vote("$2", "@a:x", 0, 5, 200)], settle=superseding("$1")) == (
        vote("$2", "@a:x", 0, 5, 200),)
    dm = CountedReaction(event_id="$dm#0", voter="@a:x", option=0, score=1, ts=50, source="dm")
    await db.polls.add_reactions(n, [dm], settle=superseding("$dm#0"))
    await db.polls.add_reactions(n, [], settle=superseding("$2"))  # nothing stored: nothing marked
    await db.polls.add_reactions(n, [vote("$3", "@b:x", 1, 4, 120), vote("$4", "@b:x", 2, 2, 130)],
                                 settle=nothing_superseded)
    assert sorted(map(sorted, (b.items() for b in await db.polls.ballots(n)))) == [[(0, 5)], [(1, 4), (2, 2)]]
    assert await db.polls.withdraw("$4") == n
    assert await db.polls.withdraw("$4") is None
    assert await db.polls.withdraw("$unknown") is None
    assert await db.polls.turnout(n) == 2
    # Only reactions in the room are recounted; a DM ballot line is not among them.
    assert await db.polls.known_reaction_ids(n) == {"$1": "superseded", "$2": "live", "$3": "live", "$4": "withdrawn"}
    assert [(v["event_id"], v["source"], v["status"]) for v in (await db.polls.export_user("@a:x"))["votes"]] == [
        ("$dm#0", "dm", "superseded"), ("$1", "reaction", "superseded"), ("$2", "reaction", "counted")]


async def test_a_batch_of_votes_is_stored_once_with_what_the_settle_rule_names_superseded(db: Database) -> None:
    poll, _ = await db.polls.create(SPEC, room_id="!r", created_by="@s:x", created_at=NOW)
    n = poll.number
    await db.polls.add_reactions(n, [vote("$old", "@a:x", 0, 1, 50), vote("$other", "@c:x", 0, 2, 60)],
                                 settle=nothing_superseded)  # $other: another voter, not handed to settle below
    seen: list[tuple[tuple[CountedReaction, ...], tuple[CountedReaction, ...]]] = []

    def settle(stored: tuple[CountedReaction, ...], live: tuple[CountedReaction, ...]) -> set[str]:
        seen.append((stored, live))
        return {"$old", "$b1"}

    batch = [vote("$b1", "@a:x", 0, 3, 100), vote("$b2", "@a:x", 0, 4, 200), vote("$b1", "@a:x", 0, 3, 100),
             vote("$b3", "@b:x", 1, 5, 150)]
    stored = await db.polls.add_reactions(n, batch, settle=settle)
    assert [v.event_id for v in stored] == ["$b1", "$b2", "$b3"]  # the repeated one once, in order
    assert seen == [(stored, (vote("$old", "@a:x", 0, 1, 50),))]
    assert await db.polls.known_reaction_ids(n) == {"$old": "superseded", "$other": "live", "$b1": "superseded",
                                                    "$b2": "live", "$b3": "live"}
    # Delivered again (a replayed batch): nothing stored twice, nothing handed to settle.
    assert await db.polls.add_reactions(n, batch[:2], settle=settle) == ()
    assert len(seen) == 2 and seen[1] == ((), ())
    assert len(await db.polls.known_reaction_ids(n)) == 5
    found = await db.polls.options_by_events(["$nope"])
    assert found == {}


async def test_secret_ballots_are_unlinked_at_close(db: Database) -> None:
    poll, _ = await db.polls.create(PollSpec("Q", ("A", "B"), secret=True, eligibility=Eligibility.PARTICIPANTS),
                                    room_id="!r", created_by="@s:x",
                                    created_at=NOW)
    n = poll.number
    assert not await db.polls.save_secret_ballot(n, "@a:x", {0: 5}, at=NOW)
    assert await db.polls.save_secret_ballot(n, "@a:x", {0: 4, 1: 1}, at=NOW)  # revote
    await db.polls.save_secret_ballot(n, "@b:x", {1: 5}, at=NOW)
    assert await db.polls.turnout(n) == 2
    assert (await db.polls.export_user("@a:x"))["secret_ballots_of_open_polls"][0]["scores"] == {"0": 4, "1": 1}
    result = poll_result(poll, [{0: 4, 1: 1}, {1: 5}])
    assert result.winners == ("B",)
    assert await db.polls.close(n, closed_at=NOW, result=result)
    assert not await db.polls.close(n, closed_at=NOW, result=poll_result(poll, []))
    assert sorted(map(sorted, (b.items() for b in await db.polls.ballots(n)))) == [[(0, 4), (1, 1)], [(1, 5)]]
    assert (await db.polls.export_user("@a:x"))["secret_ballots_of_open_polls"] == []
    closed = await db.polls.get(n)
    assert closed is not None and closed.status == "closed" and closed.result == result
    assert closed.eligibility is Eligibility.PARTICIPANTS
    assert [p.number for p in await db.polls.unfinished()] == [n]  # results not posted yet
    await db.polls.mark_results_posted(n, "$results")
    assert await db.polls.unfinished() == []


async def test_told_once_reconciliation_and_privacy(db: Database) -> None:
    poll, _ = await db.polls.create(SPEC, room_id="!r", created_by="@s:x", created_at=NOW, origin="o")
    n = poll.number
    assert await db.polls.mark_told(n, "@a:x", "not-eligible")
    assert not await db.polls.mark_told(n, "@a:x", "closed")
    assert await db.polls.was_told(n, "@a:x")
    await db.polls.record_reconciliation(n, kind="missed-reaction", event_id="$x", detail="added", at=NOW)
    assert [(r.kind, r.event_id) for r in await db.polls.reconciliations(n)] == [("missed-reaction", "$x")]
    await db.polls.add_reactions(n, [vote("$9", "@a:x", 1, 5, 10)], settle=nothing_superseded)
    exported = await db.polls.export_user("@a:x")
    assert exported["votes"][0]["score"] == 5
    await db.polls.erase_user("@a:x")
    assert await db.polls.export_user("@a:x") == {"votes": [], "secret_ballots_of_open_polls": [],
                                                   "private_notices": [], "polls_started": []}
    assert await db.polls.ballots(n) == [{1: 5}]  # the anonymous count stays


async def test_a_refused_vote_is_kept_refused_and_never_counted(db: Database) -> None:
    poll, _ = await db.polls.create(SPEC, room_id="!r", created_by="@s:x", created_at=NOW)
    n = poll.number
    assert await db.polls.refuse(n, vote("$early", "@late:x", 0, 5, 100), "not-eligible")
    assert await db.polls.refuse(n, vote("$early", "@late:x", 0, 5, 100), "not-eligible")  # a replay: still refused
    assert await db.polls.ballots(n) == [] and await db.polls.turnout(n) == 0
    # A later vote of the same person on the same option is settled against counted votes only.
    handed: list[tuple[CountedReaction, ...]] = []

    def settle(stored: tuple[CountedReaction, ...], live: tuple[CountedReaction, ...]) -> set[str]:
        handed.append(live)
        return set()

    await db.polls.add_reactions(n, [vote("$later", "@late:x", 0, 4, 300)], settle=settle)
    assert handed == [()]
    assert not await db.polls.refuse(n, vote("$later", "@late:x", 0, 4, 300), "closed")  # taken before: stays taken
    assert await db.polls.withdraw("$early") is None  # removing a refused vote changes nothing
    assert await db.polls.known_reaction_ids(n) == {"$early": "refused", "$later": "live"}
    assert await db.polls.ballots(n) == [{0: 4}]
    votes = (await db.polls.export_user("@late:x"))["votes"]
    assert [(v["event_id"], v["status"], v.get("refused_because")) for v in votes] == [
        ("$early", "refused", "not-eligible"), ("$later", "counted", None)]


async def test_the_registry_says_since_when_someone_is_a_member(db: Database) -> None:
    assert await db.members.member_since("@sam:x") is None
    await db.members.add("@sam:x", by="@admin:x", at=NOW)
    await db.members.add("@sam:x", by="@admin:x", at=NOW + timedelta(days=1))  # already one: unchanged
    assert await db.members.member_since("@sam:x") == NOW
    await db.members.remove("@sam:x")
    assert await db.members.member_since("@sam:x") is None


async def test_a_vote_and_what_it_supersedes_are_one_write(db: Database) -> None:
    """Were the process to fail between storing a vote and marking the older one superseded, both would
    count; the two happen in one transaction, so a failure while settling stores nothing."""
    poll, _ = await db.polls.create(SPEC, room_id="!r", created_by="@s:x", created_at=NOW)
    n = poll.number
    await db.polls.add_reactions(n, [vote("$1", "@a:x", 0, 3, 100)], settle=nothing_superseded)

    def crash(stored: tuple[CountedReaction, ...], live: tuple[CountedReaction, ...]) -> set[str]:
        raise RuntimeError("the process stops here")

    with pytest.raises(RuntimeError):
        await db.polls.add_reactions(n, [vote("$2", "@a:x", 0, 5, 200)], settle=crash)
    assert await db.polls.known_reaction_ids(n) == {"$1": "live"}
    # Delivered again after the restart: stored, and the older vote marked, together.
    await db.polls.add_reactions(n, [vote("$2", "@a:x", 0, 5, 200)], settle=superseding("$1"))
    assert await db.polls.known_reaction_ids(n) == {"$1": "superseded", "$2": "live"}
