"""Benchmark: catch-up after downtime — reactions sent while the bot is down are all counted after it
restarts, nothing lost or doubled; beside the floor, fetching the same events with ``/messages``.

The bot runs as its own process (``harmony-matrix run``, SQLite). It opens a poll and is stopped;
voters send ``n`` reactions (more than one sync timeline holds, so the gap must be filled from
/messages); the bot is started again and timed from the restart until every reaction is stored
(its database polled). Each (voter, option) pair takes each keycap at most once — Synapse refuses a
repeated key from the same sender on the same event (``M_DUPLICATE_ANNOTATION``) and nobody redacts
while the bot is down — so there are enough voters and options for ``n``: up to 6 rounds of keys.

Checks: every reaction sent is stored once (the event ID is unique in the table; the count of rows is
compared), and exactly one counts per (voter, option), the last one sent.
The floor: one client pages the same room's history back with /messages (1,000 per page) over the
same span. Run: ``.venv/bin/python bench/bench_catchup.py [n ...]`` (default: 300 and 3000).
"""

from __future__ import annotations

import asyncio
import math
import os
import sys
import time
from datetime import datetime

from _poll_bench import (
    KEYS,
    StoredWatcher,
    open_poll_by_process,
    reaction_states,
    set_up,
    start_bot_process,
    tear_down,
)


async def messages_floor(user, room: str, until: str) -> tuple[float, int]:  # type: ignore[no-untyped-def]
    """Seconds to page back from the newest event to ``until`` (an event ID) with /messages, and how
    many events that read."""
    started = time.perf_counter()
    token, count = None, 0
    while True:
        params = {"dir": "b", "limit": "1000", **({"from": token} if token else {})}
        page = await user.request("GET", f"/_matrix/client/v3/rooms/{room}/messages", params=params)
        chunk = page.get("chunk", [])
        count += len(chunk)
        if not chunk or any(event["event_id"] == until for event in chunk) or not page.get("end"):
            break
        token = page["end"]
    return time.perf_counter() - started, count


def logged_after(log_text: str, needle: str, *, since: float) -> float | None:
    """Seconds from ``since`` (wall clock) to the first line of the bot's log containing ``needle`` at or
    after ``since`` (the log's timestamps have millisecond resolution)."""
    for line in log_text.splitlines():
        if needle in line:
            try:
                stamp = datetime.strptime(line[:23], "%Y-%m-%d %H:%M:%S,%f").timestamp()
            except ValueError:
                continue
            if stamp >= since - 0.5:
                return stamp - since
    return None


async def run(n_reactions: int) -> bool:
    options_n = 10 if n_reactions > 300 else 5
    voters_n = math.ceil(n_reactions / (6 * options_n))
    setup = await set_up(n_voters=voters_n, log_level=os.environ.get("BENCH_BOT_LOG", "INFO"))
    bot = await start_bot_process(setup)
    watcher = None
    try:
        number, options = await open_poll_by_process(setup, options=options_n)
        await bot.terminate()
        pairs = [(v, o) for o in range(options_n) for v in range(voters_n)]
        schedule = [(r, v, o) for r in range(6) for v, o in pairs][:n_reactions]
        sent: dict[str, tuple[int, int, int]] = {}  # event ID -> (round, voter, option)
        limit = asyncio.Semaphore(8)

        async def send(r: int, v: int, o: int) -> None:
            async with limit:
                event_id = await setup.voters[v].react(setup.room, options[o], KEYS[r])
            sent[event_id] = (r, v, o)

        for r in range(6):  # round by round, so each pair's later key is also sent later
            await asyncio.gather(*(send(r_, v, o) for r_, v, o in schedule if r_ == r))
        first_reaction = next(e for e, (r, v, o) in sent.items() if r == 0 and v == 0 and o == 0)
        floor, floor_events = await messages_floor(setup.admin, setup.room, first_reaction)
        watcher = StoredWatcher(setup.db_path, number)
        watcher.start()
        started, wall = time.monotonic(), time.time()
        await bot.start()
        await watcher.wait_for(set(sent), timeout=900)
        elapsed = time.monotonic() - started
        await watcher.stop()
        states = reaction_states(setup.db_path, number)
        lost = set(sent) - set(states)
        extra = set(states) - set(sent)
        last = {}
        for event_id, (r, v, o) in sent.items():
            if (v, o) not in last or r > sent[last[(v, o)]][0]:
                last[(v, o)] = event_id
        counting = {e for e, (voter, position, score, withdrawn, superseded, refused) in states.items()
                    if not withdrawn and not superseded and refused is None}
        ok = not lost and not extra and len(states) == len(sent) and counting == set(last.values())
        rate = len(sent) / elapsed  # replaced below by the rate once logged in, if the log says when
        ready = logged_after(bot.log_text(), "end-to-end encryption on", since=wall)
        gap = logged_after(bot.log_text(), "filled a gap of", since=wall)
        if ready is not None:
            handling = elapsed - ready
            print(f"  the bot's log: process start to logged in (imports, database, login, crypto store) "
                  f"{ready:.2f} s; gap read from /messages {gap if gap is not None else float('nan'):.2f} s after "
                  f"the start; from logged in to all stored {handling:.2f} s = {len(sent) / handling:.0f} reactions/s")
            rate = len(sent) / handling
        print(f"catch-up of {len(sent)} reactions ({voters_n} voters x {options_n} options, bot as its own process): "
              f"all stored {elapsed:.2f} s after the restart (start-up, login and first sync included), "
              f"{len(sent) / elapsed:.0f} reactions/s from the restart, {rate:.0f}/s once logged in | /messages floor for the same span: {floor:.2f} s ({floor_events} events), "
              f"ratio {elapsed / floor:.1f}x | lost {len(lost)}, unexpected {len(extra)}, rows {len(states)}, "
              f"counting {len(counting)} (expected {len(last)}: the last per voter and option) -> "
              f"{'OK' if ok else 'WRONG'}")
        return ok and (n_reactions < 3000 or rate >= 500)
    finally:
        if watcher is not None:
            await watcher.stop()
        await bot.terminate()
        await tear_down(setup)


async def main(sizes: list[int]) -> int:
    results = [await run(n) for n in sizes]
    return 0 if all(results) else 1


if __name__ == "__main__":
    sizes = [int(a) for a in sys.argv[1:] if a.isdigit()] or [300, 3000]
    sys.exit(asyncio.run(main(sizes)))
