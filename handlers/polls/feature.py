"""The Matrix side of STAR polls: commands, reactions as votes, secret ballots by DM, closing, results.

Thin by design: the rules live in ``harmony_matrix.polls.poll`` (which reaction counts, the grammar) and
``harmony_matrix.polls.star`` (the tally); the store (a Protocol here, wired by ``app.py``) keeps every vote
with the event that caused it. Durability:

* a reaction is stored under its event ID (unique), so a replayed sync counts nothing twice, and a
  redaction whose original arrives already stripped (``RedactedEvent``) is still applied;
* closing is: recount from ``/relations`` and reconcile → tally → store result (secret ballots are
  unlinked in the same transaction) → post results → tell the caller (``on_closed``). Each later step
  is recorded, so a crash in between is finished at the next start; posts use deterministic
  transaction IDs so a retried post is not duplicated;
* deadlines are APScheduler jobs rebuilt from the database at start; a deadline that passed while the
  bot was down closes the poll at start, and reactions stamped after the deadline do not count;
* opening is: store → header → one message per option → pre-seeded keycaps. At start every open poll
  is completed: messages never posted are posted (deterministic transaction IDs, and each event ID is
  stored before the next post), and seed keycaps missing on the server (``/relations``) are added.

Eligibility ``participants`` in a room of an assembly means the assembly's participants (those who
joined its space or the space of an assembly nested in it, ``Federation.participates``); elsewhere it
means the room's joined members.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any, Protocol
from zoneinfo import ZoneInfo

from nio import ReactionEvent, RedactedEvent, RedactionEvent

from handlers.matrix.commands import CommandContext, command
from handlers.matrix.dispatcher import Dispatcher
from handlers.matrix.gateway import DuplicateAnnotation, MatrixError, MatrixGateway
from handlers.polls.chart import draw_results_chart
from handlers.polls.render import render_results, render_status
from handlers.matrix.render import escape, notice
from harmony_matrix.commands import Param, Place, Role
from harmony_matrix.errors import UserError
from harmony_matrix.event_types import HARMONY_POST_PART, REACTION, ROOM_MESSAGE
from harmony_matrix.assemblies.assembly import Federation
from harmony_matrix.polls.poll import (
    ELIGIBILITIES,
    MAX_OPTIONS,
    MIN_OPTIONS,
    POLL_START_USAGE,
    SEED_KEYS,
    CountedReaction,
    Poll,
    PollSpec,
    counting_assemblies,
    describe_eligibility,
    missing_seed_keys,
    option_letter,
    parse_ballot,
    parse_poll_ref,
    parse_poll_start,
    score_of_key,
    summarize_result,
)
from harmony_matrix.polls.star import StarResult, ballots_seed, tally_star
from harmony_matrix.when import format_local

log = logging.getLogger(__name__)

#: How many pages (100 events each) of a room's history a restart reads to find a poll's posts.
POSTED_PARTS_PAGES = 20

ClosedCallback = Callable[[str, str, StarResult], Awaitable[None]]


# --- collaborators (wired by app.py) -------------------------------------------------------------------


class AddedReaction(Protocol):
    stored: bool
    superseded: tuple[str, ...]
    counts: bool


class PollStore(Protocol):
    async def create(self, spec: PollSpec, *, room_id: str, created_by: str, created_at: datetime,
                     origin: str | None = None, source_key: str | None = None) -> tuple[Poll, bool]: ...
    async def get(self, number: int) -> Poll | None: ...
    async def list(self, *, status: str | None = None, room_id: str | None = None,
                   limit: int = 50) -> list[Poll]: ...
    async def unfinished(self) -> list[Poll]: ...
    async def set_header(self, number: int, event_id: str) -> None: ...
    async def set_option_event(self, number: int, position: int, event_id: str) -> None: ...
    async def option_by_event(self, event_id: str) -> tuple[Poll, int] | None: ...
    async def close(self, number: int, *, closed_at: datetime, result: Mapping[str, Any]) -> bool: ...
    async def mark_results_posted(self, number: int, event_id: str) -> None: ...
    async def mark_origin_notified(self, number: int) -> None: ...
    async def add_reaction(self, number: int, reaction: CountedReaction, *,
                           source: str = "reaction") -> AddedReaction: ...
    async def withdraw(self, event_id: str) -> int | None: ...
    async def known_reaction_ids(self, number: int) -> dict[str, str]: ...
    async def ballots(self, number: int) -> list[dict[int, int]]: ...
    async def save_secret_ballot(self, number: int, voter: str, scores: Mapping[int, int], *,
                                 at: datetime) -> bool: ...
    async def turnout(self, number: int) -> int: ...
    async def mark_told(self, number: int, user_id: str, reason: str) -> bool: ...
    async def was_told(self, number: int, user_id: str) -> bool: ...
    async def record_reconciliation(self, number: int, *, kind: str, event_id: str, detail: str,
                                    at: datetime) -> None: ...
    async def export_user(self, user_id: str) -> dict[str, Any]: ...
    async def erase_user(self, user_id: str) -> None: ...


class MemberRegistry(Protocol):
    """The party membership registry (``db.members``)."""

    async def is_member(self, user_id: str) -> bool: ...


class Assemblies(Protocol):
    """What polls read from the assemblies feature (``handlers.assemblies.feature.AssembliesFeature``): which
    assembly a room belongs to, its rooms (the ``"space"`` among them) and the nesting."""

    async def assembly_of_room(self, room_id: str) -> str | None: ...
    async def rooms_of(self, slug: str) -> dict[str, str]: ...
    def federation(self) -> Federation: ...


class DirectChats(Protocol):
    """The bot's recorded direct chats (``handlers.matrix.direct.DirectChats``), shared by every feature."""

    async def tell(self, user_id: str, text: str, html: str | None = None, *,
                   txn_seed: str | None = None) -> str: ...


