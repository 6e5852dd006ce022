"""The polls edge on the in-memory Matrix harness and a real database (SQLite; PostgreSQL when configured):
one eligibility rule for live reactions and the recount, refused reactions removed and never counted,
and secret ballots taken only in encrypted direct chats, removed once recorded.

The homeserver side the polls feature reads (``/relations``, membership events) and the redactions it
sends are played by :class:`Server`, installed on the harness's ``FakeGateway``.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import unquote
from zoneinfo import ZoneInfo

import pytest
import pytest_asyncio

from handlers.matrix.gateway import Forbidden, NotFound
from handlers.polls.electorate import Electorates
from handlers.polls.feature import PollSettings, PollsFeature
from harmony_matrix.assemblies.assembly import Assembly, AssemblyKind
from harmony_matrix.assemblies.federation import Federation
from harmony_matrix.event_types import ROOM_ENCRYPTION
from harmony_matrix.polls.poll import Eligibility, Poll, PollSpec, timestamp_ms
from harmony_matrix.polls.reactions import SEED_KEYS
from harmony_matrix.polls.results import PollResult
from storage.database import Database
from tests.fakes.gateway import FakeRoom
from tests.fakes.harness import NOW, ROOM, EdgeHarness

pytestmark = pytest.mark.asyncio(loop_scope="session")

ADMIN, ANA, OUTSIDER = "@admin:test", "@ana:test", "@out:test"
DM = "!dm-ana:test"


@dataclass
class Server:
    """What the homeserver holds that the polls feature reads back, and the redactions it was sent."""

    relations: dict[str, list[dict[str, Any]]] = field(default_factory=dict)  # option event -> reactions
    member_events: dict[str, dict[str, Any]] = field(default_factory=dict)  # event ID -> m.room.member event
    current_member: dict[tuple[str, str], str] = field(default_factory=dict)  # (room, user) -> event ID
    redactions: list[tuple[str, str, str | None]] = field(default_factory=list)  # (room, event, reason)
    refuse_redactions_in: set[str] = field(default_factory=set)
    room_creator: str = "@bot:test"  # the sender of every room's m.room.create (v12: infinite power)

    async def redact(self, room_id: str, event_id: str, reason: str | None = None, *,
                     txn_seed: str | None = None) -> str:
        if room_id in self.refuse_redactions_in:
            raise Forbidden("You don't have permission to redact events", status=403)
        self.redactions.append((room_id, event_id, reason))
        return f"$redaction-of-{event_id}"

    async def relations_of(self, room_id: str, event_id: str, **_: Any) -> AsyncIterator[dict[str, Any]]:
        for event in self.relations.get(event_id, []):
            yield event

    async def request(self, method: str, path: str, body: Any = None, *,
                      query: dict[str, Any] | None = None) -> dict[str, Any]:
        if path.endswith("/state/m.room.create/"):  # the poll's room: the bot created it (v12)
            return {"type": "m.room.create", "sender": self.room_creator, "content": {"room_version": "12"}}
        if path.startswith("/v3/profile/"):
            raise NotFound("Profile was not found", status=404)
        # GET /v3/rooms/{room}/state/m.room.member/{user}?format=event
        _, version, rooms, room, state, event_type, user = path.split("/")
        assert (method, version, rooms, state, event_type) == ("GET", "v3", "rooms", "state", "m.room.member"), path
        found = self.current_member.get((unquote(room), unquote(user)))
        if found is None or (query or {}).get("format") != "event":
            raise NotFound("Event not found.", status=404)
        return self.member_events[found]

    async def get_event(self, room_id: str, event_id: str) -> dict[str, Any]:
        return self.member_events[event_id]

    def membership(self, room_id: str, user_id: str, *changes: tuple[int, str]) -> None:
        """``user_id``'s membership events in ``room_id``, oldest first, each replacing the one before."""
        previous: str | None = None
        for number, (ts, membership) in enumerate(changes):
            event_id = f"$member-{room_id}-{user_id}-{number}"
            self.member_events[event_id] = {
                "type": "m.room.member", "event_id": event_id, "state_key": user_id, "sender": user_id,
                "origin_server_ts": ts, "content": {"membership": membership},
                "unsigned": {"replaces_state": previous} if previous else {}}
            previous = event_id
        if previous:
            self.current_member[(room_id, user_id)] = previous

    def redacted(self) -> list[str]:
        return [event_id for _, event_id, _ in self.redactions]


