"""The public web view over HTTP: pages show what the database holds, the JSON API returns what the
pages show, nothing private appears anywhere, and conditional requests work."""

from __future__ import annotations

import html
import logging
import re
import sqlite3
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import aiohttp
import pytest
from multidict import CIMultiDict

from handlers.web.server import web_feature
from harmony_matrix.consensus.decisions import Decision, Level, Method, make_decision_ref
from storage.public.queries import PublicQueries
from web_seed import NAMES, PRIVATE, SECRETARY, SERVER, FakeNames
from web_support import WebSite, web_config

pytestmark = pytest.mark.asyncio(loop_scope="session")


async def fetch(site: WebSite, path: str, **headers: str) -> tuple[int, str, CIMultiDict[str]]:
    async with aiohttp.ClientSession() as http, http.get(site.url + path, headers=headers) as response:
        return response.status, await response.text(), response.headers.copy()


async def fetch_json(site: WebSite, path: str) -> Any:
    async with aiohttp.ClientSession() as http, http.get(site.url + path) as response:
        assert response.status == 200, path
        assert response.headers["Content-Type"].startswith("application/json")
        return await response.json()


def leaves(value: Any, key: str = "") -> Iterator[tuple[str, Any]]:
    """Every (key, value) leaf of a JSON document."""
    if isinstance(value, dict):
        for k, v in value.items():
            yield from leaves(v, k)
    elif isinstance(value, list):
        for v in value:
            yield from leaves(v, key)
    else:
        yield key, value


#: Fields the API gives that a page shows differently or not at all, and why.
API_ONLY = {
    "api_version",                    # the API's own version
    "public", "public_record", "adopted", "won", "secret", "no_votes", "repeated", "entry_matches",
    "record_verifies",                # booleans: pages say them in words
    "bar_percent",                    # drawn as a bar
    "matrix_id",                      # the officer is shown by name, linked to matrix.to
    "assembly",                       # the slug: pages name the assembly (and link to its slug's page)
    "slug", "letter", "timezone", "room", "seats", "ticket", "tickets", "selected", "duration_minutes",
    "turnout", "total", "five_star", "number", "seq", "record_length", "problems", "stage", "round",
    "blank_or_equal", "prefer_a", "prefer_b", "no_preference", "distribution",  # numbers: checked apart
    "decided_by", "eligibility", "status", "kind", "access", "level", "method", "relation", "outcome",
    "purpose", "algorithm",           # enum words, shown (checked apart where it matters)
}


async def assert_page_matches_api(site: WebSite, page: str, api: str) -> None:
    status, body, _ = await fetch(site, page)
    assert status == 200, page
    document = await fetch_json(site, api)
    markup = html.unescape(body)  # links are in attributes
    text = " ".join(html.unescape(re.sub(r"<[^>]+>", "", body)).split())  # what a reader sees
    # Backticks mark what pages set as <code>.
    missing = [(key, value) for key, value in leaves(document)
               if isinstance(value, str) and value and key not in API_ONLY and value not in markup
               and " ".join(value.replace("`", "").split()) not in text and not key.endswith("_at_local")]
    assert not missing, f"{page} does not show {missing[:5]}"


async def test_the_federation_page_shows_every_assembly_with_officers_by_name(web_site: WebSite) -> None:
    status, body, headers = await fetch(web_site, "/")
    assert status == 200 and headers["Content-Type"] == "text/html; charset=utf-8"
    for assembly in web_site.seeded.federation:
        assert html.escape(assembly.name) in body
        if assembly.reference:
            assert assembly.reference in body
    assert NAMES[SECRETARY] in body and "Dee Rhys" in body
    assert "<code>!h join party</code>" in body
    document = await fetch_json(web_site, "/api/v1/federation")
    roots = [branch["slug"] for branch in document["tree"]]
    assert roots == ["party"]
    wales = next(b for b in document["tree"][0]["children"] if b["slug"] == "wales")
    assert [b["slug"] for b in wales["children"]] == ["cardiff"]
    assert [b["slug"] for b in wales["children"][0]["children"]] == ["cardiff-west"]
    await assert_page_matches_api(web_site, "/", "/api/v1/federation")


