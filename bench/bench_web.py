"""Benchmark: the public web view at the size of a real party, beside the server's floor.

A SQLite database with 150 assemblies (nested party → regions → cities → groups, officers on each),
1,000 decisions (30 topics, All Thing decisions, supersedes chains), 300 moots and 100 closed polls is
written through the real stores. The web view serves it from a separate process (as in production, the
bot's own aiohttp server; here without the bot, which would only add its sync loop), and a Python load
generator on loopback sends requests from N concurrent clients for a fixed time per page. In the same
run, the comparator: an aiohttp server answering a static "hello" page from an equal separate process,
the floor of any page served this way.

    .venv/bin/python bench/bench_web.py [--seconds 10] [--clients 8]

Prints requests/s and p50/p95 latency per page, with one client and with N. Bounded in time; talks to
127.0.0.1 only. ``--reuse PATH`` skips the seeding (about 2 minutes) with a database a run printed.
"""

from __future__ import annotations

import argparse
import asyncio
import random
import socket
import statistics
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

ASSEMBLIES = 150
DECISIONS = 1000
MOOTS = 300
POLLS = 100
TOPICS = [f"topic-{n}" for n in range(30)]
SERVER = "bench.example.org"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def federation():  # type: ignore[no-untyped-def]
    """150 assemblies: the party, 10 regions, 4 cities each, 2 working groups per city, 49 societies."""
    from harmony_matrix.assemblies.assembly import Assembly
    from harmony_matrix.assemblies.federation import Federation

    def officer(slug: str) -> dict:  # type: ignore[type-arg]
        return {"secretary": f"@sec-{slug}:{SERVER}", "deputies": (f"@dep-{slug}:{SERVER}",)}

    out = [Assembly(slug="party", name="Bench Party", kind="party", remit="Everything.", **officer("party"))]
    for r in range(10):
        region = f"region-{r}"
        out.append(Assembly(slug=region, name=f"Region {r}", kind="region", parents=("party",), **officer(region)))
        for c in range(4):
            city = f"city-{r}-{c}"
            out.append(Assembly(slug=city, name=f"City {r}.{c}", kind="city", parents=(region,), **officer(city)))
            for g in range(2):
                group = f"group-{r}-{c}-{g}"
                out.append(Assembly(slug=group, name=f"Group {r}.{c}.{g}", kind="working-group",
                                    access="participants", parents=(city,), **officer(group)))
    s = 0
    while len(out) < ASSEMBLIES:
        out.append(Assembly(slug=f"society-{s}", name=f"Society {s}", kind="society", parents=("party",),
                            **officer(f"society-{s}")))
        s += 1
    return Federation(tuple(out))


