"""Secret ballots against a real Synapse, with an encrypting client: ballots sent in encrypted direct chats
(created as Element creates them) are counted, each ballot message is removed (redacted) by the bot once
recorded, so the DM's timeline holds no score in plaintext; a ballot in an unencrypted DM is refused with
the reason, and nothing is recorded."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import pytest
import pytest_asyncio
from nio import RedactionEvent, RoomMessageNotice, RoomPreset

from botrunner import start_app, write_bot_config
from e2ee_client import E2EEUser, nio_replies_to
from harmony_app.local_synapse import LocalSynapse
from harmony_matrix.polls.poll import Poll, parse_poll_ref
from matrix_client import TestMatrixUser

pytestmark = pytest.mark.asyncio(loop_scope="session")

RECORDED = "and removed your message from this chat, so the scores are not kept in the chat history."


@pytest_asyncio.fixture(loop_scope="session")
async def ballot_bot(synapse: LocalSynapse, make_user, tmp_path: Path) -> AsyncIterator[dict[str, Any]]:
    admin = await make_user("ballot-admin")
    bot_user = await synapse.register_user(f"ballotbot-{tmp_path.name[-10:].lower()}".replace("_", "-"))
    app = await start_app(write_bot_config(tmp_path / "bot", synapse=synapse, bot=bot_user, admins=[admin.user_id],
                                           encrypt_direct_chats=True, polls={"seed_reactions": False, "chart": False}))
    room = await admin.create_room(name="Votes", preset="public_chat", invite=[bot_user.user_id],
                                   power_level_content_override={"users": {bot_user.user_id: 50}})
    await admin.send_and_wait_reply(room, "!h ping", from_user=bot_user.user_id)  # the bot has joined
    users: list[E2EEUser] = []
    try:
        yield {"app": app, "admin": admin, "room": room, "bot": bot_user.user_id, "users": users}
    finally:
        for user in users:
            await user.close()
        await app.stop()


async def _voter(ballot_bot: dict[str, Any], make_user, tmp_path: Path, name: str) -> E2EEUser:
    plain = await make_user(name)
    app = ballot_bot["app"]
    await app.db.members.add(plain.user_id, by=ballot_bot["admin"].user_id, at=datetime.now(timezone.utc))
    user = await E2EEUser.start(plain, tmp_path)
    ballot_bot["users"].append(user)
    return user


async def _secret_poll(ballot_bot: dict[str, Any]) -> Poll:
    admin: TestMatrixUser = ballot_bot["admin"]
    reply = await admin.send_and_wait_reply(ballot_bot["room"], "!h poll start Secretary? | Ana | Ben secret",
                                            from_user=ballot_bot["bot"], timeout=30)
    poll = await ballot_bot["app"].db.polls.get(parse_poll_ref(reply["content"]["body"].split()[1]))
    assert poll is not None and poll.secret
    return poll


async def _cast(voter: E2EEUser, dm: str, bot: str, text: str) -> tuple[str, RoomMessageNotice]:
    """Send a ballot encrypted; return its event ID and the bot's (decrypted) receipt, once the bot has
    also removed the ballot message."""
    ballot = await voter.send_text(dm, text)
    receipt = await voter.wait_for(dm, nio_replies_to(ballot, sender=bot), description="the receipt")
    await voter.wait_for(dm, lambda e: isinstance(e, RedactionEvent) and e.redacts == ballot and e.sender == bot,
                         description="the bot removing the ballot message")
    assert isinstance(receipt, RoomMessageNotice), f"not decrypted: {receipt}"
    return ballot, receipt


async def _timeline(user: TestMatrixUser, room: str) -> list[dict[str, Any]]:
    page = await user.request("GET", f"/_matrix/client/v3/rooms/{room}/messages", params={"dir": "b", "limit": "100"})
    events: list[dict[str, Any]] = page["chunk"]
    return events


@pytest.mark.postgres_too
async def test_ballots_in_encrypted_dms_are_counted_and_removed(ballot_bot, make_user, tmp_path: Path) -> None:
    app, room, bot = ballot_bot["app"], ballot_bot["room"], ballot_bot["bot"]
    poll = await _secret_poll(ballot_bot)
    ana = await _voter(ballot_bot, make_user, tmp_path, "ana")
    ben = await _voter(ballot_bot, make_user, tmp_path, "ben")
    # As Element creates a direct chat: is_direct, encrypted from the start, both at power 100.
    ana_dm = await ana.create_dm(bot, preset=RoomPreset.trusted_private_chat)
    ben_dm = await ben.create_dm(bot, preset=RoomPreset.trusted_private_chat)

    first, receipt = await _cast(ana, ana_dm, bot, f"!h vote #{poll.number} A=5 B=1")
    assert receipt.body.startswith(f"I recorded your ballot in poll #{poll.number} (Secretary?) {RECORDED}")
    second, again = await _cast(ana, ana_dm, bot, f"!h vote #{poll.number} A=4 B=2")
    assert again.body.startswith("I recorded your new ballot (it replaces your previous one)")
    third, _ = await _cast(ben, ben_dm, bot, f"!h vote #{poll.number} Ana=1 Ben=5")

    # The ballots are gone from the DMs: the redacted events have no content, and nothing the
    # homeserver keeps there holds a score in plaintext (the bot's receipts are ciphertext, and never
    # repeat the scores anyway).
    for user, dm, ballots in ((ana, ana_dm, (first, second)), (ben, ben_dm, (third,))):
        for ballot in ballots:
            stored = await user.raw_event(dm, ballot)
            assert stored["content"] == {} and "redacted_because" in stored["unsigned"]
        events = await _timeline(user.plain, dm)
        assert {e["event_id"] for e in events} >= set(ballots)
        assert not [e for e in events if e["type"] == "m.room.message"], "a plaintext message in the DM"
        plain_text = json.dumps(events)
        for score in ("A=5", "B=1", "A=4", "B=2", "Ana=1", "Ben=5"):
            assert score not in plain_text
    assert not ana.undecryptable(ana_dm) and not ben.undecryptable(ben_dm)

    closed = await ballot_bot["admin"].send_and_wait_reply(room, f"!h poll close #{poll.number}", from_user=bot)
    assert "is closed" in closed["content"]["body"]
    done = await app.db.polls.get(poll.number)
    assert done.result.totals == {"Ana": 5, "Ben": 7} and done.result.ballot_count == 2
    assert (await app.db.polls.export_user(ana.user_id))["secret_ballots_of_open_polls"] == []


async def test_a_ballot_in_an_unencrypted_dm_is_refused_with_the_reason(ballot_bot, make_user) -> None:
    app, bot = ballot_bot["app"], ballot_bot["bot"]
    poll = await _secret_poll(ballot_bot)
    cleo = await make_user("cleo")
    await app.db.members.add(cleo.user_id, by=bot, at=datetime.now(timezone.utc))
    async with cleo.listening() as listener:
        dm = await cleo.create_room(preset="trusted_private_chat", invite=[bot], is_direct=True)  # no encryption
        await listener.wait_for(dm, lambda e: e.get("type") == "m.room.member" and e.get("state_key") == bot
                                and e["content"].get("membership") == "join", description="the bot joining the DM")
        ballot = await cleo.send_text(dm, f"!h vote #{poll.number} A=5 B=1")
        refusal = await listener.wait_for(dm, lambda e: e.get("sender") == bot and e.get("type") == "m.room.message",
                                          description="the refusal")
        await listener.wait_for(dm, lambda e: e.get("type") == "m.room.redaction" and e.get("redacts") == ballot,
                                description="the bot removing the plaintext ballot")
    body = refusal["content"]["body"]
    assert body.startswith(f"I did not record this ballot: poll #{poll.number} is a secret ballot, and this chat "
                           "is not encrypted, so your scores would sit in plaintext on every homeserver in it. "
                           "Nothing was recorded. I removed your message from this chat.")
    assert f"Open an encrypted direct chat with me (Element encrypts new direct chats by default) and send !h vote " \
           f"#{poll.number} … there." in body
    assert await app.db.polls.turnout(poll.number) == 0
    assert (await app.db.polls.export_user(cleo.user_id))["secret_ballots_of_open_polls"] == []
