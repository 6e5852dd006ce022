"""Fixtures of the web view's tests (helpers in ``web_support.py``): the demo-like federation served by
the web view on loopback (the ``browser`` fixture is in ``tests/conftest.py``)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path

import pytest_asyncio

from handlers.web.server import web_feature
from db_template import seed_sqlite
from storage.database import open_database
from storage.public.queries import PublicQueries
from web_seed import SERVER, FakeNames, seed_demo
from web_support import FakeDraws, WebSite, free_port, web_config


@pytest_asyncio.fixture(loop_scope="session")
async def web_site(tmp_path: Path) -> AsyncIterator[WebSite]:
    """The demo-like federation (``web_seed``), served by the web view on a free loopback port."""
    db = await open_database(seed_sqlite(f"sqlite://{tmp_path / 'web.db'}"))
    try:
        seeded = await seed_demo(db)
        feature = web_feature(web_config(free_port()), record=PublicQueries.of(db), via=SERVER,
                              clock=lambda: datetime.now(UTC), names=FakeNames(), draws=FakeDraws())
        await feature.start()
        try:
            assert feature.address is not None
            yield WebSite(url=feature.address, db=db, seeded=seeded, feature=feature)
        finally:
            await feature.stop()
    finally:
        await db.close()
