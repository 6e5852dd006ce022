"""Enforcement and access from an index (issue 13): the room registry and who-is-in-which-room are
held in memory, loaded once and kept current from membership events, and enforcement still kicks and
permits rightly after a membership change. On the in-memory edge (fake gateway, memory stores)."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

from nio import Event

from handlers.assemblies.feature import AssembliesFeature
from handlers.assemblies.presence import Presence
from harmony_matrix.assemblies.assembly import Access, Assembly, AssemblyKind
from harmony_matrix.assemblies.room_policy import AssemblyRoom, RoomKind
from harmony_matrix.ids import RoomId
from tests.fakes.assembly_stores import MemoryAuditLog, MemoryPeopleStore, MemoryRegistryStore
from tests.fakes.gateway import FakeGateway, FakeRoom
from tests.fakes.harness import EdgeHarness

BOB, CAROL, DAVE = "@bob:test", "@carol:test", "@dave:test"
PARTY = Assembly("party", "Harmony Party", AssemblyKind.PARTY)
# Participants only: staying in the committee's rooms needs being in the party's space.
FC = Assembly("fc", "Foundational Committee", AssemblyKind.COMMITTEE, Access.PARTICIPANTS, parents=("party",))


def room(slug: str, kind: RoomKind) -> RoomId:
    return RoomId(f"!{slug}-{kind.value}:test")


class KickingGateway(FakeGateway):
    """The fake gateway, recording kicks (and dropping the person from nio's cache, as a sync would)."""

    def __init__(self) -> None:
        super().__init__()
        self.kicks: list[tuple[str, str]] = []

    async def kick(self, room_id: str, user_id: str, *, reason: str | None = None) -> None:
        self.kicks.append((room_id, user_id))
        self.fake_client.rooms[room_id].users.discard(user_id)


class CountingRegistryStore(MemoryRegistryStore):
    """Counts the reads of rooms, to show that checks answer from the index."""

    def __init__(self) -> None:
        super().__init__()
        self.room_reads = 0

    async def room(self, room_id: str) -> AssemblyRoom | None:
        self.room_reads += 1
        return await super().room(room_id)

    async def rooms_of(self, slug: str) -> dict[str, RoomId]:
        self.room_reads += 1
        return await super().rooms_of(slug)

    async def all_rooms(self) -> list[AssemblyRoom]:
        self.room_reads += 1
        return await super().all_rooms()


def member_event(user: str, membership: str, *, prev: str, event_id: str) -> Any:
    return Event.parse_event({
        "type": "m.room.member", "state_key": user, "sender": user, "event_id": event_id,
        "origin_server_ts": 1, "content": {"membership": membership},
        "unsigned": {"prev_content": {"membership": prev}}})


class Edge:
    def __init__(self) -> None:
        self.harness = EdgeHarness()
        self.gateway = KickingGateway()
        self.harness.gateway = self.gateway
        self.store = CountingRegistryStore()
        self.people = MemoryPeopleStore()
        self.feature = AssembliesFeature(
            gateway=self.gateway, registry=self.store, people=self.people, members=self.harness.members,
            audit=MemoryAuditLog(), direct=self.harness.direct, poster=self.harness.poster, admins=[],
            clock=self.harness.clock, prefix="!h")

    async def provision(self, joined: dict[RoomId, set[str]]) -> None:
        for assembly in (PARTY, FC):
            await self.store.save(assembly)
            for kind in RoomKind:
                await self.store.set_room(assembly.slug, kind.value, room(assembly.slug, kind))
                self.gateway.fake_client.rooms[room(assembly.slug, kind)] = FakeRoom(
                    users={self.gateway.user_id} | joined.get(room(assembly.slug, kind), set()))
        await self.feature.refresh()

    async def member(self, room_id: RoomId, user: str, membership: str, *, prev: str) -> None:
        """A membership event, as a sync delivers it: nio's cache first, then the handler."""
        users = self.gateway.fake_client.rooms[room_id].users
        if membership == "join":
            users.add(user)
        else:
            users.discard(user)
        await self.feature.on_member(room_id, member_event(user, membership, prev=prev,
                                                           event_id=self.harness.new_event_id()))
        await asyncio.gather(*self.feature._tasks)


def test_the_membership_index_follows_events_not_the_cache_it_was_loaded_from() -> None:
    async def scenario() -> None:
        gateway = FakeGateway()
        space = RoomId("!space:test")
        gateway.fake_client.rooms[space] = FakeRoom(users={BOB, CAROL})
        presence = Presence(gateway)
        assert await presence.joined_among([space], BOB) == {space}
        # Loaded once: a change of nio's cache alone does not reach it; the membership event does.
        gateway.fake_client.rooms[space].users.discard(BOB)
        assert await presence.is_joined(space, BOB)
        presence.note_membership(space, BOB, "leave")
        assert not await presence.is_joined(space, BOB)
        assert await presence.joined_among([space], BOB) == set()
        presence.note_membership(space, DAVE, "join")
        assert await presence.joined(space) == {CAROL, DAVE}
        presence.note_membership(space, CAROL, "invite")  # anything but join: not joined
        assert await presence.joined(space) == {DAVE}
        # reload (the full sweep) re-reads the cache.
        presence.reload()
        assert await presence.joined(space) == {CAROL}
        # A room without a sync cache is asked of the server every time, never kept stale.
        other = RoomId("!other:test")
        gateway.joined[other] = {BOB}
        assert await presence.is_joined(other, BOB)
        gateway.joined[other] = set()
        assert not await presence.is_joined(other, BOB)

    asyncio.run(scenario())


class CountingGateway(FakeGateway):
    """Counts the server's member-list reads (``GET /joined_members``)."""

    def __init__(self) -> None:
        super().__init__()
        self.member_reads = 0

    async def joined_members(self, room_id: str) -> set[Any]:
        self.member_reads += 1
        return await super().joined_members(room_id)


def test_a_room_the_bot_is_in_without_a_sync_cache_is_read_once_and_follows_events() -> None:
    """Appservice mode: nio holds only the rooms something was pushed from. A quiet room the bot is in
    is read from the server once and then kept current by its membership events (which reach the bot);
    a room the bot is not in is asked every time."""
    async def scenario() -> None:
        gateway = CountingGateway()
        gateway.caches_every_joined_room = False  # as appservice mode sets it
        space, elsewhere = RoomId("!quiet-space:test"), RoomId("!not-ours:test")
        gateway.joined[space] = {gateway.user_id, BOB}
        gateway.joined[elsewhere] = {BOB}
        presence = Presence(gateway)
        for _ in range(3):  # a sweep asks for every person
            assert await presence.joined_among([space, elsewhere], BOB) == {space, elsewhere}
            assert await presence.joined_among([space, elsewhere], CAROL) == set()
        # The bot's room once; the other one twice for each of the six questions (loading, checking).
        assert gateway.member_reads == 1 + 12
        gateway.joined[space].discard(BOB)  # the server's answer alone does not reach the index ...
        assert await presence.is_joined(space, BOB)
        presence.note_membership(space, BOB, "leave")  # ... the membership event does
        presence.note_membership(space, CAROL, "join")
        assert await presence.joined_among([space], BOB) == set()
        assert await presence.joined(space) == {gateway.user_id, CAROL}
        # Not kept where the bot is not in the room: the server's answer now counts at once.
        gateway.joined[elsewhere] = set()
        assert not await presence.is_joined(elsewhere, BOB)
        # reload (the full sweep) reads the room once more.
        presence.reload()
        assert await presence.joined(space) == {gateway.user_id}
        assert gateway.member_reads == 1 + 12 + 1 + 1
        # In bot mode such a room (the bot in it, its sync not there yet) is asked every time.
        gateway.caches_every_joined_room = True
        presence.reload()
        for _ in range(2):
            assert await presence.is_joined(space, gateway.user_id)
        assert gateway.member_reads == 1 + 12 + 1 + 1 + 2

    asyncio.run(scenario())


class SlowGateway(FakeGateway):
    """Member-list reads that wait until the test lets them answer, counting how many are in flight."""

    def __init__(self) -> None:
        super().__init__()
        self.release = asyncio.Event()
        self.in_flight = self.most_in_flight = 0

    async def joined_members(self, room_id: str) -> set[Any]:
        self.in_flight += 1
        self.most_in_flight = max(self.most_in_flight, self.in_flight)
        answer = await super().joined_members(room_id)  # the server's answer as the read began
        await self.release.wait()
        self.in_flight -= 1
        return answer


def test_a_membership_event_during_a_server_read_is_not_lost_under_the_read() -> None:
    """Appservice mode: Bob leaves while the bot reads the room's member list; the read (made before
    the leave) is answered but not kept, so the next question reads again and sees him gone."""
    async def scenario() -> None:
        gateway = SlowGateway()
        gateway.caches_every_joined_room = False
        space = RoomId("!quiet-space:test")
        gateway.joined[space] = {gateway.user_id, BOB}
        presence = Presence(gateway)
        reading = asyncio.create_task(presence.joined(space))
        await asyncio.sleep(0)  # the read has begun
        gateway.joined[space].discard(BOB)
        presence.note_membership(space, BOB, "leave")
        gateway.release.set()
        assert await reading == {gateway.user_id, BOB}  # what the server said when asked
        assert not await presence.is_joined(space, BOB)  # not kept: read again
        assert await presence.joined(space) == {gateway.user_id}

    asyncio.run(scenario())


def test_loading_reads_several_member_lists_at_once_but_no_more_than_the_limit() -> None:
    async def scenario() -> None:
        gateway = SlowGateway()
        gateway.caches_every_joined_room = False
        rooms = [RoomId(f"!room{n}:test") for n in range(20)]
        for n, room_id in enumerate(rooms):
            gateway.joined[room_id] = {gateway.user_id, BOB} if n % 2 else {gateway.user_id}
        presence = Presence(gateway)
        loading = asyncio.create_task(presence.load([*rooms, rooms[0]]))  # a room asked twice: read once
        for _ in range(5):
            await asyncio.sleep(0)
        assert gateway.in_flight == 8  # handlers.assemblies.presence.LOAD_CONCURRENCY
        gateway.release.set()
        assert await loading == set()  # all kept: the bot is in each
        assert gateway.most_in_flight == 8
        assert await presence.joined_among(rooms, BOB) == set(rooms[1::2])

    asyncio.run(scenario())


def test_a_sweep_reads_no_rooms_and_removes_only_who_breaks_the_rule() -> None:
    async def scenario() -> None:
        edge = Edge()
        # Bob is in the party's space and the committee's; Carol only in the committee's space.
        await edge.provision({room("party", RoomKind.SPACE): {BOB},
                              room("fc", RoomKind.SPACE): {BOB, CAROL},
                              room("fc", RoomKind.DISCUSSION): {BOB, CAROL}})
        reads = edge.store.room_reads
        await edge.feature.enforce_all()
        assert edge.store.room_reads == reads  # every check answered from the index
        assert sorted(edge.gateway.kicks) == [(room("fc", RoomKind.DISCUSSION), CAROL),
                                              (room("fc", RoomKind.SPACE), CAROL)]
        # The kicks are in the index at once: the next sweep finds nobody to remove.
        edge.gateway.kicks.clear()
        await edge.feature.enforcer.enforce_all(["fc"])
        assert edge.gateway.kicks == []

    asyncio.run(scenario())


def test_leaving_the_umbrella_space_updates_the_index_and_removes_from_the_nested_rooms() -> None:
    async def scenario() -> None:
        edge = Edge()
        await edge.provision({room("party", RoomKind.SPACE): {BOB, DAVE},
                              room("fc", RoomKind.SPACE): {BOB},
                              room("fc", RoomKind.DISCUSSION): {BOB}})
        await edge.feature.enforce_all()
        assert edge.gateway.kicks == []
        # Dave joins the committee's space: he takes part in the party, so he may stay.
        await edge.member(room("fc", RoomKind.SPACE), DAVE, "join", prev="invite")
        assert edge.gateway.kicks == []
        assert await edge.feature.presence.is_joined(room("fc", RoomKind.SPACE), DAVE)
        # Bob leaves the party's space: the index follows, and he is removed from the committee.
        reads = edge.store.room_reads
        await edge.member(room("party", RoomKind.SPACE), BOB, "leave", prev="join")
        assert sorted(edge.gateway.kicks) == [(room("fc", RoomKind.DISCUSSION), BOB),
                                              (room("fc", RoomKind.SPACE), BOB)]
        assert edge.store.room_reads == reads
        assert not await edge.feature.presence.is_joined(room("fc", RoomKind.SPACE), BOB)
        # Dave was not touched.
        assert await edge.feature.presence.is_joined(room("fc", RoomKind.SPACE), DAVE)

    asyncio.run(scenario())


def test_rooms_created_by_the_provisioner_are_in_the_index_at_once() -> None:
    async def scenario() -> None:
        edge = Edge()
        await edge.provision({})
        new = RoomId("!new:test")
        await edge.feature.registry.set_room("fc", RoomKind.VOTES.value, new)
        assert await edge.feature.assembly_of_room(new) == "fc"
        assert await edge.feature.assembly_of_room(room("fc", RoomKind.VOTES)) is None
        assert (await edge.feature.rooms_of("fc"))[RoomKind.VOTES.value] == new

    asyncio.run(scenario())


def test_assembly_sync_checks_people_where_it_repaired_drift(tmp_path: Path) -> None:
    """``!h assembly sync`` costs what the drift costs: with none, nobody is checked (the periodic sweep
    does that); a room found open to anyone is closed and the people in it are checked again."""
    from harmony_matrix.assemblies.federation import Federation
    from tests.fakes.app_harness import BotHarness

    club = Assembly("club", "Members' Club", AssemblyKind.WORKING_GROUP, Access.MEMBERS, parents=("party",))

    async def scenario() -> None:
        async with BotHarness(tmp_path, admins=["@admin:test"]) as bot:
            feature = bot.app.features["assemblies"]
            await feature.apply_federation(Federation((PARTY, club)))
            discussion = (await feature.rooms_of("club"))[RoomKind.DISCUSSION.value]
            bot.join(BOB, discussion)  # not a registered member: may not stay
            reply = await bot.say("!h assembly sync", sender="@admin:test", room_id="!lobby:test")
            assert "No drift" in reply[-1].body
            assert bot.gateway.kicks == []
            bot.gateway.state[(discussion, "m.room.join_rules", "")] = {"join_rule": "public"}
            reply = await bot.say("!h assembly sync", sender="@admin:test", room_id="!lobby:test")
            assert "club discussion: m.room.join_rules" in reply[-1].body and "'public' → want" in reply[-1].body
            assert bot.gateway.kicks == [(discussion, BOB, "kick")]

    asyncio.run(scenario())


def test_a_membership_change_that_arrives_only_as_state_reaches_the_index() -> None:
    """A leave carried only in a batch's state section (a gap larger than the bot reads back, or a
    timeline event already handled before a crash) still updates the index, through the dispatcher's
    ``on_room_state``; the index answers from it, not from a new server read."""
    async def scenario() -> None:
        edge = Edge()
        space = room("party", RoomKind.SPACE)
        await edge.provision({space: {BOB}})
        assert await edge.feature.presence.is_joined(space, BOB)  # loaded from nio's cache
        edge.gateway.fake_client.rooms[space].users.add(BOB)  # nio's cache says nothing new ...
        edge.feature.on_room_state(space, [member_event(BOB, "leave", prev="join", event_id="$gap-leave")])
        assert not await edge.feature.presence.is_joined(space, BOB)  # ... the state section did
        edge.feature.on_room_state(space, [member_event(CAROL, "join", prev="leave", event_id="$s1"),
                                           member_event(CAROL, "leave", prev="join", event_id="$t1")])
        assert not await edge.feature.presence.is_joined(space, CAROL)  # the later change wins

    asyncio.run(scenario())


def test_joined_many_reads_each_room_not_in_the_index_once_and_answers_for_all() -> None:
    """What a full sweep asks: every room's occupants at once; a room the bot is not in (not kept) is
    read once per question, not once to load and again to answer."""
    async def scenario() -> None:
        gateway = CountingGateway()
        gateway.caches_every_joined_room = False
        ours, elsewhere = RoomId("!ours:test"), RoomId("!elsewhere:test")
        gateway.joined[ours] = {gateway.user_id, BOB}
        gateway.joined[elsewhere] = {CAROL}
        presence = Presence(gateway)
        answers = await presence.joined_many([ours, elsewhere, ours])
        assert answers == {ours: {gateway.user_id, BOB}, elsewhere: {CAROL}}
        assert gateway.member_reads == 2
        answers[ours].add(DAVE)  # a copy: the index is not changed through it
        assert await presence.joined_many([ours, elsewhere]) == {ours: {gateway.user_id, BOB}, elsewhere: {CAROL}}
        assert gateway.member_reads == 3  # only the room not kept, again

    asyncio.run(scenario())
