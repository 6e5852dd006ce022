"""What the consensus handlers share: their settings, and how they read an assembly's rooms, time zone,
name and umbrella assemblies through the assemblies feature.

The assemblies feature is reached through ``handlers.ports.AssemblyDirectory`` and may be absent (a
deployment or a test without it): then the command's own room stands in for the assembly's rooms, the
bot's configured zone is used, and no assembly has umbrellas.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import timedelta, tzinfo
from typing import Protocol
from zoneinfo import ZoneInfo

from handlers.ports import AssemblyDirectory
from harmony_matrix.assemblies.assembly import Assembly
from harmony_matrix.errors import UserError

log = logging.getLogger(__name__)


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

    def tz_of(self, slug: str) -> tzinfo:
        """The zone the assembly's times are typed and shown in."""
        assembly = self.get(slug)
        return ZoneInfo(assembly.timezone if assembly is not None and assembly.timezone else self.default_tz)

    def name_of(self, slug: str) -> str:
        """The assembly's display name (its slug when it is unknown)."""
        assembly = self.get(slug)
        return assembly.name if assembly is not None else slug

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
