"""STAR polls against a real Synapse: reactions as votes, DMs, closing, results, secret ballots, crashes."""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import AsyncIterator
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest
import pytest_asyncio

from botrunner import BotProcess, start_app, write_bot_config
from handlers.polls.render import render_results
from harmony_app.app import App
from harmony_matrix.config import load_config
from harmony_matrix.event_types import HARMONY_POST_PART, ROOM_MESSAGE
from harmony_matrix.assemblies.federation_file import load_federation
from harmony_app.local_synapse import LocalSynapse
from harmony_matrix.polls.poll import PollSpec, parse_poll_ref
from harmony_matrix.polls.reactions import SEED_KEYS, CountedReaction
from harmony_matrix.polls.results import poll_result
from matrix_client import TestMatrixUser, replies_to
from storage.database import open_database

pytestmark = pytest.mark.asyncio(loop_scope="session")

VS = "\ufe0f\u20e3"  # as Element sends keycaps
BARE = "\u20e3"  # keycap without U+FE0F


@pytest_asyncio.fixture(loop_scope="session")
async def poll_bot(synapse: LocalSynapse, make_user, tmp_path: Path) -> AsyncIterator[dict[str, Any]]:
    admin = await make_user("poll-admin")
    voters = [await make_user(f"voter{i}") for i in range(4)]
    outsider = await make_user("outsider")
    bot_user = await synapse.register_user(f"pollbot-{tmp_path.name[-10:].lower()}".replace("_", "-"))
    config_path = write_bot_config(tmp_path, synapse=synapse, bot=bot_user, admins=[admin.user_id])
    app = await start_app(config_path)
    feature = app.features["polls"]
    for person in (admin, *voters):  # registered members may vote; the outsider is not one
        await app.db.members.add(person.user_id, by=admin.user_id, at=datetime.now(timezone.utc))
    # The bot moderates the votes room (as in an assembly it provisioned): it may redact reactions.
    room_id = await admin.create_room(name="Votes", preset="public_chat", invite=[bot_user.user_id],
                                      power_level_content_override={"users": {bot_user.user_id: 50}})
    async with admin.listening() as listener:
        await listener.wait_for(room_id, lambda e: e.get("type") == "m.room.member"
                                and e.get("state_key") == bot_user.user_id
                                and e["content"].get("membership") == "join", description="the bot joining")
    for person in (*voters, outsider):
        await person.join(room_id)
    try:
        yield {"app": app, "feature": feature, "admin": admin, "voters": voters, "outsider": outsider,
               "room": room_id, "bot": bot_user.user_id}
    finally:
        await app.stop()


async def _start_poll(admin: TestMatrixUser, room_id: str, bot: str, text: str, app: App):
    reply = await admin.send_and_wait_reply(room_id, f"!h poll start {text}", from_user=bot, timeout=30)
    body = reply["content"]["body"]
    assert body.startswith("Poll #"), body
    number = parse_poll_ref(body.split()[1])
    poll = await app.db.polls.get(number)
    assert poll is not None and all(o.event_id for o in poll.options)
    return poll


async def _settle(user: TestMatrixUser, room_id: str, bot: str, number: int) -> dict[str, Any]:
    """The bot handles a room's events in order: once it answers this, everything before is handled."""
    return await user.send_and_wait_reply(room_id, f"!h poll show #{number}", from_user=bot, timeout=30)


async def _dm_messages(user: TestMatrixUser, room_id: str, bot: str) -> list[str]:
    history = await user.request("GET", f"/_matrix/client/v3/rooms/{room_id}/messages",
                                 params={"dir": "b", "limit": "50"})
    return [e["content"].get("body", "") for e in history["chunk"]
            if e.get("sender") == bot and e.get("type") == "m.room.message"]


