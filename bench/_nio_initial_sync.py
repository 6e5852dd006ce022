"""The start-up comparator of bench_federation_synapse.py: a bare matrix-nio client, in its own process
like the bot, logged in as the bot's account (a token of another of its devices), doing the bot's first
sync (its filter: full member lists, ``full_state``) and holding the rooms in nio's cache.

Prints one line: ``<seconds from process start to synced> <seconds of the /sync call> <RSS MiB once synced>
<rooms> <joined members summed over the rooms>``. Then waits for stdin to close (so its RSS can also be read
from outside while it holds the rooms).

Run: ``python bench/_nio_initial_sync.py HOMESERVER USER_ID TOKEN [SINCE]``.
"""

from __future__ import annotations

import time

STARTED = time.monotonic()

import asyncio  # noqa: E402
import gc  # noqa: E402
import sys  # noqa: E402
from pathlib import Path  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from nio import AsyncClient, AsyncClientConfig, SyncResponse  # noqa: E402

from handlers.matrix.dispatcher import SyncSettings, sync_filter  # noqa: E402  (the bot's own filter)


def rss_mib() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


async def main(homeserver: str, user_id: str, token: str, since: str | None) -> None:
    client = AsyncClient(homeserver, user_id, config=AsyncClientConfig(store_sync_tokens=False))
    client.restore_login(user_id, "BENCH", token)
    try:
        asked = time.monotonic()
        response = await client.sync(timeout=0, sync_filter=sync_filter(SyncSettings().timeline_limit),
                                     since=since, full_state=True)
        done = time.monotonic()
        if not isinstance(response, SyncResponse):
            raise SystemExit(f"sync refused: {response}")
        gc.collect()
        members = sum(len(room.users) for room in client.rooms.values())
        print(f"{done - STARTED:.3f} {done - asked:.3f} {rss_mib():.1f} {len(client.rooms)} {members}", flush=True)
        await asyncio.get_running_loop().run_in_executor(None, sys.stdin.read)
    finally:
        await client.close()


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4] if len(sys.argv) > 4 else None))
