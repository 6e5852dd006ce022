"""Benchmark: the federation of ``bench_federation.py`` (100 assemblies = 500 rooms, people each in 5
rooms, 90% registered members) on a REAL Synapse, the bot as its own process (``harmony-matrix run``,
bot mode, SQLite) — start-up to the first answer, the start-up sweep, a full sweep, ``!h assembly
sync``, ``!h assemblies`` and idle memory, beside a bare nio client making a plain nio bot's first sync
at a restart (every room's whole state); bot mode with that same first sync (``bot-full-state``), and
appservice mode (``--mode``).

Building (``build``, once; kept in the cache directory, ``--rebuild`` to force):

1. a local Synapse (SQLite, rate limits raised) with an application-service registration whose user
   namespace is the people (``@p<n>:localhost``): they are registered without a password and act
   through the appservice token (``?user_id=``), with no rate limit;
2. the bot's account, an admin, and the federation imported by the bot itself (``harmony-matrix
   import``: the bot creates the 500 rooms), the registered members imported from a CSV
   (``harmony-matrix members import``);
3. the people join (bounded concurrency): the party's space, their region's space, their local
   assembly's space (knocking assemblies, members-only: the bot's account invites first; the others
   are public or restricted to the parent space, so a plain join), its discussion and votes rooms;
4. a first run of the bot (its first start: login, crypto store, first sync, the start-up sweep, which
   removes the people without the right in members-only assemblies), stopped once the sweep is done;
   then Synapse is stopped and the whole directory (Synapse's data, the bot's database and crypto
   store) is copied as the snapshot every measuring run starts from.

Measuring (``run``): the snapshot is restored, Synapse started, the bot started as a process. Times
are from the process start (``Popen``) and from its log lines (timestamps to the millisecond):

* the first answer: ``!h assemblies`` is sent by the admin when the bot logs that it started (before
  that its registry is not loaded) and the reply awaited; also when its device was ready (the log
  line "end-to-end encryption on");
* the start-up repair and sweep: its log line ("the start-up repair and sweep took");
* a full sweep: the periodic sweep (``assemblies.sweep_minutes`` set short), its log line;
* ``!h assembly sync`` with no drift, then with drift in 5 rooms (their join rules made public with
  the bot's account — the bot ignores its own events, so the drift stays until the sync);
* ``!h assemblies`` again; the idle RSS of the bot process (started, swept, nothing waiting).

The comparator, same run: ``_nio_initial_sync.py`` — nio alone, logged in as the bot's account, the
first sync the bot makes in ``bot-full-state`` mode (from the token the bot stored, with its filter and ``full_state``), timed from its process start, and its RSS holding
the same rooms. Order: Synapse just started, the bare client (cold); Synapse restarted, the bot's start
to its first answer (cold); then, Synapse warm, the bare client, the bot again with every measure above,
and the bare client once more.

``--mode appservice`` measures the same with the bot in appservice mode (no /sync: Synapse pushes
transactions to it): the restored snapshot's bot config gets ``mode: appservice`` and the registration
file ``harmony-matrix appservice-registration`` writes (the bot's existing account as its
``sender_localpart``; the bot keeps the device of its stored session), and Synapse's overrides load it
beside the people's. In ``--mode bot`` the bot runs as configured by default
(``sync.full_state_at_start: false``: the restart syncs only what changed while the bot was down, and
reads quiet rooms from Synapse when first needed); ``--mode bot-full-state`` sets it true (the restart
asks for every room's whole state, as the bot did before). The bare nio client (its first sync with
``full_state``, as a plain nio bot restarts) stays the comparator in every mode. ``--mode all`` (the
default) measures the three, each from the snapshot; ``--mode both``, bot and appservice mode.

``--people N`` scales the federation down (the first N people of the same layout; the rooms and the
registered share stay). Run: ``.venv/bin/python bench/bench_federation_synapse.py [--people N]
[--rebuild] [--cache DIR] [--mode bot|appservice|both] [--profile]`` (``--profile``: the bot runs under cProfile; the top functions
are printed).
"""

from __future__ import annotations

import argparse
import asyncio
import csv
import json
import os
import pstats
import secrets
import shutil
import sqlite3
import subprocess
import sys
import time
from collections.abc import Awaitable, Callable
from datetime import datetime
from pathlib import Path
from typing import Any
from urllib.parse import quote