@pytest.mark.postgres_too
async def test_a_poll_counts_reactions_and_posts_results_with_a_chart(poll_bot) -> None:
    app, feature, admin, room, bot = (poll_bot[k] for k in ("app", "feature", "admin", "room", "bot"))
    v1, v2, v3, v4 = poll_bot["voters"]
    outsider: TestMatrixUser = poll_bot["outsider"]
    poll = await _start_poll(admin, room, bot, "Lunch? | Pizza | Sushi | Tapas closes=2h", app)
    a, b, c = (o.event_id for o in poll.options)

    async with v2.listening() as v2_listener, outsider.listening() as outsider_listener:
        await v1.react(room, a, "5" + VS)
        await v1.react(room, b, "3" + BARE)
        await v1.react(room, c, "0")
        old = await v2.react(room, a, "2" + VS)
        await v2.react(room, a, "4" + VS)  # changed: the bot redacts the old one
        await v3.react(room, b, "5" + VS)
        withdrawn = await v3.react(room, c, "1" + VS)
        await v3.redact(room, withdrawn)  # withdrawn
        await v4.react(room, c, "5" + BARE)
        await v4.react(room, a, "1" + VS)
        await v4.react(room, a, "👍")  # not a vote
        refused = [await outsider.react(room, a, "5" + VS),  # not a member: refused and removed
                   await outsider.react(room, b, "4" + VS)]
        await v2_listener.wait_for(room, lambda e: e.get("type") == "m.room.redaction" and e.get("redacts") == old
                                   and e.get("sender") == bot, description="the bot redacting v2's older score")
        dm = await outsider_listener.wait_for_invite()
        for reaction in refused:
            await outsider_listener.wait_for(room, lambda e: e.get("type") == "m.room.redaction"
                                             and e.get("redacts") == reaction and e.get("sender") == bot,
                                             description="the bot removing a refused reaction")
        await _settle(admin, room, bot, poll.number)
    await outsider.join(dm)
    told = await _dm_messages(outsider, dm, bot)
    assert len(told) == 1 and "only registered party members may vote" in told[0], told

    # The pre-seeded keycaps are on every option.
    seeded = [e async for e in feature.gateway.relations(room, a)]
    assert {e["content"]["m.relates_to"]["key"] for e in seeded if e["sender"] == bot} >= {f"{d}{VS}" for d in range(6)}

    async with admin.listening() as listener:
        close = await admin.send_text(room, f"!h poll close #{poll.number}")
        await listener.wait_for(room, replies_to(close, sender=bot), description="the close confirmation")
        results = await listener.wait_for(room, lambda e: replies_to(poll.header_event_id, sender=bot)(e)
                                          and e["content"].get("msgtype") == "m.notice", description="results")
        image = await listener.wait_for(room, lambda e: replies_to(poll.header_event_id, sender=bot)(e)
                                        and e["content"].get("msgtype") == "m.image", description="the chart")
    assert image["content"]["url"].startswith("mxc://") and "Runoff" in image["content"]["body"]

    # After close: not counted but refused and removed, and v1 is told once, privately.
    async with v1.listening() as listener:
        late = await v1.react(room, b, "1" + VS)
        await listener.wait_for(room, lambda e: e.get("type") == "m.room.redaction" and e.get("redacts") == late,
                                description="the bot removing the late reaction")
        invited = await listener.wait_for_invite()
        await v1.join(invited)
        # The invite comes before the message: wait for it rather than read the history at once.
        await listener.wait_for(invited, lambda e: e.get("sender") == bot
                                and "already closed" in e.get("content", {}).get("body", ""),
                                description="the private 'already closed' message")

    expected = [{0: 5, 1: 3, 2: 0}, {0: 4}, {1: 5}, {2: 5, 0: 1}]
    closed = await app.db.polls.get(poll.number)
    assert sorted(map(sorted, (x.items() for x in await app.db.polls.ballots(poll.number)))) == \
        sorted(map(sorted, (x.items() for x in expected)))
    assert (await app.db.polls.known_reaction_ids(poll.number))[late] == "refused"
    want = poll_result(closed, expected)  # tallied once, at close, and stored
    assert closed.result == want
    assert results["content"]["body"] == render_results(closed, want)[0]
    assert "Sushi" in results["content"]["body"] and "Turnout: 4 ballots" in results["content"]["body"]


