"""The consensus process as a feature of the app: proposals, moots, outcomes and the decision record,
roles, elections and petitions.

Where a command lives
---------------------
Each concern of the process is one class that owns its logic and declares its commands on itself with
``@command``: ``Proposals`` (``proposals.py``), ``Decisions`` (``decisions.py``), ``Moots`` and
``MootNotices`` (``moots.py``), ``Roles`` (``roles.py``), ``Offices`` (``offices.py``: races, appointed offices, elections) and
``Petitions`` (``petitions.py``). Its
constructor receives exactly the collaborators it uses, typed: the store Protocols of ``stores.py``,
the ports of ``handlers.ports`` (polls, members, scheduler, clock), the ``Poster`` and the
``AssemblyLookup`` of ``common.py``. A command method parses nothing itself (its options are declared
with their parsers) and checks no permission by hand (``role=``, ``place=`` and ``manages=`` are part of
the declaration). ``ConsensusFeature`` only builds these objects, hands them to the router
(``command_handlers``) and runs what belongs to the whole process: start-up, the poll-closed callback,
the periodic term check, and a person's data.
"""

from __future__ import annotations

import logging
from typing import Any

from nio import ReactionEvent, RedactedEvent, RedactionEvent, RoomMessageText

from handlers.consensus.actions import Actions
from handlers.consensus.checks import ConsensusChecks
from handlers.consensus.common import AssemblyLookup, ConsensusSettings, PollOutcome
from handlers.consensus.decisions import Decisions
from handlers.consensus.moot_series import MootSeriesKeeper
from handlers.consensus.moots import MootNotices, Moots
from handlers.consensus.offices import Offices
from handlers.consensus.petitions import Petitions
from handlers.consensus.proposals import Proposals
from handlers.consensus.roles import Roles
from handlers.consensus.running import MinutesPoster, MootRunning
from handlers.consensus.stores import ConsensusStores
from handlers.matrix.dispatcher import Dispatcher
from handlers.matrix.gateway import MatrixGateway
from handlers.matrix.posting import Poster
from handlers.ports import AssemblyDirectory, Clock, MemberRegistry, PollStarter, PublicLinks, Scheduler, SeatHolders
from harmony_matrix.consensus.ballots import BallotKind, BallotStatus, parse_ballot_origin

log = logging.getLogger(__name__)

_TERMS_JOB = "consensus-terms"


