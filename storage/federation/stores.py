"""The federation store: cross-instance links, the peer room of each peer, applied messages."""

from __future__ import annotations

import json
from datetime import datetime

from tortoise.exceptions import IntegrityError

from harmony_matrix.federation_peers.delegates import Delegate, DelegateState
from harmony_matrix.federation_peers.eligibility import Question
from harmony_matrix.federation_peers.links import Link, LinkState, Side
from harmony_matrix.ids import RoomId
from storage.federation.models import (
    AppliedPeerMessage,
    EligibilityQuestion,
    FederationDelegate,
    FederationLink,
    PeerRoomRow,
)
from storage.scope import ContextScope
from storage.timestamps import as_utc


class FederationStore:
    """Links, peer rooms and the applied-message log (idempotency by a unique constraint)."""

    def __init__(self, scope: ContextScope) -> None:
        self._scope = scope

    async def links(self) -> list[Link]:
        """Every link, oldest first."""
        with self._scope():
            rows = await FederationLink.all().order_by("id")
        return [_link(row) for row in rows]

    async def link(self, side: Side, *, local_space: str, remote_space: str) -> Link | None:
        """The link between these two spaces on ``side``, if any."""
        with self._scope():
            row = await FederationLink.get_or_none(side=side.value, local_space=local_space,
                                                   remote_space=remote_space)
        return None if row is None else _link(row)

    async def save(self, link: Link, *, at: datetime) -> None:
        """Create or update the link between its two spaces."""
        values = dict(local_slug=link.local_slug, peer=link.peer, state=link.state.value, key=link.key,
                      via=json.dumps(list(link.via)), remote_label=link.remote_label, reason=link.reason,
                      updated_at=as_utc(at, "at"))
        with self._scope():
            await FederationLink.update_or_create(values, side=link.side.value, local_space=link.local_space,
                                                  remote_space=link.remote_space)

    async def was_applied(self, sender: str, key: str) -> bool:
        """Whether the message (``sender``, ``key``) was applied already."""
        with self._scope():
            return await AppliedPeerMessage.filter(sender=sender, key=key).exists()

    async def first_application(self, sender: str, key: str, *, kind: str, at: datetime) -> bool:
        """Record that the message (``sender``, ``key``) is being applied; False if it already was."""
        with self._scope():
            try:
                await AppliedPeerMessage.create(sender=sender, key=key, kind=kind, applied_at=as_utc(at, "at"))
            except IntegrityError:
                return False
        return True

    async def applications(self, kind: str | None = None) -> int:
        """How many messages were applied (of ``kind``): for tests and stats."""
        with self._scope():
            query = AppliedPeerMessage.all() if kind is None else AppliedPeerMessage.filter(kind=kind)
            return await query.count()

    async def peer_room(self, peer: str) -> RoomId | None:
        """The room shared with ``peer``, if one is known."""
        with self._scope():
            row = await PeerRoomRow.get_or_none(peer=peer)
        return None if row is None else RoomId(row.room_id)

    async def remember_peer_room(self, peer: str, room_id: str) -> None:
        """Use ``room_id`` for messages to ``peer`` from now on."""
        with self._scope():
            await PeerRoomRow.update_or_create({"room_id": room_id}, peer=peer)

    async def delegates(self, side: Side | None = None) -> list[Delegate]:
        """Delegates seated (or asked for) across instances, on ``side`` (both when None), oldest first."""
        with self._scope():
            query = FederationDelegate.all() if side is None else FederationDelegate.filter(side=side.value)
            rows = await query.order_by("id")
        return [Delegate(side=Side(r.side), local_slug=r.local_slug, local_space=r.local_space,
                         remote_space=r.remote_space, peer=r.peer, user=r.user, state=DelegateState(r.state),
                         key=r.key, reason=r.reason) for r in rows]

    async def save_delegate(self, delegate: Delegate, *, at: datetime) -> None:
        """Create or update the delegate (one row per side, pair of spaces and person)."""
        values = dict(local_slug=delegate.local_slug, peer=delegate.peer, state=delegate.state.value,
                      key=delegate.key, reason=delegate.reason, updated_at=as_utc(at, "at"))
        with self._scope():
            await FederationDelegate.update_or_create(values, side=delegate.side.value,
                                                      local_space=delegate.local_space,
                                                      remote_space=delegate.remote_space, user=delegate.user)

    async def question(self, key: str) -> Question | None:
        """The eligibility question with ``key``, with its answer if it came."""
        with self._scope():
            row = await EligibilityQuestion.get_or_none(key=key)
        return None if row is None else _question(row)

    async def open_questions(self) -> list[Question]:
        """Questions not answered yet (asked again at start)."""
        with self._scope():
            rows = await EligibilityQuestion.filter(answer=None).order_by("id")
        return [_question(row) for row in rows]

    async def ask(self, question: Question, *, at: datetime) -> bool:
        """Record a question; False if it was asked before."""
        with self._scope():
            try:
                await EligibilityQuestion.create(key=question.key, peer=question.peer, user=question.user,
                                                 at=question.at, asked_at=as_utc(at, "at"))
            except IntegrityError:
                return False
        return True

    async def record_answer(self, key: str, answer: bool) -> None:
        """The peer answered the question ``key``."""
        with self._scope():
            await EligibilityQuestion.filter(key=key).update(answer=answer)

    async def forget_questions(self, user: str) -> None:
        """Forget the questions asked about ``user`` (erasure)."""
        with self._scope():
            await EligibilityQuestion.filter(user=user).delete()


def _question(row: EligibilityQuestion) -> Question:
    return Question(key=row.key, peer=row.peer, user=row.user, at=row.at, answer=row.answer)


def _link(row: FederationLink) -> Link:
    return Link(side=Side(row.side), local_slug=row.local_slug, local_space=row.local_space,
                remote_space=row.remote_space, peer=row.peer, state=LinkState(row.state), key=row.key,
                via=tuple(json.loads(row.via or "[]")), remote_label=row.remote_label, reason=row.reason)
