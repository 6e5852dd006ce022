"""Checks that a bot message reads well in every client: its ``formatted_body`` is balanced HTML (every
tag closed, in order) without Markdown left over, and its ``body`` is plain text that stands on its own.

    assert_readable(content)            # a whole m.room.message content
    assert_valid_html("<ul><li>x</li></ul>")
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from html.parser import HTMLParser
from typing import Any

#: Elements without an end tag.
VOID_ELEMENTS = frozenset({"br", "hr", "img", "wbr", "col", "area", "base", "input", "link", "meta", "source"})


class _Balance(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.open: list[str] = []
        self.problems: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag not in VOID_ELEMENTS:
            self.open.append(tag)

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        pass  # <br/>

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
    """What is wrong with ``html``'s structure (empty when every tag is closed in order)."""
    parser = _Balance()
    parser.feed(html)
    parser.close()
    problems = list(parser.problems)
    if parser.open:
        problems.append(f"never closed: {parser.open}")
    return problems


def assert_valid_html(html: str) -> None:
    """Fail naming each unbalanced tag."""
    problems = html_problems(html)
    assert not problems, f"{problems} in {html!r}"


_TAG = re.compile(r"</?[a-zA-Z][a-zA-Z0-9]*(\s[^>]*)?/?>")
_ENTITY = re.compile(r"&(nbsp|amp|lt|gt|quot|#\d+);")


def assert_readable(content: Mapping[str, Any]) -> None:
    """A bot message: balanced HTML without Markdown backticks or ``&nbsp;`` layout, and a plain body
    without HTML tags or entities."""
    body = str(content.get("body", ""))
    assert body.strip(), f"empty body: {content!r}"
    assert not _TAG.search(body), f"HTML in the plain body: {body!r}"
    assert not _ENTITY.search(body), f"an HTML entity in the plain body: {body!r}"
    html = content.get("formatted_body")
    if html is None:
        return
    assert content.get("format") == "org.matrix.custom.html", content
    assert_valid_html(str(html))
    assert "`" not in str(html), f"Markdown backticks in the HTML (use <code>): {html!r}"
    assert "&nbsp;" not in str(html), f"&nbsp; used for layout in the HTML: {html!r}"
