"""A bot with one assembly (rooms provisioned by the assemblies feature) and a movable clock."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from botrunner import start_app, write_bot_config
from harmony_app.app import App
from harmony_matrix.assemblies.assembly import Assembly
from harmony_matrix.assemblies.federation import Federation
from harmony_app.local_synapse import LocalSynapse
from matrix_client import TestMatrixUser


class MovableClock:
    """Real time plus an offset the test can move forward (the scheduler's sweep sees the jump)."""

    def __init__(self) -> None:
        self.offset = timedelta(0)

    def __call__(self) -> datetime:
        return datetime.now(UTC) + self.offset

    def advance(self, delta: timedelta) -> None:
        self.offset += delta


@dataclass
class Setup:
    app: App
    config_path: Path
    clock: MovableClock
    secretary: TestMatrixUser
    rooms: dict[str, str]
    slug: str
    bot_id: str

    async def restart(self) -> None:
        await self.app.stop()
        self.app = await start_app(self.config_path, clock=self.clock)


async def make_setup(synapse: LocalSynapse, make_user: Any, tmp_path: Path, *, slug: str = "ops",
                     extra: tuple[Assembly, ...] = (), **consensus: Any) -> Setup:
    admin = await make_user("admin")
    secretary = await make_user("secretary")
    bot_user = await synapse.register_user(f"cbot-{tmp_path.name[-12:].lower()}".replace("_", "-"))
    config_path = write_bot_config(
        tmp_path, synapse=synapse, bot=bot_user, admins=[admin.user_id],
        consensus={"reminders_before": ["1h"], "check_interval": "1s", **consensus})
    clock = MovableClock()
    app = await start_app(config_path, clock=clock)
    assemblies = app.features["assemblies"]
    federation = Federation((*extra, Assembly(slug=slug, name="Operations", kind="working-group", access="open",
                                               secretary=secretary.user_id,
                                               parents=tuple(a.slug for a in extra))))
    await assemblies.apply_federation(federation)
    rooms = dict(await assemblies.rooms_of(slug))
    for kind in ("discussion", "announcements", "votes"):
        await secretary.join(rooms[kind])
    return Setup(app=app, config_path=config_path, clock=clock, secretary=secretary, rooms=rooms, slug=slug,
                 bot_id=bot_user.user_id)


def marker(key: str, **expected: str):  # type: ignore[no-untyped-def]
    """A predicate for a bot message carrying ``key`` with the expected fields."""

    def match(event: dict[str, Any]) -> bool:
        data = (event.get("content") or {}).get(key)
        # Without the key the event is not ours, even when no field is expected.
        return isinstance(data, dict) and all(data.get(k) == v for k, v in expected.items())

    return match


async def history(user: TestMatrixUser, room_id: str) -> list[dict[str, Any]]:
    result = await user.request("GET", f"/_matrix/client/v3/rooms/{room_id}/messages",
                                params={"dir": "b", "limit": "500"})
    return list(result["chunk"])
