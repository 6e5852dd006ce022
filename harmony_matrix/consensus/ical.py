"""Moots in calendars: the RFC 5545 file attached to a moot's announcement."""

from __future__ import annotations

from datetime import UTC, datetime, tzinfo

from harmony_matrix.consensus.moots import Moot, MootStatus
from harmony_matrix.when import format_local

__all__ = ["fold_ical_line", "ical_escape", "render_ical"]


def render_ical(
    moot: Moot,
    *,
    assembly_name: str,
    tz: tzinfo,
    uid_domain: str,
    dtstamp: datetime | None = None,
) -> str:
    """An RFC 5545 calendar with one event for the moot, for the announcement's attachment.

    Times are written in UTC (``...Z``) so no VTIMEZONE block is needed; the description repeats the
    time in the assembly's zone for people reading it. ``dtstamp`` defaults to the scheduling time so
    the same moot always renders the same bytes. A cancelled moot renders with ``STATUS:CANCELLED`` and
    a higher ``SEQUENCE``, which calendar apps apply to the event they already imported (same UID).
    """
    stamp = dtstamp if dtstamp is not None else moot.scheduled_at
    description_lines = [
        f"Moot of {assembly_name}: {moot.topic}",
        f"When: {format_local(moot.starts_at, tz)} – {format_local(moot.ends_at, tz)}",
        f"Reference: {moot.ref}",
    ]
    if moot.proposals:
        description_lines.append("Proposals: " + ", ".join(moot.proposals))
    cancelled = moot.status is MootStatus.CANCELLED
    lines = [
        "BEGIN:VCALENDAR",
        "VERSION:2.0",
        "PRODID:-//harmony-matrix//moots//EN",
        "CALSCALE:GREGORIAN",
        "METHOD:PUBLISH",
        "BEGIN:VEVENT",
        f"UID:{moot.ref}@{uid_domain}",
        f"DTSTAMP:{_ical_utc(stamp)}",
        f"DTSTART:{_ical_utc(moot.starts_at)}",
        f"DTEND:{_ical_utc(moot.ends_at)}",
        f"SUMMARY:{ical_escape(f'{assembly_name}: {moot.topic}')}",
        f"DESCRIPTION:{ical_escape(chr(10).join(description_lines))}",
        f"STATUS:{'CANCELLED' if cancelled else 'CONFIRMED'}",
        f"SEQUENCE:{1 if cancelled else 0}",
        "END:VEVENT",
        "END:VCALENDAR",
    ]
    return "".join(fold_ical_line(line) + "\r\n" for line in lines)


def ical_escape(text: str) -> str:
    """Escape a TEXT value (RFC 5545 §3.3.11): backslash, semicolon, comma and newlines."""
    text = text.replace("\\", "\\\\").replace(";", "\\;").replace(",", "\\,")
    return text.replace("\r\n", "\\n").replace("\r", "\\n").replace("\n", "\\n")


def fold_ical_line(line: str, *, limit: int = 75) -> str:
    """Fold a content line at ``limit`` octets (RFC 5545 §3.1), never inside a UTF-8 character.

    Continuation lines start with one space, which counts towards their length.
    """
    chunks: list[str] = []
    current = ""
    current_octets = 0
    budget = limit
    for char in line:
        size = len(char.encode("utf-8"))
        if current_octets + size > budget:
            chunks.append(current)
            current, current_octets = "", 0
            budget = limit - 1  # room for the leading space
        current += char
        current_octets += size
    chunks.append(current)
    return "\r\n ".join(chunks)


def _ical_utc(dt: datetime) -> str:
    return dt.astimezone(UTC).strftime("%Y%m%dT%H%M%SZ")
