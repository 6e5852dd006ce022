"""Markers and fixtures shared by every test folder.

* ``postgres`` -- needs the PostgreSQL server named by ``HARMONY_TEST_POSTGRES``; skipped, with that
  reason, when the variable is unset.
* ``postgres_too`` -- an integration test that ``.ci/run`` runs a second time with the bot on
  PostgreSQL: one or two per feature, chosen to write through every store (polls and ballots, the
  outbox, moots and their notices, decisions, the registry). Every store's own tests run on both
  backends (``tests/storage``); the rest of the integration suite runs once, on SQLite.
* every test: the messages the bot sent through the fakes read well (``tests/fakes/html_check.py``).
* ``browser`` -- Debian's chromium under playwright (``browser_support.py`` has the helpers).

Every test runs on the one session event loop, so a task a test leaves running (an edge harness's
outbox worker, say) would be destroyed later, in the middle of another test, which then sees asyncio's
"Task was destroyed but it is pending" error in its log. ``_no_bot_task_outlives_its_test`` cancels the
bot's own tasks (named ``harmony-*``) that a test started and left running, at the end of that test;
tasks of session fixtures (Synapse, the browser) are left alone.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import AsyncIterator
from typing import Any

import pytest
import pytest_asyncio

from browser_support import launched_browser

from tests.fakes.html_check import take_failures

POSTGRES_DSN_ENV = "HARMONY_TEST_POSTGRES"


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if os.environ.get(POSTGRES_DSN_ENV):
        return
    skip = pytest.mark.skip(reason=f"{POSTGRES_DSN_ENV} does not name a PostgreSQL DSN")
    for item in items:
        if item.get_closest_marker("postgres") is not None:
            item.add_marker(skip)


@pytest_asyncio.fixture(autouse=True, loop_scope="session")
async def _no_bot_task_outlives_its_test() -> AsyncIterator[None]:
    before = asyncio.all_tasks()
    yield
    left = [task for task in asyncio.all_tasks() - before
            if not task.done() and task.get_name().startswith("harmony-")]
    for task in left:
        task.cancel()
    if left:
        await asyncio.gather(*left, return_exceptions=True)


@pytest_asyncio.fixture(scope="session", loop_scope="session")
async def browser() -> AsyncIterator[Any]:
    """Debian's chromium under playwright, one for the session."""
    async with launched_browser() as launched:
        yield launched


@pytest.fixture(autouse=True)
def _bot_messages_read_well() -> object:
    """Every message the bot sent through the fakes (``FakeGateway``) was readable HTML with a plain body
    that stands on its own; a failed check is reported here even if the outbox swallowed it."""
    take_failures()
    yield
    failures = take_failures()
    assert not failures, "the bot sent unreadable messages:\n" + "\n".join(failures)
