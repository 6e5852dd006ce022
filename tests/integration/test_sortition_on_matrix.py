"""Draws by lot against a real Synapse: witnesses commit and reveal by DM and in the room, one never
reveals (recorded, left out); the pool is frozen and each member told their entry privately; the
result is posted with the record as a JSON file that ``verify_draw.py`` re-derives under a bare
``python3``; delegates take their seats in the umbrella's rooms with moderator power and a term, a
stand-down seats the alternate, the term ends with reminders; a council whose access is ``drawn``
admits only its drawees; infeasible quotas are refused naming the rows, with nothing announced."""

from __future__ import annotations

import json
import re
import subprocess
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from botrunner import start_app, write_bot_config
from consensus_fixtures import MovableClock, history, marker
from harmony_app.app import App
from harmony_app.local_synapse import LocalSynapse
from harmony_matrix.assemblies.assembly import Assembly
from harmony_matrix.assemblies.federation import Federation
from harmony_matrix.sortition.lot import witness_commitment
from matrix_client import TestMatrixUser, of_type

pytestmark = pytest.mark.asyncio(loop_scope="session")

REPO = Path(__file__).resolve().parents[2]
BARE_PYTHON3 = "/usr/bin/python3" if Path("/usr/bin/python3").exists() else "python3"
DRAW = "org.harmony.draw"
SECRETS = {"w1": "a1" * 16, "w2": "b2" * 16, "w3": "c3" * 16}


@dataclass
class World:
    app: App
    clock: MovableClock
    bot: str
    secretary: TestMatrixUser
    rooms: dict[str, dict[str, str]]
    dms: dict[str, str]

    @property
    def sortition(self) -> Any:
        return self.app.features["sortition"]


async def open_dm(user: TestMatrixUser, bot_id: str) -> str:
    """A direct chat with the bot, opened by the person (as Element does); returns once the bot joined."""
    async with user.listening() as listener:
        room_id = await user.create_room(preset="private_chat", invite=[bot_id], is_direct=True)
        await listener.wait_for(room_id, lambda e: e.get("type") == "m.room.member" and e.get("state_key") == bot_id
                                and e["content"].get("membership") == "join", description="the bot joining the DM")
    return room_id


async def make_world(synapse: LocalSynapse, make_user: Any, tmp_path: Path, assemblies: list[Assembly],
                     people: list[TestMatrixUser]) -> World:
    admin = await make_user("s-admin")
    bot_user = await synapse.register_user(f"sbot-{tmp_path.name[-12:].lower()}".replace("_", "-"))
    clock = MovableClock()
    app = await start_app(write_bot_config(tmp_path, synapse=synapse, bot=bot_user, admins=[admin.user_id],
                                           sortition={"term_notice": "14d"}), clock=clock)
    await app.features["assemblies"].apply_federation(Federation(tuple(assemblies)))
    rooms = {a.slug: dict(await app.features["assemblies"].rooms_of(a.slug)) for a in assemblies}
    dms = {person.user_id: await open_dm(person, bot_user.user_id) for person in people}
    secretary = next(p for p in people if any(a.secretary == p.user_id for a in assemblies))
    return World(app=app, clock=clock, bot=bot_user.user_id, secretary=secretary, rooms=rooms, dms=dms)


def bot_said(world: World, kind: str, **fields: Any):  # type: ignore[no-untyped-def]
    return marker(DRAW, kind=kind, **fields)


async def dm_from_bot(user: TestMatrixUser, room: str, needle: str) -> str:
    """The body of the bot's message in ``room`` containing ``needle`` (already sent)."""
    for event in await history(user, room):
        body = (event.get("content") or {}).get("body", "")
        if needle in body:
            return str(body)
    raise AssertionError(f"no message with {needle!r} in {room}")


async def power_of(world: World, slug: str, kind: str) -> dict[str, int]:
    state = await world.app.gateway.get_state_event(world.rooms[slug][kind], "m.room.power_levels")
    return dict((state or {}).get("users", {}))


