"""The public form of single records: a decision, a moot, a poll, a draw, as JSON-ready dicts.

These dicts are the JSON API's objects and what the templates render, so a page and its API agree by
construction. Field names are the API's contract (``/api/v1``, documented in the README): add fields,
never rename one. Times are ISO 8601 in UTC; pages show them in the assembly's zone.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, tzinfo
from typing import Any
from urllib.parse import quote

from handlers.web.links import room_link
from handlers.web.ports import DisplayNames
from handlers.web.visibility import record_is_public
from harmony_matrix.assemblies.federation import Federation
from harmony_matrix.consensus.decisions import Decision
from harmony_matrix.consensus.moots import Moot
from harmony_matrix.polls.poll import Poll, option_letter
from harmony_matrix.polls.results import PollResult
from harmony_matrix.when import format_local

__all__ = ["Site", "decision_summary", "draw_summary", "iso", "moot_summary", "poll_summary",
           "assembly_path", "decision_path", "poll_path"]


@dataclass(frozen=True)
class Site:
    """What every view needs besides the data: the command prefix people type, a server to route
    matrix.to links via, the default time zone and the display names known from sync."""

    prefix: str
    via: str
    tz: tzinfo
    names: DisplayNames
    title: str = "Harmony"


def iso(moment: datetime | None) -> str | None:
    """An instant as ISO 8601 in UTC (seconds), as the API writes every time."""
    return None if moment is None else moment.astimezone(UTC).replace(microsecond=0).isoformat()


def local(moment: datetime | None, tz: tzinfo) -> str | None:
    """An instant as a person reads it in ``tz`` (``Tue 1 Dec 2026, 19:00 GMT``)."""
    return None if moment is None else format_local(moment, tz)


def assembly_path(slug: str) -> str:
    """The path of an assembly's page."""
    return f"/assemblies/{quote(slug, safe='')}"


def decision_path(ref: str) -> str:
    """The path of a decision's page."""
    return f"/decisions/{quote(ref, safe='')}"


def poll_path(number: int) -> str:
    """The path of a poll's page."""
    return f"/polls/{number}"


def decision_summary(decision: Decision, federation: Federation, tz: tzinfo) -> dict[str, Any]:
    """A decision as lists show it. ``public`` is False for one of an assembly whose record is not
    public: then only its reference, assembly and level are given (it may still rank above another)."""
    public = record_is_public(decision.assembly, federation)
    summary: dict[str, Any] = {
        "ref": decision.ref,
        "public": public,
        "assembly": decision.assembly,
        "level": decision.level.value,
        "url": decision_path(decision.ref) if public else None,
    }
    if public:
        assembly = federation.get(decision.assembly)
        summary.update(
            assembly_name=assembly.name if assembly else decision.assembly,
            method=decision.method.value,
            outcome=decision.outcome,
            statement=decision.statement,
            topics=list(decision.topics),
            decided_at=iso(decision.decided_at),
            decided_at_local=local(decision.decided_at, tz),
            adopted=decision.adopts,
            proposal=decision.proposal,
            score_totals=None if decision.score_totals is None
            else [{"option": option, "total": total} for option, total in decision.score_totals],
            supersedes=decision.supersedes,
            # What the verdict rests on (a moot, a consensus check, a poll), and a moot without quorum.
            cites=list(getattr(decision, "cites", ())),
            without_quorum=bool(getattr(decision, "without_quorum", False)),
        )
    return summary


