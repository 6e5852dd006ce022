"""Published sortition records for the public web view: the ``record`` of each finished draw (drawn
or cancelled), exactly as the bot posted it (``docs/spec/sortition.md``; it names nobody: members
appear as salted pseudonyms). Draws still in progress, their pools and people's features are never read.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from storage.public.queries import PublicQueries
from storage.scope import ContextScope
from storage.sortition.models import DrawRow

__all__ = ["PublicDraws"]


class PublicDraws:
    """``DrawRecords`` over the sortition app's table of draws."""

    def __init__(self, scope: ContextScope) -> None:
        self._scope = scope

    @classmethod
    def of(cls, database: Any) -> PublicDraws:
        """The records of an open ``storage.database.Database``."""
        return cls(PublicQueries.of(database).scope)

    async def records(self, assembly: str | None) -> Sequence[Mapping[str, Any]]:
        """The published records (of ``assembly``, or all), oldest first."""
        with self._scope():
            query = DrawRow.filter(record__isnull=False)
            if assembly is not None:
                query = query.filter(assembly=assembly)
            rows = await query.order_by("id").values("record")
        return [row["record"] for row in rows if isinstance(row["record"], Mapping)]