class NoScheduler:
    """Polls here close on command: nothing is scheduled."""

    def add_job(self, func: Any, trigger: str | None = None, **options: Any) -> Any:
        return None

    def remove_job(self, job_id: str) -> None:
        pass

    def get_job(self, job_id: str) -> Any:
        return None

    def get_jobs(self) -> list[Any]:
        return []


@dataclass
class Edge:
    harness: EdgeHarness
    feature: PollsFeature
    server: Server
    db: Database

    def ms(self, moment: datetime) -> int:
        return timestamp_ms(moment)

    async def react(self, poll: Poll, option: int, score: int, *, sender: str, event_id: str,
                    at: datetime) -> None:
        """``sender`` reacts on ``option`` at ``at``: on the server (for the recount) and through sync."""
        raw = reaction(poll, option, score, sender=sender, event_id=event_id, at=at)
        self.server.relations.setdefault(str(poll.options[option].event_id), []).append(raw)
        await self.harness.deliver([raw], room_id=poll.room_id)
        await self.settle()

    async def settle(self) -> None:
        """Wait until the outbound queue has sent everything (redactions of votes go last)."""
        await self.harness.poster.outbox.drain()

    async def close(self, poll: Poll) -> PollResult:
        """Close ``poll`` on command; its stored result."""
        closed = await self.feature.close_poll(poll.number)
        await self.settle()
        assert closed is not None and closed.result is not None
        return closed.result

    def told(self, user_id: str) -> list[str]:
        """What the bot told ``user_id`` in the direct chats it opened with them."""
        gateway = self.harness.gateway
        rooms = [f"!created{n}:test" for n, body in enumerate(gateway.created, 1) if user_id in body.get("invite", [])]
        return [body for room in rooms for body in gateway.bodies(room)]


def reaction(poll: Poll, option: int, score: int, *, sender: str, event_id: str, at: datetime) -> dict[str, Any]:
    return {"type": "m.reaction", "event_id": event_id, "sender": sender, "origin_server_ts": timestamp_ms(at),
            "content": {"m.relates_to": {"rel_type": "m.annotation", "event_id": poll.options[option].event_id,
                                         "key": SEED_KEYS[score]}}}


@pytest_asyncio.fixture(loop_scope="session")
async def edge(database: Database, monkeypatch: pytest.MonkeyPatch) -> Edge:
    harness = EdgeHarness(admins=[ADMIN])
    server = Server()
    for name, fake in (("redact", server.redact), ("relations", server.relations_of), ("request", server.request),
                       ("get_event", server.get_event)):
        monkeypatch.setattr(harness.gateway, name, fake)
    feature = PollsFeature(gateway=harness.gateway, poster=harness.poster, store=database.polls,
                           members=database.members, scheduler=NoScheduler(), clock=harness.clock,
                           settings=PollSettings(tz=ZoneInfo("UTC"), seed_reactions=False, post_chart=False),
                           prefix="!h")
    harness.add_handlers(*feature.command_handlers())
    feature.register(harness.dispatcher)
    return Edge(harness, feature, server, database)


async def open_poll(edge: Edge, **spec: Any) -> Poll:
    return await edge.feature.open_poll(PollSpec("Lunch?", ("Pizza", "Soup"), **spec), room_id=ROOM,
                                        created_by=ADMIN)


# --- one rule, live and at the recount ----------------------------------------------------------------