class Scheduler(Protocol):
    """The part of APScheduler's AsyncIOScheduler used here."""

    def add_job(self, func: Any, trigger: str, *, run_date: datetime, id: str, args: Sequence[Any],
                replace_existing: bool, misfire_grace_time: int | None) -> Any: ...
    def remove_job(self, job_id: str) -> None: ...


@dataclass(frozen=True)
class PollSettings:
    tz: ZoneInfo
    seed_reactions: bool = True
    post_chart: bool = True
    default_eligibility: str = "members"


NOT_COUNTED = {
    "not-eligible": "Your reaction on poll {ref} ({question}) was not counted: only {who} may vote in it. "
                    "If you think you should be able to vote, ask an assembly secretary.",
    "closed": "Your reaction on poll {ref} ({question}) was not counted: the poll had already closed.",
    "secret": "Poll {ref} ({question}) is a secret ballot, so I removed your reaction. Vote here instead, "
              "privately: {prefix} vote {ref} A=5 B=3 … (each option 0 to 5; options you leave out count 0).",
}


class PollsFeature:
    """STAR polls: the feature object the composition root builds (see ``harmony_app.app.Feature``)."""

    def __init__(self, *, gateway: MatrixGateway, store: PollStore, members: MemberRegistry,
                 direct: DirectChats, scheduler: Scheduler, clock: Callable[[], datetime], settings: PollSettings,
                 prefix: str = "!h", assemblies: Assemblies | None = None) -> None:
        self.gateway = gateway
        self.store = store
        self.members = members
        self.assemblies = assemblies
        self.direct = direct
        self.scheduler = scheduler
        self.clock = clock
        self.settings = settings
        self.prefix = prefix
        self._closed_callbacks: list[ClosedCallback] = []
        self._locks: dict[int, asyncio.Lock] = {}
        self._tasks: set[asyncio.Task[None]] = set()

    # -- Feature protocol ----------------------------------------------------------------------------

    def command_handlers(self) -> Sequence[object]:
        return [PollCommands(self)]

    def register(self, dispatcher: Dispatcher) -> None:
        dispatcher.on(ReactionEvent, self.on_reaction)
        dispatcher.on(RedactionEvent, self.on_redaction)
        dispatcher.on(RedactedEvent, self.on_redacted)

    async def start(self) -> None:
        """Rebuild deadline jobs; close polls whose deadline passed while down; finish interrupted closes.

        The catch-up runs as a task, so features started after this one (consensus) have subscribed
        with ``on_closed`` before any result is handed out."""
        self._spawn(self._catch_up())

    async def _catch_up(self) -> None:
        now = self.clock()
        for poll in await self.store.unfinished():
            if poll.is_open and poll.closes_at is not None and poll.closes_at <= now:
                await self._guarded_close(poll.number)
            elif poll.is_open:
                self._schedule(poll)
                await self._guarded_complete(poll)
            else:
                await self._guarded_close(poll.number)

    async def stop(self) -> None:
        for task in list(self._tasks):
            task.cancel()
        self._tasks.clear()

    # -- API for other features (consensus) -----------------------------------------------------------

    async def start_poll(self, *, room_id: str, question: str, options: Sequence[str], seats: int = 1,
                         secret: bool = False, closes_at: datetime | None = None,
                         eligibility: str = "members", created_by: str, origin: str,
                         source_key: str | None = None) -> str:
        """Open a poll in ``room_id`` and return its reference (``#n``). ``origin`` is stored with the
        poll and handed back to ``on_closed`` callbacks, also after restarts. ``source_key`` (default:
        ``origin``) makes the call idempotent: calling again returns the same poll."""
        options = tuple(o.strip() for o in options)
        if not MIN_OPTIONS <= len(options) <= MAX_OPTIONS:
            raise UserError(f"a poll needs {MIN_OPTIONS} to {MAX_OPTIONS} options (got {len(options)})")
        if any(not o for o in options) or len({o.casefold() for o in options}) != len(options):
            raise UserError("poll options must be non-empty and different from each other")
        if not 1 <= seats < len(options):
            raise UserError(f"seats must be at least 1 and fewer than the options ({len(options)})")
        if eligibility not in ELIGIBILITIES:
            raise UserError(f'eligibility must be one of {", ".join(ELIGIBILITIES)} (got "{eligibility}")')
        if closes_at is not None and closes_at <= self.clock():
            raise UserError("the closing time is in the past")
        spec = PollSpec(question=question.strip(), options=options, seats=seats, secret=secret,
                        closes_at=closes_at, eligibility=eligibility)  # type: ignore[arg-type]
        poll = await self.open_poll(spec, room_id=room_id, created_by=created_by, origin=origin,
                                    source_key=source_key or f"origin:{origin}")
        return poll.ref

    def on_closed(self, callback: ClosedCallback) -> None:
        """``await callback(poll_ref, origin, result)`` after a poll that has an origin closes."""
        self._closed_callbacks.append(callback)

    async def export_user_data(self, user_id: str) -> dict[str, Any]:
        return await self.store.export_user(user_id)

    async def erase_user_data(self, user_id: str) -> None:
        await self.store.erase_user(user_id)

    # -- opening -------------------------------------------------------------------------------------

    async def open_poll(self, spec: PollSpec, *, room_id: str, created_by: str, origin: str | None = None,
                        source_key: str | None = None) -> Poll:
        """Store the poll, post the header and one message per option, pre-seed the keycaps."""
        poll, created = await self.store.create(spec, room_id=room_id, created_by=created_by,
                                                created_at=self.clock(), origin=origin, source_key=source_key)
        poll = await self._post_messages(poll, recovering=not created)
        self._schedule(poll)
        if self.settings.seed_reactions and not poll.secret:
            self._spawn(self._seed_reactions(poll))
        return poll

    async def _post_messages(self, poll: Poll, *, recovering: bool) -> Poll:
        """Post the header and the option messages not posted yet; returns the poll as stored after.

        Each event ID is stored before the next post. ``recovering`` (a replay after a crash: at
        start, or when the same command or ``source_key`` comes again) first looks in the room for
        the parts already there, see ``_post_part``."""
        missing = poll.header_event_id is None or any(o.event_id is None for o in poll.options)
        posted = await self._posted_parts(poll) if recovering and missing else {}
        if poll.header_event_id is None:
            text, html = self._header(poll, await self._who(poll))
            header = await self._post_part(poll, "header", notice(text, html), posted)
            await self.store.set_header(poll.number, header)
        for option in poll.options:
            if option.event_id is None:
                label = f"{option_letter(option.position)}. {option.label}"
                content = notice(label, f"<b>{option_letter(option.position)}.</b> {escape(option.label)}")
                event_id = await self._post_part(poll, f"option:{option.position}", content, posted)
                await self.store.set_option_event(poll.number, option.position, event_id)
        stored = await self.store.get(poll.number)
        assert stored is not None
        return stored

    async def _post_part(self, poll: Poll, part: str, content: dict[str, Any], posted: Mapping[str, str]) -> str:
        """Post one part of a poll once. Its transaction ID and its ``org.harmony.post_part`` key are
        both named after the room, poll and part: the transaction ID stops a retry while the server
        remembers it (Synapse: about half an hour), the key in ``posted`` (read from the room) after."""
        key = _part_key(poll, part)
        if key in posted:
            return posted[key]
        return await self.gateway.send_event(poll.room_id, ROOM_MESSAGE, {**content, HARMONY_POST_PART: key},
                                             txn_seed=key)

    async def _posted_parts(self, poll: Poll) -> dict[str, str]:
        """The parts of ``poll`` the bot already posted (key -> event ID), from the room's history
        back to the poll's creation (at most ``POSTED_PARTS_PAGES`` pages)."""
        prefix = _part_key(poll, "")
        oldest_ms = _ms(poll.created_at) - 60_000  # allow for clock skew between bot and server
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

    async def _seed_reactions(self, poll: Poll) -> None:
        for option in poll.options:
            for key in SEED_KEYS:
                await self._seed(poll, str(option.event_id), key, txn_seed=f"seed:{option.event_id}:{key}")

    async def _seed(self, poll: Poll, event_id: str, key: str, *, txn_seed: str | None) -> None:
        try:
            await self.gateway.react(poll.room_id, event_id, key, txn_seed=txn_seed)
        except DuplicateAnnotation:
            pass  # already there: seeding is idempotent
        except MatrixError as exc:
            log.warning("could not pre-seed %s on poll %s: %s", key, poll.ref, exc)

    async def _guarded_complete(self, poll: Poll) -> None:
        try:
            await self.complete_poll(poll)
        except Exception:
            log.exception("completing poll %s at start failed; it will be retried at the next start", poll.ref)

    async def complete_poll(self, poll: Poll) -> Poll:
        """Finish opening an open poll that a crash interrupted (run at start; idempotent).

        Posts the header and option messages never posted, then adds the seed keycaps that the
        server does not have on each option message (read from ``/relations``): a crash while
        seeding, or a seed someone redacted, leaves the poll one click to vote again."""
        poll = await self._post_messages(poll, recovering=True)
        if not self.settings.seed_reactions or poll.secret:
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

    async def _assembly_scope(self, poll: Poll) -> tuple[Federation, str] | None:
        """The federation and the slug of the assembly the poll's room belongs to, or None."""
        if self.assemblies is None:
            return None
        slug = await self.assemblies.assembly_of_room(poll.room_id)
        federation = self.assemblies.federation()
        if slug is None or slug not in federation:
            return None
        return federation, slug

    async def _who(self, poll: Poll) -> str:
        """Who may vote in ``poll``, in words."""
        scope = await self._assembly_scope(poll) if poll.eligibility == "participants" else None
        if scope is None:
            return describe_eligibility(poll.eligibility)
        federation, slug = scope
        return describe_eligibility(poll.eligibility, assembly_name=federation[slug].name,
                                    nested=bool(federation.descendants(slug)))

    def _header(self, poll: Poll, who: str) -> tuple[str, str]:
        closes = (f"Closes {format_local(poll.closes_at, self.settings.tz)}, or earlier if a secretary sends "
                  f"{self.prefix} poll close {poll.ref}." if poll.closes_at else
                  f"Open until a secretary sends {self.prefix} poll close {poll.ref}.")
        if poll.secret:
            how = (f"Secret ballot: send me a direct message: {self.prefix} vote {poll.ref} A=5 B=3 … "
                   "(score each option 0–5; options you leave out count 0; you may vote again until it "
                   "closes, the last ballot counts). Only turnout is shown while it is open.")
        else:
            how = ("Score every option from 0 (worst) to 5 (best) by reacting 0️⃣–5️⃣ on its message below. "
                   "Your latest reaction on an option counts; remove it to withdraw. Options you don't score "
                   "count 0.")
        seats = (f" {poll.seats} seats are filled (Bloc STAR)." if poll.seats > 1 else "")
        lines = [f"📊 Poll {poll.ref}: {poll.question}", f"Who may vote: {who}.{seats}", f"How: {how}", closes]
        html = (f"<b>📊 Poll {escape(poll.ref)}: {escape(poll.question)}</b><br>"
                + "<br>".join(escape(line) for line in lines[1:]))
        return "\n".join(lines), html

    # -- reactions ------------------------------------------------------------------------------------

    async def on_reaction(self, room_id: str, event: ReactionEvent) -> None:
        score = score_of_key(event.key)
        if score is None:
            return
        found = await self.store.option_by_event(event.reacts_to)
        if found is None:
            return
        poll, position = found
        if poll.room_id != room_id:
            return
        if poll.secret:
            await self._redact(room_id, event.event_id, "secret ballot: vote by direct message")
            await self._tell_once(poll, event.sender, "secret")
            return
        ts = int(event.server_timestamp)
        if not poll.is_open or (poll.closes_at is not None and ts > _ms(poll.closes_at)):
            if await self._is_known(poll, event.event_id):
                return  # counted by the recount at close, before this sync delivered it
            await self._tell_once(poll, event.sender, "closed")
            return
        if not await self._eligible(poll, event.sender):
            await self._tell_once(poll, event.sender, "not-eligible")
            return
        reaction = CountedReaction(event_id=event.event_id, voter=event.sender, option=position, score=score, ts=ts)
        added = await self.store.add_reaction(poll.number, reaction)
        for older in added.superseded:
            await self._redact(room_id, older, "replaced by a newer score on this option")
        if added.stored and not added.counts:
            await self._redact(room_id, event.event_id, "a newer score on this option counts")

    async def on_redaction(self, room_id: str, event: RedactionEvent) -> None:
        if event.redacts:
            await self.store.withdraw(event.redacts)

    async def on_redacted(self, room_id: str, event: RedactedEvent) -> None:
        if event.type == REACTION:
            await self.store.withdraw(event.event_id)

    async def _is_known(self, poll: Poll, event_id: str) -> bool:
        return event_id in await self.store.known_reaction_ids(poll.number)

    async def _eligible(self, poll: Poll, user_id: str) -> bool:
        if poll.eligibility == "participants":
            scope = await self._assembly_scope(poll)
            if scope is None:
                return await self._any_joined([poll.room_id], user_id) is not None
            federation, slug = scope
            assert self.assemblies is not None  # a scope comes only from the assemblies feature
            spaces: dict[str, str] = {}
            for candidate in counting_assemblies(federation, slug):
                space = (await self.assemblies.rooms_of(candidate)).get("space")
                if space:
                    spaces[space] = candidate
            joined = await self._any_joined(list(spaces), user_id)
            return joined is not None and federation.participates(slug, {spaces[joined]})
        return await self.members.is_member(user_id)

    async def _any_joined(self, room_ids: Sequence[str], user_id: str) -> str | None:
        """The first of ``room_ids`` that ``user_id`` has joined, or None.

        nio keeps member lists from sync (lazy loading is off), so a voter is usually found without a
        request; only when the cache does not show them is the server asked (a join the bot has not
        synced yet must not cost a vote)."""
        for room_id in room_ids:
            room = self.gateway.client.rooms.get(room_id)
            if room is not None and user_id in room.users and user_id not in room.invited_users:
                return room_id
        for room_id in room_ids:
            try:
                if user_id in await self.gateway.joined_members(room_id):
                    return room_id
            except MatrixError as exc:
                log.warning("could not read the members of %s: %s", room_id, exc)
        return None

    async def _redact(self, room_id: str, event_id: str, reason: str) -> None:
        try:
            await self.gateway.redact(room_id, event_id, reason, txn_seed=f"redact:{event_id}")
        except MatrixError as exc:
            log.warning("could not redact %s in %s: %s", event_id, room_id, exc)

    async def _tell_once(self, poll: Poll, user_id: str, reason: str) -> None:
        """Tell ``user_id`` privately why their reaction did not count — once per poll and person.

        The message is sent before the marker is stored, with a transaction ID derived from both, so a
        crash in between re-sends into the same transaction rather than telling twice or never."""
        if await self.store.was_told(poll.number, user_id):
            return
        text = NOT_COUNTED[reason].format(ref=poll.ref, question=poll.question, prefix=self.prefix,
                                          who=await self._who(poll))
        try:
            await self.direct.tell(user_id, text, txn_seed=f"told:{poll.room_id}:{poll.number}:{user_id}")
        except MatrixError as exc:
            log.warning("could not tell %s privately about poll %s: %s", user_id, poll.ref, exc)
            return
        await self.store.mark_told(poll.number, user_id, reason)

    # -- ballots by DM -------------------------------------------------------------------------------

    async def cast_ballot(self, *, poll_text: str, ballot_text: str, voter: str, event_id: str) -> str:
        """``!h vote``: validate and store; returns the receipt. Raises UserError with the reason."""
        poll = await self.store.get(parse_poll_ref(poll_text))
        if poll is None:
            raise UserError(f"there is no poll {poll_text}; send {self.prefix} polls for the open ones")
        now = self.clock()
        if not poll.is_open or (poll.closes_at is not None and poll.closes_at <= now):
            raise UserError(f"poll {poll.ref} is closed; your ballot was not counted")
        scores = parse_ballot(ballot_text, poll.labels)
        if not await self._eligible(poll, voter):
            raise UserError(f"only {await self._who(poll)} may vote in poll {poll.ref}; "
                            "your ballot was not counted")
        if poll.secret:
            replaced = await self.store.save_secret_ballot(poll.number, voter, scores, at=now)
        else:
            replaced = False
            ts = _ms(now)
            for position, score in sorted(scores.items()):
                added = await self.store.add_reaction(
                    poll.number, CountedReaction(event_id=f"{event_id}#{position}", voter=voter,
                                                 option=position, score=score, ts=ts), source="dm")
                for older in added.superseded:
                    replaced = True
                    await self._redact(poll.room_id, older, "replaced by a ballot sent by direct message")
        lines = [f"{option_letter(o.position)}. {o.label}: {scores.get(o.position, 0)}" for o in poll.options]
        until = f" until {format_local(poll.closes_at, self.settings.tz)}" if poll.closes_at else " until it closes"
        head = "Your new ballot replaces the previous one." if replaced else "Ballot received."
        return (f"{head} Poll {poll.ref}: {poll.question}\n" + "\n".join(lines)
                + f"\nYou may vote again{until}; only your last ballot counts.")

    # -- closing -------------------------------------------------------------------------------------

    def _schedule(self, poll: Poll) -> None:
        if poll.closes_at is None or not poll.is_open:
            return
        self.scheduler.add_job(self._guarded_close, "date", run_date=poll.closes_at, id=_job_id(poll.number),
                               args=[poll.number], replace_existing=True, misfire_grace_time=None)

    def _unschedule(self, number: int) -> None:
        try:
            self.scheduler.remove_job(_job_id(number))
        except Exception:  # JobLookupError: it already ran or never existed
            pass

    async def _guarded_close(self, number: int) -> None:
        try:
            await self.close_poll(number)
        except Exception:
            log.exception("closing poll #%s failed; it will be retried at the next start", number)

    async def close_poll(self, number: int) -> Poll | None:
        """Close (if open), then post results and notify the origin if not done yet. Idempotent."""
        lock = self._locks.setdefault(number, asyncio.Lock())
        async with lock:
            poll = await self.store.get(number)
            if poll is None:
                return None
            closing_now = poll.is_open
            if poll.is_open:
                now = self.clock()
                cutoff = min(now, poll.closes_at) if poll.closes_at else now
                if not poll.secret:
                    await self.reconcile(poll, cutoff=cutoff)
                ballots = await self.store.ballots(number)
                result = self.tally(poll, ballots)
                await self.store.close(number, closed_at=cutoff, result=summarize_result(poll, ballots, result))
                self._unschedule(number)
                poll = await self.store.get(number)
                assert poll is not None
            if poll.results_event_id is None:
                await self._post_results(poll, recovering=not closing_now)
                poll = await self.store.get(number)
                assert poll is not None
            # Until someone listens (features subscribe in their start()), or while a listener fails,
            # the origin stays un-notified and is retried at the next start.
            if poll.origin and not poll.origin_notified and self._closed_callbacks:
                result = self.tally(poll, await self.store.ballots(number))
                delivered = True
                for callback in self._closed_callbacks:
                    try:
                        await callback(poll.ref, poll.origin, result)
                    except Exception:
                        delivered = False
                        log.exception("a listener for closed poll %s (origin %s) failed", poll.ref, poll.origin)
                if delivered:
                    await self.store.mark_origin_notified(number)
            return poll

    def tally(self, poll: Poll, ballots: Sequence[Mapping[int, int]]) -> StarResult:
        named = [{poll.labels[p]: s for p, s in ballot.items()} for ballot in ballots]
        seed = f"{poll.ref}@{poll.header_event_id or poll.room_id}:{ballots_seed(poll.labels, named)}"
        return tally_star(poll.labels, named, seats=poll.seats, seed=seed)

    async def reconcile(self, poll: Poll, *, cutoff: datetime) -> list[tuple[str, str]]:
        """Recount from ``/relations`` and make the database agree; every difference is recorded."""
        known = await self.store.known_reaction_ids(poll.number)
        on_server: set[str] = set()
        differences: list[tuple[str, str]] = []
        limit = _ms(cutoff)
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
                if score is None or sender == own or not event_id or ts > limit:
                    continue
                on_server.add(event_id)
                if event_id in known:
                    continue
                if not await self._eligible(poll, sender):
                    continue
                await self.store.add_reaction(poll.number, CountedReaction(
                    event_id=event_id, voter=sender, option=option.position, score=score, ts=ts))
                differences.append(("missed-reaction", event_id))
                await self.store.record_reconciliation(
                    poll.number, kind="missed-reaction", event_id=event_id, at=self.clock(),
                    detail=f"{sender} scored {option_letter(option.position)}={score}; counted at the recount")
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

    async def _post_results(self, poll: Poll, *, recovering: bool) -> None:
        """Post the results table and the chart; ``recovering`` (a close a crash interrupted) first
        looks in the room for either already posted."""
        result = poll.result or {}
        posted = await self._posted_parts(poll) if recovering else {}
        text, html = render_results(poll, result)
        results_id = await self._post_part(poll, "results", notice(text, html, reply_to=poll.header_event_id), posted)
        if self.settings.post_chart:
            try:
                await self._post_chart(poll, result, posted)
            except Exception:
                log.exception("could not draw or upload the chart of poll %s", poll.ref)
        await self.store.mark_results_posted(poll.number, results_id)

    async def _post_chart(self, poll: Poll, result: Mapping[str, Any], posted: Mapping[str, str]) -> None:
        if _part_key(poll, "chart") in posted:
            return
        chart = await asyncio.to_thread(
            draw_results_chart, title=f"poll {poll.ref}: {poll.question}", options=poll.labels,
            distribution=result["distribution"], runoff=result.get("runoff"))
        url = await self.gateway.upload(chart.png, content_type="image/png", filename=f"poll-{poll.number}.png")
        content: dict[str, Any] = {
            "msgtype": "m.image", "body": chart.alt_text, "url": url, "filename": f"poll-{poll.number}.png",
            "info": {"mimetype": "image/png", "w": chart.width, "h": chart.height, "size": len(chart.png)},
            "m.mentions": {"user_ids": []},
        }
        if poll.header_event_id:
            content["m.relates_to"] = {"m.in_reply_to": {"event_id": poll.header_event_id}}
        await self._post_part(poll, "chart", content, posted)

    def _spawn(self, coroutine: Awaitable[None]) -> None:
        task = asyncio.ensure_future(coroutine)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)


