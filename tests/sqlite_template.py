"""A migrated SQLite database to start tests from, instead of migrating a fresh one in every test.

Migrating an empty database through every app's migrations takes tortoise 1–3 s (it rebuilds its
model state at each step); the suite opens a few hundred databases, so that was minutes of a
10-minute budget. :func:`seed_sqlite` copies a database migrated once (per set of migration files, in
a child process, so no tortoise state is shared with the test) to where a test's database will be.
Opening it then applies nothing, exactly as a restart of the bot does.

What migrating itself does is tested where it matters, on empty databases: ``tests/storage/
test_migrations.py`` and ``test_models_match_migrations.py`` (and every PostgreSQL test), and the
template is built by the same ``open_database`` the bot uses.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def _migrations_digest() -> str:
    digest = hashlib.sha256()
    for path in sorted((REPO / "storage").glob("*/migrations/*.py")):
        digest.update(str(path.relative_to(REPO)).encode())
        digest.update(path.read_bytes())
    return digest.hexdigest()[:16]


def template_path() -> Path:
    """The migrated template for the current migration files, built if missing (atomically: parallel
    workers may race to build it; each writes its own file and renames it into place)."""
    template = Path(tempfile.gettempdir()) / f"harmony-test-template-{_migrations_digest()}.db"
    if not template.exists():
        fd, building = tempfile.mkstemp(suffix=".db", dir=template.parent)
        os.close(fd)
        os.unlink(building)  # open_database creates the file
        code = ("import asyncio, sys\nfrom storage.database import open_database\n"
                "async def main():\n    db = await open_database('sqlite://' + sys.argv[1])\n    await db.close()\n"
                "asyncio.run(main())\n")
        subprocess.run([sys.executable, "-c", code, building], check=True, cwd=REPO,
                       env={**os.environ, "PYTHONPATH": str(REPO)})
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
