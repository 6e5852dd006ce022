"""Benchmark: catch-up — reactions sent while the bot is down are all counted after it restarts.

Opens a poll, stops the bot, has voters send reactions (more than one sync timeline holds, so the gap
must be filled from /messages), restarts the bot and times from the restart until every reaction is
stored. Run: ``.venv/bin/python bench/bench_catchup.py [n]``.
"""

from __future__ import annotations

import asyncio
import sys
import time

from _poll_bench import KEYS, open_poll, set_up, start_app, tear_down


async def main(n_reactions: int = 300) -> None:
    setup = await set_up(n_voters=10)
    app = await start_app(setup.config_path)
    number, options = await open_poll(setup, app, options=5)
    await app.stop()
    sent = set()
    for i in range(n_reactions):
        voter = setup.voters[i % len(setup.voters)]
        option = options[(i // len(setup.voters)) % len(options)]
        # Each (voter, option) gets a different key each round: nobody redacts while the bot is down.
        round_ = i // (len(setup.voters) * len(options))
        sent.add(await voter.react(setup.room, option, KEYS[round_ % 6]))
    started = time.perf_counter()
    app = await start_app(setup.config_path)
    try:
        while True:
            known = await app.db.polls.known_reaction_ids(number)
            if sent <= set(known):
                break
            if time.perf_counter() - started > 300:
                raise SystemExit(f"only {len(sent & set(known))} of {len(sent)} reactions were counted")
            await asyncio.sleep(0.05)
        elapsed = time.perf_counter() - started
        live = sum(1 for state in known.values() if state == "live")
        print(f"catch-up: {len(sent)} reactions sent while down, all counted {elapsed:.2f} s after the restart "
              f"(restart, login and first sync included); {live} count, the rest superseded (poll #{number})")
    finally:
        await app.stop()
        await tear_down(setup)


if __name__ == "__main__":
    asyncio.run(main(int(sys.argv[1]) if len(sys.argv) > 1 else 300))