import aiohttp
import yaml

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests" / "integration"))
sys.path.insert(0, str(ROOT / "tests"))  # botrunner imports db_template
sys.path.insert(0, str(HERE))

from bench_federation import REGIONS, layout  # noqa: E402
from botrunner import write_bot_config  # noqa: E402
from matrix_client import TestMatrixUser  # noqa: E402

from harmony_app.appservice import write_registration  # noqa: E402
from harmony_app.local_synapse import LocalSynapse, pick_free_ports  # noqa: E402
from harmony_matrix.config import load_config  # noqa: E402

SERVER = "localhost"
DEFAULT_CACHE = Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "harmony-bench-federation-synapse"
JOIN_CONCURRENCY = 12
#: The periodic sweep in measuring runs (minutes): after the start-up sweep, short of the idle wait.
SWEEP_MINUTES = 1.0


def rss_mib(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def scaled_layout(people: int) -> tuple[list[dict[str, Any]], dict[str, str], set[str]]:
    """``bench_federation.layout()`` on this server, with its first ``people`` people."""
    assemblies, home, registered = layout()
    chosen = {person: local for n, (person, local) in enumerate(home.items()) if n < people}
    rename = {person: person.replace(":test", f":{SERVER}") for person in chosen}
    return (assemblies, {rename[p]: local for p, local in chosen.items()},
            {rename[p] for p in registered if p in rename})


def rooms_of_person(local: str) -> list[tuple[str, str]]:
    region = f"region-{int(local.split('-')[1]) % REGIONS}"
    return [("party", "space"), (region, "space"), (local, "space"), (local, "discussion"), (local, "votes")]


class State:
    """What the build keeps in ``<cache>/live/bench.json``: tokens, room IDs, what is done."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.data: dict[str, Any] = json.loads(path.read_text()) if path.exists() else {}

    def save(self) -> None:
        self.path.write_text(json.dumps(self.data, indent=1))

    def __getitem__(self, key: str) -> Any:
        return self.data[key]

    def __setitem__(self, key: str, value: Any) -> None:
        self.data[key] = value
        self.save()

    def get(self, key: str, default: Any = None) -> Any:
        return self.data.get(key, default)


def synapse_for(live: Path, *, reuse: bool) -> LocalSynapse:
    return LocalSynapse(live / "synapse", reuse=reuse, appservice_files=(live / "people-appservice.yaml",))


class Retry(Exception):
    """A request worth repeating (rate-limited, a server error, a dropped connection)."""


async def retrying(what: str, call: Callable[[], Awaitable[Any]]) -> Any:
    for attempt in range(8):
        try:
            return await call()
        except (aiohttp.ClientError, TimeoutError, Retry) as exc:
            if attempt == 7:
                raise SystemExit(f"{what} failed: {exc}") from exc
            await asyncio.sleep(0.5 * 2 ** attempt)
    return None


class People:
    """The people's appservice: register and act as any ``@p<n>``."""

    def __init__(self, url: str, as_token: str) -> None:
        self.url = url
        self.http = aiohttp.ClientSession(headers={"Authorization": f"Bearer {as_token}"},
                                          timeout=aiohttp.ClientTimeout(total=120))

    async def _call(self, method: str, path: str, body: Any, params: dict[str, str] | None = None,
                    ok: tuple[str, ...] = ()) -> dict[str, Any]:
        async with self.http.request(method, self.url + path, json=body, params=params) as response:
            reply: dict[str, Any] = await response.json(content_type=None)
            if response.status == 429 or response.status >= 500:
                raise Retry(f"{method} {path}: HTTP {response.status} {reply}")
            if response.status != 200 and reply.get("errcode") not in ok:
                raise RuntimeError(f"{method} {path}: HTTP {response.status} {reply}")
            return reply

    async def register(self, localpart: str) -> None:
        await retrying(f"registering {localpart}", lambda: self._call(
            "POST", "/_matrix/client/v3/register",
            {"type": "m.login.application_service", "username": localpart, "inhibit_login": True},
            ok=("M_USER_IN_USE",)))

    async def join(self, user_id: str, room_id: str) -> None:
        await retrying(f"a join to {room_id}", lambda: self._call(
            "POST", f"/_matrix/client/v3/join/{quote(room_id, safe='')}", {}, params={"user_id": user_id}))

    async def close(self) -> None:
        await self.http.close()


def run_cli(*args: str, config: Path) -> str:
    result = subprocess.run([sys.executable, "-m", "harmony_app", *args, "-c", str(config)], cwd=ROOT,
                            capture_output=True, text=True)
    if result.returncode != 0:
        raise SystemExit(f"harmony-matrix {' '.join(args)} failed ({result.returncode}):\n{result.stdout}\n"
                         f"{result.stderr}")
    return result.stdout


def bot_rooms(db_path: Path) -> dict[tuple[str, str], str]:
    with sqlite3.connect(db_path) as db:
        return {(slug, kind): room for slug, kind, room in db.execute("SELECT slug, kind, room_id FROM assemblies_room")}


# -- build ------------------------------------------------------------------------------------------

async def build(cache: Path, people_n: int) -> None:
    live = cache / "live"
    live.mkdir(parents=True, exist_ok=True)
    state = State(live / "bench.json")
    if state.get("joined", 0) > people_n:
        raise SystemExit(f"{live} already has {state['joined']} people joined: --rebuild for {people_n}")
    state["people"] = people_n
    timings: dict[str, float] = state.get("timings", {})
    assemblies, home, registered = scaled_layout(people_n)
    registration = live / "people-appservice.yaml"
    if not registration.exists():
        registration.write_text(json.dumps({
            "id": "bench-people", "url": None, "as_token": secrets.token_hex(16), "hs_token": secrets.token_hex(16),
            "sender_localpart": "bench-people", "rate_limited": False,
            "namespaces": {"users": [{"exclusive": True, "regex": f"@p[0-9]+:{SERVER}"}], "rooms": [],
                           "aliases": []}}))
    as_token = json.loads(registration.read_text())["as_token"]
    synapse = synapse_for(live, reuse=True)
    await synapse.start()
    try:
        if "bot" not in state.data:
            bot = await synapse.register_user("bot")
            admin = await synapse.register_user("admin", admin=True)
            state["bot"] = {"user_id": bot.user_id, "token": bot.access_token, "password": bot.password}
            state["admin"] = {"user_id": admin.user_id, "token": admin.access_token}
            config = write_bot_config(live / "bot", synapse=synapse, bot=bot, admins=[admin.user_id],
                                      database_url=f"sqlite://{live / 'bot' / 'harmony.db'}",
                                      logging={"level": "INFO"}, sync={"timeout_ms": 30000})
            state["config"] = str(config)
        config = Path(state["config"])
        if "rooms" not in state.data:
            federation = live / "federation.yaml"
            federation.write_text(yaml.safe_dump({"version": 1, "assemblies": assemblies}, sort_keys=False))
            began = time.perf_counter()
            out = run_cli("import", str(federation), config=config)
            timings["import"] = time.perf_counter() - began
            print(f"build: the bot imported the federation in {timings['import']:.0f} s: {out.strip().splitlines()[-1]}",
                  flush=True)
            rooms = bot_rooms(live / "bot" / "harmony.db")
            state["rooms"] = [[slug, kind, room] for (slug, kind), room in rooms.items()]
            state["timings"] = timings
        rooms = {(slug, kind): room for slug, kind, room in state["rooms"]}
        if "members" not in state.data:
            members_csv = live / "members.csv"
            with members_csv.open("w", newline="") as file:
                writer = csv.writer(file)
                writer.writerow(["matrix_id"])
                writer.writerows([person] for person in sorted(registered))
            print("build: " + run_cli("members", "import", str(members_csv), config=config).strip(), flush=True)
            state["members"] = len(registered)
        admin_user = TestMatrixUser(synapse.url, user_id=state["admin"]["user_id"], access_token=state["admin"]["token"])
        bot_user = TestMatrixUser(synapse.url, user_id=state["bot"]["user_id"], access_token=state["bot"]["token"])
        try:
            if "lobby" not in state.data:
                lobby = await admin_user.create_room(name="Lobby", preset="public_chat")
                await bot_user.join(lobby)
                state["lobby"] = lobby
            await populate(state, synapse.url, as_token, bot_user, home, rooms, timings)
        finally:
            await admin_user.close()
            await bot_user.close()
    finally:
        await synapse.stop()
    if "warmed" not in state.data:
        await first_run(cache, state, timings)
    snapshot = cache / "snapshot"
    if snapshot.exists():
        shutil.rmtree(snapshot)
    shutil.copytree(live, snapshot, symlinks=True)
    print(f"build: snapshot saved in {snapshot} ({sum(f.stat().st_size for f in snapshot.rglob('*') if f.is_file()) / 2**20:.0f} MiB)",
          flush=True)


async def populate(state: State, url: str, as_token: str, bot: TestMatrixUser, home: dict[str, str],
                   rooms: dict[tuple[str, str], str], timings: dict[str, float]) -> None:
    """Register the people and join them to their five rooms (resumable: ``joined`` counts the people
    done, in order)."""
    access = {a["slug"]: a["access"] for a in layout()[0]}
    people = list(home.items())
    done = state.get("joined", 0)
    if done >= len(people):
        return
    appservice = People(url, as_token)
    limit = asyncio.Semaphore(JOIN_CONCURRENCY)
    began = time.perf_counter()
    try:
        async def register(person: str) -> None:
            async with limit:
                await appservice.register(person[1:].split(":")[0])

        if not state.get("registered"):
            await asyncio.gather(*(register(person) for person, _ in people))
            timings["register"] = time.perf_counter() - began
            print(f"build: registered {len(people)} people in {timings['register']:.0f} s", flush=True)
            state["registered"] = True
            state["timings"] = timings
        joined_at = time.perf_counter()
        joins_before, join_time_before = timings.get("join_count", 0), timings.get("joins", 0.0)
        counter = {"joins": 0}

        async def join_all(person: str, local: str) -> None:
            async with limit:
                for slug, kind in rooms_of_person(local):
                    room = rooms[(slug, kind)]
                    if kind == "space" and access[slug] == "members":  # knock: the bot invites first
                        try:
                            await bot.invite(room, person)
                        except RuntimeError as exc:  # already invited or joined (a resumed build)
                            if "M_FORBIDDEN" not in str(exc):
                                raise
                    await appservice.join(person, room)
                    counter["joins"] += 1

        chunk = 200
        for start in range(done, len(people), chunk):
            batch = people[start:start + chunk]
            await asyncio.gather(*(join_all(person, local) for person, local in batch))
            elapsed = time.perf_counter() - joined_at
            # Kept after every chunk, so an interrupted build still counts what it did.
            timings["joins"], timings["join_count"] = join_time_before + elapsed, joins_before + counter["joins"]
            state["timings"] = timings
            state["joined"] = start + len(batch)
            rate = counter["joins"] / elapsed
            remaining = (len(people) - state["joined"]) * 5 / rate
            print(f"build: {state['joined']} of {len(people)} people joined ({counter['joins']} joins in "
                  f"{elapsed:.0f} s = {rate:.1f}/s; about {remaining / 60:.1f} min to go at this rate)", flush=True)
    finally:
        await appservice.close()


async def first_run(cache: Path, state: State, timings: dict[str, float]) -> None:
    """The bot's first start ever (login, crypto store, fresh first sync, the sweep removing whoever may
    not stay), stopped once its start-up sweep is done."""
    live = cache / "live"
    synapse = synapse_for(live, reuse=True)
    await synapse.start()
    try:
        config = Path(state["config"])
        began, wall = time.monotonic(), time.time()
        bot = BotRun(config, log_name="bot-first-run.log")
        bot.start()
        try:
            swept = await bot.wait_log("the start-up repair and sweep took", since=wall, timeout=3600)
            started = bot.logged_at("harmony-matrix started as", since=wall)
            sweep = bot.last_sweep(since=wall)
            timings["first_run_sweep_done"] = swept
            print(f"build: the bot's first start: started {started:.1f} s, start-up repair and sweep done "
                  f"{swept:.1f} s after the process start ({sweep}); {time.monotonic() - began:.0f} s in all",
                  flush=True)
            # Let the outbox send the explanations of the removals (else the next start sends them).
            db_path = config.parent / "harmony.db"
            waited = time.monotonic()
            while time.monotonic() - waited < 600:
                with sqlite3.connect(f"file:{db_path}?mode=ro", uri=True) as db:
                    if db.execute("SELECT COUNT(*) FROM outbox_record").fetchone()[0] == 0:
                        break
                await asyncio.sleep(1)
            print(f"build: the outbox was empty {time.monotonic() - waited:.0f} s after the sweep", flush=True)
        finally:
            bot.stop()
    finally:
        await synapse.stop()
    state["timings"] = timings
    state["warmed"] = True


# -- the bot as a process ------------------------------------------------------------------------

class BotRun:
    """``harmony-matrix run`` as a child process, its log beside the config."""

    def __init__(self, config: Path, *, log_name: str = "bot.log", profile: Path | None = None) -> None:
        self.config = config
        self.log_path = config.parent / log_name
        self.profile = profile
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        self.log_path.unlink(missing_ok=True)
        command = [sys.executable]
        if self.profile is not None:
            command += ["-m", "cProfile", "-o", str(self.profile)]
        command += ["-m", "harmony_app", "run", "-c", str(self.config)]
        with self.log_path.open("ab") as log:
            self.process = subprocess.Popen(command, stdout=log, stderr=log, cwd=ROOT,
                                            env={**os.environ, "PYTHONUNBUFFERED": "1"})

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(60)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()

    def lines(self) -> list[str]:
        return self.log_path.read_text(errors="replace").splitlines() if self.log_path.exists() else []

    def logged_at(self, needle: str, *, since: float) -> float | None:
        """Seconds from ``since`` (wall clock) to the first log line containing ``needle``."""
        for line in self.lines():
            if needle in line:
                try:
                    return datetime.strptime(line[:23], "%Y-%m-%d %H:%M:%S,%f").timestamp() - since
                except ValueError:
                    continue
        return None

    def all_logged(self, needle: str) -> list[tuple[float, str]]:
        found = []
        for line in self.lines():
            if needle in line:
                try:
                    found.append((datetime.strptime(line[:23], "%Y-%m-%d %H:%M:%S,%f").timestamp(), line))
                except ValueError:
                    continue
        return found

    def last_sweep(self, *, since: float) -> str:
        sweeps = self.all_logged("enforcement sweep of")
        return sweeps[-1][1].split(": ", 1)[-1] if sweeps else "no sweep logged"

    async def wait_log(self, needle: str, *, since: float, timeout: float, poll: float = 0.02) -> float:
        deadline = time.monotonic() + timeout
        while True:
            found = self.logged_at(needle, since=since)
            if found is not None:
                return found
            if self.process is not None and self.process.poll() is not None:
                raise SystemExit(f"the bot exited ({self.process.returncode}):\n" + "\n".join(self.lines()[-30:]))
            if time.monotonic() > deadline:
                raise SystemExit(f"the bot never logged {needle!r}:\n" + "\n".join(self.lines()[-30:]))
            await asyncio.sleep(poll)


# -- measure ---------------------------------------------------------------------------------------

def stored_sync_token(db_path: Path, user_id: str) -> str:
    """The sync token the bot stored (its next start syncs from it, with ``full_state``)."""
    with sqlite3.connect(f"file:{db_path}?mode=ro", uri=True) as db:
        row = db.execute("SELECT token FROM core_sync_token WHERE user_id = ?", (user_id,)).fetchone()
    if row is None:
        raise SystemExit("the bot stored no sync token")
    return str(row[0])


async def bare_client(url: str, user_id: str, token: str,
                      since: str) -> tuple[float, float, float, int, int, subprocess.Popen[bytes]]:
    """The bare nio client's first sync, the same request as the bot's at its start (from the bot's
    stored token, ``full_state``): (from process start, the /sync call, RSS, rooms, members), and the
    process (still holding the rooms; close its stdin to end it)."""
    process = subprocess.Popen([sys.executable, str(HERE / "_nio_initial_sync.py"), url, user_id, token, since],
                               stdin=subprocess.PIPE, stdout=subprocess.PIPE, cwd=ROOT)
    assert process.stdout is not None
    line = await asyncio.to_thread(process.stdout.readline)
    if not line:
        raise SystemExit("the bare nio client failed")
    total, call, rss, rooms, members = line.split()
    return float(total), float(call), float(rss), int(rooms), int(members), process


async def start_to_answer(bot: BotRun, admin: TestMatrixUser, lobby: str,
                          bot_id: str) -> tuple[float, float, float, float, float, float]:
    """Start the bot; (first answer, started (log), the answer's round trip, device ready (log), start-up
    sweep done (log), the wall-clock start), all in seconds from the process start, once its start-up
    repair and sweep are done."""
    began, wall = time.monotonic(), time.time()
    bot.start()
    started = await bot.wait_log("harmony-matrix started as", since=wall, timeout=600)
    sent = time.monotonic()
    reply = await admin.send_and_wait_reply(lobby, "!h assemblies", from_user=bot_id, timeout=600)
    first_answer = time.monotonic() - began
    first_reply_s = time.monotonic() - sent
    assert "Region 3" in reply["content"]["body"], reply["content"]["body"][:300]
    device_ready = bot.logged_at("end-to-end encryption on", since=wall)
    startup_sweep = await bot.wait_log("the start-up repair and sweep took", since=wall, timeout=3600)
    return first_answer, started, first_reply_s, device_ready if device_ready is not None else float("nan"), \
        startup_sweep, wall


def end(process: subprocess.Popen[bytes]) -> None:
    assert process.stdin is not None
    process.stdin.close()
    process.wait(30)


def as_appservice(config: Path, data: dict[str, Any]) -> Path:
    """Turn the restored snapshot's bot into appservice mode: its config gets ``mode: appservice`` (no
    password: the bot keeps the device its stored session holds, as after a switch from bot mode), and
    the registration file ``harmony-matrix appservice-registration`` writes (the bot's account as
    ``sender_localpart`` and sole exclusive user). Returns the file (``load_registration``)."""
    (port,) = pick_free_ports(1)
    data["mode"] = "appservice"
    data["appservice"] = {"port": port}
    data["bot"].pop("password", None)
    config.write_text(yaml.safe_dump(data, sort_keys=False))
    return write_registration(load_config(config))[0]


def load_registration(live: Path, registration: Path) -> None:
    """Synapse's overrides load the bot's registration beside the people's (from its next start). From
    then on Synapse refuses /sync to the bot's account (an appservice's user: NotImplementedError)."""
    overrides = live / "synapse" / "harmony.yaml"  # JSON, as harmony_app.synapse.config writes it
    settings = json.loads(overrides.read_text())
    settings["app_service_config_files"] = [*settings.get("app_service_config_files", []), str(registration)]
    overrides.write_text(json.dumps(settings, indent=2))


async def measure(cache: Path, *, mode: str, profile: bool) -> None:
    live, snapshot = cache / "live", cache / "snapshot"
    if not snapshot.exists():
        raise SystemExit("no snapshot: build first")
    if live.exists():
        shutil.rmtree(live)
    shutil.copytree(snapshot, live, symlinks=True)
    state = State(live / "bench.json")
    config = Path(state["config"])
    data = yaml.safe_load(config.read_text())
    data.setdefault("assemblies", {})["sweep_minutes"] = SWEEP_MINUTES
    # bot: the default (a restart syncs only what changed while the bot was down); bot-full-state: the
    # restart asks for every room's whole state (sync.full_state_at_start true).
    data.setdefault("sync", {})["full_state_at_start"] = mode == "bot-full-state"
    config.write_text(yaml.safe_dump(data, sort_keys=False))
    registration = as_appservice(config, data) if mode == "appservice" else None
    people_n, rooms = state["people"], {(s, k): r for s, k, r in state["rooms"]}
    db_path = config.parent / "harmony.db"
    synapse = synapse_for(live, reuse=True)
    await synapse.start()
    # Synapse cold (just started): the bare client's first sync; then Synapse again cold for the bot's start.
    cold = await bare_client(synapse.url, state["bot"]["user_id"], state["bot"]["token"],
                              stored_sync_token(db_path, state["bot"]["user_id"]))
    end(cold[5])
    if registration is not None:
        # Synapse refuses /sync to an appservice's users: the bare client's warm sync now, then Synapse
        # restarted with the bot's registration (cold for the bot's start).
        warm_before = await bare_client(synapse.url, state["bot"]["user_id"], state["bot"]["token"],
                                        stored_sync_token(db_path, state["bot"]["user_id"]))
        end(warm_before[5])
        await synapse.stop()
        load_registration(live, registration)
        await synapse.start()
    else:
        await synapse.restart()
    admin = TestMatrixUser(synapse.url, user_id=state["admin"]["user_id"], access_token=state["admin"]["token"])
    bot_account = TestMatrixUser(synapse.url, user_id=state["bot"]["user_id"], access_token=state["bot"]["token"])
    lobby, bot_id = state["lobby"], state["bot"]["user_id"]
    profile_path = live / "bot.prof" if profile else None
    bot = BotRun(config, profile=profile_path)
    cold_bot = BotRun(config, log_name="bot-cold.log")
    try:
        cold_start = await start_to_answer(cold_bot, admin, lobby, bot_id)
        cold_bot.stop()
        if registration is None:
            warm_before = await bare_client(synapse.url, bot_id, state["bot"]["token"],
                                            stored_sync_token(db_path, bot_id))
            end(warm_before[5])

        first_answer, started, first_reply_s, device_ready, startup_sweep, wall = \
            await start_to_answer(bot, admin, lobby, bot_id)
        assert bot.process is not None
        startup_sweep_line = bot.last_sweep(since=wall)
        synced = bot.logged_at("first sync answered in", since=wall) or float("nan")
        # The first periodic sweep (every SWEEP_MINUTES) begun after the start-up one ended: alone.
        startup_done = wall + startup_sweep
        deadline = time.monotonic() + SWEEP_MINUTES * 60 * 3 + 600
        sweep_line = ""
        while not sweep_line:
            for stamp, line in bot.all_logged("enforcement sweep of"):
                took = float(line.rsplit(" in ", 1)[1].split()[0])
                if stamp - took >= startup_done - 0.01:
                    sweep_line, sweep_s = line, took
                    break
            if time.monotonic() > deadline:
                raise SystemExit("no periodic sweep logged:\n" + "\n".join(bot.lines()[-20:]))
            await asyncio.sleep(0.2)
        await asyncio.sleep(3)  # idle: started, swept, nothing waiting
        idle_rss = rss_mib(bot.process.pid)

        began_sync = time.monotonic()
        reply = await admin.send_and_wait_reply(lobby, "!h assembly sync", from_user=bot_id, timeout=600)
        sync_clean = time.monotonic() - began_sync
        assert "No drift" in reply["content"]["body"], reply["content"]["body"][:300]
        for n in range(5):  # someone opened five rooms to the public
            await bot_account.put_state(rooms[(f"local-{n}", "discussion")], "m.room.join_rules",
                                        {"join_rule": "public"})
        began_sync = time.monotonic()
        reply = await admin.send_and_wait_reply(lobby, "!h assembly sync", from_user=bot_id, timeout=600)
        sync_drift = time.monotonic() - began_sync
        body = reply["content"]["body"]
        assert body.count("join_rules") + body.count("join rule") >= 5, body[:500]

        listings = []
        for _ in range(3):
            began_list = time.monotonic()
            await admin.send_and_wait_reply(lobby, "!h assemblies", from_user=bot_id, timeout=120)
            listings.append(time.monotonic() - began_list)
        rss_end = rss_mib(bot.process.pid)

        if registration is None:
            warm = await bare_client(synapse.url, bot_id, state["bot"]["token"], stored_sync_token(db_path, bot_id))
            end(warm[5])
        else:
            warm = warm_before
    finally:
        cold_bot.stop()
        bot.stop()
        await admin.close()
        await bot_account.close()
        await synapse.stop()

    timings = state.get("timings", {})
    memberships = people_n * 5
    print()
    print(f"== {mode} mode ==")
    print(f"scale: {len(rooms)} rooms, {people_n:,} people each in 5 rooms = {memberships:,} memberships "
          f"({cold[4]:,} joined members summed over the {cold[3]} rooms the bot's account is in); "
          f"real Synapse {synapse_version()} (SQLite) on loopback; the bot: harmony-matrix run, {mode} mode, SQLite")
    if timings:
        print(f"population (once, cached): import by the bot {timings.get('import', float('nan')):.0f} s, "
              f"registering {timings.get('register', float('nan')):.0f} s, {timings.get('join_count', 0):,} joins "
              f"{timings.get('joins', float('nan')) / 60:.1f} min; the bot's first start swept in "
              f"{timings.get('first_run_sweep_done', float('nan')):.0f} s")
    floor_warm = min(warm_before[0], warm[0])
    rows = [
        ("start-up to the first answer (!h assemblies), from the process start, Synapse warm",
         f"{first_answer:.2f} s [<= 10 s]",
         f"bare nio client, process start to its first sync done, Synapse warm: {warm_before[0]:.2f} s before "
         f"the bot, {warm[0]:.2f} s after" if registration is None else
         f"bare nio client, process start to its first sync done, Synapse warm: {warm[0]:.2f} s (before Synapse "
         f"loaded the bot's registration: it refuses /sync to an appservice's users)",
         f"{first_answer / floor_warm:.1f}x"),
        ("  of which: device ready (log) / first /sync answered (log) / started (log) / the answer's round trip",
         f"{device_ready:.2f} s / {synced:.2f} s / {started:.2f} s / {first_reply_s:.2f} s",
         f"the /sync call alone: {warm_before[1]:.2f} s / {warm[1]:.2f} s" if registration is None else
         f"the /sync call alone: {warm[1]:.2f} s", ""),
        ("the same, Synapse just restarted (cold)", f"{cold_start[0]:.2f} s (started {cold_start[1]:.2f} s)",
         f"bare nio client, Synapse just restarted: {cold[0]:.2f} s (the /sync call {cold[1]:.2f} s)",
         f"{cold_start[0] / cold[0]:.1f}x"),
        ("  start-up repair and sweep done, Synapse cold", f"{cold_start[4]:.2f} s", "", ""),
        ("start-up repair and sweep done (from the process start)", f"{startup_sweep:.2f} s",
         startup_sweep_line, ""),
        ("full sweep (the periodic one)", f"{sweep_s:.2f} s [<= 5 s]", sweep_line.split(": ", 1)[-1], ""),
        ("!h assembly sync, no drift", f"{sync_clean:.2f} s", "", ""),
        ("!h assembly sync, drift in 5 rooms", f"{sync_drift:.2f} s", "", ""),
        ("!h assemblies (3 more)", " / ".join(f"{t * 1000:.0f} ms" for t in listings), "", ""),
        ("idle RSS, started and swept", f"{idle_rss:.0f} MiB [<= 150 MiB]; {rss_end:.0f} MiB after the commands",
         f"bare nio client holding the same rooms: {cold[2]:.0f} MiB", f"{idle_rss / cold[2]:.2f}x"),
    ]
    print("| measure | harmony-matrix | comparator, same run | ratio |")
    print("|---|---|---|---|")
    for row in rows:
        print("| " + " | ".join(row) + " |")
    if profile_path is not None and profile_path.exists():
        print(f"\nprofile of the bot ({profile_path}), top 25 by cumulative time:")
        pstats.Stats(str(profile_path)).sort_stats("cumulative").print_stats(25)
        print("top 25 by own time:")
        pstats.Stats(str(profile_path)).sort_stats("tottime").print_stats(25)


def synapse_version() -> str:
    from importlib.metadata import version

    return version("matrix-synapse")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--people", type=int, default=10_000, help="people (each in 5 rooms); default 10,000")
    parser.add_argument("--cache", type=Path, default=DEFAULT_CACHE, help=f"default {DEFAULT_CACHE}")
    parser.add_argument("--rebuild", action="store_true", help="build the federation again from scratch")
    parser.add_argument("--build-only", action="store_true", help="build (or finish building), do not measure")
    parser.add_argument("--profile", action="store_true", help="run the bot under cProfile and print the top")
    parser.add_argument("--mode", choices=("bot", "bot-full-state", "appservice", "both", "all"), default="all",
                        help="the bot's mode: bot (/sync, as configured by default), bot-full-state "
                             "(sync.full_state_at_start true: a restart asks for every room's whole state), "
                             "appservice (Synapse pushes); both = bot and appservice; all (the default) = "
                             "the three, one after the other")
    args = parser.parse_args()
    cache: Path = args.cache
    if args.rebuild and cache.exists():
        shutil.rmtree(cache)
    built = State(cache / "snapshot" / "bench.json") if (cache / "snapshot").exists() else None
    if built is not None and built.get("people") != args.people:
        if built.get("people", 0) > args.people:
            raise SystemExit(f"the cached federation has {built.get('people')} people: --rebuild for {args.people}")
        # More people: continue from the snapshot (the first people are the same), then the bot's start
        # again (its sweep), and a new snapshot.
        live = cache / "live"
        if live.exists():
            shutil.rmtree(live)
        shutil.copytree(cache / "snapshot", live, symlinks=True)
        grown = State(live / "bench.json")
        grown.data.pop("warmed", None)
        grown.save()
        shutil.rmtree(cache / "snapshot")
        built = None
    if built is None:
        began = time.perf_counter()
        asyncio.run(build(cache, args.people))
        print(f"build: done in {(time.perf_counter() - began) / 60:.1f} min", flush=True)
    if not args.build_only:
        modes = {"both": ("bot", "appservice"), "all": ("bot-full-state", "bot", "appservice")}
        for mode in modes.get(args.mode, (args.mode,)):
            asyncio.run(measure(cache, mode=mode, profile=args.profile))


if __name__ == "__main__":
    main()
