"""The one rule for instants written to the database: timezone-aware, stored in UTC.

SQLite stores datetimes as text and compares them as text, so every stored instant must be in the
same zone for range queries (pruning, due notices) to be right; a naive datetime is a programming
error (its zone is unknown), refused rather than guessed.
"""

from __future__ import annotations

from datetime import UTC, datetime


def as_utc(moment: datetime, name: str = "datetime") -> datetime:
    """``moment`` converted to UTC; ``ValueError`` naming ``name`` when it is naive."""
    if moment.tzinfo is None or moment.utcoffset() is None:
        raise ValueError(f"{name} must be timezone-aware, got naive {moment!r}")
    return moment.astimezone(UTC)


def as_utc_or_none(moment: datetime | None, name: str = "datetime") -> datetime | None:
    """Like :func:`as_utc`, for an optional instant: ``None`` stays ``None``."""
    return None if moment is None else as_utc(moment, name)
