"""Benchmark: a federation of 500 rooms and 10,000 members — a full enforcement sweep, ``!h assembly
sync``, start-up to the first answer, idle memory and ``!h assemblies``.

What runs: the whole bot as the composition root wires it (``App._wire``: every feature, the real
stores on SQLite) on the in-memory homeserver of the tests (``tests/fakes/homeserver.py``), with
nio's own room objects (``nio.rooms.MatrixRoom``) as the sync cache and the bot's copy of each room's
other state (``handlers/matrix/state_cache.py``), both filled as the first sync would fill them.
So the figures are the bot's own work — its database, its index, its decisions — and not Synapse's:
a real homeserver adds its own time to every kick and state write, which this does not measure
(``assembly sync`` reads no ``/state`` of the rooms the bot follows: the run prints how many it read).
Each phase runs in its own process:

1. ``build``: import 100 assemblies (a party, 9 regions, 90 local assemblies: 60 for participants of
   their region, 20 for registered members, 10 open) = 500 rooms; 10,000 people each in the party's
   space, their region's space and their local assembly's space, discussion and votes rooms (50,000
   memberships); 90% registered members (some of the others are in members-only assemblies: the
   sweep removes them). The homeserver's state is saved for the next phases.
2. ``run``: start the bot on that database and homeserver: time to the answer of ``!h assemblies``
   (the start-up repair and sweep run in the background meanwhile), time until that first sweep is
   done, then a full sweep (beside the floor: the same (person, room) decisions on facts already in
   memory), ``!h assembly sync`` with no drift and with drift in 5 rooms (made by someone else, and
   carried to the bot's copy as its sync would carry it), ``!h assemblies`` again,
   and the process's resident memory once idle.
3. ``bare``: a process holding only nio and the same room objects (the comparator for memory).

Run: ``.venv/bin/python bench/bench_federation.py``.
"""

from __future__ import annotations

import asyncio
import gc
import json
import random
import sqlite3
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import unquote

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from nio.rooms import MatrixRoom  # noqa: E402

ADMIN = "@admin:test"
BOT = "@bot:test"
PEOPLE = 10_000
REGIONS = 9
LOCALS = 90
SEED = 13


def rss_mib() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def layout() -> tuple[list[dict[str, Any]], dict[str, str], set[str]]:
    """The federation (as data), each person's local assembly, and who is registered."""
    assemblies: list[dict[str, Any]] = [{"slug": "party", "name": "The Party", "kind": "party", "access": "open"}]
    for r in range(REGIONS):
        assemblies.append({"slug": f"region-{r}", "name": f"Region {r}", "kind": "region", "access": "open",
                           "parents": ["party"]})
    for n in range(LOCALS):
        access = "participants" if n < 60 else "members" if n < 80 else "open"
        assemblies.append({"slug": f"local-{n}", "name": f"Local {n}", "kind": "constituency", "access": access,
                           "parents": [f"region-{n % REGIONS}"]})
    rng = random.Random(SEED)
    home = {f"@p{i}:test": f"local-{rng.randrange(LOCALS)}" for i in range(PEOPLE)}
    registered = {person for person in home if rng.random() < 0.9}
    return assemblies, home, registered


def memberships(rooms: dict[tuple[str, str], str], home: dict[str, str]) -> dict[str, set[str]]:
    """room ID -> who has joined."""
    joined: dict[str, set[str]] = {room: {BOT} for room in rooms.values()}
    for person, local in home.items():
        region = f"region-{int(local.split('-')[1]) % REGIONS}"
        for slug, kind in (("party", "space"), (region, "space"), (local, "space"), (local, "discussion"),
                           (local, "votes")):
            joined[rooms[(slug, kind)]].add(person)
    return joined


def nio_rooms(joined: dict[str, set[str]]) -> dict[str, MatrixRoom]:
    """nio's sync cache for these rooms, as a sync fills it."""
    cache = {}
    for room_id, users in joined.items():
        room = MatrixRoom(room_id, BOT)
        for user in users:
            room.add_member(user, None, None)
        cache[room_id] = room
    return cache


_event_numbers = iter(range(1, 1 << 30))


def state_event(sender: str, event_type: str, key: str, content: dict[str, Any]) -> dict[str, Any]:
    """A state event as a sync carries it."""
    return {"type": event_type, "state_key": key, "content": content, "sender": sender,
            "event_id": f"$bench{next(_event_numbers)}", "origin_server_ts": 1}


