"""The web server: routes, rendering, caching headers, and the feature that starts and stops it.

Every response is built from the database (``PublicRecord``) on request; the same view dict is
rendered as HTML (Jinja2, autoescaped) or returned as JSON under ``/api/v1``. Feeds live in
``feeds.py``. No page makes a Matrix request.
"""

from __future__ import annotations

import json
from collections import OrderedDict
import logging
from collections.abc import Awaitable, Callable, Hashable, Mapping
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from pathlib import Path
from typing import Any

from aiohttp import web
from jinja2 import Environment, FileSystemLoader, StrictUndefined, select_autoescape
from markupsafe import Markup, escape

from handlers.ports import Clock
from handlers.web.api import API_INDEX
from handlers.web.caching import Freshness, not_modified
from handlers.web.feeds import ATOM_TYPE, ICAL_TYPE, atom_feed, moot_calendar
from handlers.web.links import site_base_url
from handlers.web.ports import DisplayNames, DrawRecords, NoDraws, PublicRecord
from handlers.web.records import Site
from handlers.web.views import (
    assembly_view,
    decision_view,
    decisions_view,
    federation_view,
    known_names,
    poll_view,
    rooms_by_assembly,
)
from handlers.web.visibility import record_is_public
from harmony_matrix.assemblies.federation import Federation
from harmony_matrix.assemblies.room_policy import AssemblyRoom
from harmony_matrix.consensus.decisions import ChainEntry, verify_chain
from harmony_matrix.config import Config

__all__ = ["WebFeature", "WebView", "web_feature"]

log = logging.getLogger(__name__)
HERE = Path(__file__).resolve().parent
JSON_TYPE = "application/json; charset=utf-8"
HTML_TYPE = "text/html; charset=utf-8"
#: Pages may be reused for a minute without asking; then a conditional request (ETag) is cheap.
PAGE_CACHE = "public, max-age=60"
STATIC_CACHE = "public, max-age=86400"
#: How far back the calendars reach (from the start of that day).
CALENDAR_PAST = timedelta(days=180)
ATOM_ENTRIES = 50
#: Rendered pages kept with the versions of what they show (the federation and assembly pages).
RENDERED_PAGES = 1000
SECURITY_HEADERS = {
    "Content-Security-Policy": ("default-src 'none'; style-src 'self'; img-src 'self'; base-uri 'none'; "
                                "form-action 'none'; frame-ancestors 'none'"),
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
}

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def _code_spans(text: str) -> Markup:
    """Text with `backtick` spans as <code> (how-to-join hints are written that way); escaped."""
    parts = str(text).split("`")
    return Markup("").join(escape(part) if i % 2 == 0 else Markup("<code>") + escape(part) + Markup("</code>")
                           for i, part in enumerate(parts))


def _environment() -> Environment:
    env = Environment(loader=FileSystemLoader(HERE / "templates"), autoescape=select_autoescape(["html"]),
                      undefined=StrictUndefined, trim_blocks=True, lstrip_blocks=True)
    env.filters["code_spans"] = _code_spans
    return env


