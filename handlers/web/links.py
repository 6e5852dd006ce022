"""Addresses: the web view's own pages (``WebLinks``, the ``PublicLinks`` the bot's posts use) and
matrix.to links into Matrix (rooms, events, people)."""

from __future__ import annotations

from urllib.parse import quote

from harmony_matrix.config import WebConfig

__all__ = ["WebLinks", "event_link", "public_links", "room_link", "site_base_url", "user_link"]

MATRIX_TO = "https://matrix.to/#/"


def site_base_url(config: WebConfig) -> str:
    """Where people reach the web view: ``base_url``, else ``http://<bind>:<port>``."""
    if config.base_url:
        return config.base_url
    host = f"[{config.bind}]" if ":" in config.bind else config.bind
    return f"http://{host}:{config.port}"


class WebLinks:
    """Absolute addresses of public pages, or None from every method when the web view is off.

    The bot's announcements and results call these to link to their public page (see
    ``handlers.ports.PublicLinks``). They do not check that the page shows anything: a poll in a
    secretariat or a decision of an invite-only assembly has a page that says it is not public.
    """

    def __init__(self, base_url: str | None) -> None:
        self.base_url = base_url.rstrip("/") if base_url else None

    def _url(self, path: str) -> str | None:
        return None if self.base_url is None else self.base_url + path

    def url_for_assembly(self, slug: str) -> str | None:
        """The assembly's page."""
        return self._url(f"/assemblies/{quote(slug, safe='')}")

    def url_for_decision(self, ref: str) -> str | None:
        """A decision's page (``D-ops-3``)."""
        return self._url(f"/decisions/{quote(ref, safe='')}")

    def url_for_poll(self, number: int) -> str | None:
        """A poll's page (poll ``#3`` → ``/polls/3``)."""
        return self._url(f"/polls/{int(number)}")


def public_links(config: WebConfig) -> WebLinks:
    """The links for ``config``: real addresses when the web view is enabled, None otherwise."""
    return WebLinks(site_base_url(config) if config.enabled else None)


def room_link(room_id: str, *, via: str) -> str:
    """A matrix.to link to a room; ``via`` names a server that can route to it (v12 room IDs carry none)."""
    return f"{MATRIX_TO}{quote(room_id, safe='')}?via={quote(via, safe='')}"


def event_link(room_id: str, event_id: str, *, via: str) -> str:
    """A matrix.to link to one event in a room."""
    return f"{MATRIX_TO}{quote(room_id, safe='')}/{quote(event_id, safe='')}?via={quote(via, safe='')}"


def user_link(user_id: str) -> str:
    """A matrix.to link to a person's profile."""
    return f"{MATRIX_TO}{quote(user_id, safe='')}"