async def download(user: TestMatrixUser, mxc: str) -> dict[str, Any]:
    server, media_id = mxc[len("mxc://"):].split("/", 1)
    return await user.request("GET", f"/_matrix/client/v1/media/download/{server}/{media_id}")


def verify_with_bare_python(tmp_path: Path, record: dict[str, Any], *member: str) -> subprocess.CompletedProcess[str]:
    path = tmp_path / f"{record['ref']}.json"
    path.write_text(json.dumps(record, ensure_ascii=False), encoding="utf-8")
    # -I -S: no venv, no site-packages, not even the repository on the path: what any member has.
    return subprocess.run([BARE_PYTHON3, "-I", "-S", str(REPO / "verify_draw.py"), str(path), *member],
                          capture_output=True, text=True, timeout=60, cwd=tmp_path)


async def test_delegates_drawn_per_branch_with_witnesses_verified_by_bare_python(
        synapse: LocalSynapse, make_user, tmp_path: Path) -> None:
    sec, w1, w2, w3 = [await make_user(n) for n in ("sec", "w1", "w2", "w3")]
    n1, n2, s1, s2, outsider = [await make_user(n) for n in ("n1", "n2", "s1", "s2", "outsider")]
    members = [n1, n2, s1, s2]
    world = await make_world(synapse, make_user, tmp_path, [
        Assembly("region", "Region", "region", "open", secretary=sec.user_id),
        Assembly("north", "North", "city", "open", parents=("region",)),
        Assembly("south", "South", "city", "open", parents=("region",)),
    ], [sec, w1, w2, w3, *members, outsider])
    app, bot = world.app, world.bot
    try:
        for person in members:
            await app.db.members.add(person.user_id, by="@admin:test", at=world.clock())
        for person, branch in ((n1, "north"), (n2, "north"), (outsider, "north"), (s1, "south"), (s2, "south")):
            await person.join(world.rooms[branch]["space"])
        region = world.rooms["region"]
        for kind in ("discussion", "announcements", "votes"):
            await sec.join(region[kind])
        await w2.join(region["discussion"])

        # Announce: one delegate per branch, three witnesses, moderator power for 30 days.
        async with sec.listening() as listener:
            reply = await sec.send_and_wait_reply(
                region["discussion"], f"!h draw announce Delegates to the region pool=branches each=1 "
                f"witnesses={w1.user_id},{w2.user_id},{w3.user_id} term=30d power=moderator", from_user=bot)
            setup = await listener.wait_for(region["announcements"], bot_said(world, "setup", ref="S-region-1"),
                                            description="the call for witnesses")
        assert "Draw S-region-1 is announced" in reply["content"]["body"], reply["content"]["body"]
        assert "4 members in the pool today" in reply["content"]["body"]  # the outsider is no member
        assert f"!h draw commit S-region-1" in setup["content"]["body"]
        assert "sha256sum" in await dm_from_bot(w1, world.dms[w1.user_id], "You are a witness of draw S-region-1")

        # Commitments: by DM (w1, w3) and in the room (w2, last: the pool is frozen then).
        for witness, room in ((w1, world.dms[w1.user_id]), (w3, world.dms[w3.user_id])):
            answer = await witness.send_and_wait_reply(
                room, f"!h draw commit S-region-1 {witness_commitment(SECRETS[witness.user_id[1:3]])}", from_user=bot)
            assert "Commitment recorded for S-region-1" in answer["content"]["body"], answer["content"]["body"]
        too_early = await w1.send_and_wait_reply(world.dms[w1.user_id], f"!h draw reveal S-region-1 {'ff' * 16}",
                                                 from_user=bot)
        assert "Too early" in too_early["content"]["body"], too_early["content"]["body"]
        async with sec.listening() as listener, n1.listening() as n1_listener:
            answer = await w2.send_and_wait_reply(
                region["discussion"], f"!h draw commit S-region-1 {witness_commitment(SECRETS['w2'])}", from_user=bot)
            frozen = await listener.wait_for(region["announcements"], bot_said(world, "frozen", ref="S-region-1"),
                                             description="the frozen pool's announcement")
            entry_event = await n1_listener.wait_for(
                world.dms[n1.user_id], lambda e: "You are in the pool of draw S-region-1" in e["content"].get("body", ""),
                description="n1's private entry")
        assert "every witness has committed" in answer["content"]["body"], answer["content"]["body"]
        body = frozen["content"]["body"]
        assert "Pool: 4 members, by type:" in body and "branch=north: <5" in body, body
        for witness in (w1, w2, w3):
            assert f"{witness.user_id}: {witness_commitment(SECRETS[witness.user_id[1:3]])}" in body

        # Each member is told privately their pseudonym, salt, type and chance (1 of 2 in their branch).
        entry = entry_event["content"]["body"]
        salt = re.search(r"Your salt: ([0-9a-f]{32})", entry).group(1)  # type: ignore[union-attr]
        assert "Your recorded type: branch=north" in entry and "1/2 (50.0%)" in entry, entry
        assert salt not in json.dumps([e for e in await history(sec, region["announcements"])])

        # Reveals: w1 and w2; w3 never reveals. The deadline passes (moved clock), and the lot is drawn.
        for witness in (w1, w2):
            answer = await witness.send_and_wait_reply(
                world.dms[witness.user_id], f"!h draw reveal S-region-1 {SECRETS[witness.user_id[1:3]]}", from_user=bot)
            assert "Reveal recorded for S-region-1" in answer["content"]["body"], answer["content"]["body"]
        assert "still to reveal: " + w3.user_id in answer["content"]["body"]
        async with sec.listening() as listener:
            world.clock.advance(timedelta(hours=49))
            await world.sortition.tick()
            record_event = await listener.wait_for(region["announcements"], bot_said(world, "record"),
                                                   description="the record file")
            result = await listener.wait_for(region["announcements"], bot_said(world, "result", ref="S-region-1"),
                                             description="the result")
        record = await download(sec, record_event["content"]["url"])
        assert record_event["content"]["body"] == "S-region-1.json"
        assert [(w["user"], w["reveal"] is None) for w in record["witnesses"]] == sorted(
            [(w1.user_id, False), (w2.user_id, False), (w3.user_id, True)])
        drawn = result["content"][DRAW]["selected"]
        assert len(drawn) == 2 and len({u[1] for u in drawn}) == 2  # one from each branch (n… and s…)
        assert f"Seed: {record['seed']}" in result["content"]["body"]
        assert f"Did not reveal in time (recorded, left out of the seed): {w3.user_id}" in result["content"]["body"]

        # Anyone re-derives it with a bare python3 (no venv, no package).
        checked = verify_with_bare_python(tmp_path, record, "--member", n1.user_id, salt)
        assert checked.returncode == 0, checked.stdout + checked.stderr
        assert f"ok        seed {result['content'][DRAW]['seed']}" in checked.stdout
        assert f"ok        ticket {result['content'][DRAW]['ticket']} of 1:" in checked.stdout
        assert "selected (2) are the first members in lot order" in checked.stdout
        assert f"note      witness {w3.user_id} did not reveal; left out of the seed" in checked.stdout
        assert f"member {n1.user_id}: pseudonym" in checked.stdout and "type branch=north" in checked.stdout

        # The delegates take their seats: invited to the umbrella's rooms, moderators there, with a term.
        by_id = {p.user_id: p for p in members}
        north = next(u for u in drawn if u.startswith("@n"))
        alternate = next(p.user_id for p in (n1, n2) if p.user_id != north)
        for delegate in drawn:
            await by_id[delegate].wait_for_invite(room_id=region["discussion"])
            await by_id[delegate].join(region["discussion"])
            assert (await power_of(world, "region", "discussion")).get(delegate) == 50
        assert (await power_of(world, "region", "votes")).get(alternate, 0) == 0
        assert sorted(s.user for s in await app.db.sortition.seats.seats(assembly="region")) == sorted(drawn)
        listed = (await sec.send_and_wait_reply(region["discussion"], "!h seats", from_user=bot))["content"]["body"]
        assert all(f"{d} (draw S-region-1) until " in listed for d in drawn), listed

        # A stand-down seats the first alternate of the same type (the other north member).
        async with sec.listening() as listener:
            answer = await by_id[north].send_and_wait_reply(world.dms[north], "!h seat stand-down", from_user=bot)
            notice = await listener.wait_for(region["announcements"], bot_said(world, "stand-down"),
                                             description="the stand-down notice")
        assert f"{alternate} takes it" in answer["content"]["body"], answer["content"]["body"]
        assert f"{alternate}, the next alternate of the same type in lot order" in notice["content"]["body"]
        await by_id[alternate].wait_for_invite(room_id=region["discussion"])
        levels = await power_of(world, "region", "discussion")
        assert levels.get(alternate) == 50 and levels.get(north, 0) == 0, levels

        # The term ends with reminders in the secretariat (the secretary is invited there as an officer).
        await sec.join(await sec.wait_for_invite(room_id=region["secretariat"]))
        async with sec.listening() as listener:
            world.clock.advance(timedelta(days=17))
            await world.sortition.tick()
            ending = await listener.wait_for(region["secretariat"], bot_said(world, "term-ending"),
                                             description="the term reminder")
            world.clock.advance(timedelta(days=14))
            await world.sortition.tick()
            ended = await listener.wait_for(region["secretariat"], bot_said(world, "term-ended"),
                                            description="the term-ended notice")
        assert " ends on " in ending["content"]["body"] and "draw announce" in ending["content"]["body"]
        assert " ended on " in ended["content"]["body"]
        assert (await power_of(world, "region", "discussion")).get(alternate, 0) == 0
        assert await app.db.sortition.seats.seats(assembly="region") == []
    finally:
        await app.stop()


