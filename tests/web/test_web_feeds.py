"""The feeds, read back with real libraries: iCalendar with ``icalendar``, Atom with ``feedparser``."""

from __future__ import annotations

from zoneinfo import ZoneInfo

import aiohttp
import feedparser
import pytest
from icalendar import Calendar

from harmony_matrix.consensus.ical import render_ical
from harmony_matrix.consensus.moots import MootStatus, cancel_moot
from web_support import WebSite

pytestmark = pytest.mark.asyncio(loop_scope="session")


async def get(site: WebSite, path: str) -> tuple[str, bytes]:
    async with aiohttp.ClientSession() as http, http.get(site.url + path) as response:
        assert response.status == 200, path
        return response.headers["Content-Type"], await response.read()


def events(body: bytes) -> dict[str, dict]:
    calendar = Calendar.from_ical(body)
    return {str(e["UID"]): e for e in calendar.walk("VEVENT")}


async def test_the_federation_calendar_holds_public_moots_with_stable_uids_and_cancellations(
        web_site: WebSite) -> None:
    content_type, body = await get(web_site, "/calendar.ics")
    assert content_type == "text/calendar; charset=utf-8"
    calendar = Calendar.from_ical(body)
    assert str(calendar["VERSION"]) == "2.0" and str(calendar["X-WR-TIMEZONE"]) == "Europe/London"
    found = events(body)
    moots = web_site.seeded.moots
    public = [m for topic, m in moots.items() if "PRIVATE" not in topic]
    assert set(found) == {f"{m.ref}@example.org" for m in public}
    for moot in public:
        event = found[f"{moot.ref}@example.org"]
        assert event.decoded("DTSTART") == moot.starts_at and event.decoded("DTEND") == moot.ends_at
        assert str(event["URL"]).endswith(f"/assemblies/{moot.assembly}#{moot.ref}")
    cancelled = found[f"{moots['Cancelled planning session'].ref}@example.org"]
    assert str(cancelled["STATUS"]) == "CANCELLED" and int(cancelled["SEQUENCE"]) == 1
    budget = found[f"{moots['Budget review'].ref}@example.org"]
    assert str(budget["STATUS"]) == "CONFIRMED" and int(budget["SEQUENCE"]) == 0
    # The same event the announcement attaches: a calendar holding both sees one event.
    attached = Calendar.from_ical(render_ical(moots["Budget review"], assembly_name="Operational Working Group",
                                              tz=ZoneInfo("Europe/London"), uid_domain="example.org"))
    [attached_event] = attached.walk("VEVENT")
    for key in ("UID", "DTSTART", "DTEND", "SEQUENCE", "STATUS", "SUMMARY"):
        assert attached_event.decoded(key) == budget.decoded(key), key


async def test_cancelling_a_moot_changes_its_event_in_the_feed(web_site: WebSite) -> None:
    moot = web_site.seeded.moots["Budget review"]
    path = f"/assemblies/{moot.assembly}/calendar.ics"
    before = events((await get(web_site, path))[1])[f"{moot.ref}@example.org"]
    assert str(before["STATUS"]) == "CONFIRMED"
    await web_site.db.consensus.moots.save(cancel_moot(moot, now=web_site.seeded.now))
    after = events((await get(web_site, path))[1])[f"{moot.ref}@example.org"]
    assert str(after["STATUS"]) == "CANCELLED" and int(after["SEQUENCE"]) > int(before["SEQUENCE"])
    assert after.decoded("DTSTART") == before.decoded("DTSTART")
    assert (await web_site.db.consensus.moots.get(moot.ref)).status is MootStatus.CANCELLED


async def test_an_assembly_calendar_holds_only_its_moots_and_a_limited_one_none(web_site: WebSite) -> None:
    found = events((await get(web_site, "/assemblies/operational-working-group/calendar.ics"))[1])
    assert all(uid.startswith("M-operational-working-group-") for uid in found) and len(found) == 3
    assert events((await get(web_site, "/assemblies/safeguarding/calendar.ics"))[1]) == {}


async def test_the_atom_feed_lists_public_decisions_newest_first(web_site: WebSite) -> None:
    content_type, body = await get(web_site, "/decisions.atom")
    assert content_type == "application/atom+xml; charset=utf-8"
    feed = feedparser.parse(body)
    assert not feed.bozo, feed.get("bozo_exception")
    assert feed.version == "atom10"
    titles = [entry.title for entry in feed.entries]
    chain = await web_site.db.consensus.decisions.chain()
    public = [e.decision for e in reversed(chain) if e.decision.assembly != "safeguarding"]
    assert titles == [f"{d.ref}: {d.statement}" for d in public]
    first = feed.entries[0]
    assert first.id == f"tag:example.org,{public[0].decided_at:%Y-%m-%d}:decisions/{public[0].ref}"
    assert first.link == f"{web_site.url}/decisions/{public[0].ref}"
    assert [t.term for t in first.tags] == list(public[0].topics)
    one = feedparser.parse((await get(web_site, "/assemblies/party/decisions.atom"))[1])
    assert [entry.title for entry in one.entries] == ["D-party-1: Membership fees are voluntary"]
