"""How big an event may be, and how a message that is too big is shortened rather than lost.

The homeserver refuses an event whose canonical JSON is over 65,536 bytes (``M_TOO_LARGE``),
counting the whole event: its content plus room ID, sender, hashes, signatures and references to
earlier events. The content is measured here the way the server serialises it (canonical JSON:
UTF-8, sorted keys, no spaces), so quotes, backslashes, control characters and characters beyond
ASCII count for what they cost; and HTML escaping (``<`` becomes ``&lt;``) already happened in
``formatted_body``. A message over the budget keeps its start and ends with "…".
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from typing import Any, Final

#: The homeserver's limit on a whole event (Synapse ``MAX_PDU_SIZE``; the spec's 65,536 bytes).
MAX_EVENT_BYTES: Final = 65_536
#: What the content may take: the rest of an event (IDs, hashes, signatures, up to a few dozen
#: references to earlier events) stays well under the 5.5 KB left over.
MAX_CONTENT_BYTES: Final = 60_000
ELLIPSIS: Final = "…"

_TAG = re.compile(r"<(/?)([a-zA-Z][a-zA-Z0-9]*)\b[^<>]*?(/?)>")
_VOID = frozenset({"br", "hr", "img", "wbr", "input", "meta", "link", "col", "area", "base", "source"})


def content_bytes(content: Mapping[str, Any]) -> int:
    """The size of ``content`` as canonical JSON, in bytes."""
    text = json.dumps(content, ensure_ascii=False, separators=(",", ":"), sort_keys=True, allow_nan=False)
    return len(text.encode("utf-8"))


def fit_message(content: Mapping[str, Any], limit: int = MAX_CONTENT_BYTES) -> dict[str, Any]:
    """``content`` (an ``m.room.message``) shortened so it fits ``limit`` bytes, or unchanged when it
    fits. ``body`` and ``formatted_body`` are cut by the same share and end with "…"; the HTML is
    cut between tags and entities and its open tags are closed. Content without a text body (an
    image) is returned unchanged: nothing in it can be shortened sensibly."""
    fitted = dict(content)
    if content_bytes(fitted) <= limit:
        return fitted
    body = content.get("body")
    html = content.get("formatted_body")
    if not isinstance(body, str):
        return fitted
    html = html if isinstance(html, str) else None

    def shortened(share: float) -> dict[str, Any]:
        candidate = dict(content)
        candidate["body"] = shorten_text(body, int(len(body) * share))
        if html is not None:
            candidate["formatted_body"] = shorten_html(html, int(len(html) * share))
        return candidate

    # Binary search on the share kept: the largest that fits (20 halvings: well under one character).
    low, high = 0.0, 1.0
    best = shortened(0.0)
    for _ in range(20):
        middle = (low + high) / 2
        candidate = shortened(middle)
        if content_bytes(candidate) <= limit:
            low, best = middle, candidate
        else:
            high = middle
    return best


def shorten_text(text: str, keep: int) -> str:
    """The first ``keep`` characters of ``text`` and "…" (the text itself when it is that short)."""
    if keep >= len(text):
        return text
    return text[: max(keep, 0)].rstrip() + ELLIPSIS


def shorten_html(html: str, keep: int) -> str:
    """The first ``keep`` characters of ``html``, never ending inside a tag or an entity, with "…"
    and the tags still open closed in order."""
    if keep >= len(html):
        return html
    cut = html[: max(keep, 0)]
    if cut.rfind("<") > cut.rfind(">"):
        cut = cut[: cut.rfind("<")]
    amp = cut.rfind("&")
    if amp > cut.rfind(";") and len(cut) - amp <= 12:  # a cut entity (the longest named ones are short)
        cut = cut[:amp]
    open_tags: list[str] = []
    for match in _TAG.finditer(cut):
        closing, name, self_closing = match.group(1), match.group(2).lower(), match.group(3)
        if name in _VOID or self_closing:
            continue
        if closing:
            if name in open_tags:
                del open_tags[len(open_tags) - 1 - open_tags[::-1].index(name):]
        else:
            open_tags.append(name)
    return cut + ELLIPSIS + "".join(f"</{name}>" for name in reversed(open_tags))