async def seed(url: str) -> str:
    """Write the bench database; returns the slug of the assembly whose page is measured."""
    from harmony_matrix.consensus.decisions import Decision, Level, Method, make_decision_ref
    from harmony_matrix.consensus.moots import Moot, MootStatus
    from harmony_matrix.ids import EventId, RoomId, UserId
    from harmony_matrix.polls.poll import PollSpec
    from harmony_matrix.polls.results import poll_result
    from storage.database import open_database

    rng = random.Random(16)
    now = datetime.now(UTC).replace(microsecond=0)
    db = await open_database(url)
    try:
        fed = federation()
        for position, assembly in enumerate(fed):
            await db.assemblies.save(assembly, position=position)
            for kind in ("space", "discussion", "announcements", "votes", "secretariat"):
                await db.assemblies.set_room(assembly.slug, kind, RoomId(f"!{assembly.slug}-{kind}:{SERVER}"))
        slugs = list(fed.slugs)
        target = "group-3-2-1"  # a deep assembly: party → region → city → group
        by_assembly: dict[tuple[str, str], list[str]] = {}
        for n in range(DECISIONS):
            assembly = "party" if n % 50 == 0 else (target if n % 10 == 1 else rng.choice(slugs))
            level = Level.ALL_THING if assembly == "party" and n % 100 == 0 else Level.MOOT
            previous = by_assembly.get((assembly, level.value), [])
            supersedes = previous[-1] if previous and rng.random() < 0.1 else None
            at = now - timedelta(days=DECISIONS - n)

            def build(number: int, *, assembly: str = assembly, level: Level = level, at: datetime = at,
                      supersedes: str | None = supersedes) -> Decision:
                return Decision(ref=make_decision_ref(assembly, number), assembly=assembly, level=level,
                                method=Method.CONSENSUS, outcome="adopted",
                                statement=f"Decision {n} of {assembly}: " + "words " * rng.randint(3, 30),
                                topics=tuple(rng.sample(TOPICS, rng.randint(1, 2))), decided_at=at,
                                evidence=(EventId(f"$bench-{n}"),), supersedes=supersedes)

            entry = await db.consensus.decisions.append(build, assembly=assembly)
            by_assembly.setdefault((assembly, level.value), []).append(entry.decision.ref)
        for n in range(MOOTS):
            assembly = target if n % 10 == 0 else rng.choice(slugs)
            starts = now + timedelta(days=rng.randint(-60, 60), hours=rng.randint(0, 23))

            def moot(ref: str, *, assembly: str = assembly, starts: datetime = starts) -> Moot:
                return Moot(ref=ref, assembly=assembly, topic=f"Moot {ref}", starts_at=starts,
                            duration=timedelta(hours=1), scheduled_at=now - timedelta(days=90),
                            scheduled_by=UserId(f"@sec-{assembly}:{SERVER}"),
                            status=MootStatus.CANCELLED if n % 7 == 0 else MootStatus.SCHEDULED)

            await db.consensus.moots.create(moot, assembly=assembly, room_id=RoomId(f"!{assembly}-announcements:x"))
        for n in range(POLLS):
            assembly = target if n % 10 == 0 else rng.choice(slugs)
            poll, _ = await db.polls.create(PollSpec(question=f"Poll {n}?", options=("A", "B", "C")),
                                            room_id=f"!{assembly}-votes:{SERVER}", created_by="@x:y",
                                            created_at=now - timedelta(days=2))
            ballots = [{0: rng.randint(0, 5), 1: rng.randint(0, 5), 2: rng.randint(0, 5)} for _ in range(40)]
            await db.polls.close(poll.number, closed_at=now - timedelta(days=1), result=poll_result(poll, ballots))
        return target
    finally:
        await db.close()


async def serve_web(url: str, port: int) -> None:
    """The web view over the bench database (the server process)."""
    from handlers.web.ports import NoDisplayNames
    from handlers.web.server import web_feature
    from harmony_matrix.config import parse_config
    from storage.database import open_database
    from storage.public.queries import PublicQueries

    db = await open_database(url)
    config = parse_config({"homeserver": {"url": "https://matrix.bench.example"},
                           "bot": {"user_id": "@bot:bench.example", "access_token": "syt_bench"},
                           "web": {"enabled": True, "port": port}}, source="bench")
    feature = web_feature(config, record=PublicQueries.of(db), via=SERVER, clock=lambda: datetime.now(UTC),
                          names=NoDisplayNames())
    await feature.start()
    print("READY", flush=True)
    await asyncio.Event().wait()


async def serve_hello(port: int) -> None:
    """The comparator: aiohttp answering a static page (the server process)."""
    from aiohttp import web

    body = b"<!doctype html><html lang=en><title>hello</title><p>hello</p></html>"

    async def hello(request: web.Request) -> web.Response:
        return web.Response(body=body, content_type="text/html")

    app = web.Application()
    app.router.add_get("/", hello)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    print("READY", flush=True)
    await asyncio.Event().wait()


async def start_server(*args: str) -> asyncio.subprocess.Process:
    process = await asyncio.create_subprocess_exec(sys.executable, __file__, *args,
                                                   stdout=asyncio.subprocess.PIPE, cwd=ROOT)
    assert process.stdout is not None
    line = await asyncio.wait_for(process.stdout.readline(), timeout=120)
    if line.strip() != b"READY":
        raise RuntimeError(f"server did not start: {line!r}")
    return process


