"""Fixtures that run real Synapse homeservers on loopback for the integration tests.

* ``synapse`` -- one SQLite-backed server for the whole session.
* ``synapse_pair`` -- two federating servers, started only if a test asks for them.
* ``make_user`` -- ``await make_user("alice")`` registers a fresh, uniquely named user
  (on ``synapse`` unless ``server=`` says otherwise) and returns a logged-in
  :class:`TestMatrixUser`; clients are closed after the test.

Every Synapse process is stopped at session end (and dies with the test process if that
is killed: see ``harmony_app.synapse.server._die_with_parent``).
"""

from __future__ import annotations

import asyncio
import itertools
import re
import secrets
import sys
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
import pytest_asyncio

try:
    import harmony_matrix  # noqa: F401
except ModuleNotFoundError:  # pytest run from the venv script without the package installed
    sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from harmony_app.local_synapse import LocalSynapse, start_federated_pair
from matrix_client import MakeUser, TestMatrixUser

_user_numbers = itertools.count(1)


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Every test in this directory needs a real Synapse: mark it ``integration``."""
    here = Path(__file__).parent
    for item in items:
        if here in Path(item.path).parents:
            item.add_marker(pytest.mark.integration)


@pytest_asyncio.fixture(scope="session", loop_scope="session")
async def synapse(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[LocalSynapse]:
    """One Synapse (SQLite) for the whole test session."""
    server = LocalSynapse(tmp_path_factory.mktemp("synapse"))
    await server.start()
    try:
        yield server
    finally:
        await server.stop()


@pytest_asyncio.fixture(scope="session", loop_scope="session")
async def synapse_pair(
    tmp_path_factory: pytest.TempPathFactory,
) -> AsyncIterator[tuple[LocalSynapse, LocalSynapse]]:
    """Two Synapses federating over loopback TLS, named ``localhost:<port>``."""
    first, second = await start_federated_pair(tmp_path_factory.mktemp("synapse-pair"))
    try:
        yield first, second
    finally:
        await asyncio.gather(first.stop(), second.stop())


@pytest_asyncio.fixture(loop_scope="session")
async def make_user(synapse: LocalSynapse) -> AsyncIterator[MakeUser]:
    """Factory: ``await make_user(name="user", *, server=None, admin=False)``.

    The localpart is ``<name>-<n>-<random>`` so users never clash across tests or reruns.
    """
    users: list[TestMatrixUser] = []

    async def make(name: str = "user", *, server: LocalSynapse | None = None, admin: bool = False) -> TestMatrixUser:
        server = server or synapse
        stem = re.sub(r"[^a-z0-9._=-]", "-", name.lower()) or "user"
        localpart = f"{stem}-{next(_user_numbers)}-{secrets.token_hex(2)}"
        registered = await server.register_user(localpart, admin=admin)
        user = TestMatrixUser(
            server.url,
            user_id=registered.user_id,
            access_token=registered.access_token,
            device_id=registered.device_id,
            password=registered.password,
        )
        users.append(user)
        return user

    try:
        yield make
    finally:
        await asyncio.gather(*(user.close() for user in users))
