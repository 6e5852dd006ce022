"""What a poll's messages say and show: the announcement (scale in words, the warning where reactions
cannot be removed, its public page), the closed announcement that replaces it, what a person who may not
vote can do about it, the results chart, and the power rule behind the warning."""

from __future__ import annotations

from datetime import UTC, datetime
from zoneinfo import ZoneInfo

import pytest

from handlers.matrix.render import replacement, with_links
from handlers.polls.chart import alt_text, results_figure
from handlers.polls.render import eligibility_remedy, render_closed_header, render_header, render_results
from harmony_matrix.polls.poll import Eligibility, Poll, PollOption
from harmony_matrix.polls.results import poll_result
from harmony_matrix.polls.star import Runoff
from harmony_matrix.power import creators_of, may_redact_others
from tests.fakes.html_check import assert_readable, assert_valid_html

BOT = "@bot:hs"
OPENED = datetime(2026, 3, 2, 10, 0, tzinfo=UTC)
POLL = Poll(number=3, room_id="!votes:hs", question="Where do we meet?",
            options=(PollOption(0, "Library", "$a"), PollOption(1, "Café", "$b")), seats=1, secret=False,
            eligibility=Eligibility.MEMBERS, closes_at=datetime(2026, 3, 3, 19, 0, tzinfo=UTC), status="open",
            created_by="@sec:hs", created_at=OPENED, header_event_id="$header")
CLOSED = Poll(**{**POLL.__dict__, "status": "closed", "closed_at": datetime(2026, 3, 3, 18, 0, tzinfo=UTC)})
LONDON = ZoneInfo("Europe/London")


def content(plain: str, html: str) -> dict[str, str]:
    return {"msgtype": "m.notice", "body": plain, "format": "org.matrix.custom.html", "formatted_body": html}


# --- the power to remove reactions ---------------------------------------------------------------------

V12 = {"room_version": "12"}
DEFAULT_LEVELS = {"users": {"@mod:hs": 50}, "users_default": 0, "redact": 50, "events_default": 0}


@pytest.mark.parametrize(("levels", "create", "creator", "expected"), [
    (DEFAULT_LEVELS, V12, BOT, True),  # v12: the creator's infinite power, though not in ``users``
    (DEFAULT_LEVELS, V12, "@someone:hs", False),  # a plain room someone else made: the bot is level 0
    ({**DEFAULT_LEVELS, "users": {BOT: 50}}, V12, "@someone:hs", True),  # a moderator
    ({**DEFAULT_LEVELS, "users": {BOT: 50}, "redact": 60}, V12, "@someone:hs", False),
    ({**DEFAULT_LEVELS, "users": {BOT: 50}, "events": {"m.room.redaction": 75}}, V12, "@someone:hs", False),
    ({**DEFAULT_LEVELS, "users_default": 50}, V12, "@someone:hs", True),
    (DEFAULT_LEVELS, {"room_version": "11"}, BOT, False),  # before v12 a creator has only ``users`` power
    ({"users": {BOT: 100}}, {"room_version": "10"}, BOT, True),  # missing keys: redact 50
    (None, {"room_version": "12", "additional_creators": [BOT]}, "@someone:hs", True),
])
def test_the_bot_may_redact_others_only_with_the_redact_level(
        levels: dict[str, object] | None, create: dict[str, object], creator: str, expected: bool) -> None:
    assert may_redact_others(levels, BOT, creators=creators_of(create, creator)) is expected


# --- the announcement ----------------------------------------------------------------------------------