# --- results -------------------------------------------------------------------------------------------


# --- commands ------------------------------------------------------------------------------------------


class PollCommands:
    def __init__(self, feature: PollsFeature) -> None:
        self.feature = feature

    @command("poll start", summary="Open a STAR poll: people score each option 0–5.",
             example="!h poll start Where do we meet? | Library | Café | Online closes=tomorrow 19:00",
             params=(Param("poll", label="question | option | option …", help=POLL_START_USAGE, rest=True),),
             role=Role.SECRETARY)
    async def poll_start(self, ctx: CommandContext, poll: str) -> None:
        feature = self.feature
        spec = parse_poll_start(poll, now=feature.clock(), tz=feature.settings.tz,
                                default_eligibility=feature.settings.default_eligibility)
        opened = await feature.open_poll(spec, room_id=ctx.room_id, created_by=ctx.sender, source_key=ctx.event_id)
        await ctx.reply(f"Poll {opened.ref} is open. Settings are locked now; {ctx.prefix} poll close "
                        f"{opened.ref} closes it early.")

    @command("poll close", summary="Close a poll now and post its results.", example="!h poll close #3",
             params=(Param("poll", help="the poll, e.g. #3"),), role=Role.SECRETARY)
    async def poll_close(self, ctx: CommandContext, poll: str) -> None:
        number = parse_poll_ref(poll)
        existing = await self.feature.store.get(number)
        if existing is None:
            raise UserError(f"there is no poll {poll}")
        if not existing.is_open:
            await ctx.reply(f"Poll {existing.ref} is already closed; {ctx.prefix} poll show {existing.ref} "
                            "shows its results.")
            return
        closed = await self.feature.close_poll(number)
        assert closed is not None
        await ctx.reply(f"Poll {closed.ref} is closed; the results are posted under its announcement.")

    @command("polls", summary="Open polls here and the latest closed ones.", example="!h polls")
    async def polls(self, ctx: CommandContext) -> None:
        feature = self.feature
        polls = await feature.store.list(room_id=None if ctx.room.is_direct else ctx.room_id, limit=15)
        if not polls:
            await ctx.reply("There are no polls here yet.")
            return
        lines = [render_status(p, turnout=await feature.store.turnout(p.number), tz=feature.settings.tz)
                 for p in polls]
        await ctx.reply("Polls:\n" + "\n".join(lines))

    @command("poll show", summary="A poll's status, or its results once closed.", example="!h poll show #3",
             params=(Param("poll", help="the poll, e.g. #3"),))
    async def poll_show(self, ctx: CommandContext, poll: str) -> None:
        feature = self.feature
        found = await feature.store.get(parse_poll_ref(poll))
        if found is None:
            raise UserError(f"there is no poll {poll}")
        if found.is_open or found.result is None:
            options = "\n".join(f"{option_letter(o.position)}. {o.label}" for o in found.options)
            await ctx.reply(render_status(found, turnout=await feature.store.turnout(found.number),
                                          tz=feature.settings.tz) + "\n" + options)
            return
        text, html = render_results(found, found.result)
        await ctx.reply(text, html)

    @command("vote", summary="Send a ballot by direct message (secret polls; works for open polls too).",
             example="!h vote #3 A=5 B=3 C=0",
             params=(Param("poll", help="the poll, e.g. #3"),
                     Param("scores", help="option=score pairs, options by letter or name, scores 0–5", rest=True)),
             place=Place.DIRECT)
    async def vote(self, ctx: CommandContext, poll: str, scores: str) -> None:
        receipt = await self.feature.cast_ballot(poll_text=poll, ballot_text=scores, voter=ctx.sender,
                                                 event_id=ctx.event_id)
        await ctx.reply(receipt)


def _ms(moment: datetime) -> int:
    return int(moment.astimezone(timezone.utc).timestamp() * 1000)


def _job_id(number: int) -> str:
    return f"poll-close-{number}"


def _part_key(poll: Poll, part: str) -> str:
    """The stable name of one part of a poll's posts: its transaction seed and its marker."""
    return f"poll:{poll.room_id}:{poll.number}:{part}"
