"""Command grammar: one declaration per command, parsing, permission levels and generated help.

A command is declared once (``CommandSpec``): its words (``"poll start"``), aliases, typed parameters,
a summary, an example, the role it needs and where it may run. Everything else — parsing, the usage
line, ``!h help``, the refusal messages — is derived from the declaration, so they cannot drift apart.
This module is pure: handlers attach the function that runs the command (``CommandSpec.handler``).
The table of all commands and the help generated from it are in ``harmony_matrix.command_table``.
"""

from __future__ import annotations

import enum
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from harmony_matrix.errors import UserError
from harmony_matrix.ids import UserId, parse_user_id


class Role(enum.IntEnum):
    """What the sender is, ordered: each role may do everything the lower ones may."""

    EVERYONE = 0
    SECRETARY = 50
    ADMIN = 100


class Place(enum.Enum):
    """Where a command may run."""

    ANYWHERE = "anywhere"
    DIRECT = "direct"  # a direct-message room with the bot (private answers, ballots)
    #: A direct chat that is end-to-end encrypted, so the homeserver cannot read it: for commands whose
    #: input or answer is special-category data (membership, declarations, self-descriptions). A
    #: deployment may relax it to ``DIRECT`` (``privacy.private_commands_need_encryption``: ``relaxed``).
    ENCRYPTED_DIRECT = "encrypted-direct"
    ASSEMBLY = "assembly"  # a room of an assembly (management happens in its secretariat)


PLACE_WORDS = {
    Place.ANYWHERE: "in any room",
    Place.DIRECT: "in a direct message with me",
    Place.ENCRYPTED_DIRECT: "in an encrypted direct message with me",
    Place.ASSEMBLY: "in a room of an assembly",
}
#: Why a place is what it is, said with a refusal (what counts as a direct chat: ``handlers/matrix/direct.py``).
PLACE_REASONS = {
    Place.DIRECT: "a room with only you and me in it, which nobody joins without an invite",
    Place.ENCRYPTED_DIRECT: "a room with only you and me in it, encrypted so that not even the homeserver "
                            "can read it",
}
#: What to do when a private command comes in a direct chat that is not encrypted.
HOW_TO_ENCRYPT = ("Start a new direct chat with me (Element encrypts direct chats by default) or turn on "
                  "encryption in this room's settings, then send it again.")
ROLE_WORDS = {Role.EVERYONE: "everyone", Role.SECRETARY: "secretaries", Role.ADMIN: "admins"}


class CommandParseError(UserError):
    """The arguments do not fit the declaration; carries the usage line to show with the problem."""

    def __init__(self, problem: str, usage: str) -> None:
        super().__init__(f"{problem}\nUsage: {usage}")
        self.problem = problem
        self.usage = usage


Parser = Callable[[str], Any]

#: Default limits on what people type, so that nothing they send can make the bot write an event over
#: the homeserver's size limit, and every refusal names the limit. A declaration may set its own.
DEFAULT_WORD_LENGTH = 200
DEFAULT_REST_LENGTH = 4000
#: The longest command text the router reads at all.
MAX_COMMAND_LENGTH = 20_000
#: How much of what someone typed a refusal quotes back.
QUOTE_LENGTH = 80


def parse_word(text: str) -> str:
    """The default parser: the text as typed."""
    return text


def parse_user(text: str) -> UserId:
    """A Matrix user ID; Element pastes mentions as plain ``@name:server`` in the body."""
    return parse_user_id(text)


def parse_users(text: str) -> tuple[UserId, ...]:
    """``@a:x,@b:x`` or ``@a:x @b:x``: several user IDs, each checked, in the order given."""
    users = tuple(parse_user_id(part) for part in text.replace(",", " ").split())
    if not users:
        raise ValueError("name at least one Matrix user ID like @name:server")
    return users


def parse_positive_int(text: str) -> int:
    """A whole number of at least 1 (digits only: no sign, no spaces)."""
    if not text.isdigit() or int(text) < 1:
        raise ValueError(f'"{text}" is not a whole number of at least 1')
    return int(text)


