"""Poll rules: which reaction means which score, which reaction counts, and the poll commands' grammar.

Pure: no Matrix, no database, no clock. The Matrix side (``handlers/polls/feature.py``) feeds it what it saw
and stores what it decides.

Rules (``spec/product.md`` §2, ``spec/matrix-facts.md`` §4):

* A reaction key means a score when it is a keycap digit 0–5, with or without the variation selector
  U+FE0F (``"3\\uFE0F\\u20E3"`` from Element, ``"3\\u20E3"`` from other clients), or a plain digit
  ``"3"``. Any other key is not a vote.
* Per voter and option the **latest** reaction counts (by server timestamp, then event ID, so the
  order is the same whoever recounts); older ones on the same option are *superseded*. A withdrawn
  (redacted) reaction counts for nothing.
* A voter's ballot is their counted score per option; options they did not score count 0 in the
  tally (``star.md``).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, tzinfo
from typing import Any, Literal

from harmony_matrix.assemblies.assembly import Federation
from harmony_matrix.errors import UserError
from harmony_matrix.polls.star import MAX_SCORE, MIN_SCORE, StarResult
from harmony_matrix.when import ACCEPTED_FORMS, parse_when

__all__ = [
    "MAX_OPTIONS",
    "MIN_OPTIONS",
    "SEED_KEYS",
    "BallotBuild",
    "CountedReaction",
    "Eligibility",
    "PollSpec",
    "build_ballots",
    "counting_assemblies",
    "describe_eligibility",
    "missing_seed_keys",
    "option_letter",
    "parse_ballot",
    "parse_poll_ref",
    "parse_poll_start",
    "poll_ref",
    "score_of_key",
]

MIN_OPTIONS = 2
MAX_OPTIONS = 20
MAX_OPTION_LENGTH = 200
MAX_QUESTION_LENGTH = 500

KEYCAP = "\u20e3"
VS16 = "\ufe0f"
#: The keys the bot pre-seeds on each option message, as Element sends them (digit, U+FE0F, U+20E3).
SEED_KEYS: tuple[str, ...] = tuple(f"{digit}{VS16}{KEYCAP}" for digit in range(MIN_SCORE, MAX_SCORE + 1))

Eligibility = Literal["members", "participants"]
ELIGIBILITIES: tuple[str, ...] = ("members", "participants")


def score_of_key(key: str) -> int | None:
    """The score a reaction key stands for, or None if it is not a vote (any other emoji)."""
    if not isinstance(key, str):
        return None
    stripped = key.replace(VS16, "")
    if stripped.endswith(KEYCAP):
        stripped = stripped[: -len(KEYCAP)]
    elif len(stripped) != len(key):  # a lone digit + U+FE0F without the keycap is not a vote
        return None
    if len(stripped) == 1 and stripped in "012345":
        return int(stripped)
    return None


def missing_seed_keys(present: Iterable[str]) -> tuple[str, ...]:
    """The pre-seed keys (in score order) not among ``present``, the bot's own reaction keys on one
    option message. Used to finish seeding that a crash interrupted: only these are added."""
    have = set(present)
    return tuple(key for key in SEED_KEYS if key not in have)


# --- who may vote ------------------------------------------------------------------------------------


def counting_assemblies(federation: Federation, slug: str) -> tuple[str, ...]:
    """The assemblies whose participants count as participants of ``slug``: itself first, then every
    assembly nested in it at any depth (sorted), as ``Federation.participates`` counts them.

    A poll with eligibility ``participants`` in one of ``slug``'s rooms lets someone vote who has
    joined the space of any of these."""
    return (slug, *sorted(federation.descendants(slug)))


def describe_eligibility(eligibility: str, *, assembly_name: str | None = None, nested: bool = False) -> str:
    """Who may vote, in words for the poll header and the not-counted message.

    ``assembly_name``: the assembly the poll's room belongs to (None outside assemblies, where
    ``participants`` means the people in the room); ``nested``: whether assemblies are nested in it."""
    if eligibility == "members":
        return "registered party members"
    if eligibility == "participants":
        if assembly_name is None:
            return "people in this room"
        return f"participants of {assembly_name}" + (" (including its nested assemblies)" if nested else "")
    return eligibility


# --- which reaction counts -------------------------------------------------------------------------


@dataclass(frozen=True)
class CountedReaction:
    """A vote reaction the bot accepted: who scored which option (by position) how, and when.

    ``ts`` is the server timestamp in milliseconds (``origin_server_ts``).
    """

    event_id: str
    voter: str
    option: int
    score: int
    ts: int


@dataclass(frozen=True)
class BallotBuild:
    """What :func:`build_ballots` decided.

    ``ballots``: voter → {option position: score} (voters with at least one counted reaction);
    ``counted``: the event ID that counts per (voter, option); ``superseded``: event IDs of older
    reactions that a later one on the same option replaced.
    """

    ballots: dict[str, dict[int, int]]
    counted: dict[tuple[str, int], str]
    superseded: frozenset[str] = field(default_factory=frozenset)


def _order(reaction: CountedReaction) -> tuple[int, str]:
    return reaction.ts, reaction.event_id


def build_ballots(reactions: Iterable[CountedReaction]) -> BallotBuild:
    """Latest reaction per (voter, option) wins; older ones are superseded.

    ``reactions`` are the live (not withdrawn) counted reactions in any order; the result does not
    depend on their order. The same event ID given twice is taken once.
    """
    latest: dict[tuple[str, int], CountedReaction] = {}
    seen: dict[str, CountedReaction] = {}
    for reaction in reactions:
        seen.setdefault(reaction.event_id, reaction)
    for reaction in seen.values():
        key = (reaction.voter, reaction.option)
        current = latest.get(key)
        if current is None or _order(reaction) > _order(current):
            latest[key] = reaction
    ballots: dict[str, dict[int, int]] = {}
    for (voter, option), reaction in sorted(latest.items()):
        ballots.setdefault(voter, {})[option] = reaction.score
    counted = {key: r.event_id for key, r in latest.items()}
    winners = set(counted.values())
    superseded = frozenset(event_id for event_id in seen if event_id not in winners)
    return BallotBuild(ballots=ballots, counted=counted, superseded=superseded)


def named_ballots(options: Sequence[str], ballots: Iterable[Mapping[int, int]]) -> list[dict[str, int]]:
    """Ballots keyed by option position → keyed by option name, as ``tally_star`` takes them."""
    return [{options[position]: score for position, score in ballot.items()} for ballot in ballots]


# --- poll references ---------------------------------------------------------------------------------

_REF = re.compile(r"^(?:#|poll-?|poll\s*#)?(\d{1,9})$", re.IGNORECASE)


def poll_ref(number: int) -> str:
    """The reference people type and see: ``#3``."""
    return f"#{number}"


