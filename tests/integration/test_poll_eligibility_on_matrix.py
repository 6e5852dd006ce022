"""One eligibility rule, live and at the recount, against a real Synapse: a reaction counts only if its
sender was eligible when it was sent. A non-member's reaction is refused (stored as refused, removed,
its sender told privately); after an admin registers them, a new reaction counts, the old one never
does; the totals posted are what each voter's ``mydata`` says was counted."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import pytest
import pytest_asyncio

from botrunner import start_app, write_bot_config
from handlers.polls.render import render_results
from harmony_app.app import App
from harmony_app.local_synapse import LocalSynapse
from harmony_matrix.polls.poll import Poll, parse_poll_ref
from matrix_client import SyncListener, TestMatrixUser, replies_to

pytestmark = pytest.mark.asyncio(loop_scope="session")

VS = "\ufe0f\u20e3"
NOT_COUNTED = "was not counted, so I removed it: only registered party members may vote in it"


@pytest_asyncio.fixture(loop_scope="session")
async def vote_bot(synapse: LocalSynapse, make_user, tmp_path: Path) -> AsyncIterator[dict[str, Any]]:
    admin = await make_user("elig-admin")
    member = await make_user("elig-member")
    bot_user = await synapse.register_user(f"eligbot-{tmp_path.name[-10:].lower()}".replace("_", "-"))
    app = await start_app(write_bot_config(tmp_path, synapse=synapse, bot=bot_user, admins=[admin.user_id],
                                           polls={"seed_reactions": False, "chart": False}))
    for person in (admin, member):
        await app.db.members.add(person.user_id, by=admin.user_id, at=datetime.now(timezone.utc))
    room = await admin.create_room(name="Votes", preset="public_chat", invite=[bot_user.user_id],
                                   power_level_content_override={"users": {bot_user.user_id: 50}})
    await member.join(room)
    await admin.send_and_wait_reply(room, "!h ping", from_user=bot_user.user_id)  # the bot has joined
    admin_dm = await _open_dm(admin, bot_user.user_id)
    try:
        yield {"app": app, "admin": admin, "member": member, "room": room, "bot": bot_user.user_id,
               "admin_dm": admin_dm}
    finally:
        await app.stop()


async def _open_dm(user: TestMatrixUser, bot: str) -> str:
    async with user.listening() as listener:
        room = await user.create_room(preset="private_chat", invite=[bot], is_direct=True)
        await listener.wait_for(room, lambda e: e.get("type") == "m.room.member" and e.get("state_key") == bot
                                and e["content"].get("membership") == "join", description="the bot joining the DM")
    return room


async def _start_poll(admin: TestMatrixUser, room: str, bot: str, app: App) -> Poll:
    reply = await admin.send_and_wait_reply(room, "!h poll start Budget? | Yes | No", from_user=bot, timeout=30)
    poll = await app.db.polls.get(parse_poll_ref(reply["content"]["body"].split()[1]))
    assert poll is not None and all(o.event_id for o in poll.options)
    return poll


def _redaction_of(event_id: str, bot: str):
    return lambda e: e.get("type") == "m.room.redaction" and e.get("redacts") == event_id and e.get("sender") == bot


def _message_from(bot: str):
    return lambda e: e.get("sender") == bot and e.get("type") == "m.room.message"


async def _register(admin: TestMatrixUser, admin_dm: str, bot: str, user_id: str) -> None:
    reply = await admin.send_and_wait_reply(admin_dm, f"!h member add {user_id}", from_user=bot)
    assert reply["content"]["body"] == f"{user_id} is now registered as a party member."


async def _mydata(user: TestMatrixUser, dm: str, bot: str, listener: SyncListener) -> dict[str, Any]:
    command = await user.send_text(dm, "!h mydata")
    file_event = await listener.wait_for(dm, lambda e: e.get("sender") == bot
                                         and e["content"].get("msgtype") == "m.file", description="the exported file")
    await listener.wait_for(dm, replies_to(command, sender=bot), description="the reply to mydata")
    server, media_id = file_event["content"]["url"][len("mxc://"):].split("/", 1)
    exported: dict[str, Any] = await user.request("GET", f"/_matrix/client/v1/media/download/{server}/{media_id}")
    return exported


def _counted(exported: dict[str, Any], number: int) -> dict[int, int]:
    return {v["option"]: v["score"] for v in exported["polls"]["votes"]
            if v["poll"] == f"#{number}" and v["status"] == "counted"}


async def test_a_refused_reaction_stays_uncounted_and_a_reaction_after_registration_counts(vote_bot, make_user) -> None:
    app, admin, member, room, bot, admin_dm = (vote_bot[k] for k in ("app", "admin", "member", "room", "bot",
                                                                     "admin_dm"))
    newcomer = await make_user("newcomer")  # not registered yet
    missed = await make_user("missed")  # not registered yet; the bot misses their first reaction
    for person in (newcomer, missed):
        await person.join(room)
    poll = await _start_poll(admin, room, bot, app)
    yes, no = (str(o.event_id) for o in poll.options)

    # Live: refused, removed from the option, and told privately (once) that it can react again later.
    async with newcomer.listening() as listener:
        early = await newcomer.react(room, yes, "4" + VS)
        await listener.wait_for(room, _redaction_of(early, bot), description="the bot removing the refused reaction")
        dm = await listener.wait_for_invite()
        await newcomer.join(dm)
        told = await listener.wait_for(dm, _message_from(bot), description="the private notice")
    assert NOT_COUNTED in told["content"]["body"] and "simply react again" in told["content"]["body"]

    # Missed live (as if the bot were down): the recount at close will be the first to see it.
    store = app.features["polls"].store
    real_lookup, real_lookups = store.option_by_event, store.options_by_events

    async def blind(event_id: str) -> None:
        return None

    async def blind_many(event_ids: object) -> dict[str, object]:  # the lookup of a run of reactions
        return {}

    store.option_by_event, store.options_by_events = blind, blind_many
    try:
        missed_early = await missed.react(room, no, "1" + VS)
        await admin.send_and_wait_reply(room, f"!h poll show #{poll.number}", from_user=bot)  # handled by now
    finally:
        store.option_by_event, store.options_by_events = real_lookup, real_lookups

    # Registered by an admin in a DM, both react again: these count.
    await _register(admin, admin_dm, bot, newcomer.user_id)
    await _register(admin, admin_dm, bot, missed.user_id)
    later = await newcomer.react(room, yes, "2" + VS)
    await missed.react(room, no, "3" + VS)
    await member.react(room, no, "5" + VS)
    await admin.send_and_wait_reply(room, f"!h poll show #{poll.number}", from_user=bot)  # all handled

    async with admin.listening() as listener, missed.listening() as missed_listener:
        await admin.send_and_wait_reply(room, f"!h poll close #{poll.number}", from_user=bot)
        results = await listener.wait_for(room, lambda e: replies_to(str(poll.header_event_id), sender=bot)(e)
                                          and e["content"].get("msgtype") == "m.notice", description="the results")
        # The recount judged the reaction it saw first by its timestamp: refused, removed, its sender told.
        await missed_listener.wait_for(room, _redaction_of(missed_early, bot),
                                       description="the bot removing the reaction refused at the recount")
        missed_dm = await missed_listener.wait_for_invite()
        await missed.join(missed_dm)
        told = await missed_listener.wait_for(missed_dm, _message_from(bot), description="the notice")
    assert NOT_COUNTED in told["content"]["body"]
    closed = await app.db.polls.get(poll.number)
    assert closed is not None and closed.result is not None
    assert closed.result.totals == {"Yes": 2, "No": 8} and closed.result.ballot_count == 3
    assert results["content"]["body"] == render_results(closed, closed.result)[0]
    found = {(r.kind, r.event_id) for r in await app.db.polls.reconciliations(poll.number)}
    assert found == {("missed-refused", missed_early)}
    known = await app.db.polls.known_reaction_ids(poll.number)
    assert known[early] == "refused" and known[missed_early] == "refused" and known[later] == "live"

    # What each voter is told is what the tally did.
    async with newcomer.listening() as listener:
        exported = await _mydata(newcomer, dm, bot, listener)
    votes = [(v["event_id"], v["status"], v.get("refused_because")) for v in exported["polls"]["votes"]]
    assert votes == [(early, "refused", "not-eligible"), (later, "counted", None)]
    async with missed.listening() as listener:
        missed_export = await _mydata(missed, missed_dm, bot, listener)
    async with member.listening() as listener:
        member_dm = await _open_dm(member, bot)
        member_export = await _mydata(member, member_dm, bot, listener)
    told_totals = {"Yes": 0, "No": 0}
    for export in (exported, missed_export, member_export):
        for option, score in _counted(export, poll.number).items():
            told_totals[poll.labels[option]] += score
    assert told_totals == closed.result.totals
