"""The public, read-only web view: the federation, its assemblies, decisions, moots, polls and draws.

Served by the bot's own aiohttp server when ``web.enabled`` is set (``server.py``), rendered from the
database only (never a Matrix request per page): HTML pages (``templates/``), a versioned JSON API
(``/api/v1``), iCal and Atom feeds (``feeds.py``). What may be shown is decided once, in
``visibility.py``; every page and feed is built from the same view (``views.py``), so the JSON API
returns what the pages show.
"""
