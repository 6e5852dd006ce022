"""Delegates up the levels on the Matrix side (docs/FEDERATION.md, "Delegates").

Child side (the regional instance): the assembly's secretary names a delegate (``!h delegate send``)
or withdraws one (``!h delegate withdraw``, also when they stand down); the peer hosting the
umbrella is told with ``delegate.seat`` / ``delegate.unseat`` and its answer is told to the
secretariat. Parent side (the national instance): the rules of ``federation_peers.delegates``
decide; an admitted delegate holds a seat in the umbrella (the assemblies feature reads it through
``ports.SeatDirectory``, invites them to its rooms and lets them in), a refusal goes back with its
reason.
"""

from __future__ import annotations

import dataclasses
import logging
from typing import TYPE_CHECKING

from harmony_matrix.errors import UserError
from harmony_matrix.federation_peers.delegates import (
    Delegate,
    DelegateState,
    SeatVerdict,
    current_delegates,
    delegate_key,
    judge_seat,
    judge_unseat,
    seats_granted,
)
from harmony_matrix.federation_peers.links import LinkState, Side, check_sender
from harmony_matrix.federation_peers.messages import FederationMessage, Kind, answer
from harmony_matrix.federation_peers.peers import Refusal
from harmony_matrix.ids import server_of

if TYPE_CHECKING:
    from handlers.federation.feature import FederationFeature

log = logging.getLogger(__name__)