async def test_a_secret_poll_refuses_reactions_and_ballots_in_unencrypted_chats(poll_bot) -> None:
    """Ballots in encrypted direct chats: tests/integration/test_secret_ballots_on_matrix.py."""
    app, admin, room, bot = (poll_bot[k] for k in ("app", "admin", "room", "bot"))
    v1 = poll_bot["voters"][0]
    poll = await _start_poll(admin, room, bot, "Secretary? | Ana | Ben secret", app)
    async with v1.listening() as listener:
        reaction = await v1.react(room, poll.options[0].event_id, "5" + VS)
        await listener.wait_for(room, lambda e: e.get("type") == "m.room.redaction" and e.get("redacts") == reaction,
                                description="the bot removing a reaction on a secret poll")
        dm = await listener.wait_for_invite()
        await v1.join(dm)
        await listener.wait_for(dm, lambda e: e.get("sender") == bot and "secret ballot" in e["content"].get("body", ""),
                                description="the private explanation")

    # The test's DMs are unencrypted (the plain client cannot read encrypted ones): every ballot is refused.
    async with v1.listening() as listener:
        ballot = await v1.send_text(dm, f"!h vote #{poll.number} A=5 B=1")
        refusal = await listener.wait_for(dm, replies_to(ballot, sender=bot), description="the refusal")
        await listener.wait_for(dm, lambda e: e.get("type") == "m.room.redaction" and e.get("redacts") == ballot,
                                description="the bot removing the plaintext ballot")
    assert refusal["content"]["body"].startswith(
        f"I did not record this ballot: poll #{poll.number} is a secret ballot, and this chat is not encrypted, "
        "so your scores would sit in plaintext on every homeserver in it. Nothing was recorded. "
        "I removed your message from this chat. Open an encrypted direct chat with me")
    removed = await v1.request("GET", f"/_matrix/client/v3/rooms/{dm}/event/{ballot}")
    assert removed["content"] == {}

    # A DM the person created (private_chat: the bot has no power to remove their messages there).
    admin_dm = await admin.create_room(preset="private_chat", invite=[bot], is_direct=True)
    async with admin.listening() as listener:
        await listener.wait_for(admin_dm, lambda e: e.get("state_key") == bot and e.get("type") == "m.room.member"
                                and e["content"].get("membership") == "join", description="the bot joining the DM")
    refused = await admin.send_and_wait_reply(admin_dm, f"!h vote #{poll.number} A=1 B=5", from_user=bot)
    assert "Nothing was recorded. Please delete your message from this chat: I could not remove it." \
        in refused["content"]["body"]

    shown = await _settle(admin, room, bot, poll.number)
    assert "0 voted" in shown["content"]["body"]
    assert await app.db.polls.turnout(poll.number) == 0
    assert (await app.db.polls.export_user(v1.user_id))["secret_ballots_of_open_polls"] == []
    closed = await admin.send_and_wait_reply(room, f"!h poll close #{poll.number}", from_user=bot)
    assert "is closed" in closed["content"]["body"]
    done = await app.db.polls.get(poll.number)
    assert done.result.no_votes