class WebView:
    """The aiohttp application of the public web view."""

    def __init__(self, *, record: PublicRecord, draws: DrawRecords, site: Site, base_url: str,
                 clock: Clock) -> None:
        self.record = record
        self.draws = draws
        self.site = site
        self.base_url = base_url.rstrip("/")
        self.clock = clock
        self.freshness = Freshness(clock)
        self.templates = _environment()
        self.css = (HERE / "static" / "site.css").read_bytes()
        self._federation: tuple[Hashable, Federation] | None = None
        self._chain: tuple[Hashable, list[ChainEntry]] | None = None
        self._verified: tuple[Hashable, list[ChainEntry], list[str]] | None = None
        self._rooms: tuple[Hashable, list[AssemblyRoom]] | None = None
        self._rendered: OrderedDict[str, tuple[Hashable, bytes]] = OrderedDict()

    async def federation(self) -> Federation:
        """The registry, reloaded only when it changed (parsing and validating it is most of a page)."""
        version = await self.record.federation_version()
        if self._federation is None or self._federation[0] != version:
            self._federation = (version, await self.record.federation())
        return self._federation[1]

    async def rooms(self) -> tuple[Hashable, list[AssemblyRoom]]:
        """Every provisioned room and the version it was read at, reloaded only when one changed."""
        version = await self.record.rooms_fingerprint()
        if self._rooms is None or self._rooms[0] != version:
            self._rooms = (version, await self.record.rooms())
        return self._rooms

    async def chain(self) -> list[ChainEntry]:
        """The decision record, reloaded only when it grew (the store is append-only). The decision page,
        which says whether the record verifies, checks every column (``verified_chain``)."""
        version = await self.record.chain_version()
        if self._chain is None or self._chain[0] != version:
            self._chain = (version, await self.record.chain())
        return self._chain[1]

    async def verified_chain(self) -> tuple[list[ChainEntry], list[str]]:
        """The record exactly as stored now and the problems ``verify_chain`` finds in it: reloaded and
        checked again whenever any column of any entry changed (its fingerprint is one plain query)."""
        fingerprint = await self.record.chain_fingerprint()
        if self._verified is None or self._verified[0] != fingerprint:
            version = await self.record.chain_version()
            chain = await self.record.chain()
            self._verified = (fingerprint, chain, verify_chain(chain))
            self._chain = (version, chain)
        return self._verified[1], self._verified[2]

    def application(self) -> web.Application:
        """The routes, the 404 page and the security headers."""
        app = web.Application(middlewares=[self._errors])
        app.on_response_prepare.append(_security_headers)
        get = app.router.add_get
        get("/", self.federation_page)
        get("/assemblies/{slug}", self.assembly_page)
        get("/decisions", self.decisions_page)
        get("/decisions/{ref}", self.decision_page)
        get("/polls/{number:\\d{1,9}}", self.poll_page)
        get("/calendar.ics", self.calendar)
        get("/assemblies/{slug}/calendar.ics", self.calendar)
        get("/decisions.atom", self.atom)
        get("/assemblies/{slug}/decisions.atom", self.atom)
        get("/api/v1", self.api_index)
        get("/api/v1/federation", self.federation_page)
        get("/api/v1/assemblies/{slug}", self.assembly_page)
        get("/api/v1/decisions", self.decisions_page)
        get("/api/v1/decisions/{ref}", self.decision_page)
        get("/api/v1/polls/{number:\\d{1,9}}", self.poll_page)
        get("/api/v1/draws/{ref}", self.draw_record)
        get("/static/site.css", self.stylesheet)
        return app

    # -- pages (HTML, or JSON under /api/v1) ------------------------------------------------------

    async def federation_page(self, request: web.Request) -> web.StreamResponse:
        """The assemblies tree. Rendered again only when the registry, the rooms or an officer's display
        name changed (it is the most visited page, and the same for everyone)."""
        federation = await self.federation()
        rooms_version, room_list = await self.rooms()
        rooms = rooms_by_assembly(room_list)
        assert self._federation is not None
        key = (self._federation[0], rooms_version, known_names(federation, rooms, self.site))
        async def build() -> Mapping[str, Any]:
            return federation_view(federation, rooms, self.site)

        return await self._memoized(request, key, "federation.html", build)

    async def assembly_page(self, request: web.Request) -> web.StreamResponse:
        """One assembly: moots, polls, decisions in force and the record, draws. Rendered again only when
        something it shows changed (its inputs' versions are the cache key)."""
        slug = request.match_info["slug"]
        federation = await self.federation()
        if slug not in federation:
            raise web.HTTPNotFound(text=f"There is no assembly called {slug}.")
        own_rooms = tuple(await self.record.rooms(assemblies=[slug]))
        rooms = rooms_by_assembly(own_rooms)
        room_ids = [room.room_id for room in own_rooms]
        chain = await self.chain()
        moots = await self.record.moots(assemblies=[slug])
        polls = await self.record.poll_stamps(room_ids=room_ids)
        draws = await self.draws.records(slug) if record_is_public(slug, federation) else ()
        now = self.clock()
        assert self._federation is not None and self._chain is not None
        key = (self._federation[0], self._chain[0], own_rooms, tuple(moots), tuple(m.ends_at > now for m in moots),
               polls, json.dumps(draws, sort_keys=True, default=str), known_names(federation, rooms, self.site))

        async def build() -> Mapping[str, Any]:
            view = assembly_view(slug, federation=federation, rooms=rooms, chain=chain, moots=moots,
                                 polls=await self.record.polls(room_ids=room_ids), draws=draws, site=self.site,
                                 now=now)
            assert view is not None
            return view

        return await self._memoized(request, key, "assembly.html", build)

    async def decisions_page(self, request: web.Request) -> web.StreamResponse:
        """The public decision record, newest first."""
        federation = await self.federation()
        slug = request.query.get("assembly")
        if slug is not None and slug not in federation:
            raise web.HTTPNotFound(text=f"There is no assembly called {slug}.")
        decisions = decisions_view(await self.chain(), federation=federation, site=self.site, assembly=slug)
        assembly = None if slug is None else {"slug": slug, "name": federation[slug].name,
                                              "url": f"/assemblies/{slug}"}
        return self._page(request, "decisions.html", {
            "api_version": 1, "assembly": assembly, "decisions": decisions,
            "atom": "/decisions.atom" if slug is None else f"/assemblies/{slug}/decisions.atom"})

    async def decision_page(self, request: web.Request) -> web.StreamResponse:
        """One decision, its evidence, links and place in the hash chain."""
        ref = request.match_info["ref"]
        federation = await self.federation()
        chain, problems = await self.verified_chain()
        entry = next((e for e in chain if e.decision.ref.casefold() == ref.casefold()), None)
        evidence = await self.record.evidence_rooms(entry.decision.evidence) if entry else {}
        view = decision_view(ref, federation=federation, rooms=rooms_by_assembly((await self.rooms())[1]),
                             chain=chain, problems=problems, evidence_rooms=evidence, site=self.site)
        if view is None:
            raise web.HTTPNotFound(text=f"There is no public decision {ref}.")
        return self._page(request, "decision.html", view)

    async def poll_page(self, request: web.Request) -> web.StreamResponse:
        """One poll and, once closed, its results."""
        number = int(request.match_info["number"])
        view = poll_view(await self.record.poll(number), federation=await self.federation(),
                         rooms=rooms_by_assembly((await self.rooms())[1]), site=self.site)
        if view is None:
            raise web.HTTPNotFound(text=f"There is no public poll #{number}.")
        return self._page(request, "poll.html", view)

    async def api_index(self, request: web.Request) -> web.StreamResponse:
        """What the API offers (its documentation in one object)."""
        return self._respond(request, json.dumps(API_INDEX, ensure_ascii=False).encode(), JSON_TYPE)

    async def draw_record(self, request: web.Request) -> web.StreamResponse:
        """A draw's published record, as it was posted."""
        ref = request.match_info["ref"]
        federation = await self.federation()
        for record in await self.draws.records(None):
            if (str(record.get("ref", "")).casefold() == ref.casefold()
                    and record_is_public(str(record.get("assembly", "")), federation)):
                return self._respond(request, json.dumps(record, ensure_ascii=False).encode(), JSON_TYPE)
        raise web.HTTPNotFound(text=f"There is no public draw {ref}.")

    # -- feeds ------------------------------------------------------------------------------------

    async def calendar(self, request: web.Request) -> web.StreamResponse:
        """Moots as iCalendar: the whole federation, or one assembly."""
        slug = request.match_info.get("slug")
        federation = await self.federation()
        if slug is not None and slug not in federation:
            raise web.HTTPNotFound(text=f"There is no assembly called {slug}.")
        since = (self.clock() - CALENDAR_PAST).replace(hour=0, minute=0, second=0, microsecond=0)
        assert self._federation is not None
        key = (self._federation[0], await self.record.moots_fingerprint(), since)
        cached = self._rendered.get(request.path)
        if cached is None or cached[0] != key:
            moots = await self.record.moots(assemblies=None if slug is None else [slug], ending_after=since)
            shown = [m for m in moots if record_is_public(m.assembly, federation)]
            name = f"{self.site.title}: moots" if slug is None else f"{federation[slug].name}: moots"
            cached = (key, moot_calendar(shown, federation=federation, name=name, tz=self.site.tz,
                                         uid_domain=self.site.via, base_url=self.base_url))
            self._keep(request.path, cached)
        return self._respond(request, cached[1], ICAL_TYPE)

    async def atom(self, request: web.Request) -> web.StreamResponse:
        """Decisions as Atom: the whole federation, or one assembly."""
        slug = request.match_info.get("slug")
        federation = await self.federation()
        if slug is not None and slug not in federation:
            raise web.HTTPNotFound(text=f"There is no assembly called {slug}.")
        decisions = decisions_view(await self.chain(), federation=federation, site=self.site,
                                   assembly=slug, limit=ATOM_ENTRIES)
        title = (f"{self.site.title}: decisions" if slug is None else f"{federation[slug].name}: decisions")
        page = "/decisions" if slug is None else f"/assemblies/{slug}"
        body = atom_feed(decisions, title=title, self_url=f"{self.base_url}{request.path}",
                         page_url=f"{self.base_url}{page}", base_url=self.base_url, id_domain=self.site.via)
        return self._respond(request, body, ATOM_TYPE)

    async def stylesheet(self, request: web.Request) -> web.StreamResponse:
        """The one stylesheet."""
        return self._respond(request, self.css, "text/css; charset=utf-8", cache=STATIC_CACHE)

    # -- rendering and caching --------------------------------------------------------------------

    async def _memoized(self, request: web.Request, key: Hashable, template: str,
                        build: Callable[[], Awaitable[Mapping[str, Any]]]) -> web.StreamResponse:
        """The page for ``request`` rendered from ``build()``, or its body from the last time ``key`` (the
        versions of everything it shows) was the same. Bounded: the least recently used go first."""
        kind = JSON_TYPE if request.path.startswith("/api/") else HTML_TYPE
        slot = f"{request.path}|{kind}"
        cached = self._rendered.get(slot)
        if cached is None or cached[0] != key:
            cached = (key, self._body(request, template, await build()))
        self._keep(slot, cached)
        return self._respond(request, cached[1], kind)

    def _keep(self, slot: str, rendered: tuple[Hashable, bytes]) -> None:
        self._rendered[slot] = rendered
        self._rendered.move_to_end(slot)
        while len(self._rendered) > RENDERED_PAGES:
            self._rendered.popitem(last=False)

    def _page(self, request: web.Request, template: str, view: Mapping[str, Any]) -> web.StreamResponse:
        kind = JSON_TYPE if request.path.startswith("/api/") else HTML_TYPE
        return self._respond(request, self._body(request, template, view), kind)

    def _body(self, request: web.Request, template: str, view: Mapping[str, Any]) -> bytes:
        """``view`` as JSON under ``/api/``, else rendered with ``template``."""
        if request.path.startswith("/api/"):
            return json.dumps(view, ensure_ascii=False).encode()
        api = "/api/v1/federation" if request.path == "/" else f"/api/v1{request.path_qs}"
        return self.templates.get_template(template).render(page=view, site=self.site, api=api).encode()

    def _respond(self, request: web.Request, body: bytes, content_type: str, *,
                 cache: str = PAGE_CACHE) -> web.StreamResponse:
        etag, last_modified = self.freshness.stamp(f"{request.path_qs}|{content_type}", body)
        headers = {"ETag": etag, "Last-Modified": _http_date(last_modified), "Cache-Control": cache}
        if content_type == JSON_TYPE:
            headers["Access-Control-Allow-Origin"] = "*"
        if not_modified(request, etag, last_modified):
            return web.Response(status=304, headers=headers)
        return web.Response(body=body, headers={**headers, "Content-Type": content_type})

    @web.middleware
    async def _errors(self, request: web.Request, handler: Handler) -> web.StreamResponse:
        try:
            return await handler(request)
        except web.HTTPNotFound as missing:
            message = missing.text if missing.text and not missing.text.startswith("404") else "There is no such page."
            if request.path.startswith("/api/"):
                return web.json_response({"error": "not_found", "message": message}, status=404)
            html = self.templates.get_template("not_found.html").render(page={"message": message}, site=self.site,
                                                                        api=None)
            return web.Response(status=404, text=html, content_type="text/html", charset="utf-8")