def moot_summary(moot: Moot, tz: tzinfo) -> dict[str, Any]:
    """A moot: reference, topic, time, length, status and the proposals on its agenda (never who
    scheduled or attended it, nor its minutes)."""
    return {
        "ref": moot.ref,
        "assembly": moot.assembly,
        "topic": moot.topic,
        "status": moot.status.value,
        "starts_at": iso(moot.starts_at),
        "ends_at": iso(moot.ends_at),
        "starts_at_local": local(moot.starts_at, tz),
        "ends_at_local": local(moot.ends_at, tz),
        "duration_minutes": int(moot.duration.total_seconds() // 60),
        "proposals": list(moot.proposals),
        "agenda": list(getattr(moot, "agenda", ())),
    }


def _fraction(numerator: int, denominator: int) -> str:
    return "0.00" if denominator == 0 else f"{numerator / denominator:.2f}"


def result_summary(result: PollResult, labels: tuple[str, ...]) -> dict[str, Any]:
    """A closed poll's published result: turnout, winners, totals, averages, the runoff and the score
    distribution (ballots per score 0–5 for each option). Nothing per voter exists to show."""
    runoff = result.runoff
    most = max(result.totals.values(), default=0)
    return {
        "turnout": result.ballot_count,
        "blank_or_equal": result.blank_or_equal_count,
        "no_votes": result.no_votes,
        "winners": list(result.winners),
        "options": [
            {
                "letter": option_letter(position),
                "label": label,
                "total": result.totals.get(label, 0),
                "average": _fraction(*result.averages.get(label, (0, 0))),
                "five_star": result.five_star.get(label, 0),
                "distribution": list(result.distribution.get(label, [0] * 6)),
                "won": label in result.winners,
                "bar_percent": round(100 * result.totals.get(label, 0) / most) if most else 0,
            }
            for position, label in enumerate(labels)
        ],
        "finalists": list(result.finalists),
        "runoff": None if runoff is None else {
            "a": runoff.a, "b": runoff.b, "prefer_a": runoff.prefer_a, "prefer_b": runoff.prefer_b,
            "no_preference": runoff.no_preference, "winner": runoff.winner, "decided_by": runoff.decided_by},
        "tie_breaks": list(result.tie_breaks),
        "lots": [{"options": list(lot.options), "winners": list(lot.winners), "seed": lot.seed,
                  "stage": lot.stage, "round": lot.round} for lot in result.lots],
    }


def poll_summary(poll: Poll, *, assembly: str, site: Site, room_kind: str) -> dict[str, Any]:
    """A poll: its question, options and state; once closed, its result. A secret poll shows the same:
    turnout and results only."""
    closed = poll.status == "closed"
    return {
        "number": poll.number,
        "ref": poll.ref,
        "url": poll_path(poll.number),
        "assembly": assembly,
        "room": room_kind,
        "room_link": room_link(poll.room_id, via=site.via),
        "question": poll.question,
        "options": [{"letter": option_letter(o.position), "label": o.label} for o in poll.options],
        "seats": poll.seats,
        "secret": poll.secret,
        "eligibility": poll.eligibility.value,
        "status": poll.status,
        "created_at": iso(poll.created_at),
        "created_at_local": local(poll.created_at, site.tz),
        "closes_at": iso(poll.closes_at),
        "closes_at_local": local(poll.closes_at, site.tz),
        "closed_at": iso(poll.closed_at),
        "closed_at_local": local(poll.closed_at, site.tz),
        "result": result_summary(poll.result, poll.labels) if closed and poll.result is not None else None,
    }


def draw_summary(record: Mapping[str, Any]) -> dict[str, Any]:
    """A sortition draw from its published record (``docs/spec/sortition.md``): the fields anyone needs
    to check it. Pseudonyms stay pseudonyms; the record itself is at ``/api/v1/draws/<ref>``."""
    ref = str(record.get("ref", ""))
    return {
        "ref": ref,
        "purpose": record.get("purpose"),
        "status": record.get("status"),
        "seats": record.get("seats"),
        "algorithm": record.get("algorithm"),
        "pool_commitment": record.get("pool_commitment"),
        "tickets": len(record.get("tickets") or ()),
        "tickets_hash": record.get("tickets_hash"),
        "seed": record.get("seed"),
        "ticket": record.get("ticket"),
        "selected": len(record.get("selected") or ()),
        "cancel_reason": record.get("cancel_reason"),
        "record_url": f"/api/v1/draws/{quote(ref, safe='')}",
    }
