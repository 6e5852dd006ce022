"""What the consensus handlers share: their settings, and how they read an assembly's rooms, time zone,
name and umbrella assemblies through the assemblies feature.

The assemblies feature is reached through ``handlers.ports.AssemblyDirectory`` and may be absent (a
deployment or a test without it): then the command's own room stands in for the assembly's rooms, the
bot's configured zone is used, and no assembly has umbrellas.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import timedelta, tzinfo
from typing import Any, Protocol
from zoneinfo import ZoneInfo

from handlers.matrix.people import display_names as display_names  # re-exported: the consensus edge names people
from handlers.ports import AssemblyDirectory
from harmony_matrix.assemblies.assembly import Assembly
from harmony_matrix.assemblies.federation import Federation
from harmony_matrix.config import AssemblyRulesConfig, ConsensusConfig
from harmony_matrix.consensus.checks import Thresholds
from harmony_matrix.consensus.offices import DEFAULT_MIN_MEMBERS_TO_ELECT, Filling, Office
from harmony_matrix.errors import UserError

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class AssemblyRules:
    """One assembly's own rules (``consensus.assembly_rules``): check thresholds and moot quorum."""

    thresholds: Thresholds | None = None
    quorum: int | None = None


@dataclass(frozen=True)
class ConsensusSettings:
    """The ``consensus`` section of the config, as durations, plus the bot's default time zone."""

    reminders_before: tuple[timedelta, ...]
    end_grace: timedelta
    check_interval: timedelta
    petition_threshold: int
    term_notice: timedelta
    default_moot_duration: timedelta
    ballot_duration: timedelta
    elected_term: timedelta
    default_tz: str
    thresholds: Thresholds = Thresholds()
    quorum: int = 0
    per_assembly: Mapping[str, AssemblyRules] = field(default_factory=dict)
    minutes_copies: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    action_reminder_before: timedelta = timedelta(hours=24)
    party_offices: tuple[Office, ...] = ()  # the party-wide body's offices besides secretary and deputies
    min_members_to_elect: int = DEFAULT_MIN_MEMBERS_TO_ELECT

    def thresholds_for(self, slug: str) -> Thresholds:
        """How a consensus check in ``slug`` is read."""
        own = self.per_assembly.get(slug)
        return own.thresholds if own is not None and own.thresholds is not None else self.thresholds

    def quorum_for(self, slug: str) -> int:
        """Attendees a moot of ``slug`` needs (0: no rule)."""
        own = self.per_assembly.get(slug)
        return own.quorum if own is not None and own.quorum is not None else self.quorum


class PollOutcome(Protocol):
    """What the consensus process reads of a closed poll's result (a ballot's): who won, and the score
    totals that go into the decision record."""

    @property
    def winners(self) -> tuple[str, ...]: ...
    @property
    def totals(self) -> Mapping[str, int]: ...


