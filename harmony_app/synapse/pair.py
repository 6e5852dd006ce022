"""Two Synapses that federate with each other over loopback TLS (and with nothing else)."""

from __future__ import annotations

import asyncio
from pathlib import Path

from harmony_app.synapse.server import LocalSynapse


async def start_federated_pair(base_dir: Path) -> tuple[LocalSynapse, LocalSynapse]:
    """Start two federating servers (``base_dir/hs1`` and ``base_dir/hs2``) in parallel.

    Their server names are ``localhost:<federation port>``; both trust any certificate
    and allow loopback addresses, so they federate with each other and nothing else.
    """
    first = LocalSynapse(Path(base_dir) / "hs1", federation=True)
    second = LocalSynapse(Path(base_dir) / "hs2", federation=True)
    results = await asyncio.gather(first.start(), second.start(), return_exceptions=True)
    failures = [result for result in results if isinstance(result, BaseException)]
    if failures:
        await asyncio.gather(first.stop(), second.stop())
        raise failures[0]
    return first, second