@dataclass(frozen=True)
class Param:
    """A positional parameter. ``rest=True`` takes all remaining text verbatim (must be last)."""

    name: str
    help: str = ""
    parser: Parser = parse_word
    optional: bool = False
    rest: bool = False
    choices: tuple[str, ...] = ()
    label: str = ""  # what the usage line shows instead of the name, e.g. "question | option | option …"
    max_length: int | None = None  # characters; None: DEFAULT_WORD_LENGTH, or DEFAULT_REST_LENGTH for rest

    @property
    def limit(self) -> int:
        """The most characters the value may have."""
        if self.max_length is not None:
            return self.max_length
        return DEFAULT_REST_LENGTH if self.rest else DEFAULT_WORD_LENGTH

    def usage(self) -> str:
        """How the usage line shows this parameter."""
        label = "|".join(self.choices) if self.choices else f"<{self.label or self.name}>"
        if self.rest and not self.choices and not self.label:
            label = f"<{self.name}…>"
        return f"[{label}]" if self.optional else label


@dataclass(frozen=True)
class Option:
    """A ``key=value`` option, accepted anywhere after the command words."""

    name: str
    help: str = ""
    parser: Parser = parse_word
    metavar: str = ""
    max_length: int = 500  # characters of the raw value
    #: The value may be several words without quotes (``closes=tomorrow 19:00``): it runs to the next
    #: declared option, leaving the command's flags at its end to the flags.
    words: bool = False

    def usage(self) -> str:
        """How the usage line shows this option."""
        return f"[{self.name}=<{self.metavar or self.name}>]"


@dataclass(frozen=True)
class Flag:
    """A bare word at the end of the command that switches something on (``secret``)."""

    name: str
    help: str = ""

    def usage(self) -> str:
        """How the usage line shows this flag."""
        return f"[{self.name}]"


#: ``CommandSpec.manages`` value: the command acts on the assembly of the room it is sent in.
ROOM_ASSEMBLY = "<room>"


@dataclass(frozen=True)
class CommandSpec:
    """The single declaration of a command."""

    name: str
    summary: str
    example: str
    params: tuple[Param, ...] = ()
    options: tuple[Option, ...] = ()
    flags: tuple[Flag, ...] = ()
    aliases: tuple[str, ...] = ()
    role: Role = Role.EVERYONE
    place: Place = Place.ANYWHERE
    #: The assembly the command acts on, whose officers (or admins) alone may run it: the name of the
    #: parameter or option that names it (its parsed value is a slug), with the room's own assembly
    #: when that argument is left out; or ``ROOM_ASSEMBLY`` for the room's assembly. None: no resource.
    manages: str | None = None
    handler: Callable[..., Any] | None = field(default=None, compare=False, repr=False)

    def __post_init__(self) -> None:
        for param in self.params[:-1]:
            if param.rest:
                raise ValueError(f"{self.name}: only the last parameter may take the rest")
        names = {p.name for p in self.params} | {o.name for o in self.options}
        if self.manages not in (None, ROOM_ASSEMBLY) and self.manages not in names:
            raise ValueError(f"{self.name}: manages={self.manages!r} names no parameter or option")

    def managed_assembly(self, args: Mapping[str, Any], room_assembly: str | None) -> str | None:
        """The slug of the assembly this invocation acts on (see ``manages``)."""
        if self.manages is None:
            return None
        if self.manages == ROOM_ASSEMBLY:
            return room_assembly
        value = args.get(self.manages)
        return str(value) if value is not None else room_assembly

    @property
    def words(self) -> tuple[str, ...]:
        """The command's name, word by word."""
        return tuple(self.name.split())

    def usage(self, prefix: str = "!h") -> str:
        """The usage line, e.g. ``!h poll start <question…> [closes=<closes>] [secret]``."""
        parts = [prefix, self.name]
        parts += [p.usage() for p in self.params]
        parts += [o.usage() for o in self.options]
        parts += [f.usage() for f in self.flags]
        return " ".join(parts)

    def with_handler(self, handler: Callable[..., Any]) -> CommandSpec:
        """The same declaration, run by ``handler``."""
        return CommandSpec(**{**self.__dict__, "handler": handler})

    def relaxed(self) -> CommandSpec:
        """The same declaration with ``Place.ENCRYPTED_DIRECT`` relaxed to ``Place.DIRECT`` (for a
        deployment whose direct chats cannot be encrypted: ``privacy.private_commands_need_encryption``)."""
        if self.place is not Place.ENCRYPTED_DIRECT:
            return self
        return CommandSpec(**{**self.__dict__, "place": Place.DIRECT})


@dataclass(frozen=True)
class Invocation:
    """A message that addressed the bot: which prefix, and the text after it."""

    prefix: str
    text: str