async def test_a_reaction_refused_live_stays_refused_and_a_later_one_counts(edge: Edge) -> None:
    await edge.db.members.add(ANA, by=ADMIN, at=NOW - timedelta(days=1))
    poll = await open_poll(edge)
    await edge.react(poll, 0, 5, sender=ANA, event_id="$ana", at=NOW)
    await edge.react(poll, 0, 4, sender=OUTSIDER, event_id="$early", at=NOW + timedelta(minutes=1))
    # Refused live: stored as refused, removed from the room with a reason that says nothing about
    # membership, and its sender told privately, once.
    assert edge.server.redactions == [(ROOM, "$early", "not counted; the voter was told privately why")]
    [told] = edge.told(OUTSIDER)
    assert "was not counted, so I removed it: only registered party members may vote" in told
    assert "simply react again" in told
    await edge.react(poll, 1, 3, sender=OUTSIDER, event_id="$early2", at=NOW + timedelta(minutes=2))
    assert edge.told(OUTSIDER) == [told] and edge.server.redacted() == ["$early", "$early2"]

    # Registered (at the harness's clock), then reacts again: that one counts, the old one does not.
    edge.harness.now = NOW + timedelta(minutes=3)
    await edge.db.members.add(OUTSIDER, by=ADMIN, at=edge.harness.clock())
    await edge.react(poll, 0, 2, sender=OUTSIDER, event_id="$later", at=NOW + timedelta(minutes=4))
    # The early reactions are still on the server (say their removal was lost); the recount at close
    # judges nothing twice, removes them again, and counts the later one.
    edge.harness.now = NOW + timedelta(minutes=5)
    result = await edge.close(poll)
    assert result.totals == {"Pizza": 7, "Soup": 0} and result.ballot_count == 2
    assert await edge.db.polls.reconciliations(poll.number) == []
    assert edge.server.redacted().count("$early") == 2 and "$later" not in edge.server.redacted()
    exported = await edge.feature.export_user_data(OUTSIDER)
    assert [(v["event_id"], v["status"], v.get("refused_because")) for v in exported["votes"]] == [
        ("$early", "refused", "not-eligible"), ("$early2", "refused", "not-eligible"), ("$later", "counted", None)]


async def test_the_recount_judges_a_reaction_it_sees_first_by_its_timestamp(edge: Edge) -> None:
    poll = await open_poll(edge)
    options = [str(o.event_id) for o in poll.options]
    # Missed live (the bot was down): one sent before its sender was registered, one after.
    edge.harness.now = NOW + timedelta(minutes=10)
    await edge.db.members.add(OUTSIDER, by=ADMIN, at=edge.harness.clock())
    edge.server.relations[options[0]] = [
        reaction(poll, 0, 5, sender=OUTSIDER, event_id="$before", at=NOW + timedelta(minutes=5))]
    edge.server.relations[options[1]] = [
        reaction(poll, 1, 4, sender=OUTSIDER, event_id="$after", at=NOW + timedelta(minutes=11))]
    edge.harness.now = NOW + timedelta(minutes=20)
    result = await edge.close(poll)
    assert result.totals == {"Pizza": 0, "Soup": 4}  # registered now, but not when "$before" was sent
    found = {(r.kind, r.event_id) for r in await edge.db.polls.reconciliations(poll.number)}
    assert found == {("missed-refused", "$before"), ("missed-reaction", "$after")}
    assert edge.server.redacted() == ["$before"]
    assert len(edge.told(OUTSIDER)) == 1


async def test_a_reaction_after_the_deadline_is_refused_and_removed(edge: Edge) -> None:
    await edge.db.members.add(ANA, by=ADMIN, at=NOW - timedelta(days=1))
    poll = await open_poll(edge, closes_at=NOW + timedelta(hours=1))
    await edge.react(poll, 0, 5, sender=ANA, event_id="$late", at=NOW + timedelta(hours=2))
    assert edge.server.redacted() == ["$late"] and "already closed" in edge.told(ANA)[0]
    assert await edge.db.polls.known_reaction_ids(poll.number) == {"$late": "refused"}