@pytest.mark.postgres_too
async def test_votes_survive_a_crash_nothing_lost_nothing_counted_twice(synapse: LocalSynapse, make_user,
                                                                       tmp_path: Path) -> None:
    admin = await make_user("crash-poll-admin")
    voters = [await make_user(f"crash-voter{i}") for i in range(4)]
    bot_user = await synapse.register_user(f"crashpoll-{tmp_path.name[-10:].lower()}".replace("_", "-"))
    config_path = write_bot_config(tmp_path, synapse=synapse, bot=bot_user, admins=[admin.user_id],
                                   sync={"timeline_limit": 10, "timeout_ms": 2000},
                                   polls={"seed_reactions": False, "chart": False})
    process = BotProcess(config_path)
    await process.start()
    try:
        room = await admin.create_room(name="Crash votes", preset="public_chat", invite=[bot_user.user_id],
                                       power_level_content_override={"users": {bot_user.user_id: 50}})
        for voter in voters:
            await voter.join(room)
        reply = await admin.send_and_wait_reply(
            room, "!h poll start Budget? | Low | Mid | High eligibility=participants", from_user=bot_user.user_id,
            timeout=60)
        number = parse_poll_ref(reply["content"]["body"].split()[1])
        options = await _option_events(admin, room, bot_user.user_id, 3)

        expected: dict[str, dict[int, int]] = {}
        live: dict[tuple[str, int], str] = {}

        async def vote(voter: TestMatrixUser, option: int, score: int) -> None:
            live[(voter.user_id, option)] = await voter.react(room, options[option], f"{score}{VS}")
            expected.setdefault(voter.user_id, {})[option] = score

        await vote(voters[0], 0, 5)
        await vote(voters[1], 1, 4)
        await vote(voters[2], 2, 3)
        await process.kill()  # votes keep arriving while the bot is down
        await vote(voters[0], 1, 2)
        await vote(voters[1], 1, 1)  # a change while down
        await vote(voters[3], 0, 4)
        await voters[2].redact(room, live.pop((voters[2].user_id, 2)))  # withdrawn while down
        del expected[voters[2].user_id][2]
        for filler in range(12):  # more than one sync's timeline: the gap must be filled
            await admin.send_text(room, f"chatter {filler}")
        await process.start()
        await vote(voters[2], 0, 1)
        await vote(voters[3], 2, 5)
        closed = await admin.send_and_wait_reply(room, f"!h poll close #{number}", from_user=bot_user.user_id,
                                                 timeout=60)
        assert "is closed" in closed["content"]["body"], closed["content"]["body"]
    finally:
        await process.terminate()
    db = await open_database(load_config(config_path).database_url())  # SQLite, or PostgreSQL in CI's variant
    try:
        ballots = await db.polls.ballots(number)
        poll = await db.polls.get(number)
        assert sorted(map(sorted, (b.items() for b in ballots))) == \
            sorted(map(sorted, (b.items() for b in expected.values() if b)))
        assert poll.result.ballot_count == len([b for b in expected.values() if b])
        assert poll.results_event_id is not None
    finally:
        await db.close()
    assert "Traceback" not in process.log_text()


async def _option_events(user: TestMatrixUser, room: str, bot: str, count: int) -> list[str]:
    history = await user.request("GET", f"/_matrix/client/v3/rooms/{room}/messages",
                                 params={"dir": "b", "limit": "30"})
    options = [e for e in history["chunk"] if e.get("sender") == bot
               and e["content"].get("body", "")[:3] in {"A. ", "B. ", "C. "}]
    options.reverse()
    assert len(options) == count, history["chunk"]
    return [e["event_id"] for e in options]


async def test_start_poll_api_closes_at_its_deadline_and_tells_the_origin(poll_bot) -> None:
    app, feature, admin, room, bot = (poll_bot[k] for k in ("app", "feature", "admin", "room", "bot"))
    v1, v2 = poll_bot["voters"][:2]
    heard: list[tuple[str, str, Any]] = []
    told = asyncio.Event()

    async def listener_callback(ref: str, origin: str, result: Any) -> None:
        heard.append((ref, origin, result))
        told.set()

    feature.on_closed(listener_callback)
    ref = await feature.start_poll(room_id=room, question="Adopt P-7?", options=["Adopt", "Do not adopt"],
                                   closes_at=feature.clock() + timedelta(seconds=3), created_by=admin.user_id,
                                   origin="test:deadline")
    assert await feature.start_poll(room_id=room, question="Adopt P-7?", options=["Adopt", "Do not adopt"],
                                    created_by=admin.user_id, origin="test:deadline") == ref  # idempotent
    poll = await app.db.polls.get(parse_poll_ref(ref))
    async with admin.listening() as listener:
        await v1.react(room, poll.options[0].event_id, "5" + VS)
        await v2.react(room, poll.options[1].event_id, "2" + VS)
        await listener.wait_for(room, lambda e: replies_to(poll.header_event_id, sender=bot)(e)
                                and e["content"].get("msgtype") == "m.notice", timeout=30,
                                description="the results posted when the deadline passed")
    await asyncio.wait_for(told.wait(), timeout=30)  # the origin is told after the results are posted
    assert [(r, o, res.winners) for r, o, res in heard] == [(ref, "test:deadline", ("Adopt",))]
    # The callback runs before the "notified" mark is stored; closing again waits on the poll's lock
    # until the scheduled close has finished, and must not tell the origin a second time.
    closed = await feature.close_poll(poll.number)
    assert closed is not None and closed.origin_notified
    assert (await app.db.polls.get(poll.number)).origin_notified
    assert len(heard) == 1


