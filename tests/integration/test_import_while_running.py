"""``harmony-matrix import`` while the bot runs, as the README says to do it (issue 11): the running bot
sees the new assemblies within seconds, and the import never breaks its sync on SQLite (two processes
writing one file used to end in ``database is locked``)."""

from __future__ import annotations

import asyncio
import secrets
import sys
import time
from pathlib import Path

import pytest

from botrunner import REPO, BotProcess, write_bot_config
from harmony_app.local_synapse import LocalSynapse
from matrix_client import TestMatrixUser
from tests.fakes.html_check import assert_readable

# The bot keeps its data in SQLite here whatever the backend of the run: SQLite is what this is about.
pytestmark = [pytest.mark.asyncio(loop_scope="session")]

#: How soon the running bot must answer with an assembly imported by another process.
VISIBLE_WITHIN_S = 5.0


def federation_file(directory: Path, tag: str) -> Path:
    path = directory / "federation.yaml"
    path.write_text(f"""
version: 1
assemblies:
  - slug: party-{tag}
    name: Imported Party {tag}
    kind: party
  - slug: wg-{tag}
    name: Imported Working Group {tag}
    kind: working-group
    access: participants
    parents: [party-{tag}]
  - slug: city-{tag}
    name: Imported City {tag}
    kind: city
    parents: [party-{tag}]
""")
    return path


async def ask(admin: TestMatrixUser, room_id: str, text: str, bot_id: str) -> str:
    reply = await admin.send_and_wait_reply(room_id, text, from_user=bot_id, timeout=30)
    assert_readable(reply["content"])
    return str(reply["content"]["body"])


async def test_an_import_while_the_bot_runs_is_seen_within_seconds_and_never_breaks_its_sync(
        synapse: LocalSynapse, make_user, tmp_path: Path) -> None:
    tag = secrets.token_hex(3)
    admin = await make_user("import-admin")
    bot_user = await synapse.register_user(f"importbot-{tag}")
    bot_id = bot_user.user_id
    config = write_bot_config(tmp_path / "bot", synapse=synapse, bot=bot_user, admins=[admin.user_id],
                              database_url="sqlite://harmony.db", sync={"timeout_ms": 2000})
    bot = BotProcess(config)
    await bot.start()
    try:
        async with admin.listening() as listener:
            room_id = await admin.create_room(preset="private_chat", invite=[bot_id])
            await listener.wait_for(room_id, lambda e: e.get("type") == "m.room.member"
                                    and e.get("state_key") == bot_id and e["content"].get("membership") == "join",
                                    timeout=120, description="the bot joining")
        assert (await ask(admin, room_id, "!h assemblies", bot_id)).startswith("There are no assemblies yet")

        importer = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "harmony_app", "import", str(federation_file(tmp_path, tag)), "-c", str(config),
            stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT, cwd=REPO)
        # Keep the bot busy writing (processed events, sync tokens, replies) while the import writes too.
        pings = 0
        wait_import = asyncio.ensure_future(importer.communicate())
        while not wait_import.done():
            assert (await ask(admin, room_id, "!h ping", bot_id)).startswith("Pong")
            pings += 1
        output = (await wait_import)[0].decode(errors="replace")
        assert importer.returncode == 0, output
        imported = time.perf_counter()

        while True:
            listing = await ask(admin, room_id, "!h assemblies", bot_id)
            seen_after = time.perf_counter() - imported
            if f"Imported Working Group {tag}" in listing:
                break
            assert seen_after < VISIBLE_WITHIN_S, f"still not listed after {seen_after:.1f} s:\n{listing}"
        print(f"\nimport of 3 assemblies beside {pings} pings; listed by the running bot {seen_after:.2f} s later")
        assert seen_after < VISIBLE_WITHIN_S
        # The room is the admin's private chat with the bot: the answer comes right here.
        assert (await ask(admin, room_id, f"!h join party-{tag}", bot_id)).startswith(f"Welcome to Imported Party {tag}.")
    finally:
        await bot.terminate()
    log = bot.log_text()
    assert "harmony-matrix started" in log
    assert "sync failed" not in log and "database is locked" not in log, log[-3000:]
