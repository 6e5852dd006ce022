"""One assembly: what it is, who may enter, who runs it (pure, no I/O).

An :class:`Assembly` is one body of participants, validated on construction; the registry of all of
them, with nesting, is :class:`harmony_matrix.assemblies.federation.Federation`. The rules for what
people type about assemblies live here too: the slug rule, the kinds and access policies (with
parsers that name the allowed values), and the length limits of names, remits and declarations,
which commands declare and files are checked against.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, replace
from enum import StrEnum
from typing import TypeVar
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from harmony_matrix.assemblies.errors import CycleError, InvalidAssembly
from harmony_matrix.ids import UserId, looks_like_user_id



class AssemblyKind(StrEnum):
    """What sort of body an assembly is (docs/spec/product.md §1). Values are what files and commands use."""

    PARTY = "party"
    WORKING_GROUP = "working-group"
    #: A committee's members are assemblies (usually working groups) nested in it.
    COMMITTEE = "committee"
    SOCIETY_WORKING_GROUP = "society-working-group"
    SOCIETY_COMMITTEE = "society-committee"
    SOCIETY = "society"
    #: A general assembly that is none of the above (e.g. the Trans Liberation Assembly).
    ASSEMBLY = "assembly"
    # Geography, nested smallest to largest: constituency ⊂ city ⊂ region.
    CONSTITUENCY = "constituency"
    CITY = "city"
    REGION = "region"


class Purpose(StrEnum):
    """What an assembly is for (optional; docs/spec/product.md §1 "by purpose")."""

    AID = "aid"
    COMMUNITY_ADVOCACY = "community-advocacy"
    ALLY = "ally"
    POLICY = "policy"
    OPERATIONAL = "operational"


class Access(StrEnum):
    """Who may enter an assembly; each maps to a join rule (docs/spec/product.md §2)."""

    OPEN = "open"
    #: Participants of a parent (umbrella) assembly.
    PARTICIPANTS = "participants"
    #: Anyone who privately declares they belong to the group the assembly is for.
    SELF_IDENTIFIED = "self-identified"
    #: Registered party members.
    MEMBERS = "members"
    #: Whoever a secretary invites.
    INVITE = "invite"
    #: Only the members currently holding a seat drawn by lot (a sortition council), and the bot.
    DRAWN = "drawn"


# --- what people may type --------------------------------------------------------------------
#: Slugs appear in commands, file names and state events: short and unambiguous.
MAX_SLUG_LENGTH = 64
SLUG_RULE = (
    f"a slug is 1–{MAX_SLUG_LENGTH} lowercase letters, digits and hyphens, not starting or ending "
    "with a hyphen"
)
_SLUG = re.compile(rf"^[a-z0-9](?:[a-z0-9-]{{0,{MAX_SLUG_LENGTH - 2}}}[a-z0-9])?$")
#: The name becomes the name of the space and its rooms, the remit their topic, and the declaration
#: is shown to whoever is asked to confirm it. Bounded so that nothing typed into a command or a
#: file can push a state event over the homeserver's size limit; commands declare the same limits.
MAX_NAME_LENGTH = 200
MAX_REMIT_LENGTH = 2000
MAX_DECLARATION_LENGTH = 1000
# A server name as it appears in an ACL glob: letters, digits, dots, dashes, colons, brackets
# (IPv6 literals) and the glob characters.
_SERVER_GLOB = re.compile(r"^[A-Za-z0-9.\-:\[\]*?]+$")
#: A room alias: ``#localpart:server`` (the server part may carry a port).
_SPACE_ALIAS = re.compile(r"^#[^\s:]{1,200}:[A-Za-z0-9.\-\[\]]+(:[0-9]{1,5})?$")

_Enum = TypeVar("_Enum", bound=StrEnum)


def is_valid_slug(text: str) -> bool:
    """True for a slug we accept: lowercase letters, digits and inner hyphens, at most 64 chars."""
    return bool(_SLUG.match(text))


def parse_slug(text: str) -> str:
    """An assembly's slug as typed (``cardiff-west``); a ValueError states the slug rule."""
    if not is_valid_slug(text):
        shown = text if len(text) <= 60 else text[:57] + "…"
        raise ValueError(f'"{shown}" is not a slug: {SLUG_RULE}')
    return text


def parse_enum(enum: type[_Enum], text: str, *, what: str = "value") -> _Enum:
    """``text`` as a member of ``enum``; a ValueError names ``what`` and lists the allowed values."""
    try:
        return enum(text)
    except ValueError:
        allowed = ", ".join(member.value for member in enum)
        raise ValueError(f"unknown {what} {text!r} (allowed: {allowed})") from None


def parse_kind(text: str) -> AssemblyKind:
    """A kind of assembly as typed (``working-group``)."""
    return parse_enum(AssemblyKind, text, what="kind")


def parse_access(text: str) -> Access:
    """An access policy as typed (``self-identified``)."""
    return parse_enum(Access, text, what="access")


def parse_name(text: str) -> str:
    """An assembly's name as typed after a command, quotes around it dropped; at most
    ``MAX_NAME_LENGTH`` characters."""
    name = text.strip().strip('"').strip()
    if not name:
        raise ValueError("the name is empty")
    if len(name) > MAX_NAME_LENGTH:
        raise ValueError(f"the name is {len(name):,} characters long, at most {MAX_NAME_LENGTH:,}")
    return name