def state_reads(requests: list[tuple[str, str]]) -> int:
    """How many of ``requests`` read a room's whole state."""
    return sum(1 for method, path in requests if method == "GET" and path.endswith("/state"))


def harness(directory: Path):  # type: ignore[no-untyped-def]
    from tests.fakes.app_harness import BotHarness

    bot = BotHarness(directory, admins=[ADMIN], config={"logging": {"level": "WARNING"}})
    gateway = bot.gateway
    answer = gateway.request

    async def request(method: str, path: str, body: Any = None, *, query: dict[str, Any] | None = None) -> Any:
        result = await answer(method, path, body, query=query)
        if path.endswith("/kick"):  # the next sync tells nio: the person has left
            room = gateway.fake_client.rooms.get(unquote(path.split("/")[3]))
            if room is not None and hasattr(room, "remove_member"):
                room.remove_member((body or {}).get("user_id", ""))
        return result

    gateway.request = request  # type: ignore[method-assign]
    return bot


async def build(directory: Path) -> None:
    from harmony_matrix.assemblies.federation import Federation
    from harmony_matrix.assemblies.federation_file import assembly_from_mapping

    assemblies, home, registered = layout()
    federation = Federation(tuple(assembly_from_mapping(a) for a in assemblies))
    started = time.perf_counter()
    async with harness(directory) as bot:
        feature = bot.app.features["assemblies"]
        await feature.apply_federation(federation, actor=ADMIN)
        rooms = {(room.slug, room.kind.value): str(room.room_id) for room in await bot.db.assemblies.all_rooms()}
        state = [[room, event_type, key, content] for (room, event_type, key), content in bot.gateway.state.items()]
    print(f"build: imported {len(assemblies)} assemblies, {len(rooms)} rooms in {time.perf_counter() - started:.1f} s "
          "(in-memory homeserver)")
    with sqlite3.connect(directory / "bot.db") as db:  # the members CSV import, in one statement
        db.executemany("INSERT INTO core_party_member (user_id, added_by, added_at) VALUES (?, ?, ?)",
                       [(person, ADMIN, datetime.now(UTC).isoformat()) for person in sorted(registered)])
    (directory / "homeserver.json").write_text(json.dumps(
        {"state": state, "rooms": [[slug, kind, room] for (slug, kind), room in rooms.items()]}))


def load_homeserver(directory: Path) -> tuple[list[list[Any]], dict[tuple[str, str], str]]:
    data = json.loads((directory / "homeserver.json").read_text())
    return data["state"], {(slug, kind): room for slug, kind, room in data["rooms"]}


