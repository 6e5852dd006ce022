"""Benchmark: vote latency against a real Synapse — reaction sent → ballot stored by the bot.

Starts a LocalSynapse and the bot in-process, opens a poll, then voters send reactions one after the
other (each voter changes scores, so the bot also redacts superseded reactions, as in real use). The
latency of each reaction is measured from just before its PUT to the moment the bot's store call that
counted it returned. Prints p50, p95 and max. Run: ``.venv/bin/python bench/bench_vote_latency.py [n]
[--paced]``; ``--paced`` waits for each vote to be stored before sending the next (no queueing).
"""

from __future__ import annotations

import asyncio
import statistics
import sys
import time

from _poll_bench import KEYS, open_poll, set_up, start_app, tear_down


async def main(n_reactions: int = 240, *, paced: bool = False) -> None:
    setup = await set_up(n_voters=8)
    app = await start_app(setup.config_path)
    try:
        number, options = await open_poll(setup, app, options=5)
        feature = app.features["polls"]
        stored_at: dict[str, float] = {}
        all_stored = asyncio.Event()
        original = feature.store.add_reaction
        stored_one = asyncio.Event()

        async def timed_add(poll, reaction, **kwargs):  # type: ignore[no-untyped-def]
            result = await original(poll, reaction, **kwargs)
            stored_at[reaction.event_id] = time.perf_counter()
            stored_one.set()
            if len(stored_at) >= n_reactions:
                all_stored.set()
            return result

        feature.store.add_reaction = timed_add  # type: ignore[method-assign]
        sent_at: dict[str, float] = {}
        for i in range(n_reactions):
            voter = setup.voters[i % len(setup.voters)]
            option = options[(i // len(setup.voters)) % len(options)]
            key = KEYS[(i * 7) % 6]
            started = time.perf_counter()
            event_id = await voter.react(setup.room, option, key)
            sent_at[event_id] = started
            if paced:  # one vote at a time: the latency of a single vote, without a queue
                while event_id not in stored_at:
                    stored_one.clear()
                    await asyncio.wait_for(stored_one.wait(), timeout=60)
        await asyncio.wait_for(all_stored.wait(), timeout=300)
        latencies = sorted((stored_at[e] - sent_at[e]) * 1000 for e in sent_at)
        p50 = statistics.median(latencies)
        p95 = latencies[int(0.95 * (len(latencies) - 1))]
        mode = "one at a time" if paced else "sent back to back"
        print(f"vote latency over {len(latencies)} reactions ({mode}): p50 {p50:.0f} ms, p95 {p95:.0f} ms, "
              f"max {latencies[-1]:.0f} ms (poll #{number})")
    finally:
        await app.stop()
        await tear_down(setup)


if __name__ == "__main__":
    numbers = [a for a in sys.argv[1:] if a.isdigit()]
    asyncio.run(main(int(numbers[0]) if numbers else 240, paced="--paced" in sys.argv))