@dataclass(frozen=True)
class Assembly:
    """One assembly. Validated on construction; ``InvalidAssembly`` names the bad field."""

    slug: str
    name: str
    kind: AssemblyKind
    access: Access = Access.OPEN
    #: The purpose of action; becomes the space topic.
    remit: str = ""
    #: The party's reference code, e.g. ``HPUK-ASSE-2025-09-4``.
    reference: str | None = None
    #: For ``self-identified`` only: the statement a person privately confirms to get in.
    declaration: str | None = None
    #: Slugs of the umbrella assemblies this one is nested in (order kept for display).
    parents: tuple[str, ...] = ()
    #: Everyone who participates anywhere in the party is invited (the Operational Working Group).
    automatic_participation: bool = False
    secretary: UserId | None = None
    deputies: tuple[UserId, ...] = ()
    purpose: Purpose | None = None
    #: IANA zone for times in this assembly's commands; None = the bot's configured default.
    timezone: str | None = None
    #: Server-name globs blocked from this assembly's rooms (``m.room.server_acl`` deny list).
    denied_servers: tuple[str, ...] = ()
    #: The party-wide body whose decisions are All Thing decisions (``Federation.all_thing_body``);
    #: without a marked one, the federation's single root is that body.
    all_thing: bool = False
    #: Umbrellas on peer instances, by their spaces' aliases (``#party:national.example``): this
    #: instance asks the peer to nest the assembly there (docs/FEDERATION.md).
    remote_parents: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        # Coerce the obvious so callers may pass lists and plain strings; the dataclass stays
        # frozen and hashable.
        object.__setattr__(self, "parents", tuple(self.parents))
        object.__setattr__(self, "deputies", tuple(self.deputies))
        object.__setattr__(self, "denied_servers", tuple(self.denied_servers))
        object.__setattr__(self, "remote_parents", tuple(self.remote_parents))
        self._check()

    def _fail(self, field_name: str, problem: str) -> InvalidAssembly:
        return InvalidAssembly(self.slug, field_name, problem)

    def _coerce(self, field_name: str, enum: type[StrEnum]) -> None:
        # Accept the plain string values too ("open"), as files and stored rows hold them.
        try:
            object.__setattr__(
                self, field_name, parse_enum(enum, getattr(self, field_name), what=field_name)
            )
        except ValueError as exc:
            raise self._fail(field_name, str(exc)) from None

    def _check_length(self, field_name: str, limit: int) -> None:
        value = getattr(self, field_name)
        if value is not None and len(value) > limit:
            raise self._fail(
                field_name, f"the {field_name} is {len(value):,} characters long, at most {limit:,}"
            )

    def _check(self) -> None:
        if not is_valid_slug(self.slug):
            raise self._fail("slug", SLUG_RULE)
        if not self.name.strip():
            raise self._fail("name", "the name is empty")
        self._check_length("name", MAX_NAME_LENGTH)
        self._check_length("remit", MAX_REMIT_LENGTH)
        self._check_length("declaration", MAX_DECLARATION_LENGTH)
        self._coerce("kind", AssemblyKind)
        self._coerce("access", Access)
        if self.purpose is not None:
            self._coerce("purpose", Purpose)
        if self.access is Access.SELF_IDENTIFIED:
            if not (self.declaration and self.declaration.strip()):
                raise self._fail(
                    "declaration",
                    "a self-identified assembly needs the declaration statement people confirm",
                )
        elif self.declaration is not None:
            # A statement on another access policy would never be asked: surely a mistake.
            raise self._fail(
                "declaration", "only a self-identified assembly has a declaration statement"
            )
        for alias in self.remote_parents:
            if not _SPACE_ALIAS.match(alias):
                raise self._fail("remote_parents", f"{alias!r} is not a space alias like #party:national.example")
        if len(set(self.remote_parents)) != len(self.remote_parents):
            raise self._fail("remote_parents", "a remote parent is listed twice")
        if self.access is Access.PARTICIPANTS and not self.parents:
            # "participants of a parent assembly" with no parent would admit nobody.
            raise self._fail(
                "parents", "access 'participants' needs at least one parent assembly"
            )
        for parent in self.parents:
            if not is_valid_slug(parent):
                raise self._fail("parents", f"{parent!r} is not a valid slug")
        if self.slug in self.parents:
            raise CycleError((self.slug, self.slug))
        if len(set(self.parents)) != len(self.parents):
            raise self._fail("parents", "a parent is listed twice")
        people = ([self.secretary] if self.secretary is not None else []) + list(self.deputies)
        for person in people:
            if not looks_like_user_id(person):
                raise self._fail(
                    "secretary" if person == self.secretary else "deputies",
                    f"{person!r} is not a Matrix user ID like @name:example.org",
                )
        if len(set(self.deputies)) != len(self.deputies):
            raise self._fail("deputies", "a deputy is listed twice")
        if self.secretary is not None and self.secretary in self.deputies:
            raise self._fail("deputies", "the secretary is also listed as a deputy")
        if self.timezone is not None:
            try:
                ZoneInfo(self.timezone)
            except (ZoneInfoNotFoundError, ValueError):
                raise self._fail(
                    "timezone", f"{self.timezone!r} is not a time zone (e.g. Europe/London)"
                ) from None
        for server in self.denied_servers:
            if not _SERVER_GLOB.match(server):
                raise self._fail("denied_servers", f"{server!r} is not a server name or glob")

    @property
    def officers(self) -> tuple[UserId, ...]:
        """The secretary (if any) followed by the deputies: who holds moderator power."""
        return ((self.secretary,) if self.secretary is not None else ()) + self.deputies

    def with_parents(self, parents: Iterable[str]) -> Assembly:
        """A copy nested in exactly ``parents``."""
        return replace(self, parents=tuple(parents))
