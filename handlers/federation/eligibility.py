"""Eligibility across instances on the Matrix side (docs/FEDERATION.md, "Eligibility across instances").

Asking (for the polls feature, through ``handlers.polls.electorate.HomeInstances``): the question
"was @x a registered member at T?" is recorded, then sent to the person's home instance in the
encrypted peer room; the answer is recorded when it comes and the polls feature is told, so the
votes waiting for it are judged then (a vote is never judged by waiting inside the sync loop).

Answering: a peer with the ``eligibility`` right gets yes/no from our member registry, by the rule
of ``harmony_matrix.polls.eligibility.member_at``. Questions and answers are logged without the
answer; nothing about them is posted in any room but the encrypted peer room.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from datetime import datetime
from typing import TYPE_CHECKING, Protocol

from harmony_matrix.federation_peers.eligibility import Question, ask_key, home_peer, judge_answer, judge_ask
from harmony_matrix.federation_peers.messages import FederationMessage, Kind, answer
from harmony_matrix.polls.eligibility import member_at
from harmony_matrix.polls.poll import timestamp_ms

if TYPE_CHECKING:
    from handlers.federation.feature import FederationFeature

log = logging.getLogger(__name__)

#: ``await callback(user, at)`` once the answer about ``user`` at ``at`` is recorded.
AnswerCallback = Callable[[str, int], Awaitable[None]]


class MembershipSince(Protocol):
    """When someone was registered as a party member here (``storage.core.stores.MemberStore``)."""

    async def member_since(self, user_id: str) -> datetime | None: ...


class EligibilityExchange:
    """Asks peers about their members, and answers theirs about ours."""

    def __init__(self, feature: FederationFeature, members: MembershipSince | None) -> None:
        self.feature = feature
        self.members = members
        self._callbacks: list[AnswerCallback] = []

    def on_answer(self, callback: AnswerCallback) -> None:
        """Call ``callback(user, at)`` when an answer is recorded (the polls feature judges waiting votes)."""
        self._callbacks.append(callback)

    # -- asking (``HomeInstances``) -------------------------------------------------------------------

    def can_ask(self, user_id: str) -> bool:
        """Whether ``user_id`` lives on a trusted peer's server, so its instance may know them as a member."""
        return home_peer(self.feature.peers, user_id, own_server=self.feature.gateway.server_name) is not None

    async def answer(self, user_id: str, at: int) -> bool | None:
        """The recorded answer about ``user_id`` at ``at``; None while there is none."""
        question = await self.feature.store.question(ask_key(user_id, at))
        return None if question is None else question.answer

    async def ask(self, user_id: str, at: int) -> None:
        """Ask the home instance of ``user_id`` (once per person and moment; the answer comes by sync)."""
        peer = home_peer(self.feature.peers, user_id, own_server=self.feature.gateway.server_name)
        if peer is None:
            return
        question = Question(key=ask_key(user_id, at), peer=peer.user_id, user=user_id, at=at)
        if await self.feature.store.ask(question, at=self.feature.clock()):
            log.info("asked %s whether %s was a member at %d", peer.user_id, user_id, at)
            await self._send(question)

    async def resend_open(self) -> None:
        """Questions not answered yet are asked again with their keys (the peer answers each again)."""
        for question in await self.feature.store.open_questions():
            await self._send(question)

    async def _send(self, question: Question) -> None:
        message = FederationMessage(kind=Kind.ELIGIBILITY_ASK, key=question.key, child_space="", parent_space="",
                                    user=question.user, at=question.at)
        await self.feature.rooms.send(question.peer, message,
                                      f"Was {question.user} a registered member at {question.at}? (yes/no)")

    # -- receiving --------------------------------------------------------------------------------------

    async def receive(self, sender: str, message: FederationMessage) -> None:
        """An ``eligibility.ask`` or ``eligibility.answer`` not applied before."""
        if message.kind is Kind.ELIGIBILITY_ASK:
            await self._on_ask(sender, message)
        else:
            await self._on_answer(sender, message)

    async def answer_again(self, sender: str, message: FederationMessage) -> None:
        """A question asked again (its answer may have been lost): answered again, from the registry."""
        if message.kind is Kind.ELIGIBILITY_ASK and judge_ask(self.feature.peers, sender) is None:
            await self._on_ask(sender, message)

    async def _on_ask(self, sender: str, message: FederationMessage) -> None:
        refusal = judge_ask(self.feature.peers, sender)
        if refusal is not None:
            await self.feature.refuse_message(sender, message, refusal)
            return
        since = await self.members.member_since(message.user) if self.members is not None else None
        member = member_at(timestamp_ms(since) if since is not None else None, at=message.at)
        await self.feature.rooms.send(sender, FederationMessage(
            kind=Kind.ELIGIBILITY_ANSWER, key=answer(message, Kind.ELIGIBILITY_ANSWER).key, child_space="",
            parent_space="", user=message.user, at=message.at, member=member),
            f"Answer about {message.user} at {message.at}.")
        log.info("answered %s whether %s was a member at %d", sender, message.user, message.at)

    async def _on_answer(self, sender: str, message: FederationMessage) -> None:
        asked = await self.feature.store.question(message.key.rsplit("/", 1)[0])
        refusal = judge_answer(message, sender=sender, peers=self.feature.peers, asked=asked)
        if refusal is not None:
            await self.feature.refuse_message(sender, message, refusal)
            return
        assert asked is not None
        await self.feature.store.record_answer(asked.key, message.member)
        log.info("%s answered whether %s was a member at %d", sender, message.user, message.at)
        for callback in self._callbacks:
            await callback(message.user, message.at)
