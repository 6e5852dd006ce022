"""``harmony-matrix demo`` as a newcomer runs it: it starts, prints a login, and answers in its room."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import sys
from pathlib import Path

import pytest

from matrix_client import TestMatrixUser

pytestmark = [pytest.mark.asyncio(loop_scope="session"), pytest.mark.backend_independent]
REPO = Path(__file__).resolve().parents[2]


async def _start_demo(data_dir: Path) -> tuple[asyncio.subprocess.Process, dict, list[str]]:
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "harmony_app", "demo", "--data-dir", str(data_dir), "--port", "0",
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT, cwd=REPO,
        env={**os.environ, "PYTHONUNBUFFERED": "1"})
    output: list[str] = []
    assert process.stdout is not None
    while True:
        line = await asyncio.wait_for(process.stdout.readline(), timeout=240)
        if not line:
            raise AssertionError("the demo exited before it was ready:\n" + "".join(output))
        text = line.decode(errors="replace")
        output.append(text)
        if text.startswith("DEMO-READY "):
            return process, json.loads(text[len("DEMO-READY "):]), output


async def _stop_demo(process: asyncio.subprocess.Process) -> int:
    process.send_signal(signal.SIGINT)
    try:
        await asyncio.wait_for(process.communicate(), timeout=60)
    except asyncio.TimeoutError:
        process.kill()
        await process.wait()
    return process.returncode


async def test_demo_answers_ping_and_reuses_its_data(tmp_path: Path) -> None:
    data_dir = tmp_path / "demo-data"
    for run in range(2):
        process, ready, output = await _start_demo(data_dir)
        try:
            assert any("Log in as:" in line for line in output)
            async with __import__("aiohttp").ClientSession() as http:
                async with http.post(f"{ready['url']}/_matrix/client/v3/login", json={
                    "type": "m.login.password", "identifier": {"type": "m.id.user", "user": "demo"},
                    "password": ready["password"]}) as response:
                    login = await response.json()
            demo_user = TestMatrixUser(ready["url"], user_id=login["user_id"], access_token=login["access_token"])
            try:
                reply = await demo_user.send_and_wait_reply(ready["room_id"], "!h ping",
                                                            from_user=ready["bot_user_id"], timeout=60)
                assert reply["content"]["body"].startswith("Pong")
            finally:
                await demo_user.close()
            if run == 0:
                first_room = ready["room_id"]
            else:
                assert ready["room_id"] == first_room  # the second run reuses server, accounts and room
        finally:
            assert await _stop_demo(process) == 0
