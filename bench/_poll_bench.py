"""Shared set-up of the poll benchmarks: a LocalSynapse, the bot (as its own process, as users run it,
or in-process), voters, a poll room, and a watcher of the bot's database.

The bot as a process: ``harmony-matrix run`` (``BotProcess``), its SQLite database read by the
benchmark through its own connection (WAL: readers never block the bot's writes), polled every
``POLL_S`` seconds for new reactions, so "stored" means the row is in the database, as a reader of it
sees it.
"""

from __future__ import annotations

import asyncio
import sqlite3
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests" / "integration"))
sys.path.insert(0, str(ROOT / "tests"))  # botrunner imports db_template

from botrunner import BotProcess, start_app, write_bot_config  # noqa: E402
from matrix_client import TestMatrixUser  # noqa: E402

from harmony_app.app import App  # noqa: E402
from harmony_app.local_synapse import LocalSynapse, RegisteredUser  # noqa: E402
from harmony_matrix.polls.poll import parse_poll_ref  # noqa: E402

KEYS = [f"{d}\ufe0f\u20e3" for d in range(6)]
#: How often the database watcher looks for new rows (seconds): the resolution of "stored".
POLL_S = 0.002


@dataclass
class Setup:
    synapse: LocalSynapse
    config_path: Path
    db_path: Path
    bot: RegisteredUser
    admin: TestMatrixUser
    voters: list[TestMatrixUser]
    room: str
    base: Path


async def set_up(n_voters: int, *, log_level: str = "WARNING") -> Setup:
    base = Path(tempfile.mkdtemp(prefix="harmony-bench-"))
    synapse = LocalSynapse(base / "synapse")
    await synapse.start()
    users = []
    for name in ["admin"] + [f"voter{i}" for i in range(n_voters)]:
        registered = await synapse.register_user(name)
        users.append(TestMatrixUser(synapse.url, user_id=registered.user_id, access_token=registered.access_token))
    bot = await synapse.register_user("bot")
    db_path = base / "bot" / "harmony.db"
    config_path = write_bot_config(base / "bot", synapse=synapse, bot=bot, admins=[users[0].user_id],
                                   database_url=f"sqlite://{db_path}",
                                   polls={"seed_reactions": False, "chart": False},
                                   logging={"level": log_level})
    room = await users[0].create_room(name="Bench", preset="public_chat", invite=[bot.user_id],
                                      power_level_content_override={"users": {bot.user_id: 50}})
    for voter in users[1:]:
        await voter.join(room)
    return Setup(synapse, config_path, db_path, bot, users[0], users[1:], room, base)


def poll_command(options: int) -> str:
    return ("!h poll start Bench? | " + " | ".join(f"Option {i}" for i in range(options))
            + " eligibility=participants")


async def open_poll(setup: Setup, app: App, options: int) -> tuple[int, list[str]]:
    """Open a poll with the in-process bot ``app``; returns its number and option event IDs."""
    reply = await setup.admin.send_and_wait_reply(setup.room, poll_command(options), from_user=setup.bot.user_id,
                                                  timeout=60)
    number = parse_poll_ref(reply["content"]["body"].split()[1])
    poll = await app.db.polls.get(number)
    assert poll is not None
    return number, [str(o.event_id) for o in poll.options]


async def start_bot_process(setup: Setup) -> BotProcess:
    """``harmony-matrix run`` as a child process (its log: ``bot.log`` beside the config)."""
    bot = BotProcess(setup.config_path)
    await bot.start()
    return bot


async def first_answer(setup: Setup, text: str, *, timeout: float = 300) -> tuple[float, dict]:
    """Send ``text`` (a command) until the bot answers it; returns (seconds from the first send, the reply).

    A command sent before the bot's first sync is in its history and answered when it catches up,
    so one send is enough; the time is from that send."""
    started = time.perf_counter()
    reply = await setup.admin.send_and_wait_reply(setup.room, text, from_user=setup.bot.user_id, timeout=timeout)
    return time.perf_counter() - started, reply


async def open_poll_by_process(setup: Setup, options: int) -> tuple[int, list[str]]:
    """Open a poll with the bot running as a process; returns its number and option event IDs (from its
    database, once every option is posted)."""
    reply = await setup.admin.send_and_wait_reply(setup.room, poll_command(options), from_user=setup.bot.user_id,
                                                  timeout=120)
    number = parse_poll_ref(reply["content"]["body"].split()[1])
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        with sqlite3.connect(setup.db_path) as db:
            rows = db.execute("SELECT position, event_id FROM polls_option WHERE poll_id = ? ORDER BY position",
                              (number,)).fetchall()
        if len(rows) == options and all(event_id for _, event_id in rows):
            return number, [str(event_id) for _, event_id in rows]
        await asyncio.sleep(0.1)
    raise SystemExit(f"poll #{number}'s options were not all posted")


@dataclass
class StoredWatcher:
    """Polls the bot's database for the reactions it stores; ``stored_at[event_id]`` is when (monotonic)
    the benchmark first saw each one."""

    db_path: Path
    poll: int
    stored_at: dict[str, float] = field(default_factory=dict)
    _last_id: int = 0
    _task: asyncio.Task[None] | None = None

    def start(self) -> None:
        self._task = asyncio.get_running_loop().create_task(self._run())

    async def _run(self) -> None:
        db = sqlite3.connect(f"file:{self.db_path}?mode=ro", uri=True)
        try:
            while True:
                rows = db.execute("SELECT id, event_id FROM polls_reaction WHERE poll_id = ? AND id > ? ORDER BY id",
                                  (self.poll, self._last_id)).fetchall()
                now = time.monotonic()
                for row_id, event_id in rows:
                    self.stored_at.setdefault(event_id, now)
                    self._last_id = max(self._last_id, row_id)
                await asyncio.sleep(POLL_S)
        finally:
            db.close()

    async def wait_for(self, event_ids: set[str], *, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while not event_ids <= self.stored_at.keys():
            if time.monotonic() > deadline:
                missing = len(event_ids - self.stored_at.keys())
                raise SystemExit(f"{missing} of {len(event_ids)} reactions were not stored within {timeout:.0f} s")
            await asyncio.sleep(POLL_S)

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            try:
                await self._task
            except asyncio.CancelledError:
                pass


def reaction_states(db_path: Path, poll: int) -> dict[str, tuple[str, str, int, bool, bool, str | None]]:
    """Every stored reaction of ``poll``: event ID → (voter, position, score, withdrawn, superseded, refused)."""
    with sqlite3.connect(f"file:{db_path}?mode=ro", uri=True) as db:
        rows = db.execute("SELECT event_id, voter, position, score, withdrawn, superseded, refused "
                          "FROM polls_reaction WHERE poll_id = ?", (poll,)).fetchall()
    return {row[0]: (row[1], row[2], row[3], bool(row[4]), bool(row[5]), row[6]) for row in rows}


def rss_mib(pid: int) -> float:
    """Resident memory of process ``pid`` in MiB (VmRSS from /proc)."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


async def tear_down(setup: Setup) -> None:
    for user in (setup.admin, *setup.voters):
        await user.close()
    await setup.synapse.stop()


__all__ = ["KEYS", "Setup", "StoredWatcher", "first_answer", "open_poll", "open_poll_by_process",
           "reaction_states", "rss_mib", "set_up", "start_app", "start_bot_process", "tear_down"]