@pytest.mark.postgres_too
async def test_council_admits_only_its_drawees_and_infeasible_quotas_announce_nothing(
        synapse: LocalSynapse, make_user, tmp_path: Path) -> None:
    sec, w1, w2 = [await make_user(n) for n in ("sec", "w1", "w2")]
    ann, bea, cy, dan = [await make_user(n) for n in ("ann", "bea", "cy", "dan")]
    members = [ann, bea, cy, dan]
    world = await make_world(synapse, make_user, tmp_path, [
        Assembly("party", "Party", "party", "open", secretary=sec.user_id),
        Assembly("council", "People's Council", "assembly", "drawn", parents=("party",)),
    ], [sec, w1, w2, *members])
    app, bot, party = world.app, world.bot, world.rooms["party"]
    try:
        for person, gender in ((ann, "woman"), (bea, "woman"), (cy, "man"), (dan, None)):
            await app.db.members.add(person.user_id, by="@admin:test", at=world.clock())
            await person.join(party["space"])
            if gender:
                answer = await person.send_and_wait_reply(world.dms[person.user_id], f"!h feature set gender {gender}",
                                                          from_user=bot)
                assert f"your gender is {gender}" in answer["content"]["body"], answer["content"]["body"]
        refused = await ann.send_and_wait_reply(world.dms[ann.user_id], "!h feature set gender robot", from_user=bot)
        assert "choose one of: woman, man, nonbinary, undisclosed" in refused["content"]["body"]
        mine = await world.sortition.export_user_data(ann.user_id)
        assert mine["features"] == {"gender": "woman"}
        for kind in ("discussion", "announcements"):
            await sec.join(party[kind])

        # Infeasible quotas: refused naming the row; nothing stored, nothing announced.
        before = len(await history(sec, party["announcements"]))
        reply = await sec.send_and_wait_reply(
            party["discussion"], f"!h draw announce People's council seats=3 into=council quotas=gender:woman=3 "
            f"witnesses={w1.user_id},{w2.user_id}", from_user=bot)
        assert reply["content"]["body"] == ("The quotas cannot be met with the pool as it is now: "
                                            "gender=woman min 3 but only 2 in the pool."), reply["content"]["body"]
        assert await app.db.sortition.draws.of_assembly("party") == []
        assert len(await history(sec, party["announcements"])) == before

        # A feasible council draw: both witnesses commit and reveal, the last reveal draws the lot.
        reply = await sec.send_and_wait_reply(
            party["discussion"], f"!h draw announce People's council seats=2 into=council "
            f"quotas=gender:woman=1-2,gender:man=0-1 witnesses={w1.user_id},{w2.user_id}", from_user=bot)
        assert "Draw S-party-1 is announced" in reply["content"]["body"], reply["content"]["body"]
        for witness in (w1, w2):
            await witness.send_and_wait_reply(world.dms[witness.user_id], "!h draw commit S-party-1 "
                                              f"{witness_commitment(SECRETS[witness.user_id[1:3]])}", from_user=bot)
        async with sec.listening() as listener:
            for witness in (w1, w2):
                await witness.send_and_wait_reply(world.dms[witness.user_id],
                                                  f"!h draw reveal S-party-1 {SECRETS[witness.user_id[1:3]]}",
                                                  from_user=bot)
            result = await listener.wait_for(party["announcements"], bot_said(world, "result", ref="S-party-1"),
                                             description="the council's result")
        drawn = result["content"][DRAW]["selected"]
        assert len(drawn) == 2 and {ann.user_id, bea.user_id} & set(drawn), drawn
        not_drawn = next(p for p in members if p.user_id not in drawn)

        # Only the drawees get in.
        council = world.rooms["council"]
        by_id = {p.user_id: p for p in members}
        drawee = by_id[drawn[0]]
        await drawee.join(await drawee.wait_for_invite(room_id=council["space"]))
        await drawee.join(council["discussion"])
        reply = await not_drawn.send_and_wait_reply(world.dms[not_drawn.user_id], "!h join council", from_user=bot)
        assert reply["content"]["body"] == "People's Council is for the members drawn by lot to sit in it, during " \
                                           "their term.", reply["content"]["body"]
        # A cancelled draw stays on record with its reason.
        reply = await sec.send_and_wait_reply(party["discussion"], f"!h draw announce Second try seats=1 "
                                              f"witnesses={w1.user_id},{w2.user_id}", from_user=bot)
        assert "Draw S-party-2 is announced" in reply["content"]["body"], reply["content"]["body"]
        async with sec.listening() as listener:
            reply = await sec.send_and_wait_reply(party["discussion"], "!h draw cancel 2 the pool was wrong",
                                                  from_user=bot)
            cancelled = await listener.wait_for(party["announcements"], bot_said(world, "cancelled", ref="S-party-2"),
                                                description="the cancellation")
        assert reply["content"]["body"] == "S-party-2 is cancelled; it stays on record with your reason."
        assert f"cancelled by {sec.user_id}: the pool was wrong" in cancelled["content"]["body"]
        reply = await sec.send_and_wait_reply(party["discussion"], "!h draws", from_user=bot)
        assert "S-party-1 (drawn): People's council" in reply["content"]["body"]
        assert "S-party-2 (cancelled): Second try" in reply["content"]["body"]
        assert drawee.user_id in await app.gateway.joined_members(council["discussion"])
        # Features were never posted: the public posts show counts only (small cells hidden).
        public = json.dumps(await history(sec, party["announcements"]))
        assert "gender=woman: <5" in public
    finally:
        await app.stop()
