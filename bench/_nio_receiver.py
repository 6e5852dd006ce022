"""The comparator of the latency benchmark: a bare matrix-nio client, in its own process like the bot,
syncing with the bot's own filter and long-poll, printing ``<event_id> <monotonic seconds>`` for each
reaction it receives (``time.monotonic`` is the system-wide clock on Linux, so the benchmark process
can compare it with its own). Prints ``READY`` once its first sync is done.

Run by bench/bench_vote_latency.py: ``python bench/_nio_receiver.py HOMESERVER USER_ID TOKEN ROOM_ID``.
"""

from __future__ import annotations

import asyncio
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from nio import AsyncClient, AsyncClientConfig, SyncResponse  # noqa: E402

from handlers.matrix.dispatcher import sync_filter  # noqa: E402  (the same filter the bot syncs with)


async def main(homeserver: str, user_id: str, token: str, room_id: str) -> None:
    client = AsyncClient(homeserver, user_id, config=AsyncClientConfig(store_sync_tokens=False))
    client.restore_login(user_id, "BENCH", token)
    since = None
    first = True
    try:
        while True:
            response = await client.sync(timeout=0 if first else 30000, sync_filter=sync_filter(100), since=since,
                                         full_state=first)
            now = time.monotonic()
            if not isinstance(response, SyncResponse):
                continue
            since = response.next_batch
            if first:
                print("READY", flush=True)
                first = False
                continue
            room = response.rooms.join.get(room_id)
            for event in room.timeline.events if room else ():
                if event.source.get("type") == "m.reaction":
                    print(f"{event.event_id} {now:.6f}", flush=True)
    finally:
        await client.close()


if __name__ == "__main__":
    asyncio.run(main(*sys.argv[1:5]))
