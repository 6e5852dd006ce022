"""The web view in a real browser (Debian's chromium driven by playwright): the demo-like federation's
pages load without JavaScript, a reader gets from the tree to an assembly to a decision and sees what
the database holds, pages fit a phone, and axe-core finds no serious or critical accessibility problem.

Needs ``/usr/bin/chromium`` (``apt-get install chromium``) and axe-core (``npm install axe-core`` into
``~/.cache/harmony-matrix/web-test``, or ``HARMONY_AXE_JS`` naming ``axe.min.js``); ``.ci/run``
installs both. Without them the tests are skipped on a developer's machine, and fail under CI.
"""

from __future__ import annotations

from typing import Any

import pytest

from web_support import AXE, WebSite, axe_violations, missing

pytestmark = pytest.mark.asyncio(loop_scope="session")

async def test_a_reader_goes_from_the_tree_to_an_assembly_to_a_decision_without_javascript(
        web_site: WebSite, browser: Any) -> None:
    context = await browser.new_context(java_script_enabled=False)
    page = await context.new_page()
    try:
        await page.goto(web_site.url + "/")
        assert await page.title() == "Assemblies · Harmony"
        tree = page.get_by_role("list", name="Assemblies, nested")
        for assembly in web_site.seeded.federation:
            assert await tree.get_by_role("link", name=assembly.name, exact=True).count() >= 1, assembly.name
        await tree.get_by_role("link", name="Operational Working Group", exact=True).first.click()
        await page.wait_for_url("**/assemblies/operational-working-group")
        assert await page.get_by_role("heading", level=1).inner_text() == "Operational Working Group"
        in_force = page.locator("#in-force + ul")
        assert "Meet on Wednesdays at 19:00 instead" in await in_force.inner_text()
        chain = await web_site.db.consensus.decisions.chain()
        stored = next(e for e in chain if e.decision.statement == "Meet on Wednesdays at 19:00 instead")
        await in_force.get_by_role("link", name=stored.decision.ref, exact=True).click()
        await page.wait_for_url(f"**/decisions/{stored.decision.ref}")
        assert await page.get_by_role("heading", level=1).inner_text() == f"Decision {stored.decision.ref}"
        assert await page.locator("blockquote.statement").inner_text() == stored.decision.statement
        text = await page.locator("main").inner_text()
        assert stored.hash in text and stored.prev_hash in text and "verifies" in text
        await page.get_by_role("link", name=stored.decision.supersedes or "", exact=True).click()
        assert "Meet on Tuesdays at 19:00" in await page.locator("blockquote.statement").inner_text()
    finally:
        await context.close()


def _pages(site: WebSite) -> list[str]:
    decision = site.seeded.decisions["Meet on Wednesdays at 19:00 instead"].ref
    return ["/", "/assemblies/operational-working-group", "/assemblies/disability-activism-society",
            "/assemblies/party", "/decisions", f"/decisions/{decision}",
            f"/polls/{site.seeded.polls['Which newsletter name?']}", f"/polls/{site.seeded.polls['Where should we meet?']}",
            "/no-such-page"]


@pytest.mark.parametrize("scheme", ["light", "dark"])
async def test_axe_finds_no_serious_or_critical_violations(web_site: WebSite, browser: Any, scheme: str) -> None:
    if not AXE.exists():
        missing(f"no axe-core at {AXE}")
    # The pages' Content-Security-Policy forbids scripts; axe is injected by the test alone.
    context = await browser.new_context(bypass_csp=True, color_scheme=scheme)
    page = await context.new_page()
    problems = []
    try:
        for path in _pages(web_site):
            await page.goto(web_site.url + path)
            problems += [(path, *v) for v in await axe_violations(page)]
    finally:
        await context.close()
    assert not problems


async def test_pages_fit_a_phone_and_the_skip_link_works_by_keyboard(web_site: WebSite, browser: Any) -> None:
    context = await browser.new_context(viewport={"width": 360, "height": 740}, is_mobile=True)
    page = await context.new_page()
    try:
        for path in _pages(web_site):
            await page.goto(web_site.url + path)
            scroll, viewport = await page.evaluate(
                "() => [document.documentElement.scrollWidth, document.documentElement.clientWidth]")
            assert scroll <= viewport, f"{path} is {scroll}px wide on a {viewport}px screen"
        await page.goto(web_site.url + "/assemblies/operational-working-group")
        await page.keyboard.press("Tab")
        skip = page.get_by_role("link", name="Skip to main content")
        assert await skip.evaluate("e => e === document.activeElement")
        box = await skip.bounding_box()
        assert box is not None and box["y"] >= 0  # visible once focused
        await page.keyboard.press("Enter")
        await page.wait_for_url("**#main")
        assert await page.evaluate("() => document.activeElement.id") == "main"
    finally:
        await context.close()
