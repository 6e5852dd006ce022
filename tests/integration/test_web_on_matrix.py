"""The public web view of a bot on a real Synapse: a moot scheduled and then cancelled in Matrix shows as
cancelled in the calendar feed (the same event its announcement attached); a decision taken in Matrix
links its evidence back to the room; the secretary appears by the display name the bot saw in sync."""

from __future__ import annotations

import socket
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from icalendar import Calendar

from botrunner import start_app, write_bot_config
from consensus_fixtures import marker
from harmony_app.local_synapse import LocalSynapse
from harmony_matrix.assemblies.assembly import Assembly
from harmony_matrix.assemblies.federation import Federation

pytestmark = pytest.mark.asyncio(loop_scope="session")


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


async def _get(url: str) -> tuple[int, bytes]:
    async with aiohttp.ClientSession() as http, http.get(url) as response:
        return response.status, await response.read()


def _event(body: bytes, uid: str) -> Any:
    return next(e for e in Calendar.from_ical(body).walk("VEVENT") if str(e["UID"]) == uid)


async def test_a_moot_cancelled_in_matrix_shows_cancelled_and_decisions_link_back(
        synapse: LocalSynapse, make_user, tmp_path: Path) -> None:
    admin = await make_user("admin")
    secretary = await make_user("secretary")
    await secretary.request("PUT", f"/_matrix/client/v3/profile/{secretary.user_id}/displayname",
                            body={"displayname": "Sam Secretary"})
    bot = await synapse.register_user(f"wbot-{tmp_path.name[-12:].lower()}".replace("_", "-"))
    port = _free_port()
    config = write_bot_config(tmp_path, synapse=synapse, bot=bot, admins=[admin.user_id],
                              web={"enabled": True, "port": port})
    app = await start_app(config)
    site = f"http://127.0.0.1:{port}"
    try:
        await app.features["assemblies"].apply_federation(Federation((
            Assembly(slug="ops", name="Operations", kind="working-group", access="open",
                     secretary=secretary.user_id),)))
        rooms = dict(await app.features["assemblies"].rooms_of("ops"))
        for kind in ("discussion", "announcements", "votes"):
            await secretary.join(rooms[kind])
        discussion, news = rooms["discussion"], rooms["announcements"]
        # Answered after the joins: the bot's sync has seen them (and the display name in them).
        await secretary.send_and_wait_reply(discussion, "!h ping", from_user=bot.user_id)
        status, page = await _get(f"{site}/assemblies/ops")
        assert status == 200 and b"Sam Secretary" in page

        async with secretary.listening() as listener:
            reply = await secretary.send_and_wait_reply(discussion, "!h moot schedule in 2h Budget review",
                                                        from_user=bot.user_id)
            assert "M-ops-1" in reply["content"]["body"]
            attachment = await listener.wait_for(news, marker("org.harmony.moot_notice", moot="M-ops-1", kind="ical"),
                                                 description="the announcement's calendar file")
        server, media = attachment["content"]["url"].removeprefix("mxc://").split("/", 1)
        async with aiohttp.ClientSession() as http, http.get(
                f"{synapse.url}/_matrix/client/v1/media/download/{server}/{media}",
                headers={"Authorization": f"Bearer {secretary.access_token}"}) as response:
            attached = next(iter(Calendar.from_ical(await response.read()).walk("VEVENT")))
        uid = str(attached["UID"])
        _, feed = await _get(f"{site}/calendar.ics")
        scheduled = _event(feed, uid)
        assert str(scheduled["STATUS"]) == "CONFIRMED" and scheduled.decoded("DTSTART") == attached.decoded("DTSTART")

        reply = await secretary.send_and_wait_reply(discussion, "!h moot cancel M-ops-1", from_user=bot.user_id)
        assert "Cancelled M-ops-1" in reply["content"]["body"]
        _, feed = await _get(f"{site}/assemblies/ops/calendar.ics")
        cancelled = _event(feed, uid)
        assert str(cancelled["STATUS"]) == "CANCELLED"
        assert int(cancelled["SEQUENCE"]) > int(scheduled["SEQUENCE"])

        reply = await secretary.send_and_wait_reply(discussion, "!h propose Buy a projector", from_user=bot.user_id)
        assert "P-ops-1" in reply["content"]["body"]
        reply = await secretary.send_and_wait_reply(
            discussion, '!h consensus P-ops-1 reached statement="We buy a projector" topics=equipment',
            from_user=bot.user_id)
        command = reply["content"]["m.relates_to"]["m.in_reply_to"]["event_id"]
        status, body = await _get(f"{site}/api/v1/decisions/D-ops-1")
        assert status == 200, body
        decision = __import__("json").loads(body)
        assert decision["statement"] == "We buy a projector" and decision["chain"]["record_verifies"] is True
        links = [e["link"] for e in decision["evidence"] if e["event_id"] == command]
        assert links and discussion.replace("!", "%21").replace(":", "%3A") in links[0]
        status, page = await _get(f"{site}/decisions/D-ops-1")
        assert status == 200 and b"We buy a projector" in page
    finally:
        await app.stop()
    with pytest.raises(aiohttp.ClientConnectionError):
        await _get(f"{site}/")  # stopped with the bot
