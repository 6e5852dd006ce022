"""The web view's pure rules: what is public, addresses, Last-Modified/ETag bookkeeping, its config."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from handlers.web.caching import Freshness
from handlers.web.links import WebLinks, event_link, public_links, room_link, site_base_url
from handlers.web.server import _code_spans
from handlers.web.visibility import linked_room_kinds, poll_is_public, record_is_public, shows_record
from harmony_matrix.assemblies.assembly import Access, Assembly
from harmony_matrix.assemblies.federation import Federation
from harmony_matrix.assemblies.room_policy import AssemblyRoom, RoomKind
from harmony_matrix.config import ConfigError, WebConfig, parse_config
from harmony_matrix.ids import RoomId

FEDERATION = Federation((
    Assembly(slug="party", name="Party", kind="party"),
    Assembly(slug="members", name="Members", kind="committee", access="members", parents=("party",)),
    Assembly(slug="safe", name="Safe", kind="committee", access="invite", parents=("party",)),
    Assembly(slug="das", name="DAS", kind="society", access="self-identified", declaration="I am disabled.",
             parents=("party",)),
))


def test_invite_and_self_identified_assemblies_show_only_their_public_state() -> None:
    assert [a.slug for a in FEDERATION if shows_record(a)] == ["party", "members"]
    assert linked_room_kinds(FEDERATION["safe"]) == ()
    assert linked_room_kinds(FEDERATION["das"]) == (RoomKind.SPACE,)
    assert RoomKind.SECRETARIAT not in linked_room_kinds(FEDERATION["party"])
    assert record_is_public("members", FEDERATION) and not record_is_public("gone", FEDERATION)


@pytest.mark.parametrize(("slug", "kind", "public"), [
    ("party", RoomKind.VOTES, True), ("party", RoomKind.DISCUSSION, True), ("party", RoomKind.SECRETARIAT, False),
    ("das", RoomKind.VOTES, False), ("safe", RoomKind.VOTES, False), ("gone", RoomKind.VOTES, False)])
def test_polls_are_public_only_in_the_open_rooms_of_a_public_record(slug: str, kind: RoomKind, public: bool) -> None:
    assert poll_is_public(AssemblyRoom(slug, kind, RoomId("!r:x")), FEDERATION) is public
    assert not poll_is_public(None, FEDERATION)  # a direct chat, or a room of no assembly


def test_links_are_none_while_the_web_view_is_off() -> None:
    off = public_links(WebConfig())
    assert (off.url_for_assembly("ops"), off.url_for_decision("D-ops-1"), off.url_for_poll(3)) == (None, None, None)
    on = public_links(WebConfig(enabled=True, base_url="https://harmony.example.org/"))
    assert on.url_for_decision("D-ops-1") == "https://harmony.example.org/decisions/D-ops-1"
    assert on.url_for_poll(3) == "https://harmony.example.org/polls/3"
    assert WebLinks("http://x").url_for_assembly("a/b") == "http://x/assemblies/a%2Fb"
    assert site_base_url(WebConfig(bind="::1", port=9000)) == "http://[::1]:9000"
    assert room_link("!abc:example.org", via="example.org") == "https://matrix.to/#/%21abc%3Aexample.org?via=example.org"
    assert event_link("!r", "$e", via="s") == "https://matrix.to/#/%21r/%24e?via=s"


def test_last_modified_moves_only_when_the_body_changes_and_never_repeats_a_second() -> None:
    now = [datetime(2026, 1, 1, 12, 0, 0, 400_000, tzinfo=UTC)]
    fresh = Freshness(lambda: now[0], limit=2)
    etag, first = fresh.stamp("/", b"one")
    assert first == datetime(2026, 1, 1, 12, 0, 0, tzinfo=UTC)
    now[0] += timedelta(seconds=30)
    assert fresh.stamp("/", b"one") == (etag, first)
    changed_etag, changed = fresh.stamp("/", b"two")
    assert changed_etag != etag and changed == first + timedelta(seconds=30)
    assert fresh.stamp("/", b"one")[1] == changed + timedelta(seconds=1)  # same second: still later
    fresh.stamp("/a", b"x"), fresh.stamp("/b", b"y")
    assert fresh.stamp("/", b"one")[1] == now[0].replace(microsecond=0)  # forgotten (limit 2): stamped anew


def test_code_spans_escape_everything_else() -> None:
    assert str(_code_spans("say `!h join <x>` & <b>")) == "say <code>!h join &lt;x&gt;</code> &amp; &lt;b&gt;"


def test_the_web_config_is_off_by_default_and_checks_its_address(tmp_path) -> None:  # type: ignore[no-untyped-def]
    base = {"homeserver": {"url": "https://matrix.party.example"},
            "bot": {"user_id": "@h:party.example", "access_token": "syt_x"}}
    assert parse_config(base, source="c.yaml").web.enabled is False
    with pytest.raises(ConfigError, match='web.base_url: must be an http\\(s\\) address'):
        parse_config({**base, "web": {"base_url": "harmony.example.org"}}, source="c.yaml")
    with pytest.raises(ConfigError, match="web.port"):
        parse_config({**base, "web": {"port": 0}}, source="c.yaml")
