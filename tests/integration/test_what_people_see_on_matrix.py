"""What people read, against a real Synapse, in one bot run with the web view on: a refused vote tells an
admin what to send and anyone else which secretaries to ask, by name; the poll's announcement links its
public page and, at the close, is edited (``m.replace``) to say closed with a link to the results; moot
and decision announcements link their public pages, and those pages link back to the Matrix room."""

from __future__ import annotations

import re
import socket
from pathlib import Path
from urllib.parse import quote

import aiohttp
import pytest

from botrunner import start_app, write_bot_config
from consensus_fixtures import marker
from harmony_app.local_synapse import LocalSynapse
from harmony_matrix.assemblies.assembly import Assembly
from harmony_matrix.assemblies.federation import Federation
from harmony_matrix.polls.poll import parse_poll_ref
from matrix_client import TestMatrixUser

pytestmark = pytest.mark.asyncio(loop_scope="session")

VS = "\ufe0f\u20e3"


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


async def _get(url: str) -> tuple[int, str]:
    async with aiohttp.ClientSession() as http, http.get(url) as response:
        return response.status, await response.text()


def _links(body: str, label: str) -> list[str]:
    return re.findall(rf"^{label}: (\S+)$", body, flags=re.MULTILINE)


async def _told(person: TestMatrixUser, room: str, poll: str, bot: str) -> str:
    """React 5 on the poll's first option; the private message the bot then sends (the DM it opens)."""
    async with person.listening() as listener:
        await person.react(room, poll, "5" + VS)
        dm = await listener.wait_for_invite()
        await person.join(dm)
        told = await listener.wait_for(dm, lambda e: e.get("sender") == bot and "was not counted" in
                                       (e.get("content") or {}).get("body", ""), description="why it did not count")
    return str(told["content"]["body"])


async def test_refusals_name_the_remedy_and_posts_link_to_their_pages(
        synapse: LocalSynapse, make_user, tmp_path: Path) -> None:
    admin, secretary, pat = await make_user("admin"), await make_user("secretary"), await make_user("pat")
    await secretary.request("PUT", f"/_matrix/client/v3/profile/{secretary.user_id}/displayname",
                            body={"displayname": "Sam Secretary"})
    bot = await synapse.register_user(f"uxbot-{tmp_path.name[-12:].lower()}".replace("_", "-"))
    port = _free_port()
    site = f"http://127.0.0.1:{port}"
    app = await start_app(write_bot_config(tmp_path, synapse=synapse, bot=bot, admins=[admin.user_id],
                                           web={"enabled": True, "port": port}, polls={"seed_reactions": False}))
    try:
        await app.features["assemblies"].apply_federation(Federation((
            Assembly(slug="ops", name="Operations", kind="working-group", access="open",
                     secretary=secretary.user_id),)))
        rooms = dict(await app.features["assemblies"].rooms_of("ops"))
        discussion, news, votes = rooms["discussion"], rooms["announcements"], rooms["votes"]
        for person, joins in ((secretary, (discussion, news, votes)), (pat, (votes,)), (admin, (votes,))):
            for room in joins:
                await person.join(room)
        # Answered after the joins: the bot's sync has seen them (and the display name in them).
        await secretary.send_and_wait_reply(votes, "!h ping", from_user=bot.user_id)

        # -- a poll: its announcement links its public page, which links back to the room ----------------
        async with secretary.listening() as listener:
            reply = await secretary.send_and_wait_reply(votes, "!h poll start Projector colour? | Black | White",
                                                        from_user=bot.user_id, timeout=30)
            number = parse_poll_ref(reply["content"]["body"].split()[1])
            poll = await app.db.polls.get(number)
            assert poll is not None and poll.header_event_id is not None
            header = await listener.wait_for(votes, lambda e: e.get("event_id") == poll.header_event_id,
                                             description="the poll's announcement")
        assert "lack the power" not in header["content"]["body"]  # the bot made the room: it moderates
        assert _links(header["content"]["body"], "Public page") == [f"{site}/polls/{number}"]
        status, page = await _get(f"{site}/polls/{number}")
        assert status == 200 and "Projector colour?" in page
        assert f"https://matrix.to/#/{quote(votes, safe='')}" in page  # the page links to the room

        # -- refused votes: an admin is told what to send, anyone else whom to ask, by name -------------
        first = str(poll.options[0].event_id)
        told = await _told(pat, votes, first, bot.user_id)
        assert ("Registration is done by the party's admins; the secretaries of Operations can arrange it: ask "
                f"Sam Secretary ({secretary.user_id}).") in told, told
        told = await _told(admin, votes, first, bot.user_id)
        assert (f"You are an admin, so you can register yourself: send !h member add {admin.user_id} to me here, "
                "in this direct chat.") in told, told

        # -- the close: the announcement is edited to say closed, with a link to the results -------------
        async with secretary.listening() as listener:
            await secretary.send_and_wait_reply(votes, f"!h poll close #{number}", from_user=bot.user_id, timeout=30)
            edit = await listener.wait_for(
                votes, lambda e: ((e.get("content") or {}).get("m.relates_to") or {}).get("rel_type") == "m.replace"
                and e["content"]["m.relates_to"].get("event_id") == poll.header_event_id,
                description="the announcement edited at the close")
        closed = await app.db.polls.get(number)
        assert closed is not None and closed.results_event_id is not None
        new = edit["content"]["m.new_content"]
        assert new["body"].startswith(f"📊 Poll #{number}: Projector colour? (closed)")
        assert "Voting has ended: reactions on the options no longer count." in new["body"]
        [results_link] = _links(new["body"], "Results")
        assert results_link.startswith(f"https://matrix.to/#/{quote(votes, safe='')}/"
                                       f"{quote(closed.results_event_id, safe='')}")
        assert _links(new["body"], "Public page") == [f"{site}/polls/{number}"]
        # Clients show the edit in place of the announcement: the server now serves the new content.
        original = await secretary.request(
            "GET", f"/_matrix/client/v3/rooms/{quote(votes)}/event/{quote(poll.header_event_id)}")
        replaced = (original.get("unsigned") or {}).get("m.relations", {}).get("m.replace", {})
        assert replaced.get("event_id") == edit["event_id"], original

        # -- a moot and a decision: their announcements link their public pages --------------------------
        async with secretary.listening() as listener:
            await secretary.send_and_wait_reply(discussion, "!h moot schedule in 2h Budget review", from_user=bot.user_id)
            announced = await listener.wait_for(news, marker("org.harmony.moot_notice", moot="M-ops-1",
                                                             kind="announcement"), description="the moot announcement")
            await secretary.send_and_wait_reply(discussion, "!h propose Buy a projector", from_user=bot.user_id)
            await secretary.send_and_wait_reply(
                discussion, '!h consensus P-ops-1 reached statement="We buy a projector"', from_user=bot.user_id)
            decided = await listener.wait_for(news, marker("org.harmony.decision", ref="D-ops-1"),
                                              description="the decision announcement")
        assert _links(announced["content"]["body"], "Public page") == [f"{site}/assemblies/ops"]
        assert f'<a href="{site}/assemblies/ops">Public page</a>' in announced["content"]["formatted_body"]
        assert _links(decided["content"]["body"], "Public page") == [f"{site}/decisions/D-ops-1"]
        status, page = await _get(f"{site}/assemblies/ops")
        assert status == 200 and "Budget review" in page
        assert f"https://matrix.to/#/{quote(discussion, safe='')}" in page
        status, page = await _get(f"{site}/decisions/D-ops-1")
        assert status == 200 and "We buy a projector" in page and "https://matrix.to/#/" in page
    finally:
        await app.stop()