async def test_participants_of_an_assembly_are_judged_by_when_they_had_joined_its_space() -> None:
    server = Server()
    server.membership("!space:test", ANA, (100, "join"), (200, "leave"), (300, "join"), (400, "join"))
    assembly = Assembly("ward", "Ward", AssemblyKind.PARTY)

    class Directory:
        def federation(self) -> Federation:
            return Federation((assembly,))

        async def assembly_of_room(self, room_id: str) -> str | None:
            return "ward"

        async def rooms_of(self, slug: str) -> dict[str, str]:
            return {"space": "!space:test"}

        async def set_officers(self, slug: str, *, secretary: str | None, deputies: list[str], reason: str) -> None:
            raise AssertionError("not used")

    class NoMembers:
        async def member_since(self, user_id: str) -> datetime | None:
            raise AssertionError("participants polls do not read the registry")

    harness = EdgeHarness()
    gateway = harness.gateway
    gateway.request = server.request  # type: ignore[method-assign]
    gateway.get_event = server.get_event  # type: ignore[method-assign]
    electorates = Electorates(gateway=gateway, members=NoMembers(), assemblies=Directory())
    poll = Poll(number=1, room_id="!votes:test", question="Q", options=(), seats=1, secret=False,
                eligibility=Eligibility.PARTICIPANTS, closes_at=None, status="open", created_by=ADMIN, created_at=NOW)
    answers = [await electorates.may_vote(poll, ANA, at=t, sent_in_room=True) for t in (99, 150, 250, 350, 450)]
    assert answers == [False, True, False, True, True]
    assert not await electorates.may_vote(poll, OUTSIDER, at=450, sent_in_room=True)  # never in the space

    # A server that answers the member state with its content only: the event comes from the full state.
    async def content_only(method: str, path: str, body: Any = None, *,
                           query: dict[str, Any] | None = None) -> dict[str, Any]:
        return {"membership": "join"}

    async def full_state(room_id: str) -> list[dict[str, Any]]:
        return [server.member_events[server.current_member[("!space:test", ANA)]]]

    gateway.request = content_only  # type: ignore[method-assign]
    gateway.get_state = full_state  # type: ignore[method-assign]
    assert [await electorates.may_vote(poll, ANA, at=t) for t in (150, 250, 350)] == [True, False, True]


# --- secret ballots: encrypted direct chats only --------------------------------------------------------

async def test_a_secret_ballot_in_an_unencrypted_chat_is_refused_and_nothing_is_recorded(edge: Edge) -> None:
    await edge.db.members.add(ANA, by=ADMIN, at=NOW - timedelta(days=1))
    poll = await open_poll(edge, secret=True)
    await edge.harness.open_direct_chat(ANA, DM, encrypted=False)
    [reply] = await edge.harness.say(f"!h vote {poll.ref} A=5 B=1", sender=ANA, room_id=DM, event_id="$ballot")
    assert reply.body.startswith(f"I did not record this ballot: poll {poll.ref} is a secret ballot, and this "
                                 "chat is not encrypted, so your scores would sit in plaintext on every "
                                 "homeserver in it. Nothing was recorded. I removed your message")
    assert "Element encrypts new direct chats by default" in reply.body and f"!h vote {poll.ref}" in reply.body
    assert edge.server.redactions == [(DM, "$ballot", "ballot not recorded: this chat is not encrypted")]
    assert await edge.db.polls.turnout(poll.number) == 0
    assert (await edge.feature.export_user_data(ANA))["secret_ballots_of_open_polls"] == []


async def test_a_secret_ballot_in_an_encrypted_chat_is_recorded_then_removed(edge: Edge) -> None:
    await edge.db.members.add(ANA, by=ADMIN, at=NOW - timedelta(days=1))
    poll = await open_poll(edge, secret=True)
    await edge.harness.open_direct_chat(ANA, DM)
    edge.harness.gateway.state[(DM, ROOM_ENCRYPTION, "")] = {"algorithm": "m.megolm.v1.aes-sha2"}
    [reply] = await edge.harness.say(f"!h vote {poll.ref} A=5 B=1", sender=ANA, room_id=DM, event_id="$ballot")
    assert reply.body.startswith(f"I recorded your ballot in poll {poll.ref} (Lunch?) and removed your message "
                                 "from this chat, so the scores are not kept in the chat history.")
    assert "=5" not in reply.body and ": 5" not in reply.body  # the receipt does not repeat the scores
    assert edge.server.redactions == [(DM, "$ballot", "ballot recorded")]
    assert (await edge.feature.export_user_data(ANA))["secret_ballots_of_open_polls"] == [
        {"poll": poll.ref, "scores": {"0": 5, "1": 1}}]
    # Voting again replaces the ballot; the nio cache knowing the room is encrypted is enough.
    edge.harness.gateway.fake_client.rooms[DM] = FakeRoom(users={ANA, "@bot:test"}, encrypted=True)
    del edge.harness.gateway.state[(DM, ROOM_ENCRYPTION, "")]
    [again] = await edge.harness.say(f"!h vote {poll.ref} A=2", sender=ANA, room_id=DM, event_id="$again")
    assert again.body.startswith("I recorded your new ballot (it replaces your previous one)")
    result = await edge.close(poll)
    assert result.totals == {"Pizza": 2, "Soup": 0}
    assert (await edge.feature.export_user_data(ANA))["secret_ballots_of_open_polls"] == []


