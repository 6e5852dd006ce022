"""Helpers of the web view's tests: a seeded web view on loopback (the fixtures in ``conftest.py`` use
them; tests import them from here, since ``conftest`` names a different module in each test folder).
The browser and axe-core helpers live in ``tests/browser_support.py``, shared with the demo's test, and
are re-exported here."""

from __future__ import annotations

import socket
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from browser_support import AXE, CHROMIUM, CHROMIUM_ARGS, axe_violations, missing
from handlers.web.server import WebFeature
from harmony_matrix.config import Config, parse_config
from storage.database import Database
from web_seed import Seeded

__all__ = ["AXE", "CHROMIUM", "CHROMIUM_ARGS", "DRAW_RECORD", "HIDDEN_DRAW", "FakeDraws", "WebSite", "axe_violations",
           "free_port", "missing", "web_config"]

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
