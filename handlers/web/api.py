"""The JSON API's self-description (``GET /api/v1``): every endpoint and what it returns.

The field names of the objects are the contract of ``/api/v1`` (see ``records.py`` and ``views.py``):
fields may be added, never renamed or removed; a breaking change gets ``/api/v2``. Every HTML page has
its JSON twin at the same path under ``/api/v1`` (``/`` is ``/api/v1/federation``).
"""

from __future__ import annotations

from typing import Any

__all__ = ["API_INDEX"]

API_INDEX: dict[str, Any] = {
    "api_version": 1,
    "description": "The public record of the federation: assemblies, moots, polls, decisions and draws. "
                   "Read-only, no authentication; nothing about members, declarations or ballots is ever "
                   "included. Times are ISO 8601 in UTC.",
    "endpoints": {
        "/api/v1/federation": "Every assembly (slug, name, kind, access, purpose, remit, reference, parents, "
                              "children, how_to_join, public_record, rooms, secretary, deputies) and the "
                              "nesting tree. Page: /",
        "/api/v1/assemblies/{slug}": "One assembly: its card as in the federation, upcoming_moots, past_moots, "
                                     "open_polls, closed_polls (with result), decisions_in_force (with "
                                     "displaced, displaced_by, conflicts_with), record (its own decisions) and "
                                     "draws. Page: /assemblies/{slug}",
        "/api/v1/decisions": "Every public decision, newest first. Page: /decisions",
        "/api/v1/decisions/{ref}": "One decision: statement, level, method, outcome, topics, rooms "
                                   "(its assembly's public rooms, matrix.to links), evidence "
                                   "(matrix.to links), supersedes, overridden_by, and chain (seq, hash, "
                                   "prev_hash, entry_matches, record_verifies). Page: /decisions/{ref}",
        "/api/v1/polls/{number}": "One poll: question, options, seats, secret, status, times and, once closed, "
                                  "result (turnout, winners, per-option totals, averages and score "
                                  "distribution, runoff). Page: /polls/{number}",
        "/api/v1/draws/{ref}": "A sortition draw's published record (docs/spec/sortition.md).",
    },
    "feeds": {
        "/calendar.ics": "Moots of every public assembly (iCalendar, RFC 5545).",
        "/assemblies/{slug}/calendar.ics": "Moots of one assembly.",
        "/decisions.atom": "The latest public decisions (Atom, RFC 4287).",
        "/assemblies/{slug}/decisions.atom": "The latest decisions of one assembly.",
    },
}
