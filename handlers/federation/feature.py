"""Federation of instances on the Matrix side: nesting an assembly under a peer instance's umbrella,
and taking it out again, through messages in the encrypted room the two bots share and state in
their spaces (docs/FEDERATION.md).

The rules are the core's (``harmony_matrix.federation_peers``): who may send what, what a nesting
request gets, which answers are believed. This module reads what the rules need (the sender, our
record of the link, who created a space), calls them, writes the result (state, the link record,
the applied-message log) and tells the secretariat. A peer that is down delays nothing here: a
message to it waits in our room (Matrix keeps it) and is read when it is back; its own messages are
applied once, by their idempotency key, however often they arrive.
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime, timedelta
from typing import Any, Protocol
from urllib.parse import quote

from nio import UnknownEvent

from handlers.federation.decisions import DecisionChain, DecisionExchange
from handlers.federation.delegates import DelegateExchange
from handlers.federation.eligibility import EligibilityExchange, MembershipSince
from handlers.federation.feature_ports import LocalAssemblies
from handlers.federation.peer_rooms import PeerRoomRecords, PeerRooms
from handlers.federation.tree import RemoteTreeView
from handlers.matrix.dispatcher import Dispatcher
from handlers.matrix.gateway import MatrixError, MatrixGateway
from handlers.matrix.posting import Poster
from handlers.ports import Clock
from harmony_matrix import event_types as et
from harmony_matrix.assemblies.federation import Federation
from harmony_matrix.assemblies.room_policy import space_child_content, space_parent_content
from harmony_matrix.federation_peers.delegates import Delegate
from harmony_matrix.federation_peers.eligibility import Question
from harmony_matrix.federation_peers.links import (
    Link,
    LinkState,
    Side,
    Verdict,
    check_sender,
    judge_nest_request,
    peer_for_alias,
    plan_child_links,
)
from harmony_matrix.federation_peers.messages import (
    FederationMessage,
    Kind,
    MalformedMessage,
    answer,
    parse_message,
    request_key,
)
from harmony_matrix.federation_peers.peers import Peers, Refusal
from harmony_matrix.ids import RoomId, server_of

log = logging.getLogger(__name__)

#: How long a failed attempt to ask a peer (its alias unresolvable, its server down) waits before the next.
RETRY_AFTER = timedelta(seconds=30)


class FederationRecords(PeerRoomRecords, Protocol):
    """Links and the applied-message log (``storage.federation.stores.FederationStore``)."""

    async def links(self) -> list[Link]: ...
    async def link(self, side: Side, *, local_space: str, remote_space: str) -> Link | None: ...
    async def save(self, link: Link, *, at: datetime) -> None: ...
    async def was_applied(self, sender: str, key: str) -> bool: ...
    async def first_application(self, sender: str, key: str, *, kind: str, at: datetime) -> bool: ...
    async def delegates(self, side: Side | None = None) -> list[Delegate]: ...
    async def save_delegate(self, delegate: Delegate, *, at: datetime) -> None: ...
    async def question(self, key: str) -> Question | None: ...
    async def open_questions(self) -> list[Question]: ...
    async def ask(self, question: Question, *, at: datetime) -> bool: ...
    async def record_answer(self, key: str, answer: bool) -> None: ...
    async def forget_questions(self, user: str) -> None: ...


class FederationFeature:
    """Nesting across instances: asks peers, answers them, keeps both sides' space state."""

    def __init__(self, *, gateway: MatrixGateway, poster: Poster, store: FederationRecords, peers: Peers,
                 assemblies: LocalAssemblies, clock: Clock, prefix: str, record: DecisionChain | None = None,
                 members: MembershipSince | None = None) -> None:
        self.gateway = gateway
        self.poster = poster
        self.store = store
        self.peers = peers
        self.assemblies = assemblies
        self.clock = clock
        self.prefix = prefix
        self.rooms = PeerRooms(gateway=gateway, poster=poster, records=store)
        self.tree = RemoteTreeView(gateway=gateway, store=store)
        self.decisions = DecisionExchange(gateway=gateway, poster=poster, store=store, peers=peers,
                                          assemblies=assemblies, record=record)
        self.delegates = DelegateExchange(self)
        self.eligibility = EligibilityExchange(self, members)
        self._not_before: dict[tuple[str, str], datetime] = {}
        self._wanted: frozenset[tuple[str, str]] | None = None
        from handlers.federation.commands import FederationCommands

        self.commands = FederationCommands(feature=self)

    # -- the Feature protocol -------------------------------------------------------------------

    def command_handlers(self) -> Sequence[object]:
        return [self.commands]

    def register(self, dispatcher: Dispatcher) -> None:
        dispatcher.on(UnknownEvent, self.on_event)
        dispatcher.after_batch(self.after_batch)

    async def start(self) -> None:
        """Ask again what was asked and not answered (same keys), then what the registry wants."""
        await self.resend_open()
        await self.sync_links()
        await self.decisions.publish_decisions()

    async def stop(self) -> None:
        return None

    async def export_user_data(self, user_id: str) -> dict[str, Any]:
        """The delegate seats a person held across instances (links name spaces and bots only)."""
        seats = [{"side": d.side.value, "assembly": d.local_slug, "remote_space": d.remote_space, "peer": d.peer,
                  "state": d.state.value} for d in await self.store.delegates() if d.user == user_id]
        return {"delegate_seats": seats} if seats else {}

    async def erase_user_data(self, user_id: str) -> None:
        """Questions asked about the person's membership are forgotten (delegate seats are public)."""
        await self.store.forget_questions(user_id)

    async def after_batch(self) -> None:
        """After each sync: messages waiting for a peer to join, and changes of the federation file."""
        try:
            await self.rooms.flush()
            await self.sync_links()
            await self.decisions.publish_decisions()
        except MatrixError as exc:
            log.warning("federation upkeep failed: %s", exc)

    async def _resync(self, slug: str) -> None:
        """The tree changed under ``slug``: its space, and the rooms of the ``participants``
        assemblies nested in it (their join rules allow the remote space), are brought in line."""
        federation = self.assemblies.federation()
        if slug in federation:
            await self.assemblies.sync_all([slug, *(c.slug for c in federation.children(slug))])

    # -- child side: asking ----------------------------------------------------------------------

    async def sync_links(self) -> None:
        """Ask for the nestings the federation file names (``remote_parents``) and undo those it dropped."""
        wanted = frozenset((a.slug, alias) for a in self.assemblies.federation() for alias in a.remote_parents)
        plan = plan_child_links(wanted, await self.store.links())
        now = self.clock()
        for slug, alias in plan.to_request:
            if self._not_before.get((slug, alias), now) > now:
                continue
            try:
                await self._request(slug, alias)
            except MatrixError as exc:
                self._not_before[(slug, alias)] = now + RETRY_AFTER
                log.warning("could not ask to nest %s under %s (%s); trying again later", slug, alias, exc)
        for link in plan.to_unlink:
            await self._unlink(link)
        self._wanted = wanted

    async def _request(self, slug: str, alias: str) -> None:
        assembly = self.assemblies.federation()[slug]
        peer = peer_for_alias(self.peers, alias)
        if peer is None:
            if self._not_before.get((slug, alias)) is None:
                await self._report(slug, f"I cannot nest {assembly.name} under {alias}: no trusted peer instance "
                                   f"runs on {alias.partition(':')[2]} (federation.peers in my configuration).",
                                   seed=f"no-peer:{slug}:{alias}")
            self._not_before[(slug, alias)] = self.clock() + timedelta(days=3650)
            return
        resolved = await self.gateway.request("GET", f"/v3/directory/room/{quote(alias, safe='')}")
        parent_space = str(resolved["room_id"])
        servers = [str(s) for s in resolved.get("servers", [])][:3] or [peer.server]
        child_space = (await self.assemblies.rooms_of(slug))["space"]
        await self._invite(child_space, peer.user_id)  # so it can see who hosts our space, and read it
        key = request_key(Kind.NEST_REQUEST, child_space=child_space, parent_space=parent_space,
                          epoch=int(self.clock().timestamp() * 1000))
        link = Link(side=Side.CHILD, local_slug=slug, local_space=child_space, remote_space=parent_space,
                    peer=peer.user_id, state=LinkState.REQUESTED, key=key, via=tuple(servers), remote_label=alias)
        await self.store.save(link, at=self.clock())
        await self._send_request(link, assembly.name)
        await self._report(slug, f"I asked {peer.user_id} to nest {assembly.name} under {alias}.", seed=key)

    async def _send_request(self, link: Link, name: str) -> None:
        message = FederationMessage(kind=Kind.NEST_REQUEST, key=link.key, child_space=link.local_space,
                                    parent_space=link.remote_space, via=(self.gateway.server_name,),
                                    child_name=name, parent_alias=link.remote_label)
        await self.rooms.send(link.peer, message, f"Please nest {name} under {link.remote_label}.")

    async def _unlink(self, link: Link) -> None:
        key = request_key(Kind.UNNEST_REQUEST, child_space=link.local_space, parent_space=link.remote_space,
                          epoch=int(self.clock().timestamp() * 1000))
        link = dataclasses.replace(link, state=LinkState.UNLINKING, key=key)
        await self.store.save(link, at=self.clock())  # first: a reconcile must not put our side back
        await self.poster.put_state(link.local_space, et.SPACE_PARENT, {}, link.remote_space)
        await self._send_unnest(link)
        await self._report(link.local_slug, f"I took {link.local_slug} out of {link.remote_label} and asked "
                           f"{link.peer} to remove it on its side too.", seed=key)

    async def _send_unnest(self, link: Link) -> None:
        message = FederationMessage(kind=Kind.UNNEST_REQUEST, key=link.key, child_space=link.local_space,
                                    parent_space=link.remote_space)
        await self.rooms.send(link.peer, message, f"Please take {link.local_slug} out of {link.remote_label}.")

    async def resend_open(self) -> None:
        """Requests not answered yet are sent again with their keys (the peer applies each once)."""
        federation = self.assemblies.federation()
        for link in await self.store.links():
            if link.side is not Side.CHILD:
                continue
            if link.state is LinkState.REQUESTED and link.local_slug in federation:
                await self._send_request(link, federation[link.local_slug].name)
            elif link.state is LinkState.UNLINKING:
                await self._send_unnest(link)
        await self.delegates.resend_open()
        await self.eligibility.resend_open()

    # -- receiving ---------------------------------------------------------------------------------

    async def on_event(self, room_id: str, event: Any) -> None:
        """A protocol message (an ``org.harmony.federation`` event, decrypted) from another bot."""
        if getattr(event, "type", None) != et.HARMONY_FEDERATION:
            return
        content = event.source.get("content", {}) if isinstance(event.source, dict) else {}
        await self.receive(RoomId(room_id), str(event.sender), content, event_id=str(event.event_id))

    async def receive(self, room_id: RoomId, sender: str, content: Mapping[str, Any], *, event_id: str) -> None:
        """Check, then apply one message once; anything refused is reported and changes nothing."""
        try:
            message = parse_message(content)
        except MalformedMessage as exc:
            await self._refuse(sender, key=f"event:{event_id}", message=None,
                               refusal=Refusal(f"a malformed message ({exc})", untrusted=not self.peers.is_peer(sender)))
            return
        if not self.peers.is_peer(sender):
            await self._refuse(sender, key=message.key, message=message,
                               refusal=Refusal(f"{sender} is not a trusted peer of this instance", untrusted=True))
            return
        if not await self.gateway.is_encrypted(room_id):
            await self._refuse(sender, key=message.key, message=message,
                               refusal=Refusal("sent in a room that is not end-to-end encrypted"))
            return
        if await self.store.was_applied(sender, message.key):
            log.info("%s from %s was applied before (key %s): not applied again", message.kind.value, sender,
                     message.key)
            # A request asked again may not have had its answer (lost with a crash before it was sent):
            # answer again from what we recorded, under the same key (the asker applies it once).
            await self._answer_again(sender, message)
            return
        await self.rooms.adopt(sender, room_id)
        # The first batch after a start is handled before the features start: read the registry now.
        await self.assemblies.refresh()
        handlers = {Kind.NEST_REQUEST: self._on_nest_request, Kind.UNNEST_REQUEST: self._on_unnest_request}
        if message.kind.value.startswith("delegate."):
            await self.delegates.receive(sender, message)
        elif message.kind.value.startswith("eligibility."):
            await self.eligibility.receive(sender, message)
        else:
            await handlers.get(message.kind, self._on_answer)(sender, message)
        await self.store.first_application(sender, message.key, kind=message.kind.value, at=self.clock())

    async def _refuse(self, sender: str, *, key: str, message: FederationMessage | None, refusal: Refusal) -> None:
        """Report a refused message in the secretariat it concerns (the All Thing body's otherwise), once."""
        if not await self.store.first_application(sender, f"refused:{key}", kind="refused", at=self.clock()):
            return
        slug = await self._concerned(message)
        what = message.kind.value if message is not None else "message"
        log.warning("refused a federation %s from %s: %s", what, sender, refusal.reason)
        if slug is not None:
            await self._report(slug, f"⚠️ I refused a federation {what} from {sender}: {refusal.reason}. "
                               "Nothing was changed.", seed=f"refused:{sender}:{key}")
        refused = {Kind.NEST_REQUEST: Kind.NEST_REFUSED, Kind.DELEGATE_SEAT: Kind.DELEGATE_REFUSED}
        if message is not None and not refusal.untrusted and message.kind in refused:
            await self.rooms.send(sender, answer(message, refused[message.kind], reason=refusal.reason),
                                  f"Refused: {refusal.reason}")

    async def refuse_message(self, sender: str, message: FederationMessage, refusal: Refusal) -> None:
        """Refuse ``message``: reported once in the secretariat it concerns, answered when it is a request."""
        await self._refuse(sender, key=message.key, message=message, refusal=refusal)

    async def _concerned(self, message: FederationMessage | None) -> str | None:
        spaces = await self._local_spaces()
        if message is not None:
            for space in (message.parent_space, message.child_space):
                if space in spaces:
                    return spaces[space]
        federation = self.assemblies.federation()
        body = federation.all_thing_body()
        if body is not None:
            return body.slug
        return next(iter(federation.slugs), None)

    # -- parent side -------------------------------------------------------------------------------

    async def _on_nest_request(self, sender: str, message: FederationMessage) -> None:
        spaces = await self._local_spaces()
        links = await self.store.links()
        existing = next((link for link in links if link.side is Side.PARENT and link.local_space == message.parent_space
                         and link.remote_space == message.child_space), None)
        host = await self._host_of(message.child_space, message.via)
        decision = judge_nest_request(
            message, sender=sender, peers=self.peers, local_spaces=spaces, child_host=host, existing=existing,
            ancestors=[link.remote_space for link in links if link.side is Side.CHILD and link.state is LinkState.LINKED])
        if decision.verdict is Verdict.REFUSE:
            assert decision.refusal is not None
            await self._refuse(sender, key=message.key, message=message, refusal=decision.refusal)
            return
        if decision.verdict is Verdict.REPEAT:
            return
        assert decision.parent_slug is not None
        link = Link(side=Side.PARENT, local_slug=decision.parent_slug, local_space=message.parent_space,
                    remote_space=message.child_space, peer=sender, state=LinkState.PENDING, key=message.key,
                    via=message.via, remote_label=message.child_name)
        if decision.verdict is Verdict.PENDING:
            await self.store.save(link, at=self.clock())
            await self.rooms.send(sender, answer(message, Kind.NEST_PENDING), "Waiting for our secretary.")
            name = self._name(decision.parent_slug)
            await self._report(decision.parent_slug, (
                f"{sender} asks to nest {message.child_name} (hosted on {server_of(sender)}) under {name}. "
                f"To accept: {self.prefix} federation accept {message.child_space} — to refuse: "
                f"{self.prefix} federation refuse {message.child_space}"), seed=f"pending:{message.key}")
            return
        await self.accept(link)

    async def _answer_again(self, sender: str, message: FederationMessage) -> None:
        if message.kind in (Kind.DELEGATE_SEAT, Kind.DELEGATE_UNSEAT):
            await self.delegates.answer_again(sender, message)
        elif message.kind is Kind.ELIGIBILITY_ASK:
            await self.eligibility.answer_again(sender, message)
        elif message.kind is Kind.NEST_REQUEST:
            link = await self.store.link(Side.PARENT, local_space=message.parent_space, remote_space=message.child_space)
            kinds = {LinkState.LINKED: Kind.NEST_ACCEPTED, LinkState.PENDING: Kind.NEST_PENDING,
                     LinkState.REFUSED: Kind.NEST_REFUSED}
            if link is None or link.peer != sender or link.key != message.key or link.state not in kinds:
                return
            kind = kinds[link.state]
            via = [self.gateway.server_name] if kind is Kind.NEST_ACCEPTED else []
            await self.rooms.send(sender, answer(message, kind, via=via, reason=link.reason), "Answered again.")
        elif message.kind is Kind.UNNEST_REQUEST:
            link = await self.store.link(Side.PARENT, local_space=message.parent_space, remote_space=message.child_space)
            if link is not None and link.peer == sender and link.state is LinkState.UNLINKED:
                await self.rooms.send(sender, answer(message, Kind.UNNEST_DONE), "Answered again.")

    async def accept(self, link: Link) -> None:
        """Nest the remote space under ours: our ``m.space.child``, the peer invited, the answer sent."""
        link = dataclasses.replace(link, state=LinkState.LINKED, reason="")
        await self.store.save(link, at=self.clock())
        await self.poster.put_state(link.local_space, et.SPACE_CHILD, space_child_content(link.via), link.remote_space)
        await self._invite(link.local_space, link.peer)  # it reads our space (decisions) from there
        await self._resync(link.local_slug)
        request = FederationMessage(kind=Kind.NEST_REQUEST, key=link.key, child_space=link.remote_space,
                                    parent_space=link.local_space)
        await self.rooms.send(link.peer, answer(request, Kind.NEST_ACCEPTED, via=[self.gateway.server_name]),
                              f"{link.remote_label} is now nested in {link.local_slug}.")
        name = self._name(link.local_slug)
        await self._report(link.local_slug, f"{link.remote_label} ({server_of(link.peer)}, run by {link.peer}) is now "
                           f"nested in {name}.", seed=f"accepted:{link.key}")

    async def refuse(self, link: Link, reason: str) -> None:
        """Our secretary refused a waiting request."""
        await self.store.save(dataclasses.replace(link, state=LinkState.REFUSED, reason=reason), at=self.clock())
        request = FederationMessage(kind=Kind.NEST_REQUEST, key=link.key, child_space=link.remote_space,
                                    parent_space=link.local_space)
        await self.rooms.send(link.peer, answer(request, Kind.NEST_REFUSED, reason=reason), f"Refused: {reason}")

    async def _on_unnest_request(self, sender: str, message: FederationMessage) -> None:
        link = await self.store.link(Side.PARENT, local_space=message.parent_space, remote_space=message.child_space)
        refusal = check_sender(message, sender=sender, peers=self.peers, link=link)
        if refusal is not None or link is None:
            await self._refuse(sender, key=message.key, message=message,
                               refusal=refusal or Refusal("no such nesting"))
            return
        await self.store.save(dataclasses.replace(link, state=LinkState.UNLINKED), at=self.clock())
        await self.poster.put_state(link.local_space, et.SPACE_CHILD, {}, link.remote_space)
        await self._resync(link.local_slug)
        await self.rooms.send(sender, answer(message, Kind.UNNEST_DONE), f"{link.remote_label} is no longer nested here.")
        name = self._name(link.local_slug)
        await self._report(link.local_slug, f"{link.remote_label} ({server_of(sender)}) is no longer nested in {name}, "
                           f"at the request of {sender}.", seed=f"unnested:{message.key}")

    # -- child side: answers -------------------------------------------------------------------------

    async def _on_answer(self, sender: str, message: FederationMessage) -> None:
        link = await self.store.link(Side.CHILD, local_space=message.child_space, remote_space=message.parent_space)
        refusal = check_sender(message, sender=sender, peers=self.peers, link=link)
        if refusal is not None or link is None:
            await self._refuse(sender, key=message.key, message=message, refusal=refusal or Refusal("no such link"))
            return
        name = self._name(link.local_slug)
        now = self.clock()
        if message.kind is Kind.NEST_ACCEPTED:
            if link.state is not LinkState.REQUESTED and link.state is not LinkState.PENDING:
                return  # an answer to a request we no longer stand by (unnested since)
            link = dataclasses.replace(link, state=LinkState.LINKED, via=message.via or link.via)
            await self.store.save(link, at=now)
            await self.poster.put_state(link.local_space, et.SPACE_PARENT,
                                        space_parent_content(link.via, canonical=not self._has_local_parent(link)),
                                        link.remote_space)
            try:
                await self.gateway.join(link.remote_space, via=link.via)
            except MatrixError as exc:
                log.warning("could not join %s to read it: %s", link.remote_space, exc)
            await self._report(link.local_slug, f"{name} is now nested in {link.remote_label}.", seed=message.key)
        elif message.kind is Kind.NEST_PENDING:
            await self.store.save(dataclasses.replace(link, state=LinkState.PENDING), at=now)
            await self._report(link.local_slug, f"Nesting {name} under {link.remote_label} waits for the approval "
                               f"of its secretary.", seed=message.key)
        elif message.kind is Kind.NEST_REFUSED:
            await self.store.save(dataclasses.replace(link, state=LinkState.REFUSED, reason=message.reason), at=now)
            await self._report(link.local_slug, f"{sender} refused to nest {name} under {link.remote_label}: "
                               f"{message.reason}", seed=message.key)
        elif message.kind is Kind.UNNEST_DONE:
            await self.store.save(dataclasses.replace(link, state=LinkState.UNLINKED), at=now)
            await self._report(link.local_slug, f"{name} is no longer nested in {link.remote_label} on either side.",
                               seed=message.key)

    def name_of(self, slug: str) -> str:
        """How to show the local assembly ``slug``."""
        return self._name(slug)

    async def report(self, slug: str, text: str, *, seed: str) -> None:
        """Tell the secretariat of ``slug`` (see ``_report``)."""
        await self._report(slug, text, seed=seed)

    def _name(self, slug: str) -> str:
        federation = self.assemblies.federation()
        return federation[slug].name if slug in federation else slug

    def _has_local_parent(self, link: Link) -> bool:
        federation = self.assemblies.federation()
        return link.local_slug in federation and bool(federation[link.local_slug].parents)

    # -- helpers -----------------------------------------------------------------------------------

    async def _local_spaces(self) -> dict[str, str]:
        spaces: dict[str, str] = {}
        for assembly in self.assemblies.federation():
            space = (await self.assemblies.rooms_of(assembly.slug)).get("space")
            if space is not None:
                spaces[space] = assembly.slug
        return spaces

    async def _host_of(self, space: str, via: Iterable[str]) -> str | None:
        """The creator of ``space`` (who hosts it), joining it if we were invited; None if unreadable."""
        try:
            if self.gateway.user_id not in await self.gateway.current_joined(space):
                await self.gateway.join(space, via=via)
        except MatrixError:
            try:
                await self.gateway.join(space, via=via)
            except MatrixError as exc:
                log.info("cannot join %s to see who hosts it: %s", space, exc)
                return None
        try:
            for event in await self.gateway.current_state(space):
                if event.get("type") == et.ROOM_CREATE:
                    return str(event.get("sender"))
        except MatrixError as exc:
            log.info("cannot read %s: %s", space, exc)
        return None

    async def _invite(self, room_id: str, user_id: str) -> None:
        try:
            if user_id not in await self.gateway.current_members(room_id):
                await self.gateway.invite(room_id, user_id)
        except MatrixError as exc:
            log.info("could not invite %s to %s: %s", user_id, room_id, exc)

    async def _report(self, slug: str, text: str, *, seed: str) -> None:
        """Tell the secretariat of ``slug`` (what peers do is public to its officers, never personal)."""
        log.info("federation: %s", text)
        room = (await self.assemblies.rooms_of(slug)).get("secretariat") if slug in self.assemblies.federation() else None
        if room is not None:
            await self.poster.notice(room, text, txn_seed=f"federation-report:{seed}")