async def run(directory: Path) -> None:
    from harmony_matrix.assemblies.access import may_stay
    from harmony_matrix.assemblies.room_policy import RoomKind

    _, home, _ = layout()
    state, rooms = load_homeserver(directory)
    joined = memberships(rooms, home)
    cache = nio_rooms(joined)
    bot = harness(directory)
    for room, event_type, key, content in state:
        bot.gateway.state[(room, event_type, key)] = content
    bot.gateway.fake_client.rooms.update(cache)  # type: ignore[arg-type]
    # The bot's copy of each room's other state, as the first (full-state) sync after start fills it.
    held: dict[str, list[dict[str, Any]]] = {room: [state_event(ADMIN, "m.room.create", "", {})] for room in joined}
    for room, event_type, key, content in state:
        held.setdefault(room, []).append(state_event(BOT, event_type, key, content))
    for room, events in held.items():
        bot.gateway.room_state.take_sync(room, state=events, timeline=[], full_state=True)
    started = time.perf_counter()
    async with bot:
        for feature in bot.app.features.values():
            await feature.start()
        reply = await bot.say("!h assemblies", sender=ADMIN, room_id="!lobby:test")
        first_answer = time.perf_counter() - started
        assert reply and "Region 3" in reply[-1].body, reply
        feature = bot.app.features["assemblies"]
        await feature.started()
        startup_sweep = time.perf_counter() - started
        kicked_at_start = len(bot.gateway.kicks)
        await bot.app.running.poster.outbox.drain()
        del cache
        gc.collect()
        await asyncio.sleep(1)
        rss = rss_mib()  # idle: started, swept, nothing waiting

        # A full sweep (nobody left to remove), and the floor: the same decisions on facts in memory.
        began = time.perf_counter()
        await feature.enforce_all()
        sweep = time.perf_counter() - began
        facts = await feature.facts.about_many({u for users in joined.values() for u in users if u != BOT})
        by_room = {str(room.room_id): room for room in await feature.registry.all_rooms()}
        federation = feature.federation()
        now = datetime.now(UTC)
        began = time.perf_counter()
        checks = 0
        for room_id, users in joined.items():
            room = by_room[room_id]
            for user in users:
                if user != BOT:
                    may_stay(facts[user], federation[room.slug], federation, room=RoomKind(room.kind), now=now,
                             prefix="!h")
                    checks += 1
        floor = time.perf_counter() - began

        requests = len(bot.gateway.requests)
        began = time.perf_counter()
        reply = await bot.say("!h assembly sync", sender=ADMIN, room_id="!lobby:test")
        sync_clean = time.perf_counter() - began
        assert "No drift" in reply[-1].body, reply[-1].body
        reads_clean = state_reads(bot.gateway.requests[requests:])
        for n in range(5):  # someone opened five rooms to the public; the bot's sync carries the change
            room_id = rooms[(f"local-{n}", "discussion")]
            bot.gateway.state[(room_id, "m.room.join_rules", "")] = {"join_rule": "public"}
            bot.gateway.room_state.take_sync(room_id, state=[], timeline=[
                state_event(ADMIN, "m.room.join_rules", "", {"join_rule": "public"})])
        requests = len(bot.gateway.requests)
        began = time.perf_counter()
        reply = await bot.say("!h assembly sync", sender=ADMIN, room_id="!lobby:test")
        sync_drift = time.perf_counter() - began
        assert reply[-1].body.count("join_rules") + reply[-1].body.count("join rule") >= 5, reply[-1].body
        reads_drift = state_reads(bot.gateway.requests[requests:])
        writes_drift = sum(1 for method, path in bot.gateway.requests[requests:] if method == "PUT" and "/state/" in path)

        began = time.perf_counter()
        await bot.say("!h assemblies", sender=ADMIN, room_id="!lobby:test")
        listing = time.perf_counter() - began
    print(f"run: {len(rooms)} rooms, {PEOPLE} people, {checks} (person, room) memberships; "
          f"{kicked_at_start} removals by the start-up sweep")
    print(f"start-up to the first answer (!h assemblies): {first_answer:.2f} s; the start-up repair and sweep "
          f"done after {startup_sweep:.2f} s (target: first answer <= 10 s)")
    print(f"full sweep: {sweep:.2f} s for {checks} checks ({sweep / checks * 1e6:.0f} us each) | floor, the same "
          f"decisions on facts in memory: {floor:.2f} s | ratio {sweep / floor:.1f}x (target: <= 5 s)")
    print(f"!h assembly sync: no drift {sync_clean:.2f} s ({reads_clean} /state reads), drift in 5 rooms "
          f"{sync_drift:.2f} s ({reads_drift} /state reads, {writes_drift} state writes)")
    print(f"!h assemblies: {listing * 1000:.0f} ms")
    print(f"idle RSS of the bot once started and swept: {rss:.0f} MiB", end="")


def bare(directory: Path) -> None:
    _, home, _ = layout()
    _, rooms = load_homeserver(directory)
    cache = nio_rooms(memberships(rooms, home))
    gc.collect()
    print(f"{rss_mib():.1f} {len(cache)}")


def main() -> None:
    if len(sys.argv) > 2:
        phase, directory = sys.argv[1], Path(sys.argv[2])
        if phase == "build":
            asyncio.run(build(directory))
        elif phase == "run":
            asyncio.run(run(directory))
        else:
            bare(directory)
        return
    directory = Path(tempfile.mkdtemp(prefix="harmony-bench-federation-"))
    for phase in ("build", "run"):
        subprocess.run([sys.executable, __file__, phase, str(directory)], check=True)
    out = subprocess.run([sys.executable, __file__, "bare", str(directory)], check=True, capture_output=True,
                         text=True).stdout.split()
    print(f" | a bare nio client holding the same {out[1]} rooms: {float(out[0]):.0f} MiB (target: bot <= 150 MiB)")


if __name__ == "__main__":
    main()