async def test_an_assembly_page_shows_its_moots_polls_decisions_and_draws(web_site: WebSite) -> None:
    path = "/assemblies/operational-working-group"
    document = await fetch_json(web_site, "/api/v1" + path)
    assert [m["topic"] for m in document["upcoming_moots"]] == ["Budget review"]
    assert {m["topic"]: m["status"] for m in document["past_moots"]} == {
        "Cancelled planning session": "cancelled", "Last month's retrospective": "finished"}
    assert [p["question"] for p in document["open_polls"]] == ["Where should we meet?"]
    closed = {p["question"]: p for p in document["closed_polls"]}
    assert set(closed) == {"Which newsletter name?", "Who should hold the keys?"}
    newsletter = closed["Which newsletter name?"]["result"]
    assert newsletter["turnout"] == 3 and newsletter["winners"] == ["Harmony News"]
    # Totals by hand from the seeded ballots: 5+4+2, 3+5+1, 0+1+5.
    assert [(o["label"], o["total"]) for o in newsletter["options"]] == [
        ("Harmony News", 11), ("The Commons", 9), ("Consensus", 6)]
    assert closed["Who should hold the keys?"]["secret"] is True
    assert closed["Who should hold the keys?"]["result"]["turnout"] == 3
    seeded = web_site.seeded.decisions
    in_force = {d["ref"]: d for d in document["decisions_in_force"]}
    wednesday = seeded["Meet on Wednesdays at 19:00 instead"].ref
    assert wednesday in in_force and seeded["Meet on Tuesdays at 19:00"].ref not in in_force
    assert [link["ref"] for link in in_force[wednesday]["displaced"]] == [seeded["Meet on Tuesdays at 19:00"].ref]
    # The committee it is nested in trumps it on minutes; the All Thing's fee decision binds it too.
    assert seeded["Working groups publish minutes within a week"].ref in in_force
    assert seeded["Minutes may take two weeks"].ref not in in_force
    assert seeded["Membership fees are voluntary"].ref in in_force
    assert [d["ref"] for d in document["record"]] == [
        seeded[s].ref for s in ("Minutes may take two weeks", "Meet on Wednesdays at 19:00 instead",
                                "Meet on Tuesdays at 19:00")]
    assert [d["ref"] for d in document["draws"]] == ["S-operational-working-group-1"]
    status, body, _ = await fetch(web_site, path)
    assert status == 200
    assert "Budget review" in body and "Where should we meet?" in body and "3</strong> ballots" in body
    assert "matrix.to/#/" + "%21operational-working-group-discussion%3Aexample.org" in body
    await assert_page_matches_api(web_site, path, "/api/v1" + path)


async def test_a_decision_page_shows_evidence_links_chain_and_verification(web_site: WebSite) -> None:
    first = web_site.seeded.decisions["Meet on Tuesdays at 19:00"]
    chain = await web_site.db.consensus.decisions.chain()
    stored = next(e for e in chain if e.decision.ref == first.ref)
    document = await fetch_json(web_site, f"/api/v1/decisions/{first.ref}")
    assert document["statement"] == "Meet on Tuesdays at 19:00"
    assert document["chain"] == {"seq": stored.seq, "hash": stored.hash, "prev_hash": stored.prev_hash,
                                 "entry_matches": True, "record_verifies": True, "record_length": len(chain),
                                 "problems": 0}
    # The page links to its assembly's rooms in Matrix, as the assembly's page does.
    assert [room["name"] for room in document["rooms"]] == ["Space", "Discussion", "Announcements", "Votes"]
    assert document["rooms"][1]["link"] == ("https://matrix.to/#/%21operational-working-group-discussion%3A"
                                            "example.org?via=example.org")
    [evidence] = document["evidence"]
    assert evidence["link"] == ("https://matrix.to/#/%21operational-working-group-discussion%3Aexample.org/"
                                "%24consensus-cmd-1?via=example.org")
    later = web_site.seeded.decisions["Meet on Wednesdays at 19:00 instead"].ref
    assert [(link["ref"], link["relation"]) for link in document["overridden_by"]] == [(later, "superseded")]
    second = await fetch_json(web_site, f"/api/v1/decisions/{later}")
    assert second["supersedes"] == {"ref": first.ref, "url": f"/decisions/{first.ref}"}
    # Evidence from the secretariat is named, never linked.
    committee = web_site.seeded.decisions["Working groups publish minutes within a week"].ref
    private_evidence = (await fetch_json(web_site, f"/api/v1/decisions/{committee}"))["evidence"]
    assert private_evidence == [{"event_id": "$consensus-cmd-2", "room": None, "link": None}]
    status, body, _ = await fetch(web_site, f"/decisions/{first.ref}")
    assert status == 200 and stored.hash in body and "verifies" in body
    await assert_page_matches_api(web_site, f"/decisions/{first.ref}", f"/api/v1/decisions/{first.ref}")


