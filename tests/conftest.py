"""Markers shared by every test folder.

* ``postgres`` -- needs the PostgreSQL server named by ``HARMONY_TEST_POSTGRES``; skipped, with that
  reason, when the variable is unset.
* every test: the messages the bot sent through the fakes read well (``tests/fakes/html_check.py``).
* ``backend_independent`` -- an integration test that never opens the bot's database on the
  configured backend (the demo always uses its embedded SQLite; the harness tests run no bot), so
  ``.ci/run`` runs it once instead of again on PostgreSQL.
"""

from __future__ import annotations

import os

import pytest

from tests.fakes.html_check import take_failures

POSTGRES_DSN_ENV = "HARMONY_TEST_POSTGRES"


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if os.environ.get(POSTGRES_DSN_ENV):
        return
    skip = pytest.mark.skip(reason=f"{POSTGRES_DSN_ENV} does not name a PostgreSQL DSN")
    for item in items:
        if item.get_closest_marker("postgres") is not None:
            item.add_marker(skip)


@pytest.fixture(autouse=True)
def _bot_messages_read_well() -> object:
    """Every message the bot sent through the fakes (``FakeGateway``) was readable HTML with a plain body
    that stands on its own; a failed check is reported here even if the outbox swallowed it."""
    take_failures()
    yield
    failures = take_failures()
    assert not failures, "the bot sent unreadable messages:\n" + "\n".join(failures)
