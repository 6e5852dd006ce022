"""What the federation feature reads of the assemblies feature."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any, Protocol

from harmony_matrix.assemblies.federation import Federation
from harmony_matrix.ids import RoomId


class LocalAssemblies(Protocol):
    """What this feature reads of the assemblies feature."""

    def federation(self) -> Federation: ...
    async def refresh(self) -> Federation: ...
    async def sync_all(self, slugs: Iterable[str] | None = None) -> Any: ...
    async def rooms_of(self, slug: str) -> dict[str, RoomId]: ...
    async def seats_changed(self, slug: str, *, seated: Sequence[str], reason: str) -> None: ...
