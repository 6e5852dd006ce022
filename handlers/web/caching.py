"""Conditional requests: strong ETags from the body, Last-Modified from when that body first appeared.

Pages are rendered from the database on every request (cheap, and always current); the ETag is the
body's hash, so a client that has the same bytes gets ``304 Not Modified``. Last-Modified is the time
this process first served the current version of a page: never earlier than the real change, so a
client asking ``If-Modified-Since`` never misses one (a restart only makes it fetch once more). Two
versions within one second get distinct seconds.
"""

from __future__ import annotations

import hashlib
from collections import OrderedDict
from collections.abc import Callable
from datetime import datetime, timedelta

from aiohttp import web

__all__ = ["Freshness", "not_modified"]


class Freshness:
    """The current ETag and Last-Modified of each page (at most ``limit`` pages remembered)."""

    def __init__(self, clock: Callable[[], datetime], *, limit: int = 20_000) -> None:
        self._clock = clock
        self._limit = limit
        self._seen: OrderedDict[str, tuple[str, datetime, bytes]] = OrderedDict()

    def stamp(self, key: str, body: bytes) -> tuple[str, datetime]:
        """The ETag and Last-Modified of ``body`` served at ``key`` (a path and format)."""
        current = self._seen.get(key)
        if current is not None and current[2] is body:  # a page served again from the render cache
            self._seen.move_to_end(key)
            return current[0], current[1]
        etag = '"' + hashlib.sha256(body).hexdigest()[:40] + '"'
        if current is not None and current[0] == etag:
            self._seen[key] = (etag, current[1], body)
            self._seen.move_to_end(key)
            return etag, current[1]
        now = self._clock().replace(microsecond=0)
        since = now if current is None else max(now, current[1] + timedelta(seconds=1))
        self._seen[key] = (etag, since, body)
        self._seen.move_to_end(key)
        while len(self._seen) > self._limit:
            self._seen.popitem(last=False)
        return etag, since


def not_modified(request: web.Request, etag: str, last_modified: datetime) -> bool:
    """Whether the client already has this version (RFC 9110 §13: If-None-Match wins over
    If-Modified-Since when both are sent)."""
    if_none_match = request.headers.get("If-None-Match")
    if if_none_match is not None:
        tags = {tag.strip().removeprefix("W/") for tag in if_none_match.split(",")}
        return "*" in tags or etag in tags
    since = request.if_modified_since
    return since is not None and last_modified <= since