async def test_a_ballot_the_bot_cannot_remove_is_recorded_and_the_voter_asked_to_delete_it(edge: Edge) -> None:
    await edge.db.members.add(ANA, by=ADMIN, at=NOW - timedelta(days=1))
    poll = await open_poll(edge, secret=True)
    await edge.harness.open_direct_chat(ANA, DM)
    edge.harness.gateway.state[(DM, ROOM_ENCRYPTION, "")] = {"algorithm": "m.megolm.v1.aes-sha2"}
    edge.server.refuse_redactions_in.add(DM)
    [reply] = await edge.harness.say(f"!h vote {poll.ref} B=4", sender=ANA, room_id=DM)
    assert "I could not remove your message from this chat: please delete it yourself" in reply.body
    assert await edge.db.polls.turnout(poll.number) == 1


async def test_a_public_polls_ballot_by_dm_needs_no_encryption(edge: Edge) -> None:
    await edge.db.members.add(ANA, by=ADMIN, at=NOW - timedelta(days=1))
    poll = await open_poll(edge)
    await edge.harness.open_direct_chat(ANA, DM)
    [reply] = await edge.harness.say(f"!h vote {poll.ref} A=3", sender=ANA, room_id=DM)
    assert reply.body.startswith("Ballot received.") and edge.server.redactions == []
    assert await edge.db.polls.ballots(poll.number) == [{0: 3}]


# --- what people read: the remedy, the warning, the closed announcement ---------------------------------

SAM, LEE = "@sam:test", "@lee:test"


class OfficersDirectory:
    """The poll's room belongs to Harmony Party UK, whose secretary is Sam and deputy Lee."""

    def federation(self) -> Federation:
        return Federation((Assembly("party", "Harmony Party UK", AssemblyKind.PARTY, secretary=SAM, deputies=(LEE,)),))

    async def assembly_of_room(self, room_id: str) -> str | None:
        return "party"

    async def rooms_of(self, slug: str) -> dict[str, str]:
        return {"space": "!space:test", "votes": ROOM}

    async def set_officers(self, slug: str, *, secretary: str | None, deputies: list[str], reason: str) -> None:
        raise AssertionError("not used")


@pytest_asyncio.fixture(loop_scope="session")
async def party(database: Database, monkeypatch: pytest.MonkeyPatch) -> Edge:
    """The polls feature in a room of an assembly with officers, admins configured and the web view on."""
    from nio import MatrixRoom

    from handlers.web.links import WebLinks

    harness = EdgeHarness(admins=[ADMIN])
    server = Server()
    for name, fake in (("redact", server.redact), ("relations", server.relations_of), ("request", server.request),
                       ("get_event", server.get_event)):
        monkeypatch.setattr(harness.gateway, name, fake)
    room = MatrixRoom(ROOM, "@bot:test")  # the sync cache knows the officers' display names
    room.add_member(SAM, "Sam Secretary", None)
    room.add_member(LEE, "Lee Deputy", None)
    harness.gateway.fake_client.rooms[ROOM] = room  # type: ignore[assignment]
    feature = PollsFeature(gateway=harness.gateway, poster=harness.poster, store=database.polls,
                           members=database.members, scheduler=NoScheduler(), clock=harness.clock,
                           settings=PollSettings(tz=ZoneInfo("UTC"), seed_reactions=False, post_chart=False),
                           prefix="!h", assemblies=OfficersDirectory(), admins=[ADMIN],
                           links=WebLinks("https://party.example"))
    harness.add_handlers(*feature.command_handlers())
    feature.register(harness.dispatcher)
    return Edge(harness, feature, server, database)


