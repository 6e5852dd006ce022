"""The narrow interfaces one part of the edge needs from another, declared once.

A feature reaches another feature, a store or the scheduler only through these Protocols (or the store
Protocols declared beside the feature that owns the store). The composition root passes the real
objects, and mypy checks there that they fit: a Protocol that drifts from its implementation is a type
error, not a surprise at run time.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping, Sequence
from datetime import datetime
from typing import Any, Protocol

from harmony_matrix.assemblies.federation import Federation
from harmony_matrix.federation_peers.decisions import RemoteRecord
from harmony_matrix.polls.results import PollResult

#: "Now", as a timezone-aware datetime; tests pass their own clock.
Clock = Callable[[], datetime]


class MemberRegistry(Protocol):
    """The party membership registry: who is a registered member (and so may vote)."""

    async def is_member(self, user_id: str) -> bool: ...


class Scheduler(Protocol):
    """The part of APScheduler's ``AsyncIOScheduler`` the features use: jobs by ID."""

    def add_job(self, func: Any, trigger: str | None = None, **options: Any) -> Any: ...
    def remove_job(self, job_id: str) -> None: ...
    def get_job(self, job_id: str) -> Any: ...
    def get_jobs(self) -> list[Any]: ...


class AssemblyDirectory(Protocol):
    """What other features read from the assemblies feature: the registry, which assembly a room
    belongs to and an assembly's rooms (keyed by room kind, ``"space"`` among them)."""

    def federation(self) -> Federation: ...
    async def assembly_of_room(self, room_id: str) -> str | None: ...
    async def rooms_of(self, slug: str) -> Mapping[str, str]: ...
    async def set_officers(self, slug: str, *, secretary: str | None, deputies: list[str],
                           reason: str) -> None: ...


class SeatDirectory(Protocol):
    """What the assemblies feature reads of the seats drawn by lot (the sortition feature holds them):
    where a person holds a seat within its term (access), and who holds moderator power by one."""

    async def seated_in(self, user_id: str) -> frozenset[str]: ...

    async def seats_by_person(self) -> Mapping[str, frozenset[str]]:
        """Everyone holding a seat within its term → the assemblies where (one read, for a sweep)."""
        ...

    async def seat_moderators(self, slug: str) -> frozenset[str]: ...


class SeatHolders(Protocol):
    """What the consensus feature reads of the seats drawn by lot, to list them beside the offices: who
    holds a seat of an assembly now."""

    async def seat_holders(self, slug: str) -> frozenset[str]: ...


#: A space on another instance and the servers to reach it through.
RemoteSpace = tuple[str, Sequence[str]]


class RemoteTree(Protocol):
    """What the assemblies feature reads of nestings across instances (the federation feature holds
    them): the remote umbrellas and the remote nested spaces of an assembly, once both sides agreed."""

    async def remote_parents(self, slug: str) -> list[RemoteSpace]: ...
    async def remote_children(self, slug: str) -> list[RemoteSpace]: ...
    async def participates_remotely(self, user_id: str) -> frozenset[str]:
        """Slugs of local umbrellas the person takes part in through a space nested from another
        instance (they joined it). Sensitive like all participation: never log or post it."""
        ...

    async def remote_listing(self) -> Mapping[str, tuple[tuple[str, ...], tuple[str, ...]]]:
        """slug → (its remote umbrellas, its remote nested assemblies), as labels to show."""
        ...


class RemoteDecisions(Protocol):
    """What the consensus feature reads of decisions published on peer instances (the federation
    feature reads them from the remote umbrellas' spaces and checks them)."""

    async def remote_record(self, slug: str) -> RemoteRecord: ...


class AssemblySeating(Protocol):
    """What the sortition feature uses of the assemblies feature: the registry, an assembly's rooms,
    and telling it that the seats of an assembly changed (power levels, invitations, enforcement)."""

    def federation(self) -> Federation: ...
    async def rooms_of(self, slug: str) -> Mapping[str, str]: ...
    async def seats_changed(self, slug: str, *, seated: Sequence[str], reason: str) -> None: ...


#: ``await callback(poll_ref, origin, result)`` after a poll with an origin closes (``PollStarter.on_closed``).
ClosedCallback = Callable[[str, str, PollResult], Awaitable[None]]


class PollStarter(Protocol):
    """What other features (consensus: deadlock ballots, elections) use of the polls feature."""

    async def start_poll(self, *, room_id: str, question: str, options: list[str], seats: int = 1,
                         secret: bool = False, closes_at: datetime | None = None, eligibility: str = "members",
                         created_by: str, origin: str) -> str: ...

    def on_closed(self, callback: ClosedCallback) -> None: ...


class PublicLinks(Protocol):
    """Addresses of the public web view's pages, for posts to link to their page; every method returns
    None while the web view is off (``handlers.web.links.WebLinks``; ``Services.links`` in the app)."""

    def url_for_decision(self, ref: str) -> str | None: ...
    def url_for_assembly(self, slug: str) -> str | None: ...
    def url_for_poll(self, number: int) -> str | None: ...
