"""A poll's posts: the announcement, one message per option, the pre-seeded keycaps, the results and chart.

Every part is posted once, also across crashes: its transaction ID and its ``org.harmony.post_part``
marker are both named after the room, poll and part. The transaction ID stops a retry while the server
remembers it (Synapse: about half an hour); after that a restart finds the part in the room by its
marker (:meth:`PollPosts.posted_parts`). Each event ID is stored before the next post.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Mapping
from zoneinfo import ZoneInfo

from handlers.matrix.gateway import DuplicateAnnotation, MatrixError, MatrixGateway
from handlers.matrix.posting import Poster
from handlers.matrix.render import replacement
from handlers.polls.chart import draw_results_chart
from handlers.polls.electorate import Electorates
from handlers.polls.outbound import PollOutbound
from handlers.polls.render import chart_message, render_closed_header, render_header, render_option, render_results
from handlers.ports import PublicLinks
from handlers.web.links import event_link
from handlers.polls.store import PollStore
from harmony_matrix.event_types import HARMONY_POST_PART
from harmony_matrix.polls.poll import Poll, timestamp_ms
from harmony_matrix.polls.reactions import SEED_KEYS, missing_seed_keys
from harmony_matrix.polls.results import PollResult

log = logging.getLogger(__name__)

#: Why the bot removes its own keycaps at the close (shown in the room).
UNSEED_REASON = "the poll is closed"

#: How many pages (100 events each) of a room's history a restart reads to find a poll's posts.
POSTED_PARTS_PAGES = 20


def part_key(poll: Poll, part: str) -> str:
    """The stable name of one part of a poll's posts: its transaction seed and its marker."""
    return f"poll:{poll.room_id}:{poll.number}:{part}"