async def _security_headers(request: web.Request, response: web.StreamResponse) -> None:
    for name, value in SECURITY_HEADERS.items():
        response.headers.setdefault(name, value)


def _http_date(moment: datetime) -> str:
    return format_datetime(moment.astimezone(UTC), usegmt=True)


class WebFeature:
    """The web view as a feature of the bot (``harmony_app.app.Feature``): listens from ``start()``
    to ``stop()``; holds nothing about anyone, so ``mydata`` and ``forget-me`` find nothing here."""

    def __init__(self, *, view: WebView | None, bind: str, port: int) -> None:
        self.view = view
        self.bind = bind
        self.port = port
        self._runner: web.AppRunner | None = None
        #: The address it listens on, once started.
        self.address: str | None = None

    def command_handlers(self) -> list[object]:
        """No commands."""
        return []

    def register(self, dispatcher: object) -> None:
        """No events: pages read the database."""

    async def start(self) -> None:
        """Listen (when enabled)."""
        if self.view is None or self._runner is not None:
            return
        runner = web.AppRunner(self.view.application(), access_log=None)
        await runner.setup()
        try:
            await web.TCPSite(runner, self.bind, self.port).start()
        except OSError as exc:
            # The bot's work (votes, moots, decisions) goes on without its web view.
            await runner.cleanup()
            log.error("the public web view cannot listen on %s port %d (%s); check web.bind and web.port. "
                      "The bot runs without it.", self.bind, self.port, exc.strerror or exc)
            return
        self._runner = runner
        host = f"[{self.bind}]" if ":" in self.bind else self.bind
        self.address = f"http://{host}:{self.port}"
        log.info("public web view listening on %s", self.address)

    async def stop(self) -> None:
        """Stop listening."""
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    async def export_user_data(self, user_id: str) -> dict[str, Any]:
        """Nothing is held about anyone."""
        return {}

    async def erase_user_data(self, user_id: str) -> None:
        """Nothing to erase."""


def web_feature(config: Config, *, record: PublicRecord, via: str, clock: Clock, names: DisplayNames,
                draws: DrawRecords | None = None) -> WebFeature:
    """The web view for ``config`` (a feature that does nothing when ``web.enabled`` is off).

    ``via``: the bot's server name, for matrix.to links and calendar UIDs; ``names``: display names
    known from sync; ``draws``: published sortition records (none until that feature is wired in)."""
    settings = config.web
    if not settings.enabled:
        return WebFeature(view=None, bind=settings.bind, port=settings.port)
    site = Site(prefix=config.display_prefix, via=via, tz=config.tz, names=names)
    view = WebView(record=record, draws=draws or NoDraws(), site=site, base_url=site_base_url(settings), clock=clock)
    return WebFeature(view=view, bind=settings.bind, port=settings.port)