def test_the_header_says_the_scale_in_words_and_links_its_public_page() -> None:
    plain, html = render_header(POLL, who="registered party members", tz=LONDON, prefix="!h",
                                page="https://party.example/polls/3")
    assert plain.splitlines()[0] == "📊 Poll #3: Where do we meet?"
    assert ("Score every option from 0 (worst) to 5 (best) by reacting with the keycap of that number "
            "(0️⃣ 1️⃣ 2️⃣ 3️⃣ 4️⃣ 5️⃣) on its message below; your client may show them in any order: the number on "
            "the keycap is the score.") in plain
    assert plain.splitlines()[-1] == "Public page: https://party.example/polls/3"
    assert '<a href="https://party.example/polls/3">Public page</a>' in html
    assert "lack the power" not in plain and "keycap from me" not in plain
    assert_readable(content(plain, html))
    seeded, _ = render_header(POLL, who="registered party members", tz=LONDON, prefix="!h", seeded=True)
    assert "Options you don't score count 0. Each option starts with one of each keycap from me, to click on; mine " \
           "do not count." in seeded


def test_the_header_warns_where_the_bot_cannot_remove_reactions() -> None:
    plain, html = render_header(POLL, who="registered party members", tz=LONDON, prefix="!h", reactions_stay=True)
    assert ("Note: I lack the power to remove reactions in this room, so a replaced score or a reaction that does "
            "not count stays visible: the counts under the options are not the tally; the results I post at the "
            "close are. A room admin can fix this by making me a moderator here.") in plain.splitlines()
    assert "Public page" not in plain  # the web view is off
    assert_readable(content(plain, html))


def test_the_closed_header_replaces_the_open_one_with_links_to_the_results_and_the_page() -> None:
    results = "https://matrix.to/#/%21votes%3Ahs/%24results?via=hs"
    plain, html = render_closed_header(CLOSED, who="registered party members", tz=LONDON, results_link=results,
                                       page="https://party.example/polls/3")
    assert plain.splitlines() == [
        "📊 Poll #3: Where do we meet? (closed)",
        "Who could vote: registered party members.",
        "Closed on Tue 3 Mar 2026, 18:00 GMT. Voting has ended: reactions on the options no longer count.",
        f"Results: {results}",
        "Public page: https://party.example/polls/3",
    ]
    assert f'<a href="{results}">Results</a>' in html and "Closes" not in plain
    seeded, _ = render_closed_header(CLOSED, who="registered party members", tz=LONDON, results_link=None, seeded=True)
    assert seeded.splitlines()[2:] == ["Closed on Tue 3 Mar 2026, 18:00 GMT. Voting has ended: reactions on the "
                                       "options no longer count; I removed my keycaps from them."]
    edit = replacement("$header", plain, html)
    assert edit["m.relates_to"] == {"rel_type": "m.replace", "event_id": "$header"}
    assert edit["m.new_content"]["body"] == plain and edit["body"] == f"* {plain}"
    assert "m.relates_to" not in edit["m.new_content"]
    assert_readable(edit)


def test_results_link_their_public_page_only_when_there_is_one() -> None:
    result = poll_result(CLOSED, [{0: 5, 1: 2}, {0: 3, 1: 4}])
    plain, html = render_results(CLOSED, result, page="https://party.example/polls/3")
    assert plain.splitlines()[-1] == "Public page: https://party.example/polls/3"
    assert_readable(content(plain, html))
    assert "Public page" not in render_results(CLOSED, result)[0]


def test_with_links_keeps_the_text_and_drops_links_without_an_address() -> None:
    plain, html = with_links("📜 Decision D-ops-1\nStatement <b>", [("Public page", "https://x.example/d?a=1&b=2"),
                                                                     ("Nothing", None)])
    assert plain == "📜 Decision D-ops-1\nStatement <b>\nPublic page: https://x.example/d?a=1&b=2"
    assert html == ('📜 Decision D-ops-1<br>Statement &lt;b&gt;<br>'
                    '<a href="https://x.example/d?a=1&amp;b=2">Public page</a>')
    assert_valid_html(html)


# --- what someone who may not vote can do ---------------------------------------------------------------

def remedy(**facts: object) -> str:
    given: dict[str, object] = {"user_id": "@ana:hs", "prefix": "!h", "members_only": True, "is_admin": False,
                                "assembly": ("party", "Harmony Party UK"), "officers": [], "admins": []}
    given.update(facts)
    return eligibility_remedy(**given)  # type: ignore[arg-type]


