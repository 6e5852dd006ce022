"""Display names on the public pages (``handlers/web/names.py``): from nio's rooms first, then from the
names the bot's last read of a room's member list gave (``MatrixGateway.read_display_names``), which is
how a room nio does not hold (appservice mode, or a restart without the whole state) still names its
officers."""

from __future__ import annotations

from typing import Any

from handlers.matrix.gateway import MatrixGateway
from handlers.web.names import SyncedDisplayNames
from tests.fakes.gateway import FakeClient

SPACE, VOTES = "!space:test", "!votes:test"


class NioUser:
    def __init__(self, display_name: str | None) -> None:
        self.display_name = display_name


class NioRoom:
    def __init__(self, **users: str | None) -> None:
        self.users = {f"@{name}:test": NioUser(display_name) for name, display_name in users.items()}


class JoinedMembersGateway(MatrixGateway):
    """The real gateway, the server answering ``GET /joined_members`` with the body given."""

    def __init__(self, body: dict[str, Any]) -> None:
        super().__init__(FakeClient("@bot:test"))
        self.body = body

    async def request(self, method: str, path: str, body: Any = None, *,
                      query: dict[str, Any] | None = None) -> dict[str, Any]:
        assert (method, path) == ("GET", "/v3/rooms/%21space%3Atest/joined_members")
        return self.body


async def test_a_member_list_read_keeps_the_names_it_gave_and_only_real_names() -> None:
    gateway = JoinedMembersGateway({"joined": {
        "@ana:test": {"display_name": " Ana Secretary "}, "@ben:test": {"display_name": None},
        "@cy:test": {"display_name": "   "}, "@dee:test": {}, "@eve:test": "not an object"}})
    assert await gateway.joined_members(SPACE) == {"@ana:test", "@ben:test", "@cy:test", "@dee:test", "@eve:test"}
    assert gateway.read_display_names == {SPACE: {"@ana:test": "Ana Secretary"}}
    gateway.body = {"joined": {"@ben:test": {"display_name": "Ben"}}}  # the next read replaces the room's names
    await gateway.joined_members(SPACE)
    assert gateway.read_display_names == {SPACE: {"@ben:test": "Ben"}}


def test_nio_s_rooms_name_first_then_the_names_read_with_member_lists() -> None:
    nio_rooms = {VOTES: NioRoom(ana="Ana in votes", ben=None)}
    read = {SPACE: {"@ana:test": "Ana read", "@ben:test": "Ben read"}}
    names = SyncedDisplayNames(lambda: nio_rooms, lambda: read)
    assert names.display_name("@ana:test", [VOTES, SPACE]) == "Ana in votes"
    # nio knows no name for Ben; the rooms may come as any iterable (a generator is read once)
    assert names.display_name("@ben:test", iter([VOTES, SPACE])) == "Ben read"
    assert names.display_name("@cy:test", [VOTES, SPACE]) is None
    assert SyncedDisplayNames(lambda: nio_rooms).display_name("@ben:test", [VOTES, SPACE]) is None
