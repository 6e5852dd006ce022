"""Benchmark: vote latency against a real Synapse — reaction sent → ballot stored by the bot, beside a
bare matrix-nio client's receive latency of the same reactions, measured in the same run.

The bot runs as its own process (``harmony-matrix run``, as users run it; SQLite). So does the
comparator (bench/_nio_receiver.py: nio, the bot's sync filter, no handling). Voters send reactions on
a 5-option poll (each voter changes scores, so the bot also supersedes earlier ones and queues their
redactions, as in real use):

* one at a time: each reaction is sent once the previous one is stored and received (60 of them);
* back to back: 240 reactions sent one after the other without waiting.

Latency of a reaction = from just before its PUT to the moment the bot's stored row is visible in
its database (polled every 2 ms), and for the comparator to the moment its /sync returned it. Prints
p50 / p95 / max of both and the ratios. Run: ``.venv/bin/python bench/bench_vote_latency.py``.
"""

from __future__ import annotations

import asyncio
import statistics
import sys
import time
from pathlib import Path

from _poll_bench import KEYS, StoredWatcher, open_poll_by_process, set_up, start_bot_process, tear_down

HERE = Path(__file__).resolve().parent
VOTERS, OPTIONS = 10, 5


class Receiver:
    """The bare nio client's process and what it printed."""

    def __init__(self) -> None:
        self.received_at: dict[str, float] = {}
        self.process: asyncio.subprocess.Process | None = None
        self._ready = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    async def start(self, homeserver: str, user_id: str, token: str, room: str) -> None:
        self.process = await asyncio.create_subprocess_exec(
            sys.executable, str(HERE / "_nio_receiver.py"), homeserver, user_id, token, room,
            stdout=asyncio.subprocess.PIPE)
        self._task = asyncio.get_running_loop().create_task(self._read())
        await asyncio.wait_for(self._ready.wait(), 60)

    async def _read(self) -> None:
        assert self.process is not None and self.process.stdout is not None
        while line := await self.process.stdout.readline():
            text = line.decode().strip()
            if text == "READY":
                self._ready.set()
            elif text:
                event_id, at = text.split()
                self.received_at.setdefault(event_id, float(at))

    async def wait_for(self, event_ids: set[str], timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while not event_ids <= self.received_at.keys():
            if time.monotonic() > deadline:
                raise SystemExit("the bare nio client did not receive every reaction")
            await asyncio.sleep(0.002)

    async def stop(self) -> None:
        if self.process is not None and self.process.returncode is None:
            self.process.terminate()
            await self.process.wait()
        if self._task is not None:
            self._task.cancel()


def summary(latencies_ms: list[float]) -> tuple[float, float, float]:
    ordered = sorted(latencies_ms)
    return statistics.median(ordered), ordered[int(0.95 * (len(ordered) - 1))], ordered[-1]


def describe(name: str, bot: list[float], bare: list[float]) -> float:
    b50, b95, bmax = summary(bot)
    n50, n95, nmax = summary(bare)
    ratio = b50 / n50
    print(f"{name} ({len(bot)} reactions): bot p50 {b50:.0f} ms, p95 {b95:.0f} ms, max {bmax:.0f} ms | "
          f"bare nio client p50 {n50:.0f} ms, p95 {n95:.0f} ms, max {nmax:.0f} ms | p50 ratio {ratio:.2f}x")
    return ratio


async def main(paced_n: int = 60, burst_n: int = 240) -> None:
    setup = await set_up(n_voters=VOTERS + 1)
    observer, voters = setup.voters[0], setup.voters[1:]
    bot = await start_bot_process(setup)
    receiver = Receiver()
    watcher: StoredWatcher | None = None
    try:
        number, options = await open_poll_by_process(setup, options=OPTIONS)
        await receiver.start(setup.synapse.url, observer.user_id, observer.access_token, setup.room)
        watcher = StoredWatcher(setup.db_path, number)
        watcher.start()
        # Each (voter, option) pair takes each key at most once: Synapse refuses a repeated key from the
        # same sender on the same event (M_DUPLICATE_ANNOTATION) until the earlier one is redacted.
        pairs = [(v, o) for o in range(OPTIONS) for v in range(len(voters))]
        schedule = [(voters[v], options[o], KEYS[r]) for r in range(6) for v, o in pairs]
        paced, burst = schedule[:paced_n], schedule[paced_n:paced_n + burst_n]
        if len(burst) < burst_n:
            raise SystemExit(f"{len(schedule)} distinct reactions available, fewer than {paced_n + burst_n}")
        sent_at: dict[str, float] = {}
        for voter, option, key in paced:
            started = time.monotonic()
            event_id = await voter.react(setup.room, option, key)
            sent_at[event_id] = started
            await watcher.wait_for({event_id}, timeout=60)
            await receiver.wait_for({event_id}, timeout=60)
        paced_ids = list(sent_at)
        burst_sent: dict[str, float] = {}
        for voter, option, key in burst:
            started = time.monotonic()
            burst_sent[await voter.react(setup.room, option, key)] = started
        await watcher.wait_for(set(burst_sent), timeout=600)
        await receiver.wait_for(set(burst_sent), timeout=600)

        def latencies(sent: dict[str, float], seen: dict[str, float]) -> list[float]:
            return [(seen[e] - sent[e]) * 1000 for e in sent]

        print(f"bot as its own process (SQLite), bare nio client as its own process; poll #{number}, "
              f"{len(voters)} voters x {OPTIONS} options")
        one = describe("one at a time", latencies({e: sent_at[e] for e in paced_ids}, watcher.stored_at),
                       latencies({e: sent_at[e] for e in paced_ids}, receiver.received_at))
        many = describe("back to back", latencies(burst_sent, watcher.stored_at),
                        latencies(burst_sent, receiver.received_at))
        print(f"targets: one at a time <= 1.3x: {'met' if one <= 1.3 else 'NOT met'}; "
              f"back to back <= 2x: {'met' if many <= 2 else 'NOT met'}")
    finally:
        if watcher is not None:
            await watcher.stop()
        await receiver.stop()
        await bot.terminate()
        await tear_down(setup)


if __name__ == "__main__":
    numbers = [int(a) for a in sys.argv[1:] if a.isdigit()]
    asyncio.run(main(*numbers))
