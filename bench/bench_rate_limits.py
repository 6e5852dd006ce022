"""Benchmark: the issue-10 load against a Synapse with its DEFAULT rate limits (``rc_message`` 0.2 events
per second after a burst of 10), the bot not exempted: a 5-option poll (announcement, five options,
30 seed keycaps) and 30 commands sent at once. Prints how long until every command was answered and
every seed was on its option, beside the least time the limit allows for that many events.

Run: ``.venv/bin/python bench/bench_rate_limits.py`` (about five minutes). The suite runs the same
scenario with a raised but binding limit: tests/integration/test_rate_limits.py.
"""

from __future__ import annotations

import asyncio
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests" / "integration"))

from rate_limit_scenario import floor_seconds, run_scenario  # noqa: E402

from harmony_app.local_synapse import LocalSynapse  # noqa: E402
from harmony_app.synapse.config import SYNAPSE_DEFAULT_RC_MESSAGE  # noqa: E402


async def main() -> int:
    base = Path(tempfile.mkdtemp(prefix="harmony-bench-rate-"))
    synapse = LocalSynapse(base / "synapse", rate_limits="default")
    await synapse.start()
    try:
        outcome = await run_scenario(synapse, base / "bot", name="bench", timeout=1800)
    finally:
        await synapse.stop()
    rate, burst = SYNAPSE_DEFAULT_RC_MESSAGE["per_second"], SYNAPSE_DEFAULT_RC_MESSAGE["burst_count"]
    floor = floor_seconds(outcome.bot_events, per_second=rate, burst=burst)
    log = outcome.bot_log
    print(f"Synapse default rc_message: {rate}/s, burst {burst}; the bot not exempted")
    print(f"answered: {len(outcome.replies)}/31 commands, generic apologies: {len(outcome.apologies)}, "
          f"seeds per option: {outcome.seeds_per_option}")
    print(f"{outcome.bot_events} events sent in {outcome.seconds:.1f} s; "
          f"theoretical floor ({outcome.bot_events} - {burst}) / {rate} = {floor:.1f} s "
          f"({outcome.seconds / floor:.2f} x the floor)")
    print(f"bot log: {log.count('Traceback')} tracebacks, {log.count('could not pre-seed')} dropped seeds, "
          f"{log.count('rate-limiting me')} rate-limit warning(s), "
          f"{sum(1 for line in log.splitlines() if 'outbox: ' in line)} outbox lines")
    print(f"(data and the bot's log: {base})")
    ok = (len(outcome.replies) == 31 and not outcome.apologies and outcome.seeds_per_option == [6] * 5
          and "Traceback" not in log)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(asyncio.run(main()))