def find_invocation(body: str, prefixes: Sequence[str]) -> Invocation | None:
    """Return the invocation if ``body`` starts with a prefix followed by a space or the end."""
    stripped = strip_reply_fallback(body).strip()
    # Longest prefix first, so "!harmony" is not mistaken for "!h" + "armony".
    for prefix in sorted(prefixes, key=len, reverse=True):
        if stripped == prefix or stripped.startswith(prefix + " ") or stripped.startswith(prefix + "\n"):
            return Invocation(prefix=prefix, text=stripped[len(prefix) :].strip())
    return None


def strip_reply_fallback(body: str) -> str:
    """Drop the ``> <@user> quoted`` lines clients put before a reply's own text."""
    lines = body.split("\n")
    if lines and lines[0].startswith("> <"):
        while lines and lines[0].startswith(">"):
            lines.pop(0)
        while lines and not lines[0].strip():
            lines.pop(0)
    return "\n".join(lines)


_TOKEN = re.compile(r'\s*(?:"((?:[^"\\]|\\.)*)"|(\S+))')


def tokenize(text: str) -> list[tuple[str, int, int]]:
    """Split into tokens, honouring double quotes; returns (token, start, end) spans."""
    tokens: list[tuple[str, int, int]] = []
    pos = 0
    while pos < len(text):
        match = _TOKEN.match(text, pos)
        if not match or match.end() == pos:
            break
        value = match.group(1) if match.group(1) is not None else match.group(2)
        if match.group(1) is not None:
            value = value.replace('\\"', '"')
        quoted = match.group(1) is not None
        # The start includes the opening quote, so a rest parameter keeps the text verbatim.
        start = match.start(1) - 1 if quoted else match.start(2)
        tokens.append((value, start, match.end()))
        pos = match.end()
    return tokens


_OPTION = re.compile(r'(?:^|\s)([a-z][a-z_-]*)=("(?:[^"\\]|\\.)*"|\S*)')


def extract_options(text: str, names: Iterable[str], *, words: Iterable[str] = (),
                    flags: Iterable[str] = ()) -> tuple[str, dict[str, str]]:
    """Pull ``name=value`` options out of ``text`` (anywhere) and return (remaining text, options).

    Only declared names are taken, so an equals sign in free text (``A=5`` in a ballot) survives when
    it is not a declared option. A repeated option is an error. An option named in ``words`` takes an
    unquoted value of several words: up to the next declared option, without the ``flags`` at its end
    (``closes=tomorrow 19:00 secret``).
    """
    wanted = set(names)
    several = set(words)
    flag_words = set(flags)
    matches = [match for match in _OPTION.finditer(text) if match.group(1) in wanted]
    found: dict[str, str] = {}
    kept: list[str] = []
    last = 0
    for index, match in enumerate(matches):
        key, raw = match.group(1), match.group(2)
        if key in found:
            raise ValueError(f"{key}= is given twice")
        end = match.end()
        if key in several and not raw.startswith('"'):
            stop = matches[index + 1].start() if index + 1 < len(matches) else len(text)
            more = list(re.finditer(r"\S+", text[end:stop]))
            while more and more[-1].group() in flag_words:
                more.pop()
            if more:
                raw = " ".join([raw, *(word.group() for word in more)]).strip()
                end += more[-1].end()
        found[key] = raw[1:-1].replace('\\"', '"') if raw.startswith('"') else raw
        kept.append(text[last : match.start()])
        last = end
    kept.append(text[last:])
    return " ".join(part.strip() for part in kept if part.strip()), found


