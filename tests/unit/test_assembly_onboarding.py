"""What a newcomer reads from the assemblies feature (issue 11), on the in-memory edge: the
``assemblies`` tree, ``join`` answered where it was asked, the next step of a nested join, and a
registry changed by another process picked up by the running bot. Every message is checked to be
balanced HTML with a plain body that reads on its own."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from typing import Any

import pytest

from handlers.assemblies.feature import AssembliesFeature
from harmony_matrix.assemblies.assembly import Access, Assembly, AssemblyKind
from harmony_matrix.assemblies.room_policy import RoomKind
from harmony_matrix.ids import RoomId
from tests.fakes.assembly_stores import MemoryAuditLog, MemoryPeopleStore, MemoryRegistryStore
from tests.fakes.gateway import Sent
from tests.fakes.harness import ROOM, EdgeHarness
from tests.fakes.html_check import assert_readable, assert_valid_html

ADMIN = "@admin:test"
ALICE = "@alice:test"
DM = "!dm-alice:test"

ASSEMBLIES = (
    Assembly("party", "Harmony Party UK", AssemblyKind.PARTY),
    Assembly("fc", "Foundational Committee", AssemblyKind.COMMITTEE, Access.PARTICIPANTS, parents=("party",)),
    Assembly("media", "Media Working Group", AssemblyKind.WORKING_GROUP, Access.PARTICIPANTS, parents=("fc",)),
    Assembly("das", "Disability Activism Society", AssemblyKind.SOCIETY_WORKING_GROUP, Access.SELF_IDENTIFIED,
             declaration="I identify as disabled.", parents=("party",)),
    Assembly("cw", "Cardiff West", AssemblyKind.CONSTITUENCY, parents=("party", "fc")),
)


def space(slug: str) -> RoomId:
    return RoomId(f"!{slug}-space:test")


class Edge:
    """The harness with the assemblies feature on in-memory stores, its rooms already provisioned."""

    def __init__(self) -> None:
        self.harness = EdgeHarness(admins=[ADMIN])
        self.store = MemoryRegistryStore()
        self.feature = AssembliesFeature(
            gateway=self.harness.gateway, registry=self.store, people=MemoryPeopleStore(),
            members=self.harness.members, audit=MemoryAuditLog(), direct=self.harness.direct,
            poster=self.harness.poster, admins=[ADMIN], clock=self.harness.clock, prefix="!h")
        self.harness.router.permissions = self.feature.permissions
        self.harness.add_handlers(*self.feature.command_handlers())

    async def provision(self, *assemblies: Assembly) -> None:
        for assembly in assemblies:
            await self.store.save(assembly)
            for kind in RoomKind:
                room_id = space(assembly.slug) if kind is RoomKind.SPACE else RoomId(f"!{assembly.slug}-{kind}:test")
                await self.store.set_room(assembly.slug, kind.value, room_id)
                alias = f"#{assembly.slug}:test" if kind is RoomKind.SPACE else f"#{assembly.slug}-{kind}:test"
                await self.store.set_alias(room_id, alias)
            self.harness.gateway.joined[space(assembly.slug)] = {self.harness.gateway.user_id}
        await self.feature.refresh()

    async def say(self, text: str, *, room_id: str = ROOM, sender: str = ALICE) -> list[Sent]:
        sent = await self.harness.say(text, sender=sender, room_id=room_id)
        for message in sent:
            assert_readable(message.content)
        return sent


@pytest.fixture(scope="module", autouse=True)
def runner() -> Iterator[asyncio.Runner]:
    """One event loop for the module: an edge's outbox worker lives in the loop it started in (a new
    loop per call would leave it bound to a closed one). Closing the runner cancels what is left."""
    global _runner
    with asyncio.Runner() as _runner:
        yield _runner


_runner: asyncio.Runner | None = None


def run(coro: Any) -> Any:
    assert _runner is not None
    return _runner.run(coro)


@pytest.fixture
def edge() -> Edge:
    built = Edge()
    run(built.provision(*ASSEMBLIES))
    run(built.harness.open_direct_chat(ALICE, DM))
    return built


def test_the_assemblies_tree_is_nested_lists_with_commands_in_code(edge: Edge) -> None:
    (reply,) = run(edge.say("!h assemblies"))
    html = reply.content["formatted_body"]
    assert_valid_html(html)
    # Real nesting: the committee's list sits inside the party's item, the group's inside the committee's.
    party = html.index("<li><b>Harmony Party UK</b> — party")
    committee = html.index("<li><b>Foundational Committee</b> — committee")
    group = html.index("<li><b>Media Working Group</b> — working group")
    assert party < html.index("<ul>", party) < committee < html.index("<ul>", committee) < group
    assert "<code>!h join party</code>" in html and "&nbsp;" not in html and "`" not in html
    # The address of each space, as a link any client opens.
    assert '<a href="https://matrix.to/#/%23party:test">#party:test</a>' in html
    # A self-identified assembly is asked for in a direct message, never in a shared room.
    assert ("For people who privately confirm its statement: <code>!h join das</code>, sent to me "
            "(@bot:test) in a direct message, not in a shared room") in html
    # A second parent shows the assembly again, without repeating its subtree.
    assert html.count("Cardiff West") == 2 and "<i>(listed above)</i>" in html
    body = reply.body
    assert body.splitlines()[:3] == [
        "Assemblies, how they nest, and how to join each:",
        "• Harmony Party UK — party · #party:test",
        "  Open to everyone: !h join party",
    ]
    assert "    • Media Working Group — working group · #media:test" in body.splitlines()
    assert body.splitlines()[-1] == ("Rooms have addresses too, such as #party-discussion:test (likewise "
                                     "-announcements and -votes); they open in any Matrix client.")


def test_in_the_direct_chat_the_listing_says_here(edge: Edge) -> None:
    (reply,) = run(edge.say("!h assemblies", room_id=DM))
    assert "<code>!h join das</code>, sent here (this chat stays between us)" in reply.content["formatted_body"]


def test_join_in_a_shared_room_answers_by_direct_message_and_says_the_invite_must_be_accepted(edge: Edge) -> None:
    sent = run(edge.say("!h join party"))
    in_room = [m for m in sent if m.room_id == ROOM]
    in_dm = [m for m in sent if m.room_id == DM]
    assert [m.body for m in in_room] == [
        "I have answered you in a direct message (if you do not see it, accept my invite to a direct chat)."]
    (answer,) = in_dm
    assert answer.body.startswith("Welcome to Harmony Party UK. I have invited you to its space, #party:test: "
                                  "accept the invite to join Harmony Party UK. In Element the invite appears")
    assert (space("party"), ALICE) in edge.harness.gateway.invites


def test_join_in_the_direct_chat_is_answered_there_once(edge: Edge) -> None:
    sent = run(edge.say("!h join party", room_id=DM))
    assert [m.room_id for m in sent] == [DM]
    (answer,) = sent
    assert "answered you in a direct message" not in answer.body
    assert answer.content["m.relates_to"]["m.in_reply_to"]["event_id"].startswith("$in")
    assert "accept the invite" in answer.body


def test_a_nested_join_counts_what_was_done_and_names_the_next_step(edge: Edge) -> None:
    gateway = edge.harness.gateway
    # Nothing done yet: join the umbrella first.
    (refused,) = run(edge.say("!h join fc", room_id=DM))
    assert refused.body == ("Foundational Committee is open to participants of Harmony Party UK, and you are not "
                            "in it. Send !h join party, accept the invite, then send !h join fc again.")
    assert "<code>!h join party</code>" in refused.content["formatted_body"]
    # Invited to the party but not accepted yet: say exactly that.
    gateway.state[(space("party"), "m.room.member", ALICE)] = {"membership": "invite"}
    (refused,) = run(edge.say("!h join fc", room_id=DM))
    assert refused.body == ("Foundational Committee is open to participants of Harmony Party UK. You have an invite "
                            "to Harmony Party UK that you have not accepted yet: accept the invite to Harmony Party "
                            "UK first, then send !h join fc again.")
    # Accepted (the server knows, whatever the sync cache says): admitted and invited.
    gateway.joined[space("party")].add(ALICE)
    (admitted,) = run(edge.say("!h join fc", room_id=DM))
    assert admitted.body.startswith("Welcome to Foundational Committee. I have invited you to its space, #fc:test: "
                                    "accept the invite to join Foundational Committee.")
    assert (space("fc"), ALICE) in gateway.invites
    # Already in: said so, no second invite.
    gateway.joined[space("fc")].add(ALICE)
    invites = len(gateway.invites)
    (again,) = run(edge.say("!h join fc", room_id=DM))
    assert again.body == "Welcome to Foundational Committee. You are already in its space, #fc:test."
    assert len(gateway.invites) == invites


def test_a_self_identified_statement_is_asked_once_without_a_double_full_stop(edge: Edge) -> None:
    (asked,) = run(edge.say("!h join das", room_id=DM))
    assert "“I identify as disabled.” If it applies to you, answer !h confirm;" in asked.body
    assert "<code>!h confirm</code>" in asked.content["formatted_body"]


def test_a_registry_changed_by_another_process_is_picked_up(edge: Edge) -> None:
    async def scenario() -> tuple[frozenset[str], frozenset[str], list[Sent]]:
        nothing = await edge.feature.reload_if_changed()
        # `harmony-matrix import` writes to the same database while the bot runs.
        await edge.store.save(Assembly("wales", "Wales Regional Assembly", AssemblyKind.REGION, parents=("party",)))
        changed = await edge.feature.reload_if_changed()
        return nothing, changed, await edge.say("!h assemblies")

    nothing, changed, (listing,) = run(scenario())
    assert nothing == frozenset()
    assert changed == {"wales", "party"}
    assert "Wales Regional Assembly — region" in listing.body
    assert run(edge.feature.reload_if_changed()) == frozenset()


def test_no_assemblies_yet_names_the_commands_in_code() -> None:
    empty = Edge()
    (reply,) = run(empty.say("!h assemblies"))
    assert reply.body == ("There are no assemblies yet. An admin can import them with harmony-matrix import FILE, "
                          "or create one with !h assembly create.")
    assert "<code>harmony-matrix import FILE</code>" in reply.content["formatted_body"]


def test_a_self_identified_join_in_an_unencrypted_direct_chat_asks_nothing_there(edge: Edge) -> None:
    plain = "!plain-dm-alice:test"
    run(edge.harness.open_direct_chat(ALICE, plain, encrypted=False))
    (refused,) = run(edge.say("!h join das", room_id=plain))
    expected = (
        "Joining Disability Activism Society asks you to confirm a statement about yourself, and your answer is "
        "private, so I only ask it in an encrypted direct chat; this one is not encrypted: the homeserver can "
        "read it. Start a new direct chat with me (Element encrypts direct chats by default) or turn on "
        "encryption in this room's settings, then send !h join das there. I have done nothing.")
    assert refused.body == expected
    assert "identify as disabled" not in refused.body
    pending = run(edge.feature.people.pending(ALICE))
    assert pending == []
    # In her encrypted direct chat the statement is asked as before.
    (asked,) = run(edge.say("!h join das", room_id=DM))
    assert "“I identify as disabled.”" in asked.body


def test_the_listing_in_an_unencrypted_direct_chat_does_not_call_it_private(edge: Edge) -> None:
    plain = "!plain-dm-alice:test"
    run(edge.harness.open_direct_chat(ALICE, plain, encrypted=False))
    (listing,) = run(edge.say("!h assemblies", room_id=plain))
    assert "this chat stays between us" not in listing.body
    assert "sent to me (@bot:test) in a direct message, not in a shared room" in listing.body
