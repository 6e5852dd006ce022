"""Fixtures of the web view's tests (helpers in ``web_support.py``): the demo-like federation served by
the web view on loopback, and Debian's chromium under playwright."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest_asyncio

from handlers.web.server import web_feature
from storage.database import open_database
from storage.public.queries import PublicQueries
from web_seed import SERVER, FakeNames, seed_demo
from web_support import CHROMIUM, CHROMIUM_ARGS, FakeDraws, WebSite, free_port, missing, web_config


@pytest_asyncio.fixture(scope="session", loop_scope="session")
async def browser() -> AsyncIterator[Any]:
    """Debian's chromium under playwright (playwright never downloads a browser here)."""
    if not CHROMIUM.exists():
        missing(f"no chromium at {CHROMIUM}")
    try:
        from playwright.async_api import async_playwright
    except ImportError:
        missing("the playwright package is not installed")
    async with async_playwright() as playwright:
        launched = await playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            yield launched
        finally:
            await launched.close()


@pytest_asyncio.fixture(loop_scope="session")
async def web_site(tmp_path: Path) -> AsyncIterator[WebSite]:
    """The demo-like federation (``web_seed``), served by the web view on a free loopback port."""
    db = await open_database(f"sqlite://{tmp_path / 'web.db'}")
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
