"""Closing a poll: at its deadline (an APScheduler job) or on command; the recount, the tally, the results.

Closing is: recount from ``/relations`` and reconcile (a reaction seen there first is judged as a live
one is, by ``PollVoting.judge``) → tally once and store the result (secret ballots are unlinked in the
same transaction) → post the results → tell the caller (``on_closed``). Each later step is recorded,
so a crash in between is finished at the next start, and reads the stored result: nothing is tallied
twice. Reactions stamped after the deadline do not count.
"""

from __future__ import annotations

import asyncio
import logging
from datetime import datetime

from handlers.matrix.gateway import MatrixError, MatrixGateway
from handlers.polls.posts import PollPosts
from handlers.polls.store import PollStore
from handlers.polls.voting import COUNTED, KNOWN, REFUSED, SUPERSEDED, PollVoting
from handlers.ports import ClosedCallback, Clock, Scheduler
from harmony_matrix.polls.poll import Poll, option_letter, timestamp_ms
from harmony_matrix.polls.reactions import CountedReaction, score_of_key
from harmony_matrix.polls.results import poll_result

log = logging.getLogger(__name__)

def job_id(number: int) -> str:
    """The scheduler job that closes poll ``number`` at its deadline."""
    return f"poll-close-{number}"


class PollClosing:
    """Closes polls exactly once each, and hands the result to whoever opened them."""

    def __init__(self, *, gateway: MatrixGateway, store: PollStore, posts: PollPosts, voting: PollVoting,
                 scheduler: Scheduler, clock: Clock, post_chart: bool) -> None:
        self.gateway = gateway
        self.store = store
        self.posts = posts
        self.voting = voting
        self.scheduler = scheduler
        self.clock = clock
        self.post_chart = post_chart
        self.callbacks: list[ClosedCallback] = []
        self._locks: dict[int, asyncio.Lock] = {}

    # -- deadlines -------------------------------------------------------------------------------------

    def schedule(self, poll: Poll) -> None:
        """Close ``poll`` at its deadline (a job rebuilt from the database at every start)."""
        if poll.closes_at is None or not poll.is_open:
            return
        self.scheduler.add_job(self.guarded_close, "date", run_date=poll.closes_at, id=job_id(poll.number),
                               args=[poll.number], replace_existing=True, misfire_grace_time=None)

    def _unschedule(self, number: int) -> None:
        try:
            self.scheduler.remove_job(job_id(number))
        except Exception:  # JobLookupError: it already ran or never existed
            pass

    async def guarded_close(self, number: int) -> None:
        """:meth:`close_poll`, logging a failure (it is retried at the next start)."""
        try:
            await self.close_poll(number)
        except Exception:
            log.exception("closing poll #%s failed; it will be retried at the next start", number)

    # -- closing ---------------------------------------------------------------------------------------

    async def close_poll(self, number: int) -> Poll | None:
        """Close (if open), then post results and notify the origin if not done yet. Idempotent."""
        async with self._locks.setdefault(number, asyncio.Lock()):
            poll = await self.store.get(number)
            if poll is None:
                return None
            closing_now = poll.is_open
            if poll.is_open:
                now = self.clock()
                cutoff = min(now, poll.closes_at) if poll.closes_at else now
                if not poll.secret:
                    await self.reconcile(poll, cutoff=cutoff)
                result = poll_result(poll, await self.store.ballots(number))
                await self.store.close(number, closed_at=cutoff, result=result)
                self._unschedule(number)
                poll = await self._reload(number)
            if poll.result is None:
                log.error("poll %s is closed but has no stored result; its results cannot be posted", poll.ref)
                return poll
            if poll.results_event_id is None:
                await self.posts.post_results(poll, poll.result, recovering=not closing_now, chart=self.post_chart)
                poll = await self._reload(number)
            await self._tell_origin(poll)
            return poll

    async def _tell_origin(self, poll: Poll) -> None:
        # Until someone listens (features subscribe in their start()), or while a listener fails, the
        # origin stays un-notified and is retried at the next start.
        if not poll.origin or poll.origin_notified or not self.callbacks or poll.result is None:
            return
        delivered = True
        for callback in self.callbacks:
            try:
                await callback(poll.ref, poll.origin, poll.result)
            except Exception:
                delivered = False
                log.exception("a listener for closed poll %s (origin %s) failed", poll.ref, poll.origin)
        if delivered:
            await self.store.mark_origin_notified(poll.number)

    async def _reload(self, number: int) -> Poll:
        poll = await self.store.get(number)
        assert poll is not None, f"poll #{number} vanished while closing"
        return poll

    # -- the recount -----------------------------------------------------------------------------------

    async def reconcile(self, poll: Poll, *, cutoff: datetime) -> list[tuple[str, str]]:
        """Recount from ``/relations`` and make the database agree; every difference is recorded.

        A reaction stored before keeps its judgement (a refused one still shown is removed again); one
        seen for the first time is judged by its timestamp, exactly as a live one is."""
        known = await self.store.known_reaction_ids(poll.number)
        on_server: set[str] = set()
        differences: list[tuple[str, str]] = []
        limit = timestamp_ms(cutoff)
        own = self.gateway.user_id
        for option in poll.options:
            if option.event_id is None:
                continue
            try:
                events = [e async for e in self.gateway.relations(poll.room_id, option.event_id)]
            except MatrixError as exc:
                log.warning("recount of %s option %s failed: %s", poll.ref, option.position, exc)
                return differences  # without a full recount, trust the database
            for raw in events:
                relates = (raw.get("content") or {}).get("m.relates_to") or {}
                score = score_of_key(relates.get("key", ""))
                sender, event_id, ts = raw.get("sender"), raw.get("event_id"), int(raw.get("origin_server_ts", 0))
                if score is None or not sender or sender == own or not event_id or ts > limit:
                    continue
                on_server.add(event_id)
                if known.get(event_id) == "refused":
                    await self.voting.remove_refused(poll, event_id)  # its removal failed before
                if event_id in known:
                    continue
                judged = await self.voting.judge(poll, CountedReaction(
                    event_id=event_id, voter=sender, option=option.position, score=score, ts=ts), final=True)
                if judged == KNOWN:
                    continue
                kind = "missed-refused" if judged == REFUSED else "missed-reaction"
                differences.append((kind, event_id))
                outcome = {COUNTED: "counted at the recount", SUPERSEDED: "stored at the recount; a newer score "
                           "counts", REFUSED: "refused at the recount: its sender was not eligible when it was sent "
                           "(or their home instance had not confirmed it)"}
                await self.store.record_reconciliation(
                    poll.number, kind=kind, event_id=event_id, at=self.clock(),
                    detail=f"{sender} scored {option_letter(option.position)}={score}; {outcome[judged]}")
        for event_id, state in known.items():
            if state == "live" and event_id not in on_server:
                await self.store.withdraw(event_id)
                differences.append(("missed-withdrawal", event_id))
                await self.store.record_reconciliation(
                    poll.number, kind="missed-withdrawal", event_id=event_id, at=self.clock(),
                    detail="counted, but no longer on the server (redacted); withdrawn at the recount")
        if differences:
            log.info("recount of poll %s found %d differences", poll.ref, len(differences))
        return differences
