"""Markers shared by every test folder.

* ``postgres`` -- needs the PostgreSQL server named by ``HARMONY_TEST_POSTGRES``; skipped, with that
  reason, when the variable is unset.
* ``backend_independent`` -- an integration test that never opens the bot's database on the
  configured backend (the demo always uses its embedded SQLite; the harness tests run no bot), so
  ``.ci/run`` runs it once instead of again on PostgreSQL.
"""

from __future__ import annotations

import os

import pytest

POSTGRES_DSN_ENV = "HARMONY_TEST_POSTGRES"


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if os.environ.get(POSTGRES_DSN_ENV):
        return
    skip = pytest.mark.skip(reason=f"{POSTGRES_DSN_ENV} does not name a PostgreSQL DSN")
    for item in items:
        if item.get_closest_marker("postgres") is not None:
            item.add_marker(skip)
