"""The Matrix side of STAR polls: the feature object the composition root builds.

Thin by design: the rules live in ``harmony_matrix.polls`` (``poll`` what a poll may be, ``reactions``
which vote counts, ``eligibility`` who may vote, ``results`` the tally and its lot seed, ``star`` the
STAR count). The edge is split by concern, each part given its collaborators:

* ``posts.py``: the announcement, the option messages, the seed keycaps, the results and chart — each
  posted once, also across crashes;
* ``voting.py``: reactions as votes (taken or refused, live and at the recount alike), redactions,
  ballots by direct message (secret ones only in encrypted chats);
* ``closing.py``: deadlines, the recount, the tally, handing the result to the poll's origin;
* ``commands.py``: ``poll start``, ``poll close``, ``polls``, ``poll show``, ``vote``;
* ``electorate.py``: the facts about a person that "who may vote" needs, at the moment a vote was sent;
* ``outbound.py``: redactions, private notices and the encryption check, in one place.

Opening is: store → announcement → one message per option → pre-seeded keycaps. At start every open
poll is completed (parts never posted are posted, missing seed keycaps added), deadline jobs are
rebuilt, a deadline that passed while the bot was down closes its poll, and interrupted closes are
finished.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from nio import ReactionEvent, RedactedEvent, RedactionEvent

from handlers.matrix.dispatcher import Dispatcher
from handlers.matrix.gateway import MatrixGateway
from handlers.matrix.posting import Poster
from handlers.polls.closing import PollClosing
from handlers.polls.commands import PollCommands
from handlers.polls.electorate import Electorates, MembershipSince
from handlers.polls.outbound import PollOutbound
from handlers.polls.posts import PollPosts
from handlers.polls.store import PollStore
from handlers.polls.voting import PollVoting
from handlers.ports import AssemblyDirectory, ClosedCallback, Clock, PublicLinks, Scheduler
from harmony_matrix.polls.arguments import parse_eligibility
from harmony_matrix.polls.poll import Poll, PollSpec, new_poll_spec

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class PollSettings:
    """The ``polls:`` section of the config, and the time zone times are shown and read in."""

    tz: ZoneInfo
    seed_reactions: bool = True
    post_chart: bool = True
    default_eligibility: str = "members"


class PollsFeature:
    """STAR polls: the feature object the composition root builds (see ``harmony_app.app.Feature``)."""

    def __init__(self, *, gateway: MatrixGateway, poster: Poster, store: PollStore, members: MembershipSince,
                 scheduler: Scheduler, clock: Clock, settings: PollSettings, prefix: str,
                 assemblies: AssemblyDirectory | None = None, admins: Sequence[str] = (),
                 links: PublicLinks | None = None) -> None:
        self.gateway = gateway
        self.store = store
        self.clock = clock
        self.settings = settings
        self.electorates = Electorates(gateway=gateway, members=members, assemblies=assemblies)
        outbound = PollOutbound(gateway=gateway, poster=poster)
        self.posts = PollPosts(gateway=gateway, poster=poster, store=store, electorates=self.electorates,
                               tz=settings.tz, prefix=prefix, outbound=outbound, links=links,
                               seeds=settings.seed_reactions)
        self.voting = PollVoting(outbound=outbound, store=store,
                                 electorates=self.electorates, clock=clock, tz=settings.tz, prefix=prefix,
                                 admins=admins)
        self.closing = PollClosing(gateway=gateway, store=store, posts=self.posts, voting=self.voting,
                                   scheduler=scheduler, clock=clock, post_chart=settings.post_chart)
        self._tasks: set[asyncio.Task[None]] = set()

    # -- Feature protocol ------------------------------------------------------------------------------

    def command_handlers(self) -> Sequence[object]:
        """The poll commands (``handlers.polls.commands``)."""
        default = parse_eligibility(self.settings.default_eligibility)
        return [PollCommands(store=self.store, lifecycle=self, voting=self.voting, clock=self.clock,
                             tz=self.settings.tz, default_eligibility=default)]

    def register(self, dispatcher: Dispatcher) -> None:
        """Reactions are votes (in runs: a catch-up's are stored in batches); redactions withdraw them."""
        dispatcher.on_batch(ReactionEvent, self.voting.on_reactions, single=self.voting.on_reaction)
        dispatcher.on(RedactionEvent, self.voting.on_redaction)
        dispatcher.on(RedactedEvent, self.voting.on_redacted)

    async def start(self) -> None:
        """Rebuild deadline jobs; close polls whose deadline passed while down; finish interrupted opens
        and closes.

        The catch-up runs as a task, so features started after this one (consensus) have subscribed
        with ``on_closed`` before any result is handed out."""
        self._spawn(self._catch_up())

    async def _catch_up(self) -> None:
        now = self.clock()
        for poll in await self.store.unfinished():
            if poll.is_open and poll.closes_at is not None and poll.closes_at <= now:
                await self.closing.guarded_close(poll.number)
            elif poll.is_open:
                self.closing.schedule(poll)
                try:
                    await self.complete_poll(poll)
                except Exception:
                    log.exception("completing poll %s at start failed; it will be retried at the next start",
                                  poll.ref)
            else:
                await self.closing.guarded_close(poll.number)

    async def stop(self) -> None:
        """Cancel the background work (catch-up, seeding)."""
        for task in list(self._tasks):
            task.cancel()
        self._tasks.clear()

    # -- API for other features (consensus) ------------------------------------------------------------

    async def start_poll(self, *, room_id: str, question: str, options: Sequence[str], seats: int = 1,
                         secret: bool = False, closes_at: datetime | None = None,
                         eligibility: str = "members", created_by: str, origin: str,
                         source_key: str | None = None) -> str:
        """Open a poll in ``room_id`` and return its reference (``#n``). ``origin`` is stored with the
        poll and handed back to ``on_closed`` callbacks, also after restarts. ``source_key`` (default:
        ``origin``) makes the call idempotent: calling again returns the same poll. The poll is checked
        as the ``poll start`` command's is (``poll.new_poll_spec``)."""
        spec = new_poll_spec(question, options, now=self.clock(), seats=seats, secret=secret, closes_at=closes_at,
                             eligibility=parse_eligibility(eligibility))
        poll = await self.open_poll(spec, room_id=room_id, created_by=created_by, origin=origin,
                                    source_key=source_key or f"origin:{origin}")
        return poll.ref

    def on_closed(self, callback: ClosedCallback) -> None:
        """``await callback(poll_ref, origin, result)`` after a poll that has an origin closes; ``result``
        is the stored ``PollResult``."""
        self.closing.callbacks.append(callback)

    async def export_user_data(self, user_id: str) -> dict[str, Any]:
        """Everything the polls keep about ``user_id`` (``mydata``)."""
        return await self.store.export_user(user_id)

    async def erase_user_data(self, user_id: str) -> None:
        """Unlink ``user_id`` from the polls (``forget-me``)."""
        await self.store.erase_user(user_id)

    # -- opening and closing ---------------------------------------------------------------------------

    async def open_poll(self, spec: PollSpec, *, room_id: str, created_by: str, origin: str | None = None,
                        source_key: str | None = None) -> Poll:
        """Store the poll, post the announcement and one message per option, pre-seed the keycaps.

        A ``source_key`` already used returns that poll, finishing its opening if a crash interrupted it."""
        poll, created = await self.store.create(spec, room_id=room_id, created_by=created_by,
                                                created_at=self.clock(), origin=origin, source_key=source_key)
        poll = await self.posts.post_opening(poll, recovering=not created)
        self.closing.schedule(poll)
        if self.settings.seed_reactions and not poll.secret:
            self._spawn(self.posts.seed(poll))
        return poll

    async def complete_poll(self, poll: Poll) -> Poll:
        """Finish opening an open poll that a crash interrupted (``PollPosts.complete``)."""
        return await self.posts.complete(poll, seed=self.settings.seed_reactions)

    async def close_poll(self, number: int) -> Poll | None:
        """Close a poll now, post its results, tell its origin (``PollClosing.close_poll``). Idempotent."""
        return await self.closing.close_poll(number)

    def _spawn(self, coroutine: Awaitable[None]) -> None:
        task = asyncio.ensure_future(coroutine)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