async def test_a_poll_page_matches_its_api(web_site: WebSite) -> None:
    number = web_site.seeded.polls["Who should hold the keys?"]
    document = await fetch_json(web_site, f"/api/v1/polls/{number}")
    assert document["secret"] is True and document["result"]["winners"] == ["Ash"]
    assert [o["distribution"] for o in document["result"]["options"]] == [[0, 1, 0, 0, 0, 2], [1, 0, 1, 0, 1, 0]]
    await assert_page_matches_api(web_site, f"/polls/{number}", f"/api/v1/polls/{number}")
    open_poll = web_site.seeded.polls["Where should we meet?"]
    assert (await fetch_json(web_site, f"/api/v1/polls/{open_poll}"))["result"] is None


async def test_limited_assemblies_show_only_their_public_state(web_site: WebSite) -> None:
    for slug in ("safeguarding", "trans-liberation-assembly", "disability-activism-society"):
        document = await fetch_json(web_site, f"/api/v1/assemblies/{slug}")
        card = document["assembly"]
        assert card["public_record"] is False and card["secretary"] is None and card["deputies"] == []
        assert all(document[key] == [] for key in ("upcoming_moots", "past_moots", "open_polls", "closed_polls",
                                                   "decisions_in_force", "record", "draws"))
    invite = (await fetch_json(web_site, "/api/v1/assemblies/safeguarding"))["assembly"]
    assert invite["rooms"] == []
    das = (await fetch_json(web_site, "/api/v1/assemblies/disability-activism-society"))["assembly"]
    assert [room["kind"] for room in das["rooms"]] == ["space"] and das["declaration"]
    hidden = web_site.seeded.decisions["SAFEGUARDING-DECISION-PRIVATE"].ref
    for path in (f"/decisions/{hidden}", f"/api/v1/decisions/{hidden}",
                 f"/polls/{web_site.seeded.polls['SECRETARIAT-ONLY-QUESTION']}",
                 f"/polls/{web_site.seeded.polls['TRANS-POLL-PRIVATE']}", "/api/v1/draws/S-trans-liberation-assembly-1"):
        status, _, _ = await fetch(web_site, path)
        assert status == 404, path


async def crawl(site: WebSite) -> dict[str, str]:
    """Every page, feed and API answer reachable from the federation (and every poll number)."""
    paths = {"/", "/decisions", "/calendar.ics", "/decisions.atom", "/api/v1", "/api/v1/federation",
             "/api/v1/decisions", "/static/site.css", "/api/v1/draws/S-operational-working-group-1"}
    for assembly in site.seeded.federation:
        for suffix in ("", "/calendar.ics", "/decisions.atom"):
            paths.add(f"/assemblies/{assembly.slug}{suffix}")
        paths.add(f"/api/v1/assemblies/{assembly.slug}")
    for entry in await site.db.consensus.decisions.chain():
        paths |= {f"/decisions/{entry.decision.ref}", f"/api/v1/decisions/{entry.decision.ref}"}
    for number in range(1, max(site.seeded.polls.values()) + 2):
        paths |= {f"/polls/{number}", f"/api/v1/polls/{number}"}
    bodies = {}
    for path in sorted(paths):
        status, body, _ = await fetch(site, path)
        assert status in (200, 404), path
        bodies[path] = body
        for href in re.findall(r'href="(/[^"#]*)"', body):
            if href not in bodies and href not in paths:
                status, linked, _ = await fetch(site, html.unescape(href))
                assert status == 200, f"{path} links to {href}, which answers {status}"
                bodies[href] = linked
    return bodies


async def test_no_page_feed_or_api_answer_contains_private_data(web_site: WebSite) -> None:
    bodies = await crawl(web_site)
    assert len(bodies) > 60
    found = [(path, secret) for path, body in bodies.items() for secret in PRIVATE
             if secret in body or html.escape(secret) in body or secret.replace(":", "%3A") in body]
    assert not found
    # The seed holds what is being looked for (so the grep means something).
    assert await web_site.db.members.is_member("@member-private-1:example.org")
    assert "TRANS-DRAW-PRIVATE" not in "".join(bodies.values())