def parse_poll_ref(text: str) -> int:
    """``#3``, ``poll-3``, ``poll3`` or ``3`` → 3. Raises UserError otherwise."""
    match = _REF.match(text.strip())
    if not match or int(match.group(1)) < 1:
        raise UserError(f'"{text}" is not a poll reference; polls are named like #3 (see !h polls)')
    return int(match.group(1))


def option_letter(position: int) -> str:
    """A, B, … T for positions 0..19 (at most 20 options)."""
    return chr(ord("A") + position)


# --- !h poll start -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class PollSpec:
    """A poll as asked for: validated, ready to open."""

    question: str
    options: tuple[str, ...]
    seats: int = 1
    secret: bool = False
    closes_at: datetime | None = None
    eligibility: Eligibility = "members"


_SETTING = re.compile(r"^(closes|seats|eligibility|secret)(=|$)", re.IGNORECASE)

POLL_START_USAGE = (
    "<question> | <option> | <option> … [closes=<when>] [seats=N] [eligibility=members|participants] [secret]"
)


def parse_poll_start(text: str, *, now: datetime, tz: tzinfo, default_eligibility: str = "members") -> PollSpec:
    """Parse ``<question> | <option> | <option> ... [closes=<when>] [seats=N] [secret]``.

    Settings follow the last option; ``closes=`` takes everything up to the next setting, so
    ``closes=tomorrow 19:00`` needs no quotes. Every problem is a UserError saying exactly what.
    """
    parts = [part.strip() for part in text.split("|")]
    settings_text = ""
    if parts:
        last_words = parts[-1].split(" ")
        for index, word in enumerate(last_words):
            if _SETTING.match(word.strip()):
                settings_text = " ".join(last_words[index:]).strip()
                parts[-1] = " ".join(last_words[:index]).strip()
                break
    question, options = parts[0], parts[1:]
    if not question:
        raise UserError(f"the question is missing; write: {POLL_START_USAGE}")
    if len(question) > MAX_QUESTION_LENGTH:
        raise UserError(f"the question is too long ({len(question)} characters; at most {MAX_QUESTION_LENGTH})")
    if len(options) < MIN_OPTIONS:
        raise UserError(
            f"a poll needs at least {MIN_OPTIONS} options separated by | (got {len(options)}); "
            f"write: {POLL_START_USAGE}")
    if len(options) > MAX_OPTIONS:
        raise UserError(f"a poll can have at most {MAX_OPTIONS} options (got {len(options)})")
    seen: dict[str, int] = {}
    for number, option in enumerate(options, start=1):
        if not option:
            raise UserError(f"option {number} is empty (two | with nothing between them?)")
        if len(option) > MAX_OPTION_LENGTH:
            raise UserError(f"option {number} is too long ({len(option)} characters; at most {MAX_OPTION_LENGTH})")
        folded = option.casefold()
        if folded in seen:
            raise UserError(f'option "{option}" is listed twice (options {seen[folded]} and {number})')
        seen[folded] = number
    settings = _parse_settings(settings_text)
    closes_at = None
    if "closes" in settings:
        try:
            closes_at = parse_when(settings["closes"], now=now, tz=tz, require_future=True)
        except UserError as exc:
            raise UserError(f"closes=: {exc.message}") from None
    seats = 1
    if "seats" in settings:
        raw = settings["seats"]
        if not raw.isdigit() or int(raw) < 1:
            raise UserError(f'seats=: "{raw}" is not a whole number of at least 1')
        seats = int(raw)
        if seats >= len(options):
            raise UserError(f"seats={seats} would elect every option: use fewer seats than options ({len(options)})")
    eligibility = settings.get("eligibility", default_eligibility).lower()
    if eligibility not in ELIGIBILITIES:
        raise UserError(f'eligibility=: "{eligibility}" is not one of: {", ".join(ELIGIBILITIES)}')
    return PollSpec(question=question, options=tuple(options), seats=seats, secret="secret" in settings,
                    closes_at=closes_at, eligibility=eligibility)  # type: ignore[arg-type]