async def test_a_deadline_that_passed_while_down_closes_at_start(synapse: LocalSynapse, make_user,
                                                                tmp_path: Path) -> None:
    admin = await make_user("down-admin")
    voter = await make_user("down-voter")
    bot_user = await synapse.register_user(f"downpoll-{tmp_path.name[-10:].lower()}".replace("_", "-"))
    config_path = write_bot_config(tmp_path, synapse=synapse, bot=bot_user, admins=[admin.user_id],
                                   polls={"seed_reactions": False, "chart": False})
    app = await start_app(config_path)
    room = await admin.create_room(name="Down", preset="public_chat", invite=[bot_user.user_id],
                                   power_level_content_override={"users": {bot_user.user_id: 50}})
    await voter.join(room)
    await admin.send_and_wait_reply(room, "!h ping", from_user=bot_user.user_id)  # the bot has joined
    ref = await app.features["polls"].start_poll(
        room_id=room, question="Later?", options=["Yes", "No"], eligibility="participants",
        closes_at=datetime.now(timezone.utc) + timedelta(hours=1), created_by=admin.user_id, origin="test:down")
    poll = await app.db.polls.get(parse_poll_ref(ref))
    await voter.react(room, poll.options[0].event_id, "4" + VS)
    await app.stop()
    later = datetime.now(timezone.utc) + timedelta(hours=2)  # the deadline passed while the bot was down
    async with admin.listening() as listener:
        app = await start_app(config_path, clock=lambda: later)
        try:
            results = await listener.wait_for(room, replies_to(poll.header_event_id, sender=bot_user.user_id),
                                              timeout=30, description="results posted at start")
        finally:
            await app.stop()
    assert "Winner: Yes" in results["content"]["body"] and "Turnout: 1 ballot " in results["content"]["body"]


async def test_the_recount_at_close_reconciles_and_records_differences(poll_bot) -> None:
    app, feature, admin, room, bot = (poll_bot[k] for k in ("app", "feature", "admin", "room", "bot"))
    v1, v2 = poll_bot["voters"][:2]
    poll = await _start_poll(admin, room, bot, "Recount? | Yes | No", app)
    store = feature.store
    real_lookup, real_lookups = store.option_by_event, store.options_by_events

    async def blind(event_id: str):  # the bot "misses" every reaction while this is in place
        return None

    async def blind_many(event_ids):  # and every run of reactions
        return {}

    store.option_by_event, store.options_by_events = blind, blind_many
    try:
        missed = await v1.react(room, poll.options[0].event_id, "4" + VS)
        await _settle(admin, room, bot, poll.number)
    finally:
        store.option_by_event, store.options_by_events = real_lookup, real_lookups
    # A vote the database counts but the server no longer has (its redaction was never seen).
    await store.add_reactions(poll.number, [CountedReaction(event_id="$gone:localhost", voter=v2.user_id,
                                                            option=1, score=5, ts=1)], settle=lambda stored, live: set())
    await admin.send_and_wait_reply(room, f"!h poll close #{poll.number}", from_user=bot)
    found = {(r.kind, r.event_id) for r in await app.db.polls.reconciliations(poll.number)}
    assert found == {("missed-reaction", missed), ("missed-withdrawal", "$gone:localhost")}
    closed = await app.db.polls.get(poll.number)
    assert closed.result.totals == {"Yes": 4, "No": 0} and closed.result.ballot_count == 1


POLL_FEDERATION = """
version: 1
assemblies:
  - slug: poll-party
    name: Poll Party
    kind: party
    access: open
    remit: Testing polls.
  - slug: poll-ward
    name: Poll Ward
    kind: working-group
    access: open
    parents: [poll-party]
  - slug: poll-elsewhere
    name: Elsewhere
    kind: party
    access: open
"""


