"""``TolerantGateway``: the recording gateway with a small in-memory homeserver behind ``request``, so
that every feature of the whole bot can run on it (fuzz tests, the full-bot harness).

``FakeGateway`` fails a test on any call it has no answer for; this one answers the client-server
calls the features make the way Synapse would in the simple case: state is kept per room, redactions,
kicks and bans are recorded, relations and hierarchies are empty, unknown events are ``M_NOT_FOUND``.
``limit_after`` makes it answer ``M_LIMIT_EXCEEDED`` like a rate-limited homeserver.
"""

from __future__ import annotations

import itertools
import re
from typing import Any
from urllib.parse import unquote

from handlers.matrix.gateway import LimitExceeded, NotFound
from harmony_matrix.ids import EventId

from .gateway import FakeGateway, Sent

_ROOM_PATH = re.compile(r"^/v3/rooms/([^/]+)/(state|redact|kick|ban|unban|event|invite|leave)(?:/([^/]*))?(?:/([^/]*))?")


class TolerantGateway(FakeGateway):
    """A ``FakeGateway`` that answers (almost) everything; see the module docstring."""

    def __init__(self, user_id: str = "@bot:test") -> None:
        super().__init__(user_id)
        self.redactions: list[tuple[str, str, str | None]] = []  # room, event, reason
        self.kicks: list[tuple[str, str, str]] = []  # room, user, kick / ban / unban
        self.requests: list[tuple[str, str]] = []
        self._state_numbers = itertools.count(1)

    async def request(self, method: str, path: str, body: Any = None, *,
                      query: dict[str, Any] | None = None) -> dict[str, Any]:
        self.requests.append((method, path))
        match = _ROOM_PATH.match(path)
        if match:
            room_id, what, first, second = (unquote(part) if part else part for part in match.groups())
            assert room_id is not None
            if what == "state":
                if method == "PUT" and first is not None:
                    self.state[(room_id, first, second or "")] = dict(body or {})
                    return {"event_id": f"$state{next(self._state_numbers)}"}
                if method == "GET" and first is None:
                    return {"chunk": [{"type": t, "state_key": k, "content": c, "sender": self.user_id}
                                      for (room, t, k), c in self.state.items() if room == room_id]}
                content = self.state.get((room_id, first or "", second or ""))
                if content is None:
                    raise NotFound("no such state", path=path)
                return content
            if what == "redact":
                self.redactions.append((room_id, first or "", (body or {}).get("reason")))
                return {"event_id": f"$redaction{len(self.redactions)}"}
            if what in ("kick", "ban", "unban"):
                self.kicks.append((room_id, (body or {}).get("user_id", ""), what))
                return {}
            if what == "event":
                raise NotFound("no such event", path=path)
            return {}
        if "/relations/" in path:
            return {"chunk": []}
        if path.endswith("/hierarchy"):
            return {"rooms": []}
        if path == "/v3/joined_rooms":
            return {"joined_rooms": [room for room, who in self.joined.items() if self.user_id in who]}
        return {}


class RateLimitedGateway(TolerantGateway):
    """Answers the first ``limited`` sends with ``M_LIMIT_EXCEEDED`` (``retry_after_ms`` each), then
    sends normally; ``attempts`` counts every try, ``sent`` holds what got through."""

    def __init__(self, user_id: str = "@bot:test", *, limited: int = 0, retry_after_ms: int | None = 20) -> None:
        super().__init__(user_id)
        self.limited = limited
        self.retry_after_ms = retry_after_ms
        self.attempts: list[str] = []

    async def send_event(self, room_id: str, event_type: str, content: dict[str, Any], *,
                         txn_seed: str | None = None) -> EventId:
        self.attempts.append(event_type)
        if self.limited > 0:
            self.limited -= 1
            raise LimitExceeded("Too Many Requests", retry_after_ms=self.retry_after_ms, path="/send")
        return await super().send_event(room_id, event_type, content, txn_seed=txn_seed)


def bodies(sent: list[Sent]) -> list[str]:
    """The bodies of ``sent`` (what a test usually compares)."""
    return [s.body for s in sent]
