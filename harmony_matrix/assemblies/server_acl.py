"""Server ACLs: which servers an assembly blocks, as ``m.room.server_acl`` content and as the check
applied to each person's server (pure).

ACLs match hosts only and ignore ports, while a deny-list entry may name a port; the functions here
keep the two readings apart so the bot never denies its own server.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Any


def server_acl_content(
    denied_servers: Iterable[str], own_server: str, *, allow_ip_literals: bool = True
) -> dict[str, Any]:
    """``m.room.server_acl`` content denying ``denied_servers`` (globs) and allowing the rest.

    ACLs match hosts only (ports are ignored), so an entry with a port is written as its host.
    Entries that name another port of the bot's own host cannot be expressed without denying
    the bot itself: they are left out (see :func:`acl_inexpressible`; their users are still
    refused and removed by name, :func:`server_denied`). Refuses a deny list that would match
    the bot's own server: an ACL that locks the bot out of its own rooms cannot be undone by
    the bot. ``allow`` is always ``["*"]`` because a missing allow list denies everyone
    (docs/spec/matrix-facts.md §8).
    """
    entries = [s.lower() for s in denied_servers]
    if server_denied(own_server, entries):
        raise ValueError(f"the deny list would block the bot's own server {own_server!r}")
    skipped = set(acl_inexpressible(entries, own_server))
    denied = sorted(dict.fromkeys(_host(s) for s in entries if s not in skipped))
    if acl_denies(own_server, denied):
        raise ValueError(f"the deny list would block the bot's own server {own_server!r}")
    if not allow_ip_literals and _is_ip_literal(_host(own_server)):
        raise ValueError(f"the bot's server {own_server!r} is an IP literal; allow IP literals")
    return {"allow": ["*"], "deny": denied, "allow_ip_literals": allow_ip_literals}


def acl_denies(server: str, denied: Iterable[str]) -> bool:
    """Whether a server matches any deny glob, as ACLs match: case-insensitive, port ignored."""
    host = _host(server).lower()
    return any(re.fullmatch(_glob(pattern.lower()), host) is not None for pattern in denied)


def server_denied(server: str, denied: Iterable[str]) -> bool:
    """Whether a server (the part of a user ID after the colon) is blocked by ``denied``.

    An entry without a port matches the host, as ACLs do (``evil.example`` blocks
    ``evil.example:8448``); an entry with a port matches only that server, port included
    (``localhost:8449`` blocks ``@u:localhost:8449``, not ``@u:localhost:8448``).
    """
    full, host = server.lower(), _host(server).lower()
    for pattern in denied:
        pattern = pattern.lower()
        target = full if _has_port(pattern) else host
        if re.fullmatch(_glob(pattern), target) is not None:
            return True
    return False


def acl_inexpressible(denied: Iterable[str], own_server: str) -> list[str]:
    """Entries a server ACL cannot carry: with a port, on the bot's own host (ACLs ignore ports).

    Denying their host would deny the bot's own server as well, so they are kept out of the
    ACL; :func:`server_denied` still blocks their users by the full server name.
    """
    return [
        entry for entry in denied
        if _has_port(entry) and not server_denied(own_server, [entry])
        and acl_denies(own_server, [_host(entry)])
    ]


def _has_port(server: str) -> bool:
    return _host(server) != server


def _glob(pattern: str) -> str:
    # ACL globs know only * and ? (fnmatch would also read [...] as a class, breaking IPv6).
    return "".join(
        ".*" if ch == "*" else "." if ch == "?" else re.escape(ch) for ch in pattern
    )


def _host(server: str) -> str:
    # "[::1]:8448" → "[::1]"; "example.org:8448" → "example.org".
    if server.startswith("["):
        end = server.find("]")
        return server[: end + 1] if end != -1 else server
    return server.rsplit(":", 1)[0] if server.count(":") == 1 else server


def _is_ip_literal(host: str) -> bool:
    return host.startswith("[") or bool(re.fullmatch(r"[0-9.]+", host))
