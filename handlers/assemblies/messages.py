"""How the assemblies feature's sentences become a message: commands written between backticks in
the text become ``<code>`` in the HTML; the plain body drops the backticks (Markdown left in a plain
body reads as noise in notifications and text-only clients; the sentences put a command where its
bounds are clear: after a colon, before a comma or the end)."""

from __future__ import annotations

import re

from handlers.matrix.render import escape

_CODE = re.compile(r"`([^`\n]+)`")


def with_code(text: str) -> tuple[str, str]:
    """``text`` as (plain body, HTML): backticked commands in ``<code>``, line breaks kept."""
    lines = []
    for line in text.split("\n"):
        parts = _CODE.split(line)
        # split() alternates: text, code, text, code, …
        lines.append("".join(escape(part) if index % 2 == 0 else f"<code>{escape(part)}</code>"
                             for index, part in enumerate(parts)))
    return _CODE.sub(r"\1", text), "<br>".join(lines)