async def test_participants_in_an_assembly_room_are_the_assemblys_participants(poll_bot, make_user) -> None:
    app, admin, bot = (poll_bot[k] for k in ("app", "admin", "bot"))
    assemblies = app.features["assemblies"]
    await assemblies.apply_federation(load_federation(POLL_FEDERATION, source="poll-federation.yaml"))
    party, ward, elsewhere = [await assemblies.rooms_of(s) for s in ("poll-party", "poll-ward", "poll-elsewhere")]
    via = [app.gateway.server_name]
    nested = await make_user("ward-voter")  # participates in the nested assembly only
    onlooker = await make_user("onlooker")  # in the votes room and in an unrelated assembly, not in this one
    await nested.join(ward["space"], via=via)
    await onlooker.join(elsewhere["space"], via=via)
    room = party["votes"]
    for person in (admin, nested, onlooker):
        await person.join(room, via=via)
    poll = await _start_poll(admin, room, bot, "Ward budget? | More | Less eligibility=participants", app)
    header = await admin.request("GET", f"/_matrix/client/v3/rooms/{room}/event/{poll.header_event_id}")
    assert "Who may vote: participants of Poll Party (including its nested assemblies)." in header["content"]["body"]

    async with onlooker.listening() as listener:
        await nested.react(room, poll.options[0].event_id, "5" + VS)
        await onlooker.react(room, poll.options[0].event_id, "1" + VS)
        await onlooker.react(room, poll.options[1].event_id, "4" + VS)
        dm = await listener.wait_for_invite()
        await _settle(admin, room, bot, poll.number)
    await onlooker.join(dm)
    told = await _dm_messages(onlooker, dm, bot)
    assert len(told) == 1 and "only participants of Poll Party (including its nested assemblies) may vote" \
        in told[0], told
    assert await app.db.polls.ballots(poll.number) == [{0: 5}]


async def test_an_interrupted_opening_is_completed_at_restart(synapse: LocalSynapse, make_user, tmp_path: Path) -> None:
    admin = await make_user("seed-admin")
    bot_user = await synapse.register_user(f"seedpoll-{tmp_path.name[-10:].lower()}".replace("_", "-"))
    bot = bot_user.user_id
    config_path = write_bot_config(tmp_path, synapse=synapse, bot=bot_user, admins=[admin.user_id],
                                   polls={"chart": False})
    app = await start_app(config_path)
    try:
        room = await admin.create_room(name="Seeds", preset="public_chat", invite=[bot],
                                       power_level_content_override={"users": {bot: 50}})
        await admin.send_and_wait_reply(room, "!h ping", from_user=bot)  # the bot has joined
        feature = app.features["polls"]
        feature.settings = dataclasses.replace(feature.settings, seed_reactions=False)
        # Poll 1: posted, but the bot "died" after seeding two keycaps on A; one of those was redacted since.
        first = await app.db.polls.get(parse_poll_ref(await feature.start_poll(
            room_id=room, question="Seeded?", options=["Yes", "No"], created_by=admin.user_id, origin="test:seed")))
        a = first.options[0].event_id
        await app.gateway.react(room, a, SEED_KEYS[0], txn_seed=f"seed:{a}:{SEED_KEYS[0]}")
        gone = await app.gateway.react(room, a, SEED_KEYS[5], txn_seed=f"seed:{a}:{SEED_KEYS[5]}")
        await app.gateway.redact(room, gone, "test: a seed lost")
        # Poll 2: stored, nothing posted (the bot "died" right after the database write).
        second, _ = await app.db.polls.create(PollSpec(question="Posted later?", options=("One", "Two", "Three")),
                                              room_id=room, created_by=admin.user_id,
                                              created_at=datetime.now(timezone.utc))
    finally:
        await app.stop()

    want = {(a, key) for key in SEED_KEYS[1:]} | {(first.options[1].event_id, key) for key in SEED_KEYS}
    async with admin.listening() as listener:
        app = await start_app(config_path)  # seeding on again (the config's default)
        try:
            seen: set[tuple[str, str]] = set()
            while True:
                reaction = await listener.wait_for(room, lambda e: e.get("type") == "m.reaction"
                                                   and e.get("sender") == bot
                                                   and "m.relates_to" in e.get("content", {}), timeout=30,
                                                   description="the bot's seed keycaps")
                relates = reaction["content"]["m.relates_to"]
                seen.add((relates["event_id"], relates["key"]))
                posted = await app.db.polls.get(second.number)
                if all(o.event_id for o in posted.options):
                    want |= {(o.event_id, key) for o in posted.options for key in SEED_KEYS}
                if all(o.event_id for o in posted.options) and want <= seen:
                    break
            polls = [await app.db.polls.get(n) for n in (first.number, second.number)]
            assert polls[1].header_event_id is not None
            await app.features["polls"].complete_poll(polls[1])  # again: nothing more is posted or seeded
            for poll in polls:
                for option in poll.options:
                    keys = [e["content"]["m.relates_to"]["key"]
                            async for e in app.gateway.relations(room, option.event_id) if e["sender"] == bot]
                    assert sorted(keys) == sorted(SEED_KEYS), (poll.ref, option.label, keys)
        finally:
            await app.stop()
    bodies = await _dm_messages(admin, room, bot)  # the room's recent messages by the bot
    assert sum(b.startswith(f"📊 Poll #{second.number}: Posted later?") for b in bodies) == 1, bodies
    assert sorted(b for b in bodies if b in ("A. One", "B. Two", "C. Three")) == ["A. One", "B. Two", "C. Three"]
    assert any("Who may vote: registered party members." in b for b in bodies)