class DelegateExchange:
    """Sends, receives and keeps the delegates seated across instances."""

    def __init__(self, feature: FederationFeature) -> None:
        self.feature = feature

    # -- ``ports.SeatDirectory``: what the assemblies feature reads (parent side) -------------------

    async def seated_in(self, user_id: str) -> frozenset[str]:
        """Our umbrellas where ``user_id`` holds a seat as a peer instance's delegate."""
        return frozenset(d.local_slug for d in await self.feature.store.delegates(Side.PARENT)
                         if d.user == user_id and d.state is DelegateState.SEATED)

    async def seat_moderators(self, slug: str) -> frozenset[str]:
        """A delegate's seat gives a place in the umbrella, not moderator power."""
        return frozenset()

    async def seats_by_person(self) -> dict[str, frozenset[str]]:
        """Everyone seated here as a peer instance's delegate → our umbrellas where (for a sweep)."""
        found: dict[str, frozenset[str]] = {}
        for d in await self.feature.store.delegates(Side.PARENT):
            if d.state is DelegateState.SEATED:
                found[d.user] = found.get(d.user, frozenset()) | {d.local_slug}
        return found

    async def holders(self, slug: str, side: Side) -> list[Delegate]:
        """The delegates of ``slug`` seated (or asked for) on ``side``."""
        return [d for d in await self.feature.store.delegates(side) if d.local_slug == slug
                and d.state in (DelegateState.SEATED, DelegateState.ASKED)]

    # -- child side: naming and withdrawing ---------------------------------------------------------

    async def send(self, slug: str, user: str, *, umbrella: str | None = None) -> Delegate:
        """Ask the peer hosting the remote umbrella of ``slug`` to seat ``user`` as its delegate."""
        feature = self.feature
        links = [link for link in await feature.store.links() if link.side is Side.CHILD
                 and link.local_slug == slug and link.state is LinkState.LINKED
                 and umbrella in (None, link.remote_label, link.remote_space)]
        if not links:
            raise UserError(f"{slug} is not nested in " + (f"{umbrella}" if umbrella else "an umbrella on another instance")
                            + f": {feature.prefix} federation lists the nestings.")
        if len(links) > 1:
            raise UserError(f"{slug} is nested in several remote umbrellas; name one: "
                            + ", ".join(link.remote_label for link in links))
        link = links[0]
        existing = next((d for d in await feature.store.delegates(Side.CHILD) if d.local_space == link.local_space
                         and d.remote_space == link.remote_space and d.user == user), None)
        if existing is not None and existing.state in (DelegateState.ASKED, DelegateState.SEATED):
            raise UserError(f"{user} is already {'seated' if existing.state is DelegateState.SEATED else 'proposed'} "
                            f"as a delegate of {slug} in {link.remote_label}.")
        key = delegate_key(Kind.DELEGATE_SEAT, child_space=link.local_space, parent_space=link.remote_space,
                           user=user, epoch=int(feature.clock().timestamp() * 1000))
        delegate = Delegate(side=Side.CHILD, local_slug=slug, local_space=link.local_space,
                            remote_space=link.remote_space, peer=link.peer, user=user, state=DelegateState.ASKED,
                            key=key)
        await feature.store.save_delegate(delegate, at=feature.clock())
        await self._send(delegate)
        return delegate

    async def withdraw(self, slug: str, user: str) -> list[Delegate]:
        """End the seats of ``user`` as a delegate of ``slug`` (stood down, or withdrawn)."""
        feature = self.feature
        ended = []
        for delegate in await self.holders(slug, Side.CHILD):
            if delegate.user != user:
                continue
            key = delegate_key(Kind.DELEGATE_UNSEAT, child_space=delegate.local_space,
                               parent_space=delegate.remote_space, user=user,
                               epoch=int(feature.clock().timestamp() * 1000))
            delegate = dataclasses.replace(delegate, state=DelegateState.UNSEATING, key=key)
            await feature.store.save_delegate(delegate, at=feature.clock())
            await self._send(delegate)
            ended.append(delegate)
        if not ended:
            raise UserError(f"{user} is no delegate of {slug} on another instance.")
        return ended

    async def resend_open(self) -> None:
        """Requests not answered yet are sent again with their keys (the peer applies each once)."""
        for delegate in await self.feature.store.delegates(Side.CHILD):
            if delegate.state in (DelegateState.ASKED, DelegateState.UNSEATING):
                await self._send(delegate)

    async def _send(self, delegate: Delegate) -> None:
        kind = Kind.DELEGATE_SEAT if delegate.state is DelegateState.ASKED else Kind.DELEGATE_UNSEAT
        message = FederationMessage(kind=kind, key=delegate.key, child_space=delegate.local_space,
                                    parent_space=delegate.remote_space, user=delegate.user)
        body = (f"Please seat {delegate.user}, a delegate of {delegate.local_slug}." if kind is Kind.DELEGATE_SEAT
                else f"{delegate.user} no longer holds a delegate seat of {delegate.local_slug}.")
        await self.feature.rooms.send(delegate.peer, message, body)

    # -- receiving -----------------------------------------------------------------------------------

    async def receive(self, sender: str, message: FederationMessage) -> None:
        """One ``delegate.*`` message, not applied before."""
        if message.kind is Kind.DELEGATE_SEAT:
            await self._on_seat(sender, message)
        elif message.kind is Kind.DELEGATE_UNSEAT:
            await self._on_unseat(sender, message)
        else:
            await self._on_answer(sender, message)

    async def answer_again(self, sender: str, message: FederationMessage) -> None:
        """A request seen before: answer it again from the record (its answer may have been lost)."""
        for delegate in await self.feature.store.delegates(Side.PARENT):
            if (delegate.peer == sender and delegate.key == message.key and delegate.user == message.user
                    and delegate.remote_space == message.child_space):
                kind = Kind.DELEGATE_ADMITTED if delegate.state is DelegateState.SEATED else Kind.DELEGATE_UNSEATED
                await self.feature.rooms.send(sender, answer(message, kind), "Answered again.")

    async def _on_seat(self, sender: str, message: FederationMessage) -> None:
        feature = self.feature
        link = await feature.store.link(Side.PARENT, local_space=message.parent_space, remote_space=message.child_space)
        delegates = await feature.store.delegates(Side.PARENT)
        seated = current_delegates(delegates, local_space=message.parent_space, remote_space=message.child_space)
        decision = judge_seat(message, sender=sender, peers=feature.peers, link=link, seated=seated,
                              seats=seats_granted(feature.peers, sender))
        if decision.verdict is SeatVerdict.REFUSE:
            assert decision.refusal is not None
            await feature.refuse_message(sender, message, decision.refusal)
            return
        assert link is not None
        if decision.verdict is SeatVerdict.ADMIT:
            await feature.store.save_delegate(Delegate(
                side=Side.PARENT, local_slug=link.local_slug, local_space=link.local_space,
                remote_space=link.remote_space, peer=sender, user=message.user, state=DelegateState.SEATED,
                key=message.key), at=feature.clock())
            await feature.assemblies.seats_changed(
                link.local_slug, seated=[message.user], reason=f"delegate of {link.remote_label} ({server_of(sender)})")
        await feature.rooms.send(sender, answer(message, Kind.DELEGATE_ADMITTED),
                                 f"{message.user} is seated in {link.local_slug}.")
        await feature.report(link.local_slug, f"{message.user} takes a seat in {feature.name_of(link.local_slug)} as a "
                             f"delegate of {link.remote_label} ({server_of(sender)}), on the word of {sender}.",
                             seed=f"delegate-seated:{message.key}")

    async def _on_unseat(self, sender: str, message: FederationMessage) -> None:
        feature = self.feature
        link = await feature.store.link(Side.PARENT, local_space=message.parent_space, remote_space=message.child_space)
        refusal = judge_unseat(message, sender=sender, peers=feature.peers, link=link)
        if refusal is not None or link is None:
            await feature.refuse_message(sender, message, refusal or Refusal("no such nesting"))
            return
        seat = next((d for d in await feature.store.delegates(Side.PARENT) if d.local_space == link.local_space
                     and d.remote_space == link.remote_space and d.user == message.user
                     and d.state is DelegateState.SEATED), None)
        if seat is not None:
            await feature.store.save_delegate(dataclasses.replace(seat, state=DelegateState.UNSEATED, key=message.key),
                                              at=feature.clock())
            await feature.assemblies.seats_changed(link.local_slug, seated=[],
                                                   reason=f"delegate {message.user} of {link.remote_label} unseated")
            await feature.report(link.local_slug, f"{message.user} no longer holds a seat in "
                                 f"{feature.name_of(link.local_slug)} as a delegate of {link.remote_label}.",
                                 seed=f"delegate-unseated:{message.key}")
        await feature.rooms.send(sender, answer(message, Kind.DELEGATE_UNSEATED),
                                 f"{message.user} no longer holds a seat in {link.local_slug}.")

    async def _on_answer(self, sender: str, message: FederationMessage) -> None:
        feature = self.feature
        link = await feature.store.link(Side.CHILD, local_space=message.child_space, remote_space=message.parent_space)
        refusal = check_sender(message, sender=sender, peers=feature.peers, link=link)
        delegate = next((d for d in await feature.store.delegates(Side.CHILD) if d.local_space == message.child_space
                         and d.remote_space == message.parent_space and d.user == message.user), None)
        if refusal is None and (delegate is None or not message.key.startswith(delegate.key + "/")):
            refusal = Refusal(f"{message.kind.value} about a delegate this instance did not ask about")
        if refusal is not None or link is None or delegate is None:
            await feature.refuse_message(sender, message, refusal or Refusal("no such delegate"))
            return
        name = feature.name_of(delegate.local_slug)
        now = feature.clock()
        if message.kind is Kind.DELEGATE_ADMITTED:
            await feature.store.save_delegate(dataclasses.replace(delegate, state=DelegateState.SEATED), at=now)
            text = f"{delegate.user} is seated in {link.remote_label} as a delegate of {name}."
        elif message.kind is Kind.DELEGATE_REFUSED:
            await feature.store.save_delegate(dataclasses.replace(delegate, state=DelegateState.REFUSED,
                                                                  reason=message.reason), at=now)
            text = f"{sender} refused to seat {delegate.user} in {link.remote_label} as a delegate of {name}: {message.reason}"
        else:
            await feature.store.save_delegate(dataclasses.replace(delegate, state=DelegateState.UNSEATED), at=now)
            text = f"{delegate.user} no longer holds a seat in {link.remote_label} as a delegate of {name}."
        await feature.report(delegate.local_slug, text, seed=message.key)