def _parse_settings(text: str) -> dict[str, str]:
    settings: dict[str, str] = {}
    current: str | None = None
    for word in text.split():
        match = _SETTING.match(word)
        if match:
            name = match.group(1).lower()
            if name in settings:
                raise UserError(f"{name} is given twice")
            if name == "secret":
                if match.group(2):
                    raise UserError("secret takes no value: just add the word secret")
                settings[name] = ""
                current = None
                continue
            settings[name] = word[len(name) + 1 :]
            current = name
        elif current == "closes":
            settings["closes"] = f"{settings['closes']} {word}".strip()
        else:
            raise UserError(f'unexpected "{word}" after the options; settings are closes=, seats=, '
                            "eligibility= and secret")
    for name in ("closes", "seats", "eligibility"):
        if name in settings and not settings[name]:
            hint = f" (e.g. {ACCEPTED_FORMS.split(', ')[0]})" if name == "closes" else ""
            raise UserError(f"{name}= has no value{hint}")
    return settings


# --- !h vote -----------------------------------------------------------------------------------------

_BALLOT_ITEM = re.compile(r'\s*(?:"([^"]+)"|([^\s="]+))\s*=\s*(\S+)')


def parse_ballot(text: str, options: Sequence[str]) -> dict[int, int]:
    """``A=5 B=3`` or ``"Option name"=4`` → {option position: score}.

    Options are named by their letter (A, B, …; case-insensitive) or by their full text
    (case-insensitive; quote it if it has spaces). Options not named score 0 in the tally.
    """
    text = text.strip()
    if not text:
        raise UserError("the ballot is empty; score options like A=5 B=3 (0 to 5 each)")
    result: dict[int, int] = {}
    position = 0
    by_name = {option.casefold(): index for index, option in enumerate(options)}
    while position < len(text):
        match = _BALLOT_ITEM.match(text, position)
        if not match:
            rest = text[position:].strip()
            raise UserError(f'I can\'t read "{rest.split()[0] if rest else rest}": score options like A=5 B=3')
        name = match.group(1) or match.group(2)
        raw = match.group(3)
        index = _option_index(name, by_name, len(options))
        if index is None:
            letters = ", ".join(f"{option_letter(i)} ({o})" for i, o in enumerate(options))
            raise UserError(f'"{name}" is not an option of this poll; the options are {letters}')
        score = score_of_key(raw)
        if score is None:
            raise UserError(f'{name}={raw}: scores are whole numbers from {MIN_SCORE} to {MAX_SCORE}')
        if index in result:
            raise UserError(f"{option_letter(index)} ({options[index]}) is scored twice")
        result[index] = score
        position = match.end()
    return result


