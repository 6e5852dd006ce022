"""Checks that a bot message reads well in every client: its ``formatted_body`` is well-formed HTML
(every tag closed, in order) using only the tags and attributes of the Matrix spec's HTML subset
(client-server API, "m.room.message msgtypes", HTML), without Markdown left over, and its ``body``
is plain text that stands on its own (no tags, entities or Markdown markers).

    assert_readable(content)            # a whole m.room.message content (an edit's m.new_content too)
    assert_valid_html("<ul><li>x</li></ul>")

``FakeGateway.send_event`` runs ``assert_readable`` on every message the bot sends through the fakes,
so every fast test of the edge checks it.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from html.parser import HTMLParser
from typing import Any

#: Elements without an end tag.
VOID_ELEMENTS = frozenset({"br", "hr", "img", "wbr", "col", "area", "base", "input", "link", "meta", "source"})

#: The tags the Matrix spec recommends clients allow in ``formatted_body`` (v1.10+; ``font`` and
#: ``mx-reply`` left out: deprecated). Anything else may be stripped by a client.
ALLOWED_TAGS = frozenset({
    "del", "h1", "h2", "h3", "h4", "h5", "h6", "blockquote", "p", "a", "ul", "ol", "sup", "sub", "li", "b",
    "i", "u", "strong", "em", "s", "code", "hr", "br", "div", "table", "thead", "tbody", "tr", "th", "td",
    "caption", "pre", "span", "img", "details", "summary",
})

#: Attributes the spec allows, per tag (``data-mx-*`` on span and font are checked by prefix).
ALLOWED_ATTRIBUTES: dict[str, frozenset[str]] = {
    "a": frozenset({"href", "target", "name"}),
    "img": frozenset({"width", "height", "alt", "title", "src"}),
    "ol": frozenset({"start"}),
    "code": frozenset({"class"}),
}

#: Link schemes the spec allows in ``href``.
LINK_SCHEMES = ("https://", "http://", "ftp://", "mailto:", "magnet:")


class _Balance(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.open: list[str] = []
        self.problems: list[str] = []

    def _check(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag not in ALLOWED_TAGS:
            self.problems.append(f"<{tag}> is not in the Matrix HTML subset")
        for name, value in attrs:
            if tag == "span" and name.startswith("data-mx-"):
                continue
            if name not in ALLOWED_ATTRIBUTES.get(tag, frozenset()):
                self.problems.append(f"<{tag} {name}=…> is not an allowed attribute")
            elif tag == "a" and name == "href" and not str(value or "").startswith(LINK_SCHEMES):
                self.problems.append(f"<a href={value!r}>: not an allowed link scheme")
            elif tag == "img" and name == "src" and not str(value or "").startswith("mxc://"):
                self.problems.append(f"<img src={value!r}>: clients show only mxc:// images")

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self._check(tag, attrs)
        if tag not in VOID_ELEMENTS:
            self.open.append(tag)

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self._check(tag, attrs)  # <br/>

    def handle_endtag(self, tag: str) -> None:
        if tag in VOID_ELEMENTS:
            self.problems.append(f"</{tag}> closes a void element")
        elif not self.open:
            self.problems.append(f"</{tag}> closes nothing")
        elif self.open[-1] != tag:
            self.problems.append(f"</{tag}> closes <{self.open[-1]}> (open: {self.open})")
            if tag in self.open:
                del self.open[len(self.open) - 1 - self.open[::-1].index(tag):]
        else:
            self.open.pop()


def html_problems(html: str) -> list[str]:
    """What is wrong with ``html`` (empty when every tag is allowed and closed in order)."""
    parser = _Balance()
    parser.feed(html)
    parser.close()
    problems = list(parser.problems)
    if parser.open:
        problems.append(f"never closed: {parser.open}")
    if parser.rawdata:  # an unfinished tag at the end ("<b")
        problems.append(f"unfinished markup at the end: {parser.rawdata!r}")
    return problems


def assert_valid_html(html: str) -> None:
    """Fail naming each problem."""
    problems = html_problems(html)
    assert not problems, f"{problems} in {html!r}"


#: An HTML tag in a plain body: only real element names (``<user>`` in a usage line is a placeholder).
_TAG = re.compile(r"</?(" + "|".join(sorted(ALLOWED_TAGS | {"font", "mx-reply", "html", "body", "script", "style"},
                                           key=len, reverse=True)) + r")(\s[^>]*)?/?>", re.IGNORECASE)
_ENTITY = re.compile(r"&(nbsp|amp|lt|gt|quot|apos|#\d+|#x[0-9a-fA-F]+);")
#: Markdown that reads as noise in a plain body: **bold**, __bold__, `code`, [text](url).
_MARKDOWN = re.compile(r"\*\*\S|__\S|`[^`\n]+`|\[[^\]\n]+\]\((https?|mxc)://")


#: Problems found by :func:`check_sent` since the last :func:`take_failures` (a failed check raises
#: too, but the outbox's worker logs and drops what raises; the autouse fixture in ``tests/conftest.py``
#: fails the test from this list).
FAILURES: list[str] = []


def check_sent(content: Mapping[str, Any]) -> None:
    """``assert_readable``, remembered in ``FAILURES`` when it fails (see there)."""
    try:
        assert_readable(content)
    except AssertionError as exc:
        FAILURES.append(str(exc))
        raise


def take_failures() -> list[str]:
    """The failures recorded since the last call, and forget them."""
    found = list(FAILURES)
    FAILURES.clear()
    return found


def assert_readable(content: Mapping[str, Any]) -> None:
    """A bot message: allowed, balanced HTML without Markdown backticks or ``&nbsp;`` layout, and a
    plain body without HTML tags, entities or Markdown. An edit's ``m.new_content`` is checked too."""
    body = str(content.get("body", ""))
    assert body.strip(), f"empty body: {content!r}"
    assert not _TAG.search(body), f"HTML in the plain body: {body!r}"
    assert not _ENTITY.search(body), f"an HTML entity in the plain body: {body!r}"
    markdown = _MARKDOWN.search(body)
    assert not markdown, f"Markdown ({markdown.group(0)!r}) in the plain body: {body!r}" if markdown else ""
    html = content.get("formatted_body")
    if html is not None:
        assert content.get("format") == "org.matrix.custom.html", content
        assert_valid_html(str(html))
        assert "`" not in str(html), f"Markdown backticks in the HTML (use <code>): {html!r}"
        assert "&nbsp;" not in str(html), f"&nbsp; used for layout in the HTML: {html!r}"
    new_content = content.get("m.new_content")
    if isinstance(new_content, Mapping):
        assert_readable(new_content)
