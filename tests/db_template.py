"""Migrated databases to start tests from, instead of migrating a fresh one in every test.

Migrating an empty database through every app's migrations takes tortoise 1–3 s (it rebuilds its
model state at each step); the suite opens a few hundred databases, so that was minutes of a
10-minute budget. :func:`seed_sqlite` copies a database migrated once (per set of migration files, in
a child process, so no tortoise state is shared with the test) to where a test's database will be;
:func:`create_postgres_from_template` creates a PostgreSQL database as a copy of one migrated once per
test process (``CREATE DATABASE … TEMPLATE``). Opening either then applies nothing, exactly as a
restart of the bot does.

What migrating itself does is tested where it matters, on empty databases: ``tests/storage/
test_migrations.py`` and ``test_models_match_migrations.py`` (and every PostgreSQL test), and the
template is built by the same ``open_database`` the bot uses.
"""

from __future__ import annotations

import atexit
import hashlib
import os
import secrets
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

from storage.admin import dsn_with_database

REPO = Path(__file__).resolve().parents[1]


def _migrations_digest() -> str:
    digest = hashlib.sha256()
    for path in sorted((REPO / "storage").glob("*/migrations/*.py")):
        digest.update(str(path.relative_to(REPO)).encode())
        digest.update(path.read_bytes())
    return digest.hexdigest()[:16]


def _migrate_in_child(url: str) -> None:
    """``open_database(url)`` (migrating it to the latest schema) in a child process."""
    code = ("import asyncio, sys\nfrom storage.database import open_database\n"
            "async def main():\n    db = await open_database(sys.argv[1])\n    await db.close()\n"
            "asyncio.run(main())\n")
    subprocess.run([sys.executable, "-c", code, url], check=True, cwd=REPO,
                   env={**os.environ, "PYTHONPATH": str(REPO)})


def template_path() -> Path:
    """The migrated template for the current migration files, built if missing (atomically: parallel
    workers may race to build it; each writes its own file and renames it into place)."""
    template = Path(tempfile.gettempdir()) / f"harmony-test-template-{_migrations_digest()}.db"
    if not template.exists():
        fd, building = tempfile.mkstemp(suffix=".db", dir=template.parent)
        os.close(fd)
        os.unlink(building)  # open_database creates the file
        _migrate_in_child(f"sqlite://{building}")
        os.replace(building, template)
    return template


def seed_sqlite(url: str, *, base: Path | None = None) -> str:
    """Put a migrated copy of the template where the SQLite database at ``url`` will be (a relative path
    is taken from ``base``), unless something is there already; returns ``url``. Other URLs
    (PostgreSQL, ``:memory:``) are returned untouched."""
    if not url.startswith("sqlite://") or url.endswith(":memory:"):
        return url
    path = Path(url.removeprefix("sqlite://"))
    if not path.is_absolute():
        path = (base or Path.cwd()) / path
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(template_path(), path)
    return url


_postgres_templates: dict[str, str] = {}


def _postgres_execute(admin_dsn: str, statement: str) -> None:
    import psycopg2  # type: ignore[import-untyped]

    connection = psycopg2.connect(admin_dsn)
    connection.autocommit = True
    try:
        with connection.cursor() as cursor:
            cursor.execute(statement)
    finally:
        connection.close()


def _postgres_template(admin_dsn: str) -> str:
    """This process's migrated PostgreSQL template (its own, so no other process is ever connected to it
    while a copy is made), created on first use and dropped at exit."""
    if admin_dsn not in _postgres_templates:
        name = f"harmony_template_{_migrations_digest()}_{os.getpid()}"
        _postgres_execute(admin_dsn, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        _postgres_execute(admin_dsn, f'CREATE DATABASE "{name}" ENCODING \'UTF8\' TEMPLATE template0')
        atexit.register(_postgres_execute, admin_dsn, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        _migrate_in_child(dsn_with_database(admin_dsn, name))
        _postgres_templates[admin_dsn] = name
    return _postgres_templates[admin_dsn]


def create_postgres_from_template(admin_dsn: str, name: str | None = None) -> str:
    """Create database ``name`` (default: a fresh unique one; an existing empty one of that name is
    replaced) as a copy of the migrated template; returns its DSN. The caller drops it."""
    name = name or f"harmony_bot_{secrets.token_hex(6)}"
    template = _postgres_template(admin_dsn)
    _postgres_execute(admin_dsn, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    _postgres_execute(admin_dsn, f'CREATE DATABASE "{name}" TEMPLATE "{template}"')
    return dsn_with_database(admin_dsn, name)
