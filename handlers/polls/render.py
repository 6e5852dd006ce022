"""How a poll reads in a room: its announcement, its options, its status, and its results as a text table
that works without images (plus HTML), and the chart message."""

from __future__ import annotations

from typing import Any
from zoneinfo import ZoneInfo

from handlers.matrix.render import escape, notice, table
from handlers.polls.chart import Chart
from harmony_matrix.polls.poll import Poll, PollOption, option_letter
from harmony_matrix.polls.results import PollResult
from harmony_matrix.when import format_local

#: Why a reaction did not count, as the voter is told privately (once per poll).
NOT_COUNTED = {
    "not-eligible": "Your reaction on poll {ref} ({question}) was not counted, so I removed it: only {who} may "
                    "vote in it, and you were not one when you reacted. If you become eligible while the poll "
                    "is open, simply react again: a reaction sent from then on counts. If you think you should "
                    "already be able to vote, ask an assembly secretary.",
    "unconfirmed": "Your reaction on poll {ref} ({question}) was not counted, so I removed it: only {who} may "
                   "vote in it, and your home instance did not confirm before the poll closed that you were a "
                   "member when you reacted (I asked it over our encrypted link; nothing about you was posted).",
    "closed": "Your reaction on poll {ref} ({question}) was not counted, so I removed it: the poll had already "
              "closed.",
    "secret": "Poll {ref} ({question}) is a secret ballot, so I removed your reaction. Vote here instead, "
              "privately: {prefix} vote {ref} A=5 B=3 … (each option 0 to 5; options you leave out count 0). "
              "I take secret ballots only in an encrypted direct chat.",
}


def unencrypted_refusal(poll: Poll, *, prefix: str, removed: bool) -> str:
    """Why a secret ballot sent in an unencrypted direct chat was not recorded, and what to do instead."""
    message = ("I removed your message from this chat." if removed else
               "Please delete your message from this chat: I could not remove it.")
    return (f"I did not record this ballot: poll {poll.ref} is a secret ballot, and this chat is not "
            "encrypted, so your scores would sit in plaintext on every homeserver in it. Nothing was "
            f"recorded. {message} Open an encrypted direct chat with me (Element encrypts new direct "
            f"chats by default) and send {prefix} vote {poll.ref} … there.")


def secret_receipt(poll: Poll, *, replaced: bool, removed: bool, until: str) -> str:
    """The receipt of a secret ballot. It never repeats the scores: the chat must not keep them."""
    what = "your new ballot (it replaces your previous one)" if replaced else "your ballot"
    if removed:
        kept = (f"I recorded {what} in poll {poll.ref} ({poll.question}) and removed your message from this "
                "chat, so the scores are not kept in the chat history.")
    else:
        kept = (f"I recorded {what} in poll {poll.ref} ({poll.question}), but I could not remove your message "
                "from this chat: please delete it yourself, so the scores are not kept in the chat history.")
    return (f"{kept} You may vote again{until}; only your last ballot counts. When the poll closes, the "
            "stored ballots are unlinked from voters.")


def render_header(poll: Poll, *, who: str, tz: ZoneInfo, prefix: str) -> tuple[str, str]:
    """The poll's announcement (plain, HTML): the question, who may vote, how, and until when."""
    closes = (f"Closes {format_local(poll.closes_at, tz)}, or earlier if a secretary sends "
              f"{prefix} poll close {poll.ref}." if poll.closes_at else
              f"Open until a secretary sends {prefix} poll close {poll.ref}.")
    if poll.secret:
        how = (f"Secret ballot: send me an encrypted direct message: {prefix} vote {poll.ref} A=5 B=3 … "
               "(score each option 0–5; options you leave out count 0; you may vote again until it "
               "closes, the last ballot counts). Only turnout is shown while it is open.")
    else:
        how = ("Score every option from 0 (worst) to 5 (best) by reacting 0️⃣–5️⃣ on its message below. "
               "Your latest reaction on an option counts; remove it to withdraw. Options you don't score "
               "count 0.")
    seats = (f" {poll.seats} seats are filled (Bloc STAR)." if poll.seats > 1 else "")
    lines = [f"📊 Poll {poll.ref}: {poll.question}", f"Who may vote: {who}.{seats}", f"How: {how}", closes]
    html = (f"<b>📊 Poll {escape(poll.ref)}: {escape(poll.question)}</b><br>"
            + "<br>".join(escape(line) for line in lines[1:]))
    return "\n".join(lines), html