class ConsensusFeature:
    """The consensus process as a feature of the app (see ``harmony_app.app.Feature``)."""

    def __init__(self, *, stores: ConsensusStores, members: MemberRegistry, assemblies: AssemblyDirectory | None,
                 polls: PollStarter | None, poster: Poster, gateway: MatrixGateway, scheduler: Scheduler,
                 clock: Clock, settings: ConsensusSettings, prefix: str, seats: SeatHolders | None = None,
                 links: PublicLinks | None = None) -> None:
        self.stores = stores
        self.polls = polls
        self.scheduler = scheduler
        self.clock = clock
        self.settings = settings
        lookup = AssemblyLookup(directory=assemblies, default_tz=settings.default_tz)
        self.notices = MootNotices(moots=stores.moots, notices=stores.notices, proposals=stores.proposals,
                                   assemblies=lookup, poster=poster, gateway=gateway, scheduler=scheduler,
                                   clock=clock, settings=settings, prefix=prefix, links=links)
        self.checks = ConsensusChecks(checks=stores.checks, proposals=stores.proposals, members=members,
                                      assemblies=lookup, poster=poster, gateway=gateway, clock=clock,
                                      settings=settings, prefix=prefix)
        self.decisions = Decisions(proposals=stores.proposals, decisions=stores.decisions, ballots=stores.ballots,
                                   moots=stores.moots, checks=self.checks, assemblies=lookup, polls=polls,
                                   poster=poster, clock=clock, settings=settings, links=links)
        self.proposals = Proposals(proposals=stores.proposals, moots=stores.moots, ballots=stores.ballots,
                                   decisions=stores.decisions, checks=self.checks, assemblies=lookup, gateway=gateway,
                                   clock=clock)
        self.series = MootSeriesKeeper(moots=stores.moots, notices=self.notices, assemblies=lookup, clock=clock,
                                       settings=settings)
        self.notices.before_sweep = self.series.top_up_all
        self.running = MootRunning(moots=stores.moots, notices=stores.notices, proposals=stores.proposals,
                                   assemblies=lookup, clock=clock, settings=settings)
        self.moots = Moots(moots=stores.moots, proposals=stores.proposals, notices=self.notices, assemblies=lookup,
                           clock=clock, settings=settings, series=self.series,
                           minutes=MinutesPoster(moots=stores.moots, poster=poster, assemblies=lookup,
                                                 settings=settings))
        self.roles = Roles(roles=stores.roles, ballots=stores.ballots, notices=stores.notices, assemblies=lookup,
                           polls=polls, poster=poster, clock=clock, settings=settings, prefix=prefix)
        self.actions = Actions(actions=stores.actions, decisions=stores.decisions, moots=stores.moots,
                               notices=stores.notices, assemblies=lookup, poster=poster, clock=clock, settings=settings,
                               prefix=prefix)
        self.offices = Offices(offices=stores.offices, ballots=stores.ballots, roles=self.roles, members=members,
                               assemblies=lookup, seats=seats, poster=poster, clock=clock, settings=settings)
        self.petitions = Petitions(petitions=stores.petitions, roles=self.roles, members=members, clock=clock,
                                   settings=settings)
        self._subscribed = False

    def command_handlers(self) -> list[object]:
        """The objects whose ``@command`` methods the router collects."""
        return [self.proposals, self.decisions, self.moots, self.roles, self.petitions, self.checks, self.running,
                self.actions, self.offices]

    def register(self, dispatcher: Dispatcher) -> None:
        """Consensus checks: reactions are stances, redactions withdraw them, thread replies give reasons."""
        dispatcher.on(ReactionEvent, self.checks.on_reaction)
        dispatcher.on(ReactionEvent, self.running.on_reaction)  # attendance on a moot's start notice
        dispatcher.on(ReactionEvent, self.actions.on_reaction)  # ✅ / ⛔ on an action item
        dispatcher.on(RedactionEvent, self.checks.on_redaction)
        dispatcher.on(RedactedEvent, self.checks.on_redacted)
        dispatcher.on(RoomMessageText, self.checks.on_message)

    async def start(self) -> None:
        """Subscribe to poll results, catch up on moot notices and term reminders, start the checks."""
        if self.polls is not None and not self._subscribed:
            self.polls.on_closed(self.on_poll_closed)
            self._subscribed = True
        await self.notices.start()
        self.scheduler.add_job(self._terms, "interval", seconds=self.settings.check_interval.total_seconds(),
                               id=_TERMS_JOB, replace_existing=True, coalesce=True, max_instances=1)
        await self._terms()

    async def _terms(self) -> None:
        try:
            await self.roles.remind_terms(self.clock())
        except Exception:  # a scheduler job: log, and try again at the next interval
            log.exception("term reminders failed")
        try:
            await self.actions.remind(self.clock())
        except Exception:
            log.exception("action and review reminders failed")

    async def stop(self) -> None:
        """Remove the periodic jobs (a job that was never added is fine)."""
        self.notices.stop()
        if self.scheduler.get_job(_TERMS_JOB) is not None:
            self.scheduler.remove_job(_TERMS_JOB)

    async def on_poll_closed(self, poll_ref: str, origin: str, result: PollOutcome) -> None:
        """A poll closed: if it was one of our ballots, apply its result (once)."""
        ballot_id = parse_ballot_origin(origin or "")
        if ballot_id is None:
            return
        ballot = await self.stores.ballots.get(ballot_id)
        if ballot is None or ballot.status in (BallotStatus.DONE, BallotStatus.ABANDONED):
            return
        if ballot.kind is BallotKind.ELECTION:
            await self.offices.election_closed(ballot, poll_ref, result)
        else:
            await self.decisions.ballot_result(ballot, poll_ref, result)

    async def export_user_data(self, user_id: str) -> dict[str, Any]:
        """What the consensus process holds about ``user_id`` (for ``mydata``)."""
        stores = self.stores
        return {
            "proposals": [{"ref": p.ref, "title": p.title, "created_at": p.created_at.isoformat()}
                          for p in await stores.proposals.by_author(user_id)],
            "moots": [{"ref": m.ref, "scheduled_by_you": m.scheduled_by == user_id, "attended": user_id in m.attendees}
                      for m in await stores.moots.involving(user_id)],
            "roles": [{"assembly": a.assembly, "role": a.role.value, "since": a.since.isoformat(),
                       "term_ends": a.term_ends.isoformat() if a.term_ends else None, "how_decided": a.how_decided.value}
                      for a in await stores.roles.history(user_id)],
            "petitions_signed": await stores.petitions.signed_by(user_id),
            "consensus_checks": await stores.checks.of_user(user_id),
            "action_items": await stores.actions.of_user(user_id),
            "offices": [{"assembly": h.assembly, "office": h.office, "since": h.mandate.since.isoformat(),
                         "how_decided": h.mandate.how_decided.value} for h in await stores.offices.history(user_id)],
            "races_stood_in": await stores.offices.standing_in(user_id),
        }

    async def erase_user_data(self, user_id: str) -> None:
        """Erase attendance, petition signatures and consensus-check stances and reasons (``forget-me``). Proposals, roles and the decision
        record are the assembly's public record and stay."""
        await self.stores.moots.forget_attendee(user_id)
        await self.stores.petitions.forget_signer(user_id)
        await self.stores.checks.forget(user_id)
