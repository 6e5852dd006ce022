"""Every model change comes with a migration: the autodetector finds nothing left to migrate."""

from __future__ import annotations

from tortoise.context import TortoiseContext
from tortoise.migrations.autodetector import MigrationAutodetector

from storage.database import TORTOISE_ORM


async def test_models_and_migrations_are_in_step() -> None:
    async with TortoiseContext() as context:
        await context.init(config=TORTOISE_ORM)
        detector = MigrationAutodetector(context.apps, TORTOISE_ORM["apps"])
        pending = await detector.changes()
    assert not pending, "models changed without a migration: " + ", ".join(
        f"{w.app_label}: {[type(op).__name__ for op in w.operations]}" for w in pending)
