"""Nothing private in plaintext, anywhere the bot writes (issue 9): with the bot running at DEBUG, an admin
registers people in an encrypted DM, someone declares for a self-identified caucus in theirs, and a secret
poll in an assembly's votes room gets its ballots (and one refused ballot) by encrypted DM. Then the bot's
whole log and every room the bot is in (read as the homeserver stores it, through Synapse's admin API) are
grepped for the declaration, the ballots and the membership statuses: none is there, and the DMs hold only
ciphertext.

Every string looked for carries a random tag, so the grep cannot pass because the words were never
written; and the scenario is checked first (ballots counted in the posted results, the declaration
answered with an invitation), so it cannot pass because nothing happened.
"""

from __future__ import annotations

import asyncio
import json
import re
import secrets
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest
from nio import RedactionEvent, RoomMessageNotice, RoomPreset

from botrunner import REPO, BotProcess, write_bot_config
from e2ee_client import E2EEUser, nio_replies_to
from harmony_app.local_synapse import LocalSynapse
from harmony_matrix import event_types as et
from matrix_client import MakeUser, TestMatrixUser

pytestmark = pytest.mark.asyncio(loop_scope="session")

#: Phrases that state someone's party membership (the bot's DM answers use them; nothing else may).
MEMBERSHIP_PHRASES = ("registered as a party member", "is now registered", "no longer registered",
                      "already registered", "is a registered member", "is not a member", "not a registered member",
                      "only registered party members", "registered party members may vote")


def federation_yaml(tag: str, statement: str) -> str:
    return f"""
version: 1
assemblies:
  - slug: grep-party-{tag}
    name: Grep Party {tag}
    kind: party
    access: open
  - slug: heron-{tag}
    name: Heron Circle {tag}
    kind: society
    access: self-identified
    declaration: {statement}
"""


async def admin_api(user: TestMatrixUser, path: str, **params: str) -> dict[str, Any]:
    return await user.request("GET", f"/_synapse/admin/v1{path}", params=params or None)


async def stored_timeline(server_admin: TestMatrixUser, room_id: str) -> list[dict[str, Any]]:
    """Every event of the room as the homeserver keeps it (ciphertext stays ciphertext)."""
    events: list[dict[str, Any]] = []
    params = {"dir": "b", "limit": "500"}
    while True:
        page = await admin_api(server_admin, f"/rooms/{quote(room_id, safe='')}/messages", **params)
        events.extend(page.get("chunk", []))
        if not page.get("chunk") or not page.get("end"):
            return events
        params["from"] = page["end"]


def strings_in(value: Any, *, skip: frozenset[str] = frozenset({"membership"})) -> Iterator[str]:
    """Every string leaf of ``value`` (keys of ``skip`` left out: ``membership`` is Matrix's room
    membership, not the party's)."""
    if isinstance(value, str):
        yield value
    elif isinstance(value, dict):
        for key, item in value.items():
            if key not in skip:
                yield from strings_in(item, skip=skip)
    elif isinstance(value, list):
        for item in value:
            yield from strings_in(item, skip=skip)


def near_member(user_id: str, *also: str) -> re.Pattern[str]:
    """A user ID within a few words of "member"/"declar"/"ballot"/"vote"/"confirm" or of ``also`` (either
    order)."""
    uid = re.escape(user_id)
    words = "(?:" + "|".join(["member", "declar", "ballot", "vote", "confirm", *map(re.escape, also)]) + ")"
    return re.compile(rf"{uid}.{{0,60}}{words}|{words}.{{0,60}}{uid}", re.IGNORECASE)


async def cast(voter: E2EEUser, dm: str, bot: str, text: str) -> RoomMessageNotice:
    """A ballot sent encrypted; the bot's receipt once it has also removed the ballot message."""
    ballot = await voter.send_text(dm, text)
    receipt = await voter.wait_for(dm, nio_replies_to(ballot, sender=bot), description="the receipt")
    await voter.wait_for(dm, lambda e: isinstance(e, RedactionEvent) and e.redacts == ballot and e.sender == bot,
                         description="the bot removing the ballot message")
    assert isinstance(receipt, RoomMessageNotice), f"not decrypted: {receipt}"
    return receipt


