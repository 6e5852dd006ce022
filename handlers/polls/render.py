"""How a poll's results and status read in a room: a text table that works without images, plus HTML."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any
from zoneinfo import ZoneInfo

from handlers.matrix.render import escape, table
from harmony_matrix.polls.poll import Poll, option_letter
from harmony_matrix.when import format_local


def render_results(poll: Poll, result: Mapping[str, Any]) -> tuple[str, str]:
    """The results as a text table that reads well without images (plain, HTML)."""
    labels = poll.labels
    rows = []
    for position, label in enumerate(labels):
        numerator, denominator = result["averages"][label]
        average = f"{numerator / denominator:.2f}" if denominator else "0.00"
        rows.append([f"{option_letter(position)}. {label}", result["totals"][label], average,
                     result["five_star"][label]])
    plain_table, html_table = table(["Option", "Stars", "Average", "5★ ballots"], rows)
    winners = result["winners"]
    title = f"Results of poll {poll.ref}: {poll.question}"
    lines: list[str] = []
    if result["no_votes"]:
        lines.append("No votes were cast.")
    word = "Winners (in order of election)" if poll.seats > 1 else "Winner"
    lines.append(f"{word}: {', '.join(winners)}")
    runoff = result.get("runoff")
    if runoff:
        lines.append(f"Finalists: {runoff['a']} and {runoff['b']}. Runoff: {runoff['prefer_a']} preferred "
                     f"{runoff['a']}, {runoff['prefer_b']} preferred {runoff['b']}, {runoff['no_preference']} "
                     "had no preference.")
    blank = result["blank_or_equal_count"]
    lines.append(f"Turnout: {result['ballot_count']} ballot{'s' if result['ballot_count'] != 1 else ''}"
                 f" ({blank} blank or scoring every option the same).")
    for step in result["tie_breaks"]:
        lines.append(f"Tie-break: {step}")
    for lot in result["lots"]:
        lines.append(f"Decided by lot among {', '.join(lot['options'])} → {', '.join(lot['winners'])}; "
                     f"seed {lot['seed']} (anyone can redo the draw: see 'How lots are drawn' in the README).")
    if poll.secret:
        lines.append("Secret ballot: the stored ballots are no longer linked to voters.")
    plain = "\n".join([title, plain_table, *lines])
    html = (f"<b>{escape(title)}</b>{html_table}<p>" + "<br>".join(escape(line) for line in lines) + "</p>")
    return plain, html


def render_status(poll: Poll, *, turnout: int, tz: ZoneInfo) -> str:
    state = "open" if poll.is_open else "closed"
    when = ""
    if poll.is_open and poll.closes_at:
        when = f", closes {format_local(poll.closes_at, tz)}"
    elif not poll.is_open and poll.closed_at:
        when = f", closed {format_local(poll.closed_at, tz)}"
    kind = "secret, " if poll.secret else ""
    return f"{poll.ref} {poll.question} — {kind}{state}{when}; {turnout} voted"
