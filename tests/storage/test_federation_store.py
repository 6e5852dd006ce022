"""The federation store on every backend: links updated in place, a peer message applied once,
the room shared with each peer."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime

import pytest

from harmony_matrix.federation_peers.links import Link, LinkState, Side
from storage.database import Database

pytestmark = pytest.mark.asyncio(loop_scope="session")

NOW = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)
LINK = Link(side=Side.CHILD, local_slug="wales", local_space="!wales", remote_space="!party",
            peer="@harmony:national.example", state=LinkState.REQUESTED, key="nest.request:!wales:!party:1",
            via=("national.example", "other.example"), remote_label="#party:national.example")


async def test_a_link_is_kept_and_updated_in_place(database: Database) -> None:
    store = database.federation
    await store.save(LINK, at=NOW)
    assert await store.links() == [LINK]
    linked = replace(LINK, state=LinkState.LINKED, via=("national.example",))
    await store.save(linked, at=NOW)
    assert await store.links() == [linked]
    assert await store.link(Side.CHILD, local_space="!wales", remote_space="!party") == linked
    assert await store.link(Side.PARENT, local_space="!wales", remote_space="!party") is None
    # The other side of the same two spaces is another link.
    theirs = replace(LINK, side=Side.PARENT, state=LinkState.LINKED, reason="")
    await store.save(theirs, at=NOW)
    assert await store.links() == [linked, theirs]


async def test_a_peer_message_is_applied_once_per_sender_and_key(database: Database) -> None:
    store = database.federation
    assert not await store.was_applied("@a:x", "k1")
    assert await store.first_application("@a:x", "k1", kind="nest.request", at=NOW)
    assert not await store.first_application("@a:x", "k1", kind="nest.request", at=NOW)
    assert await store.was_applied("@a:x", "k1")
    assert await store.first_application("@b:y", "k1", kind="nest.request", at=NOW)  # another sender's key
    assert await store.applications("nest.request") == 2
    assert await store.applications("unnest.request") == 0


async def test_the_room_shared_with_a_peer_is_remembered_and_replaced(database: Database) -> None:
    store = database.federation
    assert await store.peer_room("@a:x") is None
    await store.remember_peer_room("@a:x", "!one")
    await store.remember_peer_room("@a:x", "!two")
    assert await store.peer_room("@a:x") == "!two"


async def test_the_decision_record_counts_its_entries_for_publishing(database: Database) -> None:
    from harmony_matrix.consensus.decisions import Decision, Level, Method, make_decision_ref

    decisions = database.consensus.decisions
    assert await decisions.count() == 0
    for _ in range(2):
        await decisions.append(lambda n: Decision(
            ref=make_decision_ref("party", n), assembly="party", level=Level.MOOT, method=Method.CONSENSUS,
            outcome="reached", statement="s", topics=("t",), decided_at=NOW), assembly="party")
    assert await decisions.count() == 2 == len(await decisions.chain())


async def test_a_delegate_is_kept_per_side_spaces_and_person_and_updated_in_place(database: Database) -> None:
    from harmony_matrix.federation_peers.delegates import Delegate, DelegateState

    store = database.federation
    asked = Delegate(side=Side.CHILD, local_slug="wales", local_space="!wales", remote_space="!party",
                     peer="@harmony:national.example", user="@cy:wales.example", state=DelegateState.ASKED,
                     key="delegate.seat:1")
    await store.save_delegate(asked, at=NOW)
    refused = replace(asked, state=DelegateState.REFUSED, reason="no seat left")
    await store.save_delegate(refused, at=NOW)
    other = replace(asked, side=Side.PARENT, user="@dai:wales.example", state=DelegateState.SEATED)
    await store.save_delegate(other, at=NOW)
    assert await store.delegates() == [refused, other]
    assert await store.delegates(Side.PARENT) == [other]


async def test_a_membership_question_is_asked_once_and_its_answer_kept_until_erased(database: Database) -> None:
    from harmony_matrix.federation_peers.eligibility import Question

    store = database.federation
    question = Question(key="eligibility.ask:@ann:n.example:5", peer="@harmony:n.example", user="@ann:n.example", at=5)
    assert await store.ask(question, at=NOW)
    assert not await store.ask(question, at=NOW)
    assert await store.open_questions() == [question]
    await store.record_answer(question.key, True)
    assert await store.question(question.key) == replace(question, answer=True)
    assert await store.open_questions() == []
    await store.forget_questions("@ann:n.example")
    assert await store.question(question.key) is None
