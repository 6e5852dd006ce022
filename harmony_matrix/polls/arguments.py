"""The poll commands' typed arguments: their parsers and their declarations.

Pure. The handlers declare their commands with these (``handlers/polls/commands.py``), so the command
framework hands them typed values: a :class:`PollText`, a closing time (a ``when.When``, placed on the
calendar by the handler, which knows the clock and the zone), a seat count, an
:class:`~harmony_matrix.polls.poll.Eligibility`, a poll number. The one ballot grammar (``vote #3 A=5
B=3``) is here too: it needs the poll's options, so the handler calls :func:`parse_ballot` itself.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, tzinfo

from harmony_matrix.commands import Flag, Option, Param, parse_positive_int
from harmony_matrix.errors import UserError
from harmony_matrix.polls.poll import (
    MAX_OPTION_LENGTH,
    MAX_OPTIONS,
    MAX_QUESTION_LENGTH,
    MIN_OPTIONS,
    Eligibility,
    PollSpec,
    check_choices,
    new_poll_spec,
    option_letter,
    parse_poll_ref,
)
from harmony_matrix.polls.reactions import score_of_key
from harmony_matrix.polls.star import MAX_SCORE, MIN_SCORE
from harmony_matrix.when import When, read_when

__all__ = [
    "CLOSES",
    "ELIGIBILITY",
    "POLL_REF",
    "POLL_TEXT",
    "SCORES",
    "SEATS",
    "SECRET",
    "PollText",
    "parse_ballot",
    "parse_eligibility",
    "parse_poll_text",
    "poll_start_spec",
]


@dataclass(frozen=True)
class PollText:
    """A poll's question and options as typed (``Where? | Pub | Park``), stripped and checked."""

    question: str
    options: tuple[str, ...]


def parse_poll_text(text: str) -> PollText:
    """``question | option | option …`` → :class:`PollText` (``poll.check_choices`` checks it)."""
    question, *options = text.split("|")
    question, choices = check_choices(question, options)
    return PollText(question=question, options=choices)


def parse_eligibility(text: str) -> Eligibility:
    """``members`` or ``participants`` (any case) → :class:`Eligibility`."""
    try:
        return Eligibility(text.strip().lower())
    except ValueError:
        raise UserError(f'"{text}" is not one of: {", ".join(e.value for e in Eligibility)}') from None


def poll_start_spec(poll: PollText, *, closes: When | None, seats: int | None, eligibility: Eligibility | None,
                    secret: bool, now: datetime, tz: tzinfo, default_eligibility: Eligibility) -> PollSpec:
    """The poll ``poll start`` asks for, from its typed arguments: the closing time placed on the calendar
    at ``now`` in ``tz``, the defaults filled in, and the whole checked (``poll.new_poll_spec``)."""
    closes_at = None
    if closes is not None:
        try:
            closes_at = closes.resolve(now=now, tz=tz, require_future=True)
        except UserError as exc:
            raise UserError(f"closes=: {exc.message}") from None
    return new_poll_spec(poll.question, poll.options, now=now, seats=seats or 1, secret=secret, closes_at=closes_at,
                         eligibility=eligibility or default_eligibility)


POLL_TEXT = Param("poll", label="question | option | option …", rest=True, parser=parse_poll_text,
                  help=f"the question, then {MIN_OPTIONS} to {MAX_OPTIONS} options, separated by |",
                  # Room for the longest question and options with their separators; check_choices
                  # names the limit that was passed.
                  max_length=MAX_QUESTION_LENGTH + MAX_OPTIONS * (MAX_OPTION_LENGTH + 3))
CLOSES = Option("closes", parser=read_when, metavar="when", words=True,
                help="when it closes, e.g. tomorrow 19:00, in 2h, 2026-12-01 19:00 (default: when a secretary "
                     "closes it)")
SEATS = Option("seats", help="how many options win (Bloc STAR; default 1)", parser=parse_positive_int, metavar="N")
ELIGIBILITY = Option("eligibility", help="who may vote: members (registered party members) or participants (of the "
                                         "room's assembly, or the room)", parser=parse_eligibility,
                     metavar="members|participants")
SECRET = Flag("secret", help="a secret ballot: votes by direct message, turnout only until it closes")
POLL_REF = Param("poll", help="the poll, e.g. #3", parser=parse_poll_ref)
SCORES = Param("scores", help="option=score pairs, options by letter or name, scores 0–5", rest=True)


# --- vote #3 A=5 B=3 ---------------------------------------------------------------------------------

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