def render_option(option: PollOption) -> tuple[str, str]:
    """One option's message, the one people react to (plain, HTML)."""
    letter = option_letter(option.position)
    return f"{letter}. {option.label}", f"<b>{letter}.</b> {escape(option.label)}"


def render_results(poll: Poll, result: PollResult) -> tuple[str, str]:
    """The results as a text table that reads well without images (plain, HTML)."""
    rows = []
    for position, label in enumerate(poll.labels):
        numerator, denominator = result.averages[label]
        average = f"{numerator / denominator:.2f}" if denominator else "0.00"
        rows.append([f"{option_letter(position)}. {label}", result.totals[label], average, result.five_star[label]])
    plain_table, html_table = table(["Option", "Stars", "Average", "5★ ballots"], rows)
    title = f"Results of poll {poll.ref}: {poll.question}"
    lines: list[str] = []
    if result.no_votes:
        lines.append("No votes were cast.")
    word = "Winners (in order of election)" if poll.seats > 1 else "Winner"
    lines.append(f"{word}: {', '.join(result.winners)}")
    runoff = result.runoff
    if runoff:
        lines.append(f"Finalists: {runoff.a} and {runoff.b}. Runoff: {runoff.prefer_a} preferred "
                     f"{runoff.a}, {runoff.prefer_b} preferred {runoff.b}, {runoff.no_preference} "
                     "had no preference.")
    blank = result.blank_or_equal_count
    lines.append(f"Turnout: {result.ballot_count} ballot{'s' if result.ballot_count != 1 else ''}"
                 f" ({blank} blank or scoring every option the same).")
    for step in result.tie_breaks:
        lines.append(f"Tie-break: {step}")
    for lot in result.lots:
        lines.append(f"Decided by lot among {', '.join(lot.options)} → {', '.join(lot.winners)}; "
                     f"seed {lot.seed} (anyone can redo the draw: see 'How lots are drawn' in the README).")
    if poll.secret:
        lines.append("Secret ballot: the stored ballots are no longer linked to voters.")
    plain = "\n".join([title, plain_table, *lines])
    html = (f"<b>{escape(title)}</b>{html_table}<p>" + "<br>".join(escape(line) for line in lines) + "</p>")
    return plain, html


def render_status(poll: Poll, *, turnout: int, tz: ZoneInfo) -> str:
    """One line on a poll: reference, question, open or closed (and when), turnout."""
    state = "open" if poll.is_open else "closed"
    when = ""
    if poll.is_open and poll.closes_at:
        when = f", closes {format_local(poll.closes_at, tz)}"
    elif not poll.is_open and poll.closed_at:
        when = f", closed {format_local(poll.closed_at, tz)}"
    kind = "secret, " if poll.secret else ""
    return f"{poll.ref} {poll.question} — {kind}{state}{when}; {turnout} voted"


def chart_message(chart: Chart, *, filename: str, reply_to: str | None) -> dict[str, Any]:
    """The content of the chart image, as a reply to the poll's announcement; its caption (``body``) is
    the chart in words. The reply relation comes from ``render.notice``, its only builder."""
    return {
        **notice(chart.alt_text, reply_to=reply_to),
        "msgtype": "m.image", "filename": filename,  # the file itself: ``Poster.attachment``
        "info": {"mimetype": "image/png", "w": chart.width, "h": chart.height, "size": len(chart.png)},
    }