async def test_conditional_requests_get_304_until_the_page_changes(web_site: WebSite) -> None:
    path = "/assemblies/financial-working-group"
    status, _, headers = await fetch(web_site, path)
    assert status == 200 and headers["Cache-Control"] == "public, max-age=60"
    etag, modified = headers["ETag"], headers["Last-Modified"]
    assert (await fetch(web_site, path, **{"If-None-Match": etag}))[0] == 304
    assert (await fetch(web_site, path, **{"If-Modified-Since": modified}))[0] == 304
    assert (await fetch(web_site, path, **{"If-None-Match": '"other"'}))[0] == 200
    statement = "Accounts are published every quarter"

    def build(number: int) -> Decision:
        return Decision(ref=make_decision_ref("financial-working-group", number), assembly="financial-working-group",
                        level=Level.MOOT, method=Method.CONSENSUS, outcome="adopted", statement=statement,
                        topics=("accounts",), decided_at=web_site.seeded.now + timedelta(seconds=5))

    await web_site.db.consensus.decisions.append(build, assembly="financial-working-group")
    status, body, changed = await fetch(web_site, path, **{"If-None-Match": etag})
    assert status == 200 and statement in body and changed["ETag"] != etag
    status, _, _ = await fetch(web_site, path, **{"If-Modified-Since": modified})
    assert status == 200  # the new version is later than the old Last-Modified
    assert (await fetch(web_site, path, **{"If-None-Match": changed["ETag"]}))[0] == 304


async def test_security_headers_and_404_pages(web_site: WebSite) -> None:
    status, body, headers = await fetch(web_site, "/assemblies/no-such-assembly")
    assert status == 404 and "There is no assembly called no-such-assembly." in body and '<html lang="en">' in body
    assert "default-src 'none'" in headers["Content-Security-Policy"]
    assert headers["X-Content-Type-Options"] == "nosniff"
    async with aiohttp.ClientSession() as http, http.get(web_site.url + "/api/v1/decisions/D-x-9") as response:
        assert response.status == 404 and (await response.json())["error"] == "not_found"
    status, _, headers = await fetch(web_site, "/api/v1/federation")
    assert headers["Access-Control-Allow-Origin"] == "*"


async def test_a_record_changed_behind_the_bots_back_no_longer_verifies(web_site: WebSite) -> None:
    first = web_site.seeded.decisions["Meet on Tuesdays at 19:00"].ref
    assert (await fetch_json(web_site, f"/api/v1/decisions/{first}"))["chain"]["record_verifies"] is True
    database = web_site.db.url.removeprefix("sqlite://")
    with sqlite3.connect(database) as connection:  # an edit straight in the database, as an intruder would
        connection.execute("UPDATE consensus_decision SET statement = 'Meet on Fridays' WHERE ref = ?", (first,))
    document = await fetch_json(web_site, f"/api/v1/decisions/{first}")
    assert document["statement"] == "Meet on Fridays"
    assert document["chain"]["entry_matches"] is False and document["chain"]["record_verifies"] is False
    status, body, _ = await fetch(web_site, f"/decisions/{first}")
    assert "does not verify" in body and "does not match its hash" in body


async def test_off_unless_enabled_and_a_busy_port_does_not_stop_the_bot(
        web_site: WebSite, caplog: pytest.LogCaptureFixture) -> None:
    port = int(web_site.url.rsplit(":", 1)[1])
    common: dict[str, Any] = {"record": PublicQueries.of(web_site.db), "via": SERVER, "names": FakeNames(),
                              "clock": lambda: datetime.now(UTC)}
    off = web_feature(web_config(port, enabled=False), **common)
    await off.start()
    assert off.view is None and off.address is None
    busy = web_feature(web_config(port), **common)
    with caplog.at_level(logging.ERROR, logger="handlers.web.server"):
        await busy.start()
    assert busy.address is None and f"cannot listen on 127.0.0.1 port {port}" in caplog.text
    await busy.stop()
    assert (await fetch(web_site, "/"))[0] == 200  # the first one still serves
