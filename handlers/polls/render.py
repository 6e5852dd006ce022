"""How a poll reads in a room: its announcement, its options, its status, and its results as a text table
that works without images (plus HTML), and the chart message."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any
from zoneinfo import ZoneInfo

from handlers.matrix.people import either
from handlers.matrix.render import escape, escape_attribute, notice, table
from handlers.polls.chart import Chart
from harmony_matrix.polls.poll import Poll, PollOption, option_letter
from harmony_matrix.polls.results import PollResult
from harmony_matrix.when import format_local

#: Why a reaction did not count, as the voter is told privately (once per poll).
NOT_COUNTED = {
    "not-eligible": "Your reaction on poll {ref} ({question}) was not counted, so I removed it: only {who} may "
                    "vote in it, and you were not one when you reacted. {remedy} If you become eligible while "
                    "the poll is open, simply react again: a reaction sent from then on counts.",
    "unconfirmed": "Your reaction on poll {ref} ({question}) was not counted, so I removed it: only {who} may "
                   "vote in it, and your home instance did not confirm before the poll closed that you were a "
                   "member when you reacted (I asked it over our encrypted link; nothing about you was posted).",
    "closed": "Your reaction on poll {ref} ({question}) was not counted, so I removed it: the poll had already "
              "closed.",
    "secret": "Poll {ref} ({question}) is a secret ballot, so I removed your reaction. Vote here instead, "
              "privately: {prefix} vote {ref} A=5 B=3 … (each option 0 to 5; options you leave out count 0). "
              "I take secret ballots only in an encrypted direct chat.",
}


def eligibility_remedy(*, user_id: str, prefix: str, members_only: bool, is_admin: bool,
                       assembly: tuple[str, str] | None, officers: Sequence[str], admins: Sequence[str],
                       is_officer: bool = False) -> str:
    """What someone who was not eligible can do about it (one or two sentences).

    ``members_only``: the poll is for registered party members (registration is an admin's
    ``member add``, sent in a direct chat); otherwise for participants of ``assembly`` (slug, name),
    which the person joins. ``officers`` (the others: not the person) and ``admins``: the people to
    ask, already named (``people.display_names``); ``is_officer``: the person is one of the assembly's."""
    if not members_only and assembly is not None:
        return f"To take part, join {assembly[1]}: send {prefix} join {assembly[0]} to me here."
    if is_admin:
        return (f"You are an admin, so you can register yourself: send {prefix} member add {user_id} to me "
                "here, in this direct chat.")
    if is_officer and assembly is not None:
        whom = either(admins) if admins else "the people who run this bot"
        return f"Registration is done by the party's admins: as a secretary of {assembly[1]}, ask {whom}."
    if officers and assembly is not None:
        return (f"Registration is done by the party's admins; the secretaries of {assembly[1]} can arrange "
                f"it: ask {either(officers)}.")
    if admins:
        return f"Registration is done by the party's admins: ask {either(admins)}."
    return "Registration is done by the party's admins: ask the people who run this bot."


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


#: The scale in words: clients order reactions by count (Hydrogen) or by first use, so the seeded
#: 0️⃣–5️⃣ order cannot be relied on to say which keycap is which score.
SCALE_WORDS = ("Score every option from 0 (worst) to 5 (best) by reacting with the keycap of that number "
               "(0️⃣ 1️⃣ 2️⃣ 3️⃣ 4️⃣ 5️⃣) on its message below; your client may show them in any order: "
               "the number on the keycap is the score.")

#: Said in the header when the bot may not remove reactions in the poll's room (``power.may_redact_others``).
REACTIONS_STAY = ("Note: I lack the power to remove reactions in this room, so a replaced score or a "
                  "reaction that does not count stays visible: the counts under the options are not the "
                  "tally; the results I post at the close are. A room admin can fix this by making me a "
                  "moderator here.")


#: Said when the bot puts one of each keycap on every option (``polls.seed_reactions``): the counts
#: clients show are one higher than the votes.
SEEDED = "Each option starts with one of each keycap from me, to click on; mine do not count."


