"""The demo as a newcomer meets it (issue 11): its user is a registered party member, its banner stops
asking them to accept the Party invite once they have, and a second person can be added with the
command the README gives."""

from __future__ import annotations

import asyncio
import json
import os
import secrets
import signal
import sys
from pathlib import Path

import aiohttp
import pytest

from matrix_client import TestMatrixUser
from storage.database import open_database

pytestmark = [pytest.mark.asyncio(loop_scope="session"), pytest.mark.backend_independent]
REPO = Path(__file__).resolve().parents[2]


async def start_demo(data_dir: Path) -> tuple[asyncio.subprocess.Process, dict, str]:
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "harmony_app", "demo", "--data-dir", str(data_dir), "--port", "0",
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT, cwd=REPO,
        env={**os.environ, "PYTHONUNBUFFERED": "1"})
    assert process.stdout is not None
    output: list[str] = []
    while True:
        line = (await asyncio.wait_for(process.stdout.readline(), timeout=300)).decode(errors="replace")
        if not line:
            raise AssertionError("the demo exited before it was ready:\n" + "".join(output))
        output.append(line)
        if line.startswith("DEMO-READY "):
            return process, json.loads(line[len("DEMO-READY "):]), "".join(output)


async def stop_demo(process: asyncio.subprocess.Process) -> int:
    process.send_signal(signal.SIGINT)
    try:
        await asyncio.wait_for(process.communicate(), timeout=60)
    except asyncio.TimeoutError:
        process.kill()
        await process.wait()
    return process.returncode or 0


async def login(url: str, user: str, password: str) -> TestMatrixUser:
    async with aiohttp.ClientSession() as http:
        async with http.post(f"{url}/_matrix/client/v3/login", json={
                "type": "m.login.password", "identifier": {"type": "m.id.user", "user": user},
                "password": password}) as response:
            reply = await response.json()
            assert response.status == 200, reply
    return TestMatrixUser(url, user_id=reply["user_id"], access_token=reply["access_token"])


async def test_the_demo_user_is_a_member_the_banner_follows_the_invite_and_people_can_be_added(
        tmp_path: Path) -> None:
    data_dir = tmp_path / "demo-data"
    process, ready, banner = await start_demo(data_dir)
    try:
        server = ready["user_id"].partition(":")[2]
        assert f"accept the invite to the Party space (#party:{server})" in banner
        demo = await login(ready["url"], "demo", ready["password"])
        try:
            await demo.join(ready["party_space"])
        finally:
            await demo.close()
        # A second person, with the command the README gives (the demo's own registration secret).
        password = secrets.token_hex(8)
        register = await asyncio.create_subprocess_exec(
            str(Path(sys.executable).parent / "register_new_matrix_user"),
            "-c", str(data_dir / "synapse" / "harmony.yaml"), "-u", "second", "-p", password, "--no-admin",
            stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT)
        output = (await register.communicate())[0].decode(errors="replace")
        assert register.returncode == 0, output
        second = await login(ready["url"], "second", password)
        await second.close()
    finally:
        assert await stop_demo(process) == 0

    database = await open_database(f"sqlite://{data_dir.resolve() / 'harmony.db'}")
    try:
        assert await database.members.is_member(ready["user_id"])
    finally:
        await database.close()

    process, _ready, banner = await start_demo(data_dir)
    try:
        assert "accept the invite" not in banner
        assert f"you are in the Party space (#party:{server})" in banner
    finally:
        assert await stop_demo(process) == 0
