"""Two processes writing one SQLite database (the bot and ``harmony-matrix import``) never see
``database is locked``: transactions begin IMMEDIATE (``storage/sqlite.py``). With tortoise's plain
``BEGIN``, a read-then-write transaction (``update_or_create``) failed at once whenever the other
process had written since it read."""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path

import pytest

from storage.database import open_database

pytestmark = pytest.mark.asyncio(loop_scope="session")

REPO = Path(__file__).resolve().parents[2]
ROUNDS = 150

# Each round is a read-then-write transaction (the sync token) and a plain insert (a processed event),
# as the bot's sync batches do.
WRITER = """
import asyncio, sys
from storage.database import open_database

async def main(url, who, rounds):
    db = await open_database(url)
    failures = []
    for i in range(rounds):
        try:
            await db.sync.set_token(f"@{who}:example.org", str(i))
            await db.events.mark_processed(f"${who}-{i}", "!room:example.org", "test")
        except Exception as exc:
            failures.append(str(exc))
    await db.close()
    print(len(failures), failures[:1])

asyncio.run(main(sys.argv[1], sys.argv[2], int(sys.argv[3])))
"""


async def test_two_processes_write_at_once_without_database_is_locked(tmp_path: Path) -> None:
    url = f"sqlite://{tmp_path / 'shared.db'}"
    await (await open_database(url)).close()  # migrated once, before the race
    writers = [await asyncio.create_subprocess_exec(
        sys.executable, "-c", WRITER, url, who, str(ROUNDS), cwd=REPO,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT) for who in ("bot", "import")]
    outputs = [(await writer.communicate())[0].decode() for writer in writers]
    assert [writer.returncode for writer in writers] == [0, 0], outputs
    assert [output.split()[0] for output in outputs] == ["0", "0"], outputs
    database = await open_database(url)
    try:
        assert await database.sync.get_token("@bot:example.org") == str(ROUNDS - 1)
        assert await database.sync.get_token("@import:example.org") == str(ROUNDS - 1)
    finally:
        await database.close()