def render_header(poll: Poll, *, who: str, tz: ZoneInfo, prefix: str, reactions_stay: bool = False,
                  page: str | None = None, seeded: bool = False) -> tuple[str, str]:
    """The poll's announcement (plain, HTML): the question, who may vote, how, and until when;
    ``reactions_stay`` when the bot may not remove reactions there, ``page`` its public web page,
    ``seeded`` when the bot puts the keycaps on every option."""
    closes = (f"Closes {format_local(poll.closes_at, tz)}, or earlier if a secretary sends "
              f"{prefix} poll close {poll.ref}." if poll.closes_at else
              f"Open until a secretary sends {prefix} poll close {poll.ref}.")
    if poll.secret:
        how = (f"Secret ballot: send me an encrypted direct message: {prefix} vote {poll.ref} A=5 B=3 … "
               "(score each option 0 (worst) to 5 (best); options you leave out count 0; you may vote again "
               "until it closes, the last ballot counts). Only turnout is shown while it is open.")
    else:
        how = (f"{SCALE_WORDS} Your latest reaction on an option counts; remove it to withdraw. Options you "
               "don't score count 0." + (f" {SEEDED}" if seeded else ""))
    seats = (f" {poll.seats} seats are filled (Bloc STAR)." if poll.seats > 1 else "")
    lines = [f"Who may vote: {who}.{seats}", f"How: {how}", closes]
    if reactions_stay:
        lines.append(REACTIONS_STAY)
    return _announcement(f"📊 Poll {poll.ref}: {poll.question}", lines, links=[("Public page", page)])


def render_closed_header(poll: Poll, *, who: str, tz: ZoneInfo, results_link: str | None,
                         page: str | None = None, seeded: bool = False) -> tuple[str, str]:
    """The announcement once the poll has closed (it replaces the open one, ``m.replace``): closed, when,
    that reactions no longer count, and links to the results message and the public page."""
    when = f" on {format_local(poll.closed_at, tz)}" if poll.closed_at else ""
    seats = (f" {poll.seats} seats were filled (Bloc STAR)." if poll.seats > 1 else "")
    lines = [f"Who could vote: {who}.{seats}",
             f"Closed{when}. Voting has ended: reactions on the options no longer count"
             + ("; I removed my keycaps from them." if seeded else ".")]
    return _announcement(f"📊 Poll {poll.ref}: {poll.question} (closed)", lines,
                         links=[("Results", results_link), ("Public page", page)])


def _announcement(title: str, lines: list[str], *, links: list[tuple[str, str | None]]) -> tuple[str, str]:
    """A title and lines as (plain, HTML); each link with an address becomes ``Label: url`` in the plain
    body and a link in the HTML."""
    present = [(label, url) for label, url in links if url]
    plain = "\n".join([title, *lines, *(f"{label}: {url}" for label, url in present)])
    html_lines = [escape(line) for line in lines]
    html_lines += [f'<a href="{escape_attribute(url)}">{escape(label)}</a>' for label, url in present]
    return plain, f"<b>{escape(title)}</b><br>" + "<br>".join(html_lines)


def render_option(option: PollOption) -> tuple[str, str]:
    """One option's message, the one people react to (plain, HTML)."""
    letter = option_letter(option.position)
    return f"{letter}. {option.label}", f"<b>{letter}.</b> {escape(option.label)}"


def render_results(poll: Poll, result: PollResult, *, page: str | None = None) -> tuple[str, str]:
    """The results as a text table that reads well without images (plain, HTML); ``page``: the poll's
    public web page, linked at the end."""
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
    plain = "\n".join([title, plain_table, *lines, *([f"Public page: {page}"] if page else [])])
    link = f'<br><a href="{escape_attribute(page)}">Public page</a>' if page else ""
    html = (f"<b>{escape(title)}</b>{html_table}<p>" + "<br>".join(escape(line) for line in lines) + link + "</p>")
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
