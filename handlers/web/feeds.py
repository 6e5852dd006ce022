"""Subscribable feeds: moots as iCalendar (RFC 5545) and decisions as Atom (RFC 4287).

iCal: each moot is the very event attached to its announcement (``harmony_matrix.consensus.ical``,
the one rule for a moot in a calendar: UID ``<ref>@<server>``, ``SEQUENCE`` raised and
``STATUS:CANCELLED`` when cancelled, times in UTC), read back with the ``icalendar`` library and
gathered into one calendar with a link to its page. A calendar that imported the announcement's file
and one subscribed to the feed therefore hold the same event, and a cancellation updates both.

Atom is written with ``xml.etree`` rather than a feed library: the format needs a dozen elements,
the standard library escapes them correctly, and the one well-known Python feed generator pulls in a
compiled XML stack for nothing more.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from functools import lru_cache
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta, tzinfo
from typing import Any
from zoneinfo import ZoneInfo

from icalendar import Calendar, vDuration

from handlers.web.records import assembly_path
from harmony_matrix.assemblies.federation import Federation
from harmony_matrix.consensus.ical import render_ical
from harmony_matrix.consensus.moots import Moot

__all__ = ["ATOM_TYPE", "ICAL_TYPE", "atom_feed", "moot_calendar"]

ICAL_TYPE = "text/calendar; charset=utf-8"
ATOM_TYPE = "application/atom+xml; charset=utf-8"
_ATOM = "http://www.w3.org/2005/Atom"
#: How often a calendar app should refresh a subscription (RFC 7986 REFRESH-INTERVAL).
REFRESH = timedelta(hours=1)


def moot_calendar(moots: Sequence[Moot], *, federation: Federation, name: str, tz: tzinfo, uid_domain: str,
                  base_url: str) -> bytes:
    """One calendar of ``moots`` (cancelled ones included, as cancelled), each event with the URL of
    its assembly's page. ``tz`` is the calendar's display zone; event times are UTC."""
    calendar = Calendar()
    calendar.add("prodid", "-//harmony-matrix//public web view//EN")
    calendar.add("version", "2.0")
    calendar.add("calscale", "GREGORIAN")
    calendar.add("method", "PUBLISH")
    calendar.add("x-wr-calname", name)
    calendar.add("x-wr-timezone", str(getattr(tz, "key", "UTC")))
    calendar.add("refresh-interval", REFRESH, parameters={"VALUE": "DURATION"})
    calendar.add("x-published-ttl", vDuration(REFRESH))
    events = []
    for moot in moots:
        assembly = federation.get(moot.assembly)
        zone = ZoneInfo(assembly.timezone) if assembly and assembly.timezone else tz
        events.append(_event(moot, assembly.name if assembly else moot.assembly, zone, uid_domain, base_url))
    # Each VEVENT is serialized by icalendar once (below); the calendar's own lines close around them.
    head: bytes = calendar.to_ical()
    assert head.endswith(_END)
    return head[: -len(_END)] + b"".join(events) + _END


_END = b"END:VCALENDAR\r\n"


@lru_cache(maxsize=4096)
def _event(moot: Moot, assembly_name: str, tz: tzinfo, uid_domain: str, base_url: str) -> bytes:
    """A moot's VEVENT as its announcement attaches it, with its page's URL, serialized. Cached by the
    moot's value (a moot changed in any way is another key): parsing and folding are a feed's time."""
    text = render_ical(moot, assembly_name=assembly_name, tz=tz, uid_domain=uid_domain)
    out = b""
    for event in Calendar.from_ical(text).walk("VEVENT"):
        event.add("url", f"{base_url}{assembly_path(moot.assembly)}#{moot.ref}")
        out += event.to_ical()
    return out


def _text(parent: ET.Element, tag: str, text: str, **attributes: str) -> ET.Element:
    element = ET.SubElement(parent, f"{{{_ATOM}}}{tag}", attributes)
    element.text = text
    return element


def _stamp(iso_text: str | None) -> str:
    return iso_text or datetime(1970, 1, 1, tzinfo=UTC).isoformat()


def atom_feed(decisions: Sequence[dict[str, Any]], *, title: str, self_url: str, page_url: str,
              base_url: str, id_domain: str) -> bytes:
    """An Atom feed of ``decisions`` (``records.decision_summary`` dicts, newest first).

    Entry IDs are tag URIs on the bot's server name (``tag:example.org,2025-03-01:decisions/D-ops-3``),
    so they stay the same if the web view moves to another address."""
    ET.register_namespace("", _ATOM)
    feed = ET.Element(f"{{{_ATOM}}}feed")
    _text(feed, "id", self_url)
    _text(feed, "title", title)
    _text(feed, "updated", _stamp(decisions[0]["decided_at"] if decisions else None))
    ET.SubElement(feed, f"{{{_ATOM}}}link", {"rel": "self", "type": "application/atom+xml", "href": self_url})
    ET.SubElement(feed, f"{{{_ATOM}}}link", {"rel": "alternate", "type": "text/html", "href": page_url})
    author = ET.SubElement(feed, f"{{{_ATOM}}}author")
    _text(author, "name", "harmony-matrix")
    _text(feed, "generator", "harmony-matrix")
    for decision in decisions:
        entry = ET.SubElement(feed, f"{{{_ATOM}}}entry")
        day = (decision["decided_at"] or "1970-01-01")[:10]
        _text(entry, "id", f"tag:{id_domain},{day}:decisions/{decision['ref']}")
        _text(entry, "title", f"{decision['ref']}: {decision['statement']}")
        _text(entry, "updated", _stamp(decision["decided_at"]))
        _text(entry, "published", _stamp(decision["decided_at"]))
        ET.SubElement(entry, f"{{{_ATOM}}}link",
                      {"rel": "alternate", "type": "text/html", "href": f"{base_url}{decision['url']}"})
        for topic in decision["topics"]:
            ET.SubElement(entry, f"{{{_ATOM}}}category", {"term": topic})
        lines = [decision["statement"],
                 f"{decision['assembly_name']} · {decision['level']} · {decision['method']} · {decision['outcome']}"]
        if decision["supersedes"]:
            lines.append(f"Supersedes {decision['supersedes']}.")
        _text(entry, "content", "\n".join(lines), type="text")
    body: bytes = ET.tostring(feed, encoding="utf-8", xml_declaration=True)
    return body
