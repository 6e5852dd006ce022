"""How the bot names people in what it posts: ``Name (@id)`` when they have a display name, the bare ID
otherwise (the ID always says who it is; the name is what people recognise)."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from urllib.parse import quote

from handlers.matrix.gateway import MatrixError, MatrixGateway

#: A display name in a label: enough to recognise someone, short enough for a poll option.
NAME_MAX = 60


def _cached_name(gateway: MatrixGateway, user_id: str) -> str | None:
    """The display name nio's sync cache holds for ``user_id`` in any room the bot is in (no request)."""
    for room in getattr(gateway.client, "rooms", {}).values():
        users = getattr(room, "users", None)
        user = users.get(user_id) if isinstance(users, Mapping) else None
        name = getattr(user, "display_name", None)
        if isinstance(name, str) and name.strip() and name != user_id:
            return name
    return None


async def display_names(gateway: MatrixGateway, users: Iterable[str]) -> dict[str, str]:
    """``Name (@id)`` for each user with a display name, the bare ID otherwise. The sync cache is read
    first; the profile is asked only for people the bot shares no room with (a profile that can't be
    read is not an error: the ID still says who it is)."""
    names: dict[str, str] = {}
    for user in dict.fromkeys(users):
        name = _cached_name(gateway, user)
        if name is None:
            try:
                profile = await gateway.request("GET", f"/v3/profile/{quote(user, safe='')}/displayname")
                found = profile.get("displayname") if isinstance(profile, Mapping) else None
                name = found if isinstance(found, str) else None
            except MatrixError:
                name = None
        if name is not None and name.strip() and name != user:
            shown = " ".join(name.split())
            names[user] = f"{shown if len(shown) <= NAME_MAX else shown[:NAME_MAX - 1] + '…'} ({user})"
        else:
            names[user] = user
    return names


def either(names: Iterable[str]) -> str:
    """``A``, ``A or B``, ``A, B or C``."""
    listed = list(names)
    return listed[0] if len(listed) == 1 else ", ".join(listed[:-1]) + " or " + listed[-1]