async def test_posts_the_server_already_has_are_found_in_the_room_not_posted_again(poll_bot) -> None:
    """After an outage longer than the server remembers transaction IDs, a replayed post is new to it:
    the bot finds each part it already posted in the room, by its ``org.harmony.post_part`` key."""
    app, feature, admin, room, bot = (poll_bot[k] for k in ("app", "feature", "admin", "room", "bot"))
    poll, _ = await app.db.polls.create(PollSpec(question="Long outage?", options=("Yes", "No", "Later")),
                                        room_id=room, created_by=admin.user_id, created_at=datetime.now(timezone.utc))

    async def posted_before_the_crash(part: str, body: str) -> str:
        # Sent under a transaction ID the server has forgotten (here: a fresh one); the event ID never stored.
        return await app.gateway.send_event(room, ROOM_MESSAGE, {
            "msgtype": "m.notice", "body": body, HARMONY_POST_PART: f"poll:{room}:{poll.number}:{part}"})

    header = await posted_before_the_crash("header", "📊 (the header, posted before the crash)")
    option_a = await posted_before_the_crash("option:0", "A. Yes")
    opened = await feature.complete_poll(poll)  # what the bot runs at start for an unfinished poll
    assert opened.header_event_id == header and opened.options[0].event_id == option_a
    assert all(o.event_id for o in opened.options)
    bodies = await _dm_messages(admin, room, bot)
    assert [bodies.count(b) for b in ("A. Yes", "B. No", "C. Later")] == [1, 1, 1], bodies
    assert not any(b.startswith(f"📊 Poll #{poll.number}") for b in bodies), bodies

    # Closed, the results table posted, then the crash: only the chart is missing at the restart.
    await app.db.polls.close(poll.number, closed_at=datetime.now(timezone.utc),
                             result=poll_result(opened, []))
    results = await posted_before_the_crash("results", "(the results, posted before the crash)")
    closed = await feature.close_poll(poll.number)
    assert closed is not None and closed.results_event_id == results
    history = await admin.request("GET", f"/_matrix/client/v3/rooms/{room}/messages",
                                  params={"dir": "b", "limit": "50"})
    by_bot = [e["content"] for e in history["chunk"] if e.get("sender") == bot and e["type"] == "m.room.message"]
    assert [c.get(HARMONY_POST_PART, "").rsplit(":", 1)[-1] for c in by_bot
            if c.get(HARMONY_POST_PART, "").endswith((":results", ":chart"))] == ["chart", "results"]
    assert render_results(closed, closed.result)[0] not in [c["body"] for c in by_bot]