class PollPosts:
    """Posts a poll's parts exactly once each."""

    def __init__(self, *, gateway: MatrixGateway, poster: Poster, store: PollStore, electorates: Electorates,
                 tz: ZoneInfo, prefix: str, outbound: PollOutbound, links: PublicLinks | None = None,
                 seeds: bool = False) -> None:
        self.gateway = gateway
        self.seeds = seeds  # the keycaps are put on every option (the header says so)
        self.outbound = outbound
        self.links = links
        self.poster = poster
        self.store = store
        self.electorates = electorates
        self.tz = tz
        self.prefix = prefix

    # -- opening ---------------------------------------------------------------------------------------

    async def post_opening(self, poll: Poll, *, recovering: bool) -> Poll:
        """Post the announcement and the option messages not posted yet; returns the poll as stored after.

        ``recovering`` (a replay after a crash: at start, or when the same command or ``source_key``
        comes again) first looks in the room for the parts already there."""
        missing = poll.header_event_id is None or any(o.event_id is None for o in poll.options)
        posted = await self.posted_parts(poll) if recovering and missing else {}
        if poll.header_event_id is None:
            removable = await self.outbound.may_remove_reactions(poll.room_id)
            text, html = render_header(poll, who=await self.electorates.describe(poll), tz=self.tz,
                                       prefix=self.prefix, reactions_stay=removable is False, page=self._page(poll),
                                       seeded=self.seeds and not poll.secret)
            await self.store.set_header(poll.number, await self._post_part(poll, "header", text, html, posted))
        for option in poll.options:
            if option.event_id is None:
                text, html = render_option(option)
                event_id = await self._post_part(poll, f"option:{option.position}", text, html, posted)
                await self.store.set_option_event(poll.number, option.position, event_id)
        stored = await self.store.get(poll.number)
        assert stored is not None
        return stored

    async def seed(self, poll: Poll) -> None:
        """Put the six keycaps on every option message, so voting is one click."""
        for option in poll.options:
            for key in SEED_KEYS:
                await self._seed(poll, str(option.event_id), key, txn_seed=f"seed:{option.event_id}:{key}")

    async def complete(self, poll: Poll, *, seed: bool) -> Poll:
        """Finish opening an open poll that a crash interrupted (run at start; idempotent).

        Posts the announcement and option messages never posted; with ``seed``, adds the keycaps the
        server does not have on each option message (read from ``/relations``): a crash while seeding,
        or a seed someone redacted, leaves the poll one click to vote again."""
        poll = await self.post_opening(poll, recovering=True)
        if not seed or poll.secret:
            return poll
        own = self.gateway.user_id
        for option in poll.options:
            event_id = str(option.event_id)
            try:
                present = [((e.get("content") or {}).get("m.relates_to") or {}).get("key", "")
                           async for e in self.gateway.relations(poll.room_id, event_id) if e.get("sender") == own]
            except MatrixError as exc:
                log.warning("could not read the seeds of %s option %s: %s", poll.ref, option.position, exc)
                continue
            for key in missing_seed_keys(present):
                # Not the first seeding's transaction ID: if that seed was sent and later redacted,
                # the server would answer a reused ID with the redacted event and add nothing. A
                # duplicate is refused by the server instead (one annotation per key and sender).
                await self._seed(poll, event_id, key, txn_seed=None)
        return poll

    async def _seed(self, poll: Poll, event_id: str, key: str, *, txn_seed: str | None) -> None:
        try:
            await self.poster.react(poll.room_id, event_id, key, txn_seed=txn_seed)  # queued, cosmetic
        except DuplicateAnnotation:
            pass  # already there: seeding is idempotent
        except MatrixError as exc:
            log.warning("could not pre-seed %s on poll %s: %s", key, poll.ref, exc)

    # -- results ---------------------------------------------------------------------------------------

    async def post_results(self, poll: Poll, result: PollResult, *, recovering: bool, chart: bool) -> None:
        """Post the results table and (with ``chart``) the chart, both replying to the announcement, edit
        the announcement to say the poll is closed (linking to the results), and record that they are
        posted; ``recovering`` (a close a crash interrupted) first looks in the room for any of them
        already posted."""
        posted = await self.posted_parts(poll) if recovering else {}
        text, html = render_results(poll, result, page=self._page(poll))
        results_id = await self._post_part(poll, "results", text, html, posted, reply_to=poll.header_event_id)
        if chart:
            try:
                await self._post_chart(poll, result, posted)
            except Exception:
                log.exception("could not draw or upload the chart of poll %s", poll.ref)
        await self._mark_header_closed(poll, results_id, posted)
        if not poll.secret:
            await self._unseed(poll)
        await self.store.mark_results_posted(poll.number, results_id)

    async def _unseed(self, poll: Poll) -> None:
        """Remove the bot's own keycaps from the options of a closed poll: they no longer invite a click,
        and what stays under each option is the voters' reactions only. Cosmetic: queued last; a
        failure is logged and changes nothing that counts."""
        own = self.gateway.user_id
        for option in poll.options:
            if option.event_id is None:
                continue
            try:
                seeds = [str(e["event_id"]) async for e in self.gateway.relations(poll.room_id, option.event_id)
                         if e.get("sender") == own and e.get("event_id")]
            except MatrixError as exc:
                log.warning("could not read the seeds of closed poll %s: %s", poll.ref, exc)
                return
            for event_id in seeds:
                await self.poster.redact(poll.room_id, event_id, UNSEED_REASON, txn_seed=f"unseed:{event_id}")

    async def _mark_header_closed(self, poll: Poll, results_id: str, posted: Mapping[str, str]) -> None:
        """Replace the announcement's text (``m.replace``): closed, reactions no longer count, a link to the
        results. Cosmetic: a refusal is logged, the results stand."""
        key = part_key(poll, "closed-header")
        if poll.header_event_id is None or key in posted:
            return
        text, html = render_closed_header(
            poll, who=await self.electorates.describe(poll), tz=self.tz, page=self._page(poll),
            seeded=self.seeds and not poll.secret,
            results_link=event_link(poll.room_id, results_id, via=self.gateway.server_name) if results_id else None)
        content = {**replacement(poll.header_event_id, text, html), HARMONY_POST_PART: key}
        try:
            await self.poster.message(poll.room_id, content, txn_seed=key)
        except MatrixError as exc:
            log.warning("could not mark the announcement of poll %s closed: %s", poll.ref, exc)

    def _page(self, poll: Poll) -> str | None:
        """The poll's public web page, when the web view is on."""
        return self.links.url_for_poll(poll.number) if self.links is not None else None

    async def _post_chart(self, poll: Poll, result: PollResult, posted: Mapping[str, str]) -> None:
        key = part_key(poll, "chart")
        if key in posted:
            return
        drawn = await asyncio.to_thread(
            draw_results_chart, title=f"Poll {poll.ref}: {poll.question}", options=poll.labels,
            distribution=result.distribution, runoff=result.runoff, winners=result.winners, totals=result.totals)
        filename = f"poll-{poll.number}.png"
        content = chart_message(drawn, filename=filename, reply_to=poll.header_event_id)
        await self.poster.attachment(poll.room_id, drawn.png, {**content, HARMONY_POST_PART: key},
                                     content_type="image/png", txn_seed=key)

    # -- finding what was posted -----------------------------------------------------------------------

    async def _post_part(self, poll: Poll, part: str, text: str, html: str, posted: Mapping[str, str], *,
                         reply_to: str | None = None) -> str:
        key = part_key(poll, part)
        if key in posted:
            return posted[key]
        return await self.poster.notice(poll.room_id, text, html, reply_to=reply_to, txn_seed=key,
                                        extra={HARMONY_POST_PART: key})

    async def posted_parts(self, poll: Poll) -> dict[str, str]:
        """The parts of ``poll`` the bot already posted (key -> event ID), from the room's history
        back to the poll's creation (at most ``POSTED_PARTS_PAGES`` pages)."""
        prefix = part_key(poll, "")
        oldest_ms = timestamp_ms(poll.created_at) - 60_000  # allow for clock skew between bot and server
        found: dict[str, str] = {}
        token: str | None = None
        for _ in range(POSTED_PARTS_PAGES):
            page = await self.gateway.messages(poll.room_id, start=token)
            chunk = page.get("chunk", [])
            for event in chunk:
                key = (event.get("content") or {}).get(HARMONY_POST_PART)
                if event.get("sender") == self.gateway.user_id and isinstance(key, str) and key.startswith(prefix):
                    found[key] = event["event_id"]  # paging backwards: the oldest copy wins
            token = page.get("end")
            if not chunk or not token or chunk[-1].get("origin_server_ts", 0) < oldest_ms:
                return found
        log.warning("poll %s: looked through %d pages of history for its posts without reaching its start",
                    poll.ref, POSTED_PARTS_PAGES)
        return found
