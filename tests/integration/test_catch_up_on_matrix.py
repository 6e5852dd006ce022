"""Catch-up after downtime against a real Synapse (issue 13): reactions sent while the bot was down are
read back from /messages and stored in batches — nothing lost, nothing counted twice, the latest score
per voter and option counting, eligibility judged at each reaction's own moment — and what they
supersede or refuse is removed by redactions that go through the outbound queue."""

from __future__ import annotations

from datetime import datetime, timezone
from pathlib import Path

import pytest

from botrunner import start_app, write_bot_config
from harmony_app.local_synapse import LocalSynapse
from harmony_matrix.config import load_config
from harmony_matrix.polls.poll import parse_poll_ref
from storage.database import open_database

pytestmark = pytest.mark.asyncio(loop_scope="session")

VS = "\ufe0f\u20e3"


async def test_a_catch_up_stores_every_reaction_once_and_queues_the_redactions(
        synapse: LocalSynapse, make_user, tmp_path: Path) -> None:
    admin = await make_user("catchup-admin")
    voters = [await make_user(f"catchup-voter{i}") for i in range(3)]
    late_member = await make_user("catchup-late")
    outsider = await make_user("catchup-outsider")
    bot_user = await synapse.register_user(f"catchup-{tmp_path.name[-10:].lower()}".replace("_", "-"))
    config_path = write_bot_config(tmp_path, synapse=synapse, bot=bot_user, admins=[admin.user_id],
                                   sync={"timeline_limit": 10, "timeout_ms": 2000},
                                   polls={"seed_reactions": False, "chart": False})
    app = await start_app(config_path)
    for person in (admin, *voters):
        await app.db.members.add(person.user_id, by=admin.user_id, at=datetime.now(timezone.utc))
    room = await admin.create_room(name="Catch-up votes", preset="public_chat", invite=[bot_user.user_id],
                                   power_level_content_override={"users": {bot_user.user_id: 50}})
    for person in (*voters, late_member, outsider):
        await person.join(room)
    reply = await admin.send_and_wait_reply(room, "!h poll start Lunch? | Soup | Salad | Stew eligibility=members",
                                            from_user=bot_user.user_id, timeout=60)
    number = parse_poll_ref(reply["content"]["body"].split()[1])
    poll = await app.db.polls.get(number)
    assert poll is not None
    options = [str(option.event_id) for option in poll.options]
    await app.stop()

    # While the bot is down: score changes (the latest counts), reactions of someone not registered yet
    # (registered only afterwards: not eligible when they were sent) and of a non-member.
    sent: dict[str, str] = {}  # event ID -> what it is
    for score in (1, 3, 5):
        sent[await voters[0].react(room, options[0], f"{score}{VS}")] = f"v0 A {score}"
    for score in (4, 2):
        sent[await voters[1].react(room, options[1], f"{score}{VS}")] = f"v1 B {score}"
    sent[await voters[2].react(room, options[2], f"0{VS}")] = "v2 C 0"
    sent[await late_member.react(room, options[0], f"5{VS}")] = "late A 5"
    sent[await outsider.react(room, options[1], f"5{VS}")] = "outsider B 5"
    db = await open_database(load_config(config_path).database_url())
    try:  # registered now, after the reaction: a member when it is judged, but not when it was sent
        await db.members.add(late_member.user_id, by=admin.user_id, at=datetime.now(timezone.utc))
    finally:
        await db.close()
    for filler in range(12):  # more than the sync timeline holds: the gap is read from /messages
        await admin.send_text(room, f"chatter {filler}")
    by_label = {label: event_id for event_id, label in sent.items()}
    removed = {by_label[label] for label in ("v0 A 1", "v0 A 3", "v1 B 4", "late A 5", "outsider B 5")}

    async with admin.listening() as listener:
        app = await start_app(config_path)
        try:
            seen: set[str] = set()
            while not removed <= seen:
                redaction = await listener.wait_for(
                    room, lambda e: e.get("type") == "m.room.redaction" and e.get("sender") == bot_user.user_id,
                    timeout=60, description="the bot redacting what does not count")
                seen.add(redaction["redacts"])
            assert seen == removed  # and nothing that counts
            states = await app.db.polls.known_reaction_ids(number)
            assert states == {
                by_label["v0 A 1"]: "superseded", by_label["v0 A 3"]: "superseded", by_label["v0 A 5"]: "live",
                by_label["v1 B 4"]: "superseded", by_label["v1 B 2"]: "live", by_label["v2 C 0"]: "live",
                by_label["late A 5"]: "refused", by_label["outsider B 5"]: "refused"}
            ballots = sorted(map(sorted, (b.items() for b in await app.db.polls.ballots(number))))
            assert ballots == [[(0, 5)], [(1, 2)], [(2, 0)]]
            # Nothing handled twice: each reaction is one row, marked processed once.
            for event_id in sent:
                assert await app.db.events.is_processed(event_id)
        finally:
            await app.stop()
    # A restart from the stored token replays nothing.
    app = await start_app(config_path)
    try:
        assert await app.db.polls.known_reaction_ids(number) == states
    finally:
        await app.stop()
