"""``export-decisions --verify`` reports stored decisions recorded without the authority (issue 9.4), next to
the hash chain's tampering, from the bot's real database."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from pathlib import Path

import pytest
import yaml
from click.testing import CliRunner

from harmony_app.cli import main
from harmony_matrix.assemblies.assembly import Assembly
from harmony_matrix.consensus.decisions import Decision, Level, Method, make_decision_ref
from harmony_matrix.ids import UserId
from storage.database import open_database

T0 = datetime(2026, 1, 1, 12, tzinfo=UTC)


async def _record(url: str, decisions: list[tuple[str, Level, str | None, tuple[str, ...]]]) -> None:
    db = await open_database(url)
    try:
        await db.assemblies.save(Assembly(slug="party", name="Harmony Party", kind="party", secretary="@ps:x"))
        await db.assemblies.save(Assembly(slug="media", name="Media Working Group", kind="working-group",
                                          parents=("party",), secretary="@ms:x"))
        for assembly, level, by, cites in decisions:
            await db.consensus.decisions.append(
                lambda n, a=assembly, lv=level, b=by, c=cites: Decision(
                    ref=make_decision_ref(a, n), assembly=a, level=lv, method=Method.CONSENSUS, outcome="adopted",
                    statement="s", topics=("budget",), decided_at=T0, recorded_by=None if b is None else UserId(b),
                    cites=c),
                assembly=assembly)
    finally:
        await db.close()


def _verify(tmp_path: Path) -> tuple[int, str]:
    config = tmp_path / "config.yaml"
    config.write_text(yaml.safe_dump({
        "homeserver": {"url": "https://matrix.party.example"},
        "bot": {"user_id": "@harmony:party.example", "access_token": "syt_real_token"},
        "database": {"url": f"sqlite://{tmp_path / 'harmony.db'}"}}))
    result = CliRunner().invoke(main, ["export-decisions", "-c", str(config), "-o", str(tmp_path / "d.json"), "--verify"])
    return result.exit_code, result.output


def test_an_all_thing_decision_recorded_by_a_working_group_is_reported(tmp_path: Path) -> None:
    asyncio.run(_record(f"sqlite://{tmp_path / 'harmony.db'}", [
        ("party", Level.ALL_THING, "@ps:x", ("M-party-1",)),  # by the rules
        ("media", Level.ALL_THING, "@ms:x", ("M-media-1",)),  # as any secretary could before the rule
        ("party", Level.ALL_THING, None, ("M-party-2",)),  # recorded before recorders were kept
    ]))
    code, out = _verify(tmp_path)
    assert code == 1, out
    assert ("AUTHORITY: entry 2 (D-media-1): an All Thing decision recorded by media, not by the All Thing body "
            "party") in out
    assert "UNCHECKED: entry 3 (D-party-2): an All Thing decision whose recorder is not on record" in out
    assert "TAMPERED" not in out and "entry 1 " not in out


def test_a_record_kept_by_the_rules_verifies(tmp_path: Path) -> None:
    asyncio.run(_record(f"sqlite://{tmp_path / 'harmony.db'}", [("media", Level.MOOT, "@ms:x", ()),
                                                                ("party", Level.ALL_THING, "@ps:x", ("M-party-1",))]))
    code, out = _verify(tmp_path)
    assert code == 0 and "verified: 2 entries, chain intact, recorded with authority" in out, out