async def test_a_refused_voter_is_told_whom_to_ask_and_an_admin_what_to_send(party: Edge) -> None:
    poll = await open_poll(party)
    await party.react(poll, 0, 5, sender=OUTSIDER, event_id="$out", at=NOW)
    [told] = party.told(OUTSIDER)
    assert ("only registered party members may vote in it, and you were not one when you reacted. Registration is "
            "done by the party's admins; the secretaries of Harmony Party UK can arrange it: ask Sam Secretary "
            "(@sam:test) or Lee Deputy (@lee:test). If you become eligible") in told
    await party.react(poll, 0, 5, sender=ADMIN, event_id="$admin", at=NOW)
    [told_admin] = party.told(ADMIN)
    assert ("You are an admin, so you can register yourself: send !h member add @admin:test to me here, in this "
            "direct chat.") in told_admin
    # A ballot by direct message that is refused says the same.
    await party.harness.open_direct_chat(OUTSIDER, DM)
    [reply] = await party.harness.say(f"!h vote {poll.ref} A=5", sender=OUTSIDER, room_id=DM)
    assert reply.body.endswith("your ballot was not counted. Registration is done by the party's admins; the "
                               "secretaries of Harmony Party UK can arrange it: ask Sam Secretary (@sam:test) or "
                               "Lee Deputy (@lee:test).")


async def test_closing_edits_the_announcement_to_say_closed_with_links(party: Edge) -> None:
    await party.db.members.add(ANA, by=ADMIN, at=NOW - timedelta(days=1))
    poll = await open_poll(party)
    [header] = [m for m in party.harness.gateway.in_room(ROOM) if m.event_id == poll.header_event_id]
    assert header.body.splitlines()[-1] == f"Public page: https://party.example/polls/{poll.number}"
    assert "lack the power" not in header.body  # the bot created the room (v12): it may remove reactions
    await party.react(poll, 0, 4, sender=ANA, event_id="$ana", at=NOW)
    # One of the bot's own keycaps on each option (as seeding puts them): removed at the close.
    for option in poll.options:
        seed = reaction(poll, option.position, 0, sender="@bot:test", event_id=f"$seed{option.position}", at=NOW)
        party.server.relations.setdefault(str(option.event_id), []).append(seed)
    party.harness.now = NOW + timedelta(minutes=5)
    await party.close(poll)
    assert [(room, event) for room, event, _ in party.server.redactions] == [(ROOM, "$seed0"), (ROOM, "$seed1")]
    assert {reason for _, _, reason in party.server.redactions} == {"the poll is closed"}
    closed = await party.db.polls.get(poll.number)
    assert closed is not None and closed.results_event_id is not None
    edits = [m for m in party.harness.gateway.in_room(ROOM)
             if (m.content.get("m.relates_to") or {}).get("rel_type") == "m.replace"]
    assert [e.content["m.relates_to"]["event_id"] for e in edits] == [poll.header_event_id]
    new = edits[0].content["m.new_content"]
    assert new["body"].splitlines()[0] == f"📊 Poll {poll.ref}: Lunch? (closed)"
    assert "Voting has ended: reactions on the options no longer count." in new["body"]
    link = f"https://matrix.to/#/%21room%3Atest/{closed.results_event_id.replace('$', '%24')}?via=test"
    assert f"Results: {link}" in new["body"].splitlines()
    assert f'<a href="{link}">Results</a>' in new["formatted_body"]
    # Closing again (a replay) edits nothing more.
    await party.feature.close_poll(poll.number)
    await party.settle()
    assert len([m for m in party.harness.gateway.in_room(ROOM)
                if (m.content.get("m.relates_to") or {}).get("rel_type") == "m.replace"]) == 1


async def test_the_announcement_warns_where_the_bot_cannot_remove_reactions(party: Edge) -> None:
    party.server.room_creator = "@someone:test"  # a plain room the bot did not create, where it has level 0
    party.harness.gateway.state[(ROOM, "m.room.power_levels", "")] = {"users": {"@someone:test": 100}, "redact": 50}
    poll = await open_poll(party)
    [header] = [m for m in party.harness.gateway.in_room(ROOM) if m.event_id == poll.header_event_id]
    assert "Note: I lack the power to remove reactions in this room" in header.body
    party.harness.gateway.state[(ROOM, "m.room.power_levels", "")] = {"users": {"@bot:test": 50}}
    again = await party.feature.open_poll(PollSpec("Tea?", ("Yes", "No")), room_id=ROOM, created_by=ADMIN)
    [second] = [m for m in party.harness.gateway.in_room(ROOM) if m.event_id == again.header_event_id]
    assert "lack the power" not in second.body  # a moderator now


# --- the vote path waits for nothing the homeserver does (issue 13) ------------------------------------

