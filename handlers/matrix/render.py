"""Message content builders: every bot message is an ``m.notice`` with HTML and a plain fallback.

Mentions are always explicit (``m.mentions``), so the bot never pings anyone by accident, and never
@room.
"""

from __future__ import annotations

import html
from collections.abc import Iterable, Sequence
from typing import Any


def escape(text: str) -> str:
    """``text`` safe to put in HTML (quotes kept: it is never an attribute value)."""
    return html.escape(text, quote=False)


def escape_attribute(text: str) -> str:
    """``text`` safe inside a double-quoted HTML attribute (a link's ``href``)."""
    return html.escape(text, quote=True)


def text_to_html(text: str) -> str:
    """Escape plain text and keep its line breaks."""
    return "<br>".join(escape(line) for line in text.split("\n"))


def notice(text: str, html_body: str | None = None, *, reply_to: str | None = None,
           thread_root: str | None = None, mentions: Iterable[str] = ()) -> dict[str, Any]:
    """Content of an ``m.notice``: a reply when ``reply_to`` is given, in a thread when ``thread_root`` is.

    The only place the bot builds a reply or thread relation."""
    content: dict[str, Any] = {
        "msgtype": "m.notice",
        "body": text,
        "format": "org.matrix.custom.html",
        "formatted_body": html_body if html_body is not None else text_to_html(text),
        "m.mentions": {"user_ids": sorted(set(mentions))},
    }
    if thread_root:
        # In a thread, ``m.in_reply_to`` is either a real reply (to the command) or, when there is
        # nothing to reply to, the fallback for clients without threads (pointing at the root).
        content["m.relates_to"] = {
            "rel_type": "m.thread", "event_id": thread_root, "is_falling_back": reply_to is None,
            "m.in_reply_to": {"event_id": reply_to or thread_root},
        }
    elif reply_to:
        content["m.relates_to"] = {"m.in_reply_to": {"event_id": reply_to}}
    return content


def with_links(text: str, links: Sequence[tuple[str, str | None]]) -> tuple[str, str]:
    """Plain ``text`` followed by each link that has an address: ``Label: url`` lines in the plain body,
    real links in the HTML (line breaks kept)."""
    present = [(label, url) for label, url in links if url]
    plain = "\n".join([text, *(f"{label}: {url}" for label, url in present)])
    html_body = "<br>".join([text_to_html(text), *(f'<a href="{escape_attribute(url)}">{escape(label)}</a>'
                                                   for label, url in present)])
    return plain, html_body


def replacement(original: str, text: str, html_body: str | None = None) -> dict[str, Any]:
    """Content of an edit (``m.replace``) of the bot's own notice ``original``: clients show the new
    text in its place (marked edited); the top-level body, with a leading "* ", is for clients
    without edits. The only place the bot builds an edit."""
    new = notice(text, html_body)
    return {
        "msgtype": "m.notice", "body": f"* {text}", "format": "org.matrix.custom.html",
        "formatted_body": f"* {new['formatted_body']}", "m.new_content": new,
        "m.mentions": {}, "m.relates_to": {"rel_type": "m.replace", "event_id": original},
    }


def table(headers: Sequence[str], rows: Sequence[Sequence[Any]]) -> tuple[str, str]:
    """A table as (monospace plain text, HTML) so it reads well with or without HTML."""
    cells = [[str(h) for h in headers]] + [[str(c) for c in row] for row in rows]
    widths = [max(len(r[i]) for r in cells) for i in range(len(headers))]

    def line(row: Sequence[str]) -> str:
        return "  ".join(c.ljust(w) if i == 0 else c.rjust(w) for i, (c, w) in enumerate(zip(row, widths))).rstrip()

    plain = "\n".join([line(cells[0]), "  ".join("-" * w for w in widths)] + [line(r) for r in cells[1:]])
    head = "".join(f"<th>{escape(h)}</th>" for h in cells[0])
    body = "".join("<tr>" + "".join(f"<td>{escape(c)}</td>" for c in r) + "</tr>" for r in cells[1:])
    return plain, f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def bullet_list(items: Sequence[str]) -> tuple[str, str]:
    """A bulleted list as (plain text, HTML)."""
    plain = "\n".join(f"• {item}" for item in items)
    return plain, "<ul>" + "".join(f"<li>{escape(item)}</li>" for item in items) + "</ul>"
