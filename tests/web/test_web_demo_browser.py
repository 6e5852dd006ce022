"""``harmony-matrix demo`` turns the web view on and prints its address; in a real browser the sample
federation's tree loads there, every assembly of the sample file is in it, a reader reaches an
assembly's page from it, and axe-core finds no serious or critical problem. (Needs Synapse: the demo
starts its own.)"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import sys
from pathlib import Path
from typing import Any

import pytest

from harmony_matrix.assemblies.federation_file import load_federation
from web_support import AXE, axe_violations, missing

pytestmark = [pytest.mark.asyncio(loop_scope="session"), pytest.mark.integration, pytest.mark.backend_independent]
REPO = Path(__file__).resolve().parents[2]
SAMPLE = REPO / "examples" / "harmony-federation.yaml"


async def test_the_demo_serves_the_sample_federation_to_a_browser(tmp_path: Path, browser: Any) -> None:
    if not AXE.exists():
        missing(f"no axe-core at {AXE}")
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "harmony_app", "demo", "--data-dir", str(tmp_path / "demo"), "--port", "0",
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT, cwd=REPO,
        env={**os.environ, "PYTHONUNBUFFERED": "1"})
    assert process.stdout is not None
    output: list[str] = []
    try:
        while True:
            line = (await asyncio.wait_for(process.stdout.readline(), timeout=300)).decode(errors="replace")
            if not line:
                raise AssertionError("the demo exited before it was ready:\n" + "".join(output))
            output.append(line)
            if line.startswith("DEMO-READY "):
                ready = json.loads(line[len("DEMO-READY "):])
                break
        web = ready["web"]
        assert any(line.strip().startswith("Web view:") and web in line for line in output)
        sample = load_federation(SAMPLE.read_text(encoding="utf-8"), source=str(SAMPLE))
        context = await browser.new_context(bypass_csp=True)
        page = await context.new_page()
        try:
            await page.goto(web + "/")
            tree = page.get_by_role("list", name="Assemblies, nested")
            for assembly in sample:
                assert await tree.get_by_role("link", name=assembly.name, exact=True).count() >= 1, assembly.name
            assert await axe_violations(page) == []
            await tree.get_by_role("link", name="Harmony Party UK", exact=True).first.click()
            await page.wait_for_url("**/assemblies/party")
            assert await page.get_by_role("heading", level=1).inner_text() == "Harmony Party UK"
            links = await page.locator("dd a[href^='https://matrix.to/']").count()
            assert links >= 4  # the space and its public rooms
            assert await axe_violations(page) == []
        finally:
            await context.close()
    finally:
        process.send_signal(signal.SIGINT)
        try:
            await asyncio.wait_for(process.communicate(), timeout=60)
        except asyncio.TimeoutError:
            process.kill()
            await process.wait()
