"""Debian's chromium under playwright and axe-core in its pages, for every test that opens a browser
(the web view's tests and the demo's). The ``browser`` fixture in ``tests/conftest.py`` is one
``launched_browser()`` for the session; a test can also open one itself when it gets that far."""

from __future__ import annotations

import os
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import pytest

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


@asynccontextmanager
async def launched_browser() -> AsyncIterator[Any]:
    """Debian's chromium under playwright (playwright never downloads a browser here), or skipped
    (failed under CI) without it."""
    if not CHROMIUM.exists():
        missing(f"no chromium at {CHROMIUM}")
    try:
        from playwright.async_api import async_playwright
    except ImportError:
        missing("the playwright package is not installed")
    async with async_playwright() as playwright:
        launched = await playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            yield launched
        finally:
            await launched.close()
