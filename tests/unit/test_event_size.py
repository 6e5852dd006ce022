"""Messages over the homeserver's event size limit are shortened with "…", never dropped."""

from __future__ import annotations

import json
from html.parser import HTMLParser

from hypothesis import given, settings
from hypothesis import strategies as st

from handlers.matrix.render import notice, text_to_html
from harmony_matrix.event_size import MAX_CONTENT_BYTES, content_bytes, fit_message, shorten_html


def canonical_size(content: dict[str, object]) -> int:
    """Canonical JSON as Synapse measures it (written out here, not taken from the code under test)."""
    return len(json.dumps(content, ensure_ascii=False, separators=(",", ":"), sort_keys=True).encode())


class TagBalance(HTMLParser):
    """Counts open tags, ignoring void elements."""

    def __init__(self) -> None:
        super().__init__()
        self.open: list[str] = []

    def handle_starttag(self, tag: str, attrs: object) -> None:
        if tag not in ("br", "hr", "img"):
            self.open.append(tag)

    def handle_endtag(self, tag: str) -> None:
        assert self.open and self.open[-1] == tag, (self.open, tag)
        self.open.pop()


def test_a_message_that_fits_is_untouched() -> None:
    content = notice("Pong! I'm listening.")
    assert fit_message(content) == content


def test_text_full_of_angle_brackets_is_cut_where_escaping_makes_it_too_big() -> None:
    text = "unexpected " + "<" * 19_990  # 20 k characters, 80 k bytes of HTML once escaped
    content = notice(text)
    assert canonical_size(content) > 65_536
    fitted = fit_message(content)
    assert canonical_size(fitted) <= MAX_CONTENT_BYTES
    assert fitted["body"].endswith("…") and fitted["body"].startswith("unexpected <<<")
    assert fitted["formatted_body"].endswith("…") and "&lt" in fitted["formatted_body"]
    assert not fitted["formatted_body"].rstrip("…").endswith(("&", "&l", "&lt"))
    assert len(fitted["body"]) > 10_000  # only as much is cut as needed


def test_multibyte_text_and_json_escapes_count_for_what_they_cost() -> None:
    text = "\"\\\n🗳️é\u0001" * 9_000
    fitted = fit_message(notice(text))
    assert canonical_size(fitted) <= MAX_CONTENT_BYTES
    assert fitted["body"].endswith("…")


def test_cut_html_closes_its_open_tags_and_never_ends_inside_a_tag() -> None:
    html = "<p><b>" + "word " * 100 + "</b><ul><li>one</li><li>two <code>x</code></li></ul></p>"
    for keep in range(0, len(html), 7):
        cut = shorten_html(html, keep)
        parser = TagBalance()
        parser.feed(cut)
        parser.close()
        assert parser.open == [], (keep, cut)


def test_content_without_a_text_body_is_left_alone() -> None:
    image = {"msgtype": "m.image", "url": "mxc://x/y", "info": {"blurb": "x" * 70_000}}
    assert fit_message(image) == image


@settings(max_examples=60, deadline=None)
@given(text=st.text(alphabet=st.sampled_from(list("ab <>&\"\\\n\té🗳\u0000\u2028")), min_size=0, max_size=40_000),
       limit=st.integers(min_value=500, max_value=MAX_CONTENT_BYTES))
def test_any_text_fits_any_budget_and_keeps_its_start(text: str, limit: int) -> None:
    content = notice(text, text_to_html(text))
    fitted = fit_message(content, limit)
    assert canonical_size(fitted) <= limit
    assert content_bytes(fitted) == canonical_size(fitted)
    if fitted["body"] != text:
        assert fitted["body"].endswith("…")
        assert text.startswith(fitted["body"][:-1])
    parser = TagBalance()
    parser.feed(fitted["formatted_body"])
    assert parser.open == []