def bind_arguments(spec: CommandSpec, text: str, *, prefix: str = "!h") -> dict[str, Any]:
    """Parse the text after the command words into keyword arguments for the handler."""
    usage = spec.usage(prefix)
    try:
        remaining, raw_options = extract_options(text, (o.name for o in spec.options),
                                                 words=(o.name for o in spec.options if o.words),
                                                 flags=(f.name for f in spec.flags))
    except ValueError as exc:
        raise CommandParseError(str(exc), usage) from None
    for flag in spec.flags:
        if re.search(rf"(?:^|\s){re.escape(flag.name)}=", remaining):
            raise CommandParseError(f"{flag.name} takes no value: just add the word {flag.name}", usage)
    unknown = re.findall(r'(?:^|\s)([a-z][a-z_-]*)=', remaining)
    if spec.options and unknown and not any(p.rest for p in spec.params):
        known = ", ".join(f"{o.name}=" for o in spec.options)
        raise CommandParseError(f"unknown option {unknown[0]}= (known: {known})", usage)

    args: dict[str, Any] = {}
    for option in spec.options:
        if option.name in raw_options:
            _check_length(f"{option.name}=", raw_options[option.name], option.max_length, usage)
            try:
                args[option.name] = option.parser(raw_options[option.name])
            except (ValueError, UserError) as exc:
                raise CommandParseError(f"{option.name}=: {_message(exc)}", usage) from None
        else:
            args[option.name] = None

    tokens = tokenize(remaining)
    flag_names = {f.name for f in spec.flags}
    for flag in spec.flags:
        args[flag.name] = False
    while tokens and tokens[-1][0] in flag_names:
        args[tokens[-1][0]] = True
        tokens.pop()
    end_of_text = tokens[-1][2] if tokens else 0
    remaining = remaining[:end_of_text]

    index = 0
    for param in spec.params:
        if param.rest:
            value = remaining[tokens[index][1] :].strip() if index < len(tokens) else ""
            index = len(tokens)
            if not value:
                if param.optional:
                    args[param.name] = None
                    continue
                raise CommandParseError(f"<{param.name}> is missing", usage)
        elif index < len(tokens):
            value = tokens[index][0]
            index += 1
        elif param.optional:
            args[param.name] = None
            continue
        else:
            raise CommandParseError(f"<{param.name}> is missing", usage)
        _check_length(f"<{param.name}>", value, param.limit, usage)
        if param.choices and value not in param.choices:
            raise CommandParseError(
                f'"{quoted(value)}" is not one of: {", ".join(param.choices)}', usage
            )
        try:
            args[param.name] = param.parser(value)
        except (ValueError, UserError) as exc:
            raise CommandParseError(f"<{param.name}>: {_message(exc)}", usage) from None
    if index < len(tokens):
        extra = " ".join(t[0] for t in tokens[index:])
        raise CommandParseError(f'unexpected "{quoted(extra)}"', usage)
    return args


def _check_length(what: str, value: str, limit: int, usage: str) -> None:
    if len(value) > limit:
        raise CommandParseError(f"{what} is too long: {len(value):,} characters, at most {limit:,}", usage)


def quoted(text: str, limit: int = QUOTE_LENGTH) -> str:
    """What someone typed, to quote back in a refusal: at most ``limit`` characters, then "…"."""
    return text if len(text) <= limit else text[: limit - 1].rstrip() + "…"


def _message(exc: Exception) -> str:
    return exc.message if isinstance(exc, UserError) else str(exc)


def length_refusal(text: str) -> str | None:
    """Why a command text is too long to read at all (``MAX_COMMAND_LENGTH``), or None."""
    if len(text) <= MAX_COMMAND_LENGTH:
        return None
    return f"That command is too long for me to read: {len(text):,} characters, at most {MAX_COMMAND_LENGTH:,}."


def refusal(spec: CommandSpec, *, role: Role, place_ok: bool, prefix: str, in_direct: bool = False) -> str | None:
    """Why the sender may not run ``spec`` here, or None if they may (before its arguments are read;
    the resource it ``manages`` is checked against its arguments by ``management_refusal``).
    ``in_direct``: the command came in a direct chat with the bot (encrypted or not)."""
    if role < spec.role:
        who = f": {prefix} offices shows who they are" if spec.role is Role.SECRETARY else ""
        return f"{prefix} {spec.name} is for {ROLE_WORDS[spec.role]} only{who}."
    if not place_ok and spec.place is Place.ENCRYPTED_DIRECT and in_direct:
        return (f"{prefix} {spec.name} carries private data (party membership, declarations, self-descriptions), "
                "so I only do it in an encrypted direct chat, and this one is not encrypted: the homeserver can "
                f"read it. {HOW_TO_ENCRYPT} I have done nothing.")
    if not place_ok:
        reason = PLACE_REASONS.get(spec.place)
        return f"{prefix} {spec.name} works {PLACE_WORDS[spec.place]}" + (f": {reason}." if reason else ".")
    return None


def management_refusal(spec: CommandSpec, *, slug: str | None, manages: bool, is_admin: bool,
                       prefix: str) -> str | None:
    """Why the sender may not run ``spec`` on the assembly ``slug`` it acts on, or None if they may.

    ``manages`` says whether the sender is an officer (secretary or deputy) of that assembly; admins
    may act on every assembly, and alone on the top level (no assembly)."""
    if spec.manages is None or is_admin:
        return None
    if slug is None:
        return f"Only admins may run {prefix} {spec.name} outside an assembly; name the assembly, or run it in one of its rooms."
    if not manages:
        return f"Only the secretaries and deputies of {slug} (or admins) may run {prefix} {spec.name} for it."
    return None
