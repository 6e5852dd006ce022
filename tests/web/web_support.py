"""Helpers of the web view's tests: a seeded web view on loopback, Debian's chromium under playwright,
axe-core in its pages (the fixtures in ``conftest.py`` use them; tests import them from here, since
``conftest`` names a different module in each test folder)."""

from __future__ import annotations

import os
import socket
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from handlers.web.server import WebFeature
from harmony_matrix.config import Config, parse_config
from storage.database import Database
from web_seed import Seeded

DRAW_RECORD = {
    "ref": "S-operational-working-group-1", "purpose": "Delegates to the regional assembly",
    "assembly": "operational-working-group", "seats": 2, "algorithm": "leximin", "status": "drawn",
    "pool_commitment": "a" * 64, "tickets": [{"t": 2}] * 1000, "tickets_hash": "b" * 64, "seed": "c" * 64,
    "ticket": 417, "selected": [{"type": "t", "pseudonym": "d" * 64}] * 2, "alternates": [], "cancel_reason": None,
}
HIDDEN_DRAW = {**DRAW_RECORD, "ref": "S-trans-liberation-assembly-1", "assembly": "trans-liberation-assembly",
               "purpose": "TRANS-DRAW-PRIVATE"}


class FakeDraws:
    """Two published records: one of a public assembly, one of a self-identified one."""

    async def records(self, assembly: str | None) -> Sequence[Mapping[str, Any]]:
        return [r for r in (DRAW_RECORD, HIDDEN_DRAW) if assembly is None or r["assembly"] == assembly]


CHROMIUM = Path(os.environ.get("HARMONY_CHROMIUM", "/usr/bin/chromium"))
AXE = Path(os.environ.get("HARMONY_AXE_JS", Path.home() / ".cache/harmony-matrix/web-test/node_modules/axe-core/axe.min.js"))
CHROMIUM_ARGS = ["--no-sandbox", "--headless", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync"]


def missing(what: str) -> None:
    """Skip on a developer's machine without the browser or axe-core; fail under CI (never skipped there)."""
    message = f"{what}; .ci/run installs it (see tests/web/test_web_browser.py)"
    if os.environ.get("CI"):
        pytest.fail(message)  # never skipped in CI
    pytest.skip(message)


async def axe_violations(page: Any) -> list[tuple[str, str, list[str]]]:
    """The serious and critical WCAG 2.1 A/AA (and best-practice) violations axe-core finds in ``page``
    (its context must bypass the pages' Content-Security-Policy, which forbids scripts)."""
    await page.add_script_tag(content=AXE.read_text(encoding="utf-8"))
    violations = await page.evaluate("""async () => (await axe.run(document, {
        runOnly: {type: 'tag', values: ['wcag2a', 'wcag2aa', 'wcag21a', 'wcag21aa', 'best-practice']}
    })).violations.map(v => ({id: v.id, impact: v.impact, nodes: v.nodes.map(n => n.target.join(' '))}))""")
    return [(v["id"], v["impact"], v["nodes"][:3]) for v in violations if v["impact"] in ("serious", "critical")]


def free_port() -> int:
    """A port nobody listens on now (the web server binds it right after)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def web_config(port: int, **web: Any) -> Config:
    """A config with the web view on (``web`` overrides its keys)."""
    return parse_config({"homeserver": {"url": "https://matrix.party.example"},
                         "bot": {"user_id": "@harmony-web:party.example", "access_token": "syt_test"},
                         "timezone": "Europe/London",
                         "web": {"enabled": True, "port": port, **web}}, source="test")


@dataclass
class WebSite:
    """The web view of a seeded database, listening at ``url``."""

    url: str
    db: Database
    seeded: Seeded
    feature: WebFeature