class AssemblyLookup:
    """The assemblies as the consensus process sees them (see the module docstring)."""

    def __init__(self, *, directory: AssemblyDirectory | None, default_tz: str) -> None:
        self.directory = directory
        self.default_tz = default_tz

    def get(self, slug: str) -> Assembly | None:
        """The registry's entry for ``slug``, or None (unknown, or no assemblies feature)."""
        return None if self.directory is None else self.directory.federation().get(slug)

    def known(self, slug: str) -> bool:
        """Whether ``slug`` names an assembly of the registry."""
        return self.get(slug) is not None

    def which(self, named: str | None, *, here: str | None, usage: str, prefix: str) -> str:
        """The assembly a command is about: the one ``named``, else the room's (``here``). Refused, with
        what to type (``usage``, without the prefix), when neither is given, and when the name is not
        in the registry (rather than answering "nothing in <typo>")."""
        slug = named or here
        if slug is None:
            raise UserError(f"Which assembly? Name it: {prefix} {usage}")
        if self.federation() is not None and not self.known(slug):
            raise UserError(f"There is no assembly called {slug}; {prefix} assemblies lists them.")
        return slug

    def tz_of(self, slug: str) -> tzinfo:
        """The zone the assembly's times are typed and shown in."""
        assembly = self.get(slug)
        return ZoneInfo(assembly.timezone if assembly is not None and assembly.timezone else self.default_tz)

    def name_of(self, slug: str) -> str:
        """The assembly's display name (its slug when it is unknown)."""
        assembly = self.get(slug)
        return assembly.name if assembly is not None else slug

    def federation(self) -> Federation | None:
        """The registry (None without the assemblies feature)."""
        return None if self.directory is None else self.directory.federation()

    def officers(self, slug: str) -> tuple[str, ...]:
        """The assembly's secretary and deputies, as registered."""
        assembly = self.get(slug)
        return assembly.officers if assembly is not None else ()

    def descendants(self) -> Callable[[str], frozenset[str]]:
        """``descendants(slug)``: the assemblies nested in ``slug``, transitively."""
        federation = self.federation()
        if federation is None:
            return lambda slug: frozenset()
        known = federation

        def descendants(slug: str) -> frozenset[str]:
            return known.descendants(slug) if slug in known else frozenset()

        return descendants

    def ancestors(self) -> Callable[[str], frozenset[str]]:
        """``ancestors(slug)``: the umbrella assemblies of ``slug``, transitively (for precedence)."""
        if self.directory is None:
            return lambda slug: frozenset()
        federation = self.directory.federation()

        def ancestors(slug: str) -> frozenset[str]:
            return frozenset(federation.ancestors(slug)) if slug in federation else frozenset()

        return ancestors

    async def room(self, slug: str, kind: str, *, fallback: str) -> str:
        """The assembly's room of ``kind`` (announcements, votes, secretariat), or ``fallback`` when it
        has none (not provisioned yet, or no assemblies feature)."""
        if self.directory is None:
            return fallback
        rooms = await self.directory.rooms_of(slug)
        return rooms.get(kind) or fallback

    async def set_officers(self, slug: str, *, secretary: str | None, deputies: Sequence[str],
                           reason: str) -> None:
        """Hand new officers to the assemblies feature (registry and power levels), if there is one."""
        if self.directory is None:
            log.warning("no assemblies feature: power levels of %s not updated", slug)
            return
        await self.directory.set_officers(slug, secretary=secretary, deputies=list(deputies), reason=reason)


def require_assembly(slug: str | None) -> str:
    """The room's assembly; commands declared with ``Place.ASSEMBLY`` always have one."""
    if slug is None:
        raise UserError("this works in a room of an assembly")
    return slug


def consensus_rules(config: ConsensusConfig) -> dict[str, Any]:
    """The rule settings of ``ConsensusSettings`` read from the ``consensus`` config section: thresholds
    and quorum (with each assembly's own), where minutes are copied, when action owners are reminded, the
    party-wide body's offices and the membership an assembly should have before it elects."""
    sense = config.sense

    def thresholds(own: AssemblyRulesConfig | None = None) -> Thresholds:
        return Thresholds(
            broad_approval=own.broad_approval if own and own.broad_approval is not None else sense.broad_approval,
            broad_disagreement=(own.broad_disagreement if own and own.broad_disagreement is not None
                                else sense.broad_disagreement),
            min_members=own.min_members if own and own.min_members is not None else sense.min_members)

    return {
        "thresholds": thresholds(),
        "quorum": config.quorum,
        "per_assembly": {slug: AssemblyRules(thresholds=thresholds(own), quorum=own.quorum)
                         for slug, own in config.assembly_rules.items()},
        "minutes_copies": {slug: tuple(copies) for slug, copies in config.minutes_copies.items()},
        "action_reminder_before": timedelta(seconds=config.action_reminder_before),
        "party_offices": tuple(Office(name=o.name, title=o.title, filling=Filling(o.filled), seats=o.seats)
                               for o in config.party_offices),
        "min_members_to_elect": config.min_members_to_elect,
    }