def test_an_admin_is_told_to_register_themselves_in_the_direct_chat() -> None:
    assert remedy(is_admin=True, officers=["Sam (@sam:hs)"]) == (
        "You are an admin, so you can register yourself: send !h member add @ana:hs to me here, in this direct chat.")


def test_anyone_else_is_told_whom_to_ask_by_name() -> None:
    assert remedy(officers=["Sam (@sam:hs)", "Lee (@lee:hs)", "@kim:hs"]) == (
        "Registration is done by the party's admins; the secretaries of Harmony Party UK can arrange it: ask "
        "Sam (@sam:hs), Lee (@lee:hs) or @kim:hs.")
    assert remedy(assembly=None, admins=["Root (@root:hs)"]) == (
        "Registration is done by the party's admins: ask Root (@root:hs).")
    assert remedy(assembly=None) == "Registration is done by the party's admins: ask the people who run this bot."


def test_a_secretary_is_told_to_ask_an_admin() -> None:
    assert remedy(is_officer=True, officers=["Lee (@lee:hs)"], admins=["Root (@root:hs)"]) == (
        "Registration is done by the party's admins: as a secretary of Harmony Party UK, ask Root (@root:hs).")


def test_a_participants_poll_says_to_join_the_assembly() -> None:
    assert remedy(members_only=False, is_admin=True) == (
        "To take part, join Harmony Party UK: send !h join party to me here.")


# --- the chart -----------------------------------------------------------------------------------------

RUNOFF = Runoff(a="Library", b="Café Rosa on the High Street", prefer_a=6, prefer_b=3, no_preference=1,
                winner="Library", decided_by="preference")
DISTRIBUTION = {"Library": [0, 1, 0, 2, 3, 4], "Café Rosa on the High Street": [2, 0, 1, 3, 2, 2],
                "Online": [5, 2, 1, 1, 1, 0]}


def test_the_chart_counts_whole_ballots_marks_the_winner_and_titles_both_panels() -> None:
    figure = results_figure(title="Poll #3: Where do we meet?", options=list(DISTRIBUTION), distribution=DISTRIBUTION,
                            runoff=RUNOFF, winners=["Library"], totals={"Library": 39, "Café Rosa on the High Street": 29,
                                                                         "Online": 11})
    figure.canvas.draw()
    scores, runoff = figure.axes[:2]
    assert figure.get_suptitle() == "Poll #3: Where do we meet?"
    for panel in (scores, runoff):
        ticks = list(panel.get_xticks())
        assert ticks == [float(int(t)) for t in ticks] and max(ticks) <= 10 and ticks[0] == 0, ticks
    # As wide as each other, on one scale: the same ballot lands at the same place in both.
    assert scores.get_position().x0 == pytest.approx(runoff.get_position().x0)
    assert scores.get_position().width == pytest.approx(runoff.get_position().width)
    assert scores.get_xlim() == runoff.get_xlim()
    assert runoff.get_title(loc="left") == "Runoff of the top two: Library wins"
    labels = [t.get_text() for t in scores.get_yticklabels()]
    assert labels == ["Online", "Café Rosa on the\nHigh Street", "★ Library"]  # first option on top
    assert [t.get_fontweight() for t in scores.get_yticklabels()] == ["normal", "normal", "bold"]
    assert "39 ★" in [t.get_text() for t in scores.texts]
    # Legible at a 400 px thumbnail (half the drawn width): no text under 14 pt when drawn.
    assert figure.get_size_inches()[0] * figure.dpi == 800
    sizes = [t.get_fontsize() for t in scores.get_yticklabels() + scores.get_xticklabels() + scores.texts]
    assert min(sizes) >= 14


def test_the_alt_text_ends_its_title_once_and_names_the_winner() -> None:
    text = alt_text(title="Poll #3: Where do we meet?", options=["Library"], distribution={"Library": [0, 0, 0, 0, 0, 2]},
                    runoff=None, winners=["Library"])
    assert text == ("Chart of the results of Poll #3: Where do we meet? Ballots per score (0 to 5) for each option: "
                    "Library: 2×5. Winner: Library.")
