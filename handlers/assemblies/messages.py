"""How the assemblies feature's sentences become a message: commands written between backticks in
the text become ``<code>`` in the HTML, and the plain body keeps the backticks, which read as a
command's bounds in any client that shows the plain text."""

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
    return text, "<br>".join(lines)