def _option_index(name: str, by_name: Mapping[str, int], count: int) -> int | None:
    folded = name.casefold()
    if folded in by_name:
        return by_name[folded]
    if len(name) == 1 and name.isascii() and name.isalpha():
        index = ord(name.upper()) - ord("A")
        if 0 <= index < count:
            return index
    return None


# --- a poll as stored --------------------------------------------------------------------------------


@dataclass(frozen=True)
class PollOption:
    """An option and the message people react to (None until posted)."""

    position: int
    label: str
    event_id: str | None = None


@dataclass(frozen=True)
class Poll:
    """A poll as the stores return it. ``number`` is shown as ``#number``."""

    number: int
    room_id: str
    question: str
    options: tuple[PollOption, ...]
    seats: int
    secret: bool
    eligibility: str
    closes_at: datetime | None
    status: str  # "open" or "closed"
    created_by: str
    created_at: datetime
    closed_at: datetime | None = None
    origin: str | None = None
    header_event_id: str | None = None
    result: dict[str, object] | None = None
    results_event_id: str | None = None
    origin_notified: bool = False

    @property
    def ref(self) -> str:
        return poll_ref(self.number)

    @property
    def is_open(self) -> bool:
        return self.status == "open"

    @property
    def labels(self) -> tuple[str, ...]:
        return tuple(option.label for option in self.options)


def summarize_result(poll: Poll, ballots: Sequence[Mapping[int, int]], result: StarResult) -> dict[str, Any]:
    """The stored (JSON) form of a result: what the results message and the chart show."""
    distribution = {label: [0] * 6 for label in poll.labels}
    for ballot in ballots:
        for position, label in enumerate(poll.labels):
            distribution[label][ballot.get(position, 0)] += 1
    runoff = result.runoff
    return {
        "winners": list(result.winners),
        "totals": result.totals,
        "averages": {o: [a.numerator, a.denominator] for o, a in result.averages.items()},
        "five_star": result.five_star,
        "five_star_used": result.five_star_used,
        "finalists": list(result.finalists),
        "runoff": None if runoff is None else {
            "a": runoff.a, "b": runoff.b, "prefer_a": runoff.prefer_a, "prefer_b": runoff.prefer_b,
            "no_preference": runoff.no_preference, "winner": runoff.winner, "decided_by": runoff.decided_by},
        "tie_breaks": list(result.tie_breaks),
        "lots": [{"options": list(lot.options), "winners": list(lot.winners), "seed": lot.seed,
                  "stage": lot.stage, "round": lot.round} for lot in result.lots],
        "ballot_count": result.ballot_count,
        "blank_or_equal_count": result.blank_or_equal_count,
        "no_votes": result.no_votes,
        "distribution": distribution,
    }