async def test_no_declaration_ballot_or_membership_in_any_room_or_log_line(
        synapse: LocalSynapse, make_user: MakeUser, tmp_path: Path) -> None:
    tag = secrets.token_hex(4)
    server = synapse.server_name
    statement = f"I belong to the heron circle of the marsh {tag}."
    yes, no = f"Quokka-{tag}", f"Narwhal-{tag}"
    admin_plain = await make_user("grep-admin", admin=True)  # bot admin, and server admin to read every room
    bot_user = await synapse.register_user(f"grepbot-{tag}")
    bot = bot_user.user_id
    config = write_bot_config(tmp_path / "bot", synapse=synapse, bot=bot_user, admins=[admin_plain.user_id],
                              logging={"level": "DEBUG"}, sync={"timeout_ms": 2000}, encrypt_direct_chats=True,
                              polls={"seed_reactions": False, "chart": False})
    federation = tmp_path / "federation.yaml"
    federation.write_text(federation_yaml(tag, statement))
    importer = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "harmony_app", "import", str(federation), "-c", str(config),
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT, cwd=REPO)
    output = (await importer.communicate())[0].decode(errors="replace")
    assert importer.returncode == 0, output

    process = BotProcess(config)
    await process.start()
    people: list[E2EEUser] = []
    try:
        admin = await E2EEUser.start(admin_plain, tmp_path)
        people.append(admin)
        ana, ben, nia, eve = [await E2EEUser.start(await make_user(name), tmp_path)
                              for name in ("grep-ana", "grep-ben", "grep-nia", "grep-eve")]
        people += [ana, ben, nia, eve]
        admin_dm = await admin.create_dm(bot, timeout=90)  # the bot's first sync may take a while

        # Membership: the admin registers two voters in an encrypted DM.
        for voter in (ana, ben):
            added = await admin.send_and_wait_reply(admin_dm, f"!h member add {voter.user_id}", from_user=bot)
            assert isinstance(added, RoomMessageNotice) and added.body == \
                f"{voter.user_id} is now registered as a party member.", added

        # Declaration: eve joins the self-identified caucus from her encrypted DM.
        eve_dm = await eve.create_dm(bot)
        await eve.send_text(eve_dm, f"!h join heron-{tag}")
        question = await eve.wait_for(eve_dm, lambda e: e.sender == bot and statement in getattr(e, "body", ""),
                                      description="the private question")
        confirmed = await eve.send_and_wait_reply(eve_dm, "!h confirm", from_user=bot)
        space = (await eve.plain.request("GET", f"/_matrix/client/v3/directory/room/"
                                                f"{quote(f'#heron-{tag}:{server}', safe='')}"))["room_id"]
        await eve.wait_for_invite(space)
        assert isinstance(question, RoomMessageNotice) and "!h confirm" in question.body
        assert isinstance(confirmed, RoomMessageNotice) and "invited you" in confirmed.body, confirmed

        # A secret poll in the party's votes room; two ballots and a refused one, by encrypted DM.
        await admin_plain.join(f"#grep-party-{tag}:{server}")
        votes = await admin_plain.join(f"#grep-party-{tag}-votes:{server}")
        opened = await admin_plain.send_and_wait_reply(votes, f"!h poll start Mascot {tag}? | {yes} | {no} secret",
                                                       from_user=bot, timeout=30)
        ref = opened["content"]["body"].split()[1]
        assert re.fullmatch(r"#\d+", ref), opened["content"]["body"]
        ballots = {ana: f"!h vote {ref} {yes}=5 {no}=1", ben: f"!h vote {ref} {yes}=2 {no}=4",
                   nia: f"!h vote {ref} {yes}=3 {no}=0"}
        ana_dm, ben_dm, nia_dm = await asyncio.gather(*(p.create_dm(bot, preset=RoomPreset.trusted_private_chat)
                                                        for p in (ana, ben, nia)))
        for voter, dm in ((ana, ana_dm), (ben, ben_dm)):
            receipt = await cast(voter, dm, bot, ballots[voter])
            assert receipt.body.startswith(f"I recorded your ballot in poll {ref}"), receipt.body
        refused = await nia.send_and_wait_reply(nia_dm, ballots[nia], from_user=bot)
        assert isinstance(refused, RoomMessageNotice) and "your ballot was not counted" in refused.body, refused

        async with admin_plain.listening() as listener:
            await admin_plain.send_text(votes, f"!h poll close {ref}")
            results = await listener.wait_for(votes, lambda e: e.get("sender") == bot and str(
                e.get("content", {}).get("body", "")).startswith(f"Results of poll {ref}"), timeout=30,
                description="the results")
        posted = results["content"]["body"]
        # ana 5+1, ben 2+4 (nia's not counted): 7 stars against 5.
        assert "Turnout: 2 ballots" in posted and f"Winner: {yes}" in posted, posted
        assert re.search(rf"{yes}\W+7\b", posted) and re.search(rf"{no}\W+5\b", posted), posted
        dms = {admin_dm, eve_dm, ana_dm, ben_dm, nia_dm}
        for person, dm in ((admin, admin_dm), (eve, eve_dm), (ana, ana_dm), (ben, ben_dm), (nia, nia_dm)):
            assert not person.undecryptable(dm), f"{person.user_id} could not read the bot in {dm}"
    finally:
        await process.terminate()
        for person in people:
            await person.close()

    # What may never be written in plaintext.
    secrets_ = [statement, *ballots.values(),
                *(f"{label}={score}" for label in (yes, no) for score in range(6))]
    concerned = [p.user_id for p in (ana, ben, nia, eve)]

    log = process.log_text()
    assert " DEBUG " in log and "harmony-matrix started" in log, log[:2000]
    assert "Traceback" not in log, log[-4000:]
    assert all(user_id in log for user_id in concerned)  # it names people (the DMs they opened), so the grep bites
    lowered = log.lower()
    for text in [*secrets_, *MEMBERSHIP_PHRASES]:
        assert text.lower() not in lowered, f"{text!r} is in the bot's log"
    for user_id in concerned:
        about = near_member(user_id, ref, *((f"heron-{tag}", space) if user_id == eve.user_id else ()))
        for line in log.splitlines():
            assert not about.search(line), f"the log says something about {user_id}: {line}"

    joined = (await admin_api(admin_plain, f"/users/{quote(bot)}/joined_rooms"))["joined_rooms"]
    assert dms <= set(joined) and votes in joined and space in joined
    timelines = {room_id: await stored_timeline(admin_plain, room_id) for room_id in joined}
    # The timelines are read in plaintext where there is some: the results, and the caucus's definition.
    assert posted in [e["content"].get("body") for e in timelines[votes]]
    assert any(e["type"] == et.HARMONY_ASSEMBLY and statement in json.dumps(e, ensure_ascii=False)
               for e in timelines[space])
    for room_id, events in timelines.items():
        dump = json.dumps(events, ensure_ascii=False).lower()
        for text in [*(s for s in secrets_ if s != statement), *MEMBERSHIP_PHRASES]:
            assert text.lower() not in dump, f"{text!r} is in the timeline of {room_id}"
        for event in events:
            if statement in json.dumps(event, ensure_ascii=False):
                # The statement is the caucus's public definition (room_policy.assembly_state_content),
                # shown before anyone confirms it: there and nowhere else.
                assert event["type"] == et.HARMONY_ASSEMBLY and "state_key" in event, event
            for user_id in concerned:
                for text in strings_in(event.get("content", {})):
                    assert not near_member(user_id).search(text), f"{room_id} says about {user_id}: {event}"
                if room_id not in dms and event["type"] != et.ROOM_MEMBER:
                    assert user_id not in json.dumps(event), f"{user_id} is named in {room_id}: {event}"
        if room_id in dms:
            kinds = {e["type"] for e in events if "state_key" not in e}
            assert kinds <= {"m.room.encrypted", "m.room.redaction"}, (room_id, kinds)
            assert any(e["type"] == "m.room.encrypted" and e["sender"] == bot for e in events), room_id