async def load(url: str, *, seconds: float, clients: int, headers: dict[str, str] | None = None,
               expect: int = 200) -> tuple[int, list[float], int]:
    """Requests from ``clients`` concurrent clients for ``seconds``: (count, latencies in s, bytes)."""
    import aiohttp

    latencies: list[float] = []
    size = 0
    deadline = time.perf_counter() + seconds
    connector = aiohttp.TCPConnector(limit=clients)
    async with aiohttp.ClientSession(connector=connector) as http:
        async def client() -> None:
            nonlocal size
            while time.perf_counter() < deadline:
                started = time.perf_counter()
                async with http.get(url, headers=headers) as response:
                    body = await response.read()
                    if response.status != expect:
                        raise RuntimeError(f"{url}: HTTP {response.status}")
                latencies.append(time.perf_counter() - started)
                size = len(body)

        await asyncio.gather(*(client() for _ in range(clients)))
    return len(latencies), latencies, size


def p95(values: list[float]) -> float:
    return statistics.quantiles(values, n=20)[18] if len(values) >= 20 else max(values)


async def main(seconds: float, clients: int, reuse: str | None) -> None:
    import aiohttp

    target = "group-3-2-1"
    if reuse:
        url = f"sqlite://{Path(reuse).resolve()}"
        print(f"reusing {reuse}")
    else:
        folder = Path(tempfile.mkdtemp(prefix="harmony-bench-web-"))
        url = f"sqlite://{folder / 'bench.db'}"
        started = time.perf_counter()
        target = await seed(url)
        print(f"seeded {ASSEMBLIES} assemblies, {DECISIONS} decisions, {MOOTS} moots, {POLLS} polls "
              f"in {time.perf_counter() - started:.1f} s ({folder / 'bench.db'}; --reuse it next time)")
    web_port, hello_port = free_port(), free_port()
    web = await start_server("--serve-web", url, str(web_port))
    hello = await start_server("--serve-hello", str(hello_port))
    try:
        base = f"http://127.0.0.1:{web_port}"
        async with aiohttp.ClientSession() as http, http.get(f"{base}/assemblies/{target}") as response:
            etag = response.headers["ETag"]
        pages = [
            ("comparator: aiohttp static hello", f"http://127.0.0.1:{hello_port}/", None, 200),
            ("federation page (/)", f"{base}/", None, 200),
            (f"assembly page (/assemblies/{target})", f"{base}/assemblies/{target}", None, 200),
            ("assembly page, If-None-Match (304)", f"{base}/assemblies/{target}", {"If-None-Match": etag}, 304),
            ("assembly JSON (/api/v1/assemblies/…)", f"{base}/api/v1/assemblies/{target}", None, 200),
            ("decision page (/decisions/D-party-1)", f"{base}/decisions/D-party-1", None, 200),
            ("federation calendar (/calendar.ics)", f"{base}/calendar.ics", None, 200),
        ]
        for concurrency in sorted({1, clients}):
            print(f"\n{concurrency} concurrent client{'s' if concurrency > 1 else ''}, {seconds:.0f} s per page, "
                  "loopback, 2 cores shared with the load generator")
            print(f"{'page':44} {'req/s':>8} {'p50 ms':>8} {'p95 ms':>8} {'bytes':>8}")
            floor = None
            for name, page_url, headers, expect in pages:
                await load(page_url, seconds=1, clients=concurrency, headers=headers, expect=expect)  # warm up
                count, latencies, size = await load(page_url, seconds=seconds, clients=concurrency, headers=headers,
                                                    expect=expect)
                rate = count / seconds
                floor = floor or rate
                print(f"{name:44} {rate:8.1f} {statistics.median(latencies) * 1e3:8.1f} "
                      f"{p95(latencies) * 1e3:8.1f} {size:8d}"
                      + ("" if rate == floor else f"   (floor/this: {floor / rate:.0f}×)"))
    finally:
        for process in (web, hello):
            process.kill()
            await process.wait()


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] == "--serve-web":
        asyncio.run(serve_web(sys.argv[2], int(sys.argv[3])))
    elif len(sys.argv) > 1 and sys.argv[1] == "--serve-hello":
        asyncio.run(serve_hello(int(sys.argv[2])))
    else:
        parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
        parser.add_argument("--seconds", type=float, default=10)
        parser.add_argument("--clients", type=int, default=8)
        parser.add_argument("--reuse", help="a database an earlier run seeded (its path is printed)")
        options = parser.parse_args()
        asyncio.run(main(options.seconds, options.clients, options.reuse))