async def test_votes_are_stored_while_their_redactions_and_notices_wait_in_the_queue(edge: Edge) -> None:
    import asyncio

    await edge.db.members.add(ANA, by=ADMIN, at=NOW - timedelta(days=1))
    poll = await open_poll(edge)
    await edge.react(poll, 0, 5, sender=ANA, event_id="$first", at=NOW)
    # From now on the homeserver takes its time with everything the bot sends.
    release = asyncio.Event()
    redact, send = edge.harness.gateway.redact, edge.harness.gateway.send_event

    async def slow_redact(*args: Any, **kwargs: Any) -> Any:
        await release.wait()
        return await redact(*args, **kwargs)

    async def slow_send(*args: Any, **kwargs: Any) -> Any:
        await release.wait()
        return await send(*args, **kwargs)

    edge.harness.gateway.redact = slow_redact  # type: ignore[method-assign]
    edge.harness.gateway.send_event = slow_send  # type: ignore[method-assign]
    batch = [reaction(poll, 0, 2, sender=ANA, event_id="$second", at=NOW + timedelta(minutes=1)),
             reaction(poll, 1, 4, sender=OUTSIDER, event_id="$outsider", at=NOW + timedelta(minutes=1))]
    # The batch is handled (stored, settled, refused) without waiting for a single send.
    stats = await asyncio.wait_for(edge.harness.deliver(batch, room_id=poll.room_id), timeout=10)
    assert stats.handled == 2
    assert await edge.db.polls.known_reaction_ids(poll.number) == {
        "$first": "superseded", "$second": "live", "$outsider": "refused"}
    assert edge.server.redactions == [] and edge.told(OUTSIDER) == []
    release.set()
    await edge.settle()
    assert sorted(edge.server.redacted()) == ["$first", "$outsider"]
    [told] = edge.told(OUTSIDER)
    assert "was not counted" in told


# --- members of a peer instance: the vote waits for their home instance's answer ------------------

@dataclass
class HomeInstance:
    """The voters' home instance as the polls feature sees it (the federation feature on Matrix): the
    questions it was asked, and the answers recorded so far."""

    answers: dict[tuple[str, int], bool] = field(default_factory=dict)
    asked: list[tuple[str, int]] = field(default_factory=list)

    def can_ask(self, user_id: str) -> bool:
        return user_id.endswith(":national.example")

    async def answer(self, user_id: str, at: int) -> bool | None:
        return self.answers.get((user_id, at))

    async def ask(self, user_id: str, at: int) -> None:
        self.asked.append((user_id, at))


async def test_a_peer_members_vote_waits_for_the_answer_and_an_unanswered_one_is_not_counted_at_close(
        edge: Edge) -> None:
    home = HomeInstance()
    edge.feature.electorates.home = home
    yes, silent, late = "@yes:national.example", "@silent:national.example", "@late:national.example"
    poll = await open_poll(edge)
    at = NOW + timedelta(minutes=1)
    for voter, event_id in ((yes, "$yes"), (silent, "$silent"), (late, "$late"), (OUTSIDER, "$out")):
        await edge.react(poll, 0, 5, sender=voter, event_id=event_id, at=at)
    # Waiting, neither counted nor refused; a person of no peer server is refused at once.
    assert await edge.db.polls.known_reaction_ids(poll.number) == {"$out": "refused"}
    assert home.asked == [(yes, edge.ms(at)), (silent, edge.ms(at)), (late, edge.ms(at))]
    # The answer comes (by a later sync): the waiting vote is judged with it.
    home.answers[(yes, edge.ms(at))] = True
    await edge.feature.voting.eligibility_answered(yes, edge.ms(at))
    assert (await edge.db.polls.known_reaction_ids(poll.number))["$yes"] == "live"
    # A restart forgets what waited; the answer recorded meanwhile is used by the recount at close.
    edge.feature.voting.waiting.clear()
    home.answers[(late, edge.ms(at))] = True
    edge.harness.now = NOW + timedelta(minutes=5)
    result = await edge.close(poll)
    assert result.totals == {"Pizza": 10, "Soup": 0} and result.ballot_count == 2
    known = await edge.db.polls.known_reaction_ids(poll.number)
    assert (known["$late"], known["$silent"]) == ("live", "refused")
    assert "$silent" in edge.server.redacted()
    [told] = edge.told(silent)
    assert "your home instance did not confirm before the poll closed" in told
