"""What the consensus handlers (proposals, moots, decisions, roles) share: their collaborators, and
how they find an assembly's rooms, time zone and umbrella assemblies through the assemblies feature.

The assemblies and polls features are reached through narrow Protocols and may be absent (a deployment
or a test without them): then the command's own room stands in for the assembly's rooms, the bot's
configured zone is used, and no assembly has umbrellas.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta, tzinfo
from typing import Any, Protocol
from zoneinfo import ZoneInfo

from handlers.matrix.gateway import MatrixGateway
from handlers.matrix.render import notice
from harmony_matrix.assemblies.assembly import Federation
from harmony_matrix.errors import UserError

log = logging.getLogger(__name__)

#: Marker keys in the content of the bot's consensus messages (for clients, tests and audits).
MOOT_NOTICE = "org.harmony.moot_notice"
PROPOSAL_NOTICE = "org.harmony.proposal"
DECISION_NOTICE = "org.harmony.decision"
BALLOT_NOTICE = "org.harmony.ballot"
TERM_NOTICE = "org.harmony.term"


class AssemblyDirectory(Protocol):
    """The part of the assemblies feature the consensus process uses."""

    async def assembly_of_room(self, room_id: str) -> str | None: ...
    async def rooms_of(self, slug: str) -> Mapping[str, str]: ...
    def federation(self) -> Federation: ...
    async def set_officers(self, slug: str, *, secretary: str | None, deputies: list[str], reason: str) -> None: ...


class PollStarter(Protocol):
    """The part of the polls feature the consensus process uses."""

    async def start_poll(self, *, room_id: str, question: str, options: list[str], seats: int = 1,
                         secret: bool = False, closes_at: datetime | None = None, eligibility: str = "members",
                         created_by: str, origin: str) -> str: ...
    def on_closed(self, callback: Callable[[str, str, Any], Awaitable[None]]) -> None: ...


@dataclass(frozen=True)
class ConsensusSettings:
    reminders_before: tuple[timedelta, ...]
    end_grace: timedelta
    check_interval: timedelta
    petition_threshold: int
    term_notice: timedelta
    default_moot_duration: timedelta
    ballot_duration: timedelta
    elected_term: timedelta
    default_tz: str


class MemberRegistry(Protocol):
    async def is_member(self, user_id: str) -> bool: ...


class Deps:
    """The collaborators every consensus handler gets (built once by the feature)."""

    def __init__(self, *, gateway: MatrixGateway, stores: Any, members: MemberRegistry, scheduler: Any,
                 clock: Callable[[], datetime], settings: ConsensusSettings, features: Mapping[str, object]) -> None:
        self.gateway = gateway
        self.stores = stores  # storage.consensus.stores.ConsensusStores (wired by app.py)
        self.members = members  # the party membership registry: who may petition and sign
        self.scheduler = scheduler
        self.clock = clock
        self.settings = settings
        self._features = features

    @property
    def assemblies(self) -> AssemblyDirectory | None:
        return self._features.get("assemblies")  # type: ignore[return-value]

    @property
    def polls(self) -> PollStarter | None:
        return self._features.get("polls")  # type: ignore[return-value]

    def now(self) -> datetime:
        return self.clock()

    def federation(self) -> Federation | None:
        """The assemblies registry, or None when the bot runs without the assemblies feature."""
        directory = self.assemblies
        return None if directory is None else directory.federation()

    async def assembly_info(self, slug: str) -> Any:
        federation = self.federation()
        return None if federation is None else federation.get(slug)

    async def tz_of(self, slug: str) -> tzinfo:
        info = await self.assembly_info(slug)
        return ZoneInfo(getattr(info, "timezone", None) or self.settings.default_tz)

    async def name_of(self, slug: str) -> str:
        info = await self.assembly_info(slug)
        return getattr(info, "name", None) or slug

    async def ancestors_of(self) -> Callable[[str], frozenset[str]]:
        federation = self.federation()
        if federation is None:
            return lambda slug: frozenset()

        def ancestors(slug: str) -> frozenset[str]:
            return frozenset(federation.ancestors(slug)) if slug in federation else frozenset()

        return ancestors

    async def known_assembly(self, slug: str) -> bool:
        federation = self.federation()
        return federation is not None and slug in federation

    async def room(self, slug: str, kind: str, *, fallback: str) -> str:
        """The assembly's room of ``kind`` (announcements, votes, secretariat), or ``fallback``."""
        directory = self.assemblies
        if directory is None:
            return fallback
        try:
            rooms = await directory.rooms_of(slug)
        except Exception:  # an assembly without rooms yet: answer where we were asked
            log.warning("no rooms known for assembly %s", slug)
            return fallback
        return str(rooms.get(kind) or fallback)

    async def post(self, room_id: str, text: str, html: str | None = None, *, marker: tuple[str, Any] | None = None,
                   txn_seed: str | None = None, thread_root: str | None = None) -> str:
        """Post an ``m.notice``; a deterministic ``txn_seed`` makes a re-post after a crash a no-op."""
        content = notice(text, html)
        if marker is not None:
            content[marker[0]] = marker[1]
        if thread_root is not None:
            content["m.relates_to"] = {"rel_type": "m.thread", "event_id": thread_root, "is_falling_back": True,
                                       "m.in_reply_to": {"event_id": thread_root}}
        return await self.gateway.send_event(room_id, "m.room.message", content, txn_seed=txn_seed)


def require_assembly(slug: str | None) -> str:
    if slug is None:
        raise UserError("this works in a room of an assembly")
    return slug


def split_users(text: str) -> list[str]:
    """``@a:x,@b:x`` or ``@a:x @b:x`` as a list of user IDs, checked."""
    users = [part for part in text.replace(",", " ").split() if part]
    for user in users:
        if not (user.startswith("@") and ":" in user[2:]):
            raise UserError(f'"{user}" is not a Matrix user ID like @name:server')
    return users
