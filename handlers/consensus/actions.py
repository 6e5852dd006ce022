"""Acting on decisions on the Matrix side: ``action add|done|blocked``, ``actions [assembly|mine]``,
``decision review``, ✅ / ⛔ reactions on an action's message, and the reminders (to the owner before the
due date; to the secretariat on a decision's review date). The rules are ``harmony_matrix.consensus.actions``.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import replace
from datetime import datetime

from nio import ReactionEvent

from handlers.consensus.common import AssemblyLookup, ConsensusSettings, display_names, require_assembly
from handlers.consensus.stores import ActionStore, DecisionStore, MootStore, NoticeStore
from handlers.matrix.commands import CommandContext, command
from handlers.matrix.gateway import MatrixError
from handlers.matrix.posting import Poster
from handlers.ports import Clock
from harmony_matrix.commands import ROOM_ASSEMBLY, Option, Param, Place, Role, parse_user
from harmony_matrix.consensus.actions import (
    BLOCKED_KEYS,
    DONE_KEYS,
    Action,
    Review,
    block_action,
    due_reminders,
    finish_action,
    new_action,
    parse_action_ref,
    parse_source_ref,
    review_due,
)
from harmony_matrix.consensus.decisions import parse_decision_ref
from harmony_matrix.errors import UserError
from harmony_matrix.event_types import ACTION_NOTICE
from harmony_matrix.ids import EventId, RoomId, UserId
from harmony_matrix.refs import Ref
from harmony_matrix.when import When, format_duration, format_local, read_when

log = logging.getLogger(__name__)


class Actions:
    """Action items and review dates."""

    def __init__(self, *, actions: ActionStore, decisions: DecisionStore, moots: MootStore, notices: NoticeStore,
                 assemblies: AssemblyLookup, poster: Poster, clock: Clock, settings: ConsensusSettings,
                 prefix: str) -> None:
        self.actions = actions
        self.decisions = decisions
        self.moots = moots
        self.notices = notices
        self.assemblies = assemblies
        self.poster = poster
        self.clock = clock
        self.settings = settings
        self.prefix = prefix
        self._lock = asyncio.Lock()  # the interval job and a direct call must not both remind

    @command("action add", summary="Give someone an action item from a decision or a moot, with a due date.",
             example="!h action add D-ops-2 @ann:example.org Buy the projector due=friday 18:00",
             params=(Param("source", help="the decision or moot it comes from, e.g. D-ops-2", parser=parse_source_ref),
                     Param("owner", help="who does it (Matrix ID)", parser=parse_user),
                     Param("text", help="what is to be done", rest=True)),
             options=(Option("due", help="when it is due, e.g. 2026-12-01 or friday 18:00", parser=read_when,
                             metavar="when"),),
             role=Role.SECRETARY, place=Place.ASSEMBLY, manages=ROOM_ASSEMBLY)
    async def add(self, ctx: CommandContext, source: Ref, owner: UserId, text: str, due: When | None) -> None:
        assembly = require_assembly(ctx.room.assembly)
        origin = source.resolve(assembly)
        if source.letter == "D":
            if not any(d.ref == origin and d.assembly == assembly for d in await self.decisions.decisions()):
                raise UserError(f"there is no decision {source.text} in {assembly}")
        else:
            moot = await self.moots.get(origin)
            if moot is None or moot.assembly != assembly:
                raise UserError(f"there is no moot {source.text} in {assembly}")
        now, tz = self.clock(), self.assemblies.tz_of(assembly)
        due_at = due.resolve(now=now, tz=tz, require_future=True) if due else None
        action = await self.actions.create(
            lambda ref: new_action(ref=ref, assembly=assembly, text=text, owner=owner, source=origin,
                                   created_by=UserId(ctx.sender), now=now, room_id=RoomId(ctx.room_id), due_at=due_at),
            assembly=assembly)
        name = (await display_names(self.poster.gateway, [owner]))[owner]
        when = f"\nDue: {format_local(due_at, tz)} (reminded {self._before()} ahead)" if due_at else ""
        event_id = await self.poster.notice(
            ctx.room_id,
            f"📌 Action {action.ref} (from {origin}): {action.text}\nOwner: {name}{when}\n"
            f"The owner reacts ✅ here when it is done, or ⛔ if it is blocked (or: {ctx.prefix} action done "
            f"{action.ref}, {ctx.prefix} action blocked {action.ref} <why>).",
            reply_to=ctx.event_id, mentions=[owner], txn_seed=f"action:{action.ref}",
            extra={ACTION_NOTICE: {"action": action.ref}})
        await self.actions.save(_with_event(action, event_id))

    def _before(self) -> str:
        return format_duration(self.settings.action_reminder_before)

    @command("actions", summary="Open action items of an assembly (this one by default), or yours: actions mine.",
             example="!h actions mine",
             params=(Param("whose", help="an assembly's short name, or mine", optional=True),))
    async def list_actions(self, ctx: CommandContext, whose: str | None) -> None:
        mine = whose is not None and whose.lower() == "mine"
        slug = None if mine else (whose or ctx.room.assembly)
        if not mine and slug is None:
            raise UserError(f"whose? {ctx.prefix} actions <assembly>, or {ctx.prefix} actions mine")
        found = await self.actions.open(owner=ctx.sender) if mine else await self.actions.open(assembly=slug)
        about = "yours" if mine else f"of {slug}"
        if not found:
            await ctx.reply(f"No open action items {about}.")
            return
        names = await display_names(self.poster.gateway, [a.owner for a in found])
        lines = [f"Open action items {about}:"]
        for a in found:
            due = f", due {format_local(a.due_at, self.assemblies.tz_of(a.assembly))}" if a.due_at else ""
            lines.append(f"• {a.ref} (from {a.source}): {a.text} — {names[a.owner]}{due}")
        await ctx.reply("\n".join(lines))

    @command("action done", summary="Mark an action item done (its owner, or an officer).",
             example="!h action done A-ops-3",
             params=(Param("action", help="the action's reference, e.g. A-ops-3", parser=parse_action_ref),))
    async def done(self, ctx: CommandContext, action: Ref) -> None:
        found = await self._find(ctx, action)
        closed = finish_action(found, by=ctx.sender, officer=self._officer(ctx.sender, found), now=self.clock())
        await self.actions.save(closed)
        await ctx.reply(f"{found.ref} is done: {found.text}")

    @command("action blocked", summary="Mark an action item blocked, saying why (its owner, or an officer).",
             example="!h action blocked A-ops-3 The shop is closed until May.",
             params=(Param("action", help="the action's reference", parser=parse_action_ref),
                     Param("reason", help="why it is blocked", rest=True)))
    async def blocked(self, ctx: CommandContext, action: Ref, reason: str) -> None:
        found = await self._find(ctx, action)
        closed = block_action(found, by=ctx.sender, officer=self._officer(ctx.sender, found), now=self.clock(),
                              reason=reason)
        await self.actions.save(closed)
        await ctx.reply(f"{found.ref} is blocked: {closed.note}")

    @command("decision review", summary="Set the date a decision is to be reviewed; the secretariat is reminded.",
             example="!h decision review D-ops-2 2027-03-01",
             params=(Param("decision", help="the decision's reference, e.g. D-ops-2", parser=parse_decision_ref),
                     Param("when", help="when to review it", parser=read_when, rest=True)),
             role=Role.SECRETARY, place=Place.ASSEMBLY, manages=ROOM_ASSEMBLY)
    async def review(self, ctx: CommandContext, decision: Ref, when: When) -> None:
        assembly = require_assembly(ctx.room.assembly)
        ref = decision.resolve(assembly)
        if not any(d.ref == ref and d.assembly == assembly for d in await self.decisions.decisions()):
            raise UserError(f"there is no decision {decision.text} in {assembly}")
        tz = self.assemblies.tz_of(assembly)
        at = when.resolve(now=self.clock(), tz=tz, require_future=True)
        await self.actions.set_review(Review(decision=ref, assembly=assembly, review_at=at, set_by=UserId(ctx.sender)))
        await ctx.reply(f"{ref} is to be reviewed on {format_local(at, tz)}; the secretariat will be reminded then.")

    async def on_reaction(self, room_id: str, event: ReactionEvent) -> None:
        """✅ / ⛔ on an action's message, by its owner or an officer."""
        key = event.key.replace("\ufe0f", "")
        if key not in DONE_KEYS and key not in BLOCKED_KEYS:
            return
        found = await self.actions.by_event(event.reacts_to)
        if found is None or found.room_id != room_id:
            return
        try:
            officer = self._officer(event.sender, found)
            if key in DONE_KEYS:
                closed = finish_action(found, by=event.sender, officer=officer, now=self.clock())
            else:
                closed = block_action(found, by=event.sender, officer=officer, now=self.clock(),
                                      reason="marked blocked by reaction")
        except UserError:
            return  # someone else's reaction, or already closed: nothing changes
        await self.actions.save(closed)

    async def remind(self, now: datetime) -> None:
        """Remind owners of actions coming due, and secretariats of reviews that came (each once)."""
        async with self._lock:
            for action in due_reminders(await self.actions.open(), now=now, before=self.settings.action_reminder_before,
                                        sent=await self.notices.settled("A-")):
                tz = self.assemblies.tz_of(action.assembly)
                verb = "was due" if action.due_at and action.due_at <= now else "is due"
                try:
                    await self.poster.dm(action.owner, f"⏰ Your action {action.ref} {verb} "
                                         f"{format_local(action.due_at or now, tz)}: {action.text}. When it is done, "
                                         f"react ✅ on it or send {self.prefix} action done {action.ref}.",
                                         txn_seed=f"action-reminder:{action.ref}")
                except MatrixError as exc:
                    log.warning("could not remind the owner of %s: %s", action.ref, exc)
                    continue
                await self.notices.settle(action.reminder_key, at=now)
            for review in review_due(await self.actions.reviews(), now=now, sent=await self.notices.settled("D-")):
                room = await self.assemblies.room(review.assembly, "secretariat", fallback="") or \
                    await self.assemblies.room(review.assembly, "announcements", fallback="")
                if room:
                    statement = next((d.statement for d in await self.decisions.decisions()
                                      if d.ref == review.decision), "")
                    await self.poster.notice(room, f"🔁 Decision {review.decision} is due for review: {statement}",
                                             extra={ACTION_NOTICE: {"review": review.decision}},
                                             txn_seed=f"review:{review.key}")
                await self.notices.settle(review.key, at=now)

    def _officer(self, user: str, action: Action) -> bool:
        return user in self.assemblies.officers(action.assembly)

    async def _find(self, ctx: CommandContext, ref: Ref) -> Action:
        found = await self.actions.get(ref.resolve(ctx.room.assembly))
        if found is None:
            raise UserError(f"there is no action {ref.text}; {ctx.prefix} actions lists the open ones")
        return found


def _with_event(action: Action, event_id: str) -> Action:
    return replace(action, event_id=EventId(event_id))
