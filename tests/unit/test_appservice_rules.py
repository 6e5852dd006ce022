"""Appservice mode's pure rules: the homeserver's token, the registration file, and a pushed transaction
read as a /sync batch (which nio's own parser must accept)."""

from __future__ import annotations

from typing import Any

import pytest
from nio import InviteMemberEvent, RoomMessageText, SyncResponse, UnknownToDeviceEvent

from harmony_matrix.appservice import (
    Refusal,
    check_hs_token,
    own_join,
    pushed_batch,
    registration,
    said_while_invited,
)
from harmony_matrix.ids import UserId

BOT = UserId("@harmony:example.org")
TOKEN = "hs-secret-token"


@pytest.mark.parametrize(("authorization", "query", "expected"), [
    (f"Bearer {TOKEN}", None, None),
    (f"bearer  {TOKEN} ", None, None),
    (None, TOKEN, None),  # the legacy access_token query parameter
    (None, None, Refusal(401, "M_UNAUTHORIZED", "no homeserver token given")),
    ("Bearer ", None, Refusal(401, "M_UNAUTHORIZED", "no homeserver token given")),
    ("Basic abc", None, Refusal(401, "M_UNAUTHORIZED", "no homeserver token given")),
    ("Bearer wrong", None, Refusal(403, "M_FORBIDDEN", "the homeserver token is not this appservice's")),
    (None, "wrong", Refusal(403, "M_FORBIDDEN", "the homeserver token is not this appservice's")),
    ("Bearer wrong", TOKEN, Refusal(403, "M_FORBIDDEN", "the homeserver token is not this appservice's")),
    (f"Bearer {TOKEN}x", None, Refusal(403, "M_FORBIDDEN", "the homeserver token is not this appservice's")),
])
def test_only_the_registrations_hs_token_is_accepted(authorization: str | None, query: str | None,
                                                     expected: Refusal | None) -> None:
    assert check_hs_token(authorization=authorization, query_token=query, expected=TOKEN) == expected


def test_no_expected_token_accepts_nothing() -> None:
    refusal = check_hs_token(authorization="Bearer ", query_token="", expected="")
    assert refusal is not None and refusal.status == 401
    refusal = check_hs_token(authorization="Bearer x", query_token=None, expected="")
    assert refusal is not None and refusal.status == 403


def test_the_registration_claims_the_bot_alone_and_asks_for_what_encryption_needs() -> None:
    content = registration(id="harmony", url="http://harmony:9009", as_token="as", hs_token="hs",
                           bot=UserId("@harmony.bot:example.org"))

    assert content["id"] == "harmony" and content["url"] == "http://harmony:9009"
    assert (content["as_token"], content["hs_token"]) == ("as", "hs")
    assert content["sender_localpart"] == "harmony.bot"
    assert content["namespaces"] == {"users": [{"exclusive": True, "regex": r"^@harmony\.bot:example\.org$"}],
                                     "aliases": [], "rooms": []}
    assert content["receive_ephemeral"] is True and content["de.sorunome.msc2409.push_ephemeral"] is True
    assert content["org.matrix.msc3202"] is True and content["rate_limited"] is False


def _event(event_id: str, room: str, *, sender: str = "@alice:example.org", body: str = "hi") -> dict[str, Any]:
    return {"type": "m.room.message", "event_id": event_id, "room_id": room, "sender": sender,
            "origin_server_ts": 1, "content": {"msgtype": "m.text", "body": body}}


def _member(event_id: str, room: str, membership: str, *, target: str = BOT, sender: str = "@alice:example.org",
            prev: str | None = None, direct: bool = False, **unsigned: Any) -> dict[str, Any]:
    extra = dict(unsigned)
    if prev is not None:
        extra["prev_content"] = {"membership": prev}
    content: dict[str, Any] = {"membership": membership, **({"is_direct": True} if direct else {})}
    return {"type": "m.room.member", "event_id": event_id, "room_id": room, "sender": sender, "state_key": target,
            "origin_server_ts": 1, "content": content, "unsigned": extra}


def test_a_transaction_becomes_a_sync_batch_nio_reads() -> None:
    transaction = {
        "events": [
            _event("$a1", "!a:x", body="!h ping"),
            _event("$b1", "!b:x"),
            _event("$a2", "!a:x", body="second"),
            _member("$inv", "!c:x", "invite", direct=True,
                    invite_room_state=[{"type": "m.room.name", "state_key": "", "sender": "@alice:example.org",
                                        "content": {"name": "Chat"}}]),
            _event("$d1", "!d:x"),
            _member("$kick", "!d:x", "leave", sender="@mod:x"),
        ],
        "de.sorunome.msc2409.to_device": [
            {"type": "org.example.hello", "sender": "@alice:example.org", "content": {"hi": 1}, "to_user_id": BOT,
             "to_device_id": "BOTDEV"},
            {"type": "org.example.hello", "sender": "@alice:example.org", "content": {"hi": 1}, "to_user_id": BOT,
             "to_device_id": "OTHER"},
            {"type": "org.example.hello", "sender": "@alice:example.org", "content": {"hi": 1}, "to_user_id": "@someone:x",
             "to_device_id": "BOTDEV"},
        ],
        "org.matrix.msc3202.device_lists": {"changed": ["@alice:example.org"], "left": ["@gone:x"]},
        "org.matrix.msc3202.device_one_time_keys_count": {BOT: {"BOTDEV": {"signed_curve25519": 42},
                                                                "OTHER": {"signed_curve25519": 1}}},
        "org.matrix.msc3202.device_unused_fallback_key_types": {BOT: {"BOTDEV": ["signed_curve25519"]}},
    }

    batch = pushed_batch(transaction, txn_id="17", bot=BOT, device_id="BOTDEV")
    response = SyncResponse.from_dict(batch)

    assert isinstance(response, SyncResponse), response
    assert response.next_batch == "appservice:17"
    join = response.rooms.join
    assert list(join) == ["!a:x", "!b:x"]
    assert [e.event_id for e in join["!a:x"].timeline.events] == ["$a1", "$a2"]
    assert isinstance(join["!a:x"].timeline.events[0], RoomMessageText)
    assert join["!a:x"].timeline.limited is False
    assert list(response.rooms.leave) == ["!d:x"]  # the bot was removed: nothing there is acted on
    invite = response.rooms.invite["!c:x"].invite_state
    assert [type(e) for e in invite][-1] is InviteMemberEvent and invite[-1].content["is_direct"] is True
    assert [e.source["type"] for e in invite] == ["m.room.name", "m.room.member"]
    assert len(response.to_device_events) == 1 and isinstance(response.to_device_events[0], UnknownToDeviceEvent)
    assert response.device_list.changed == ["@alice:example.org"] and response.device_list.left == ["@gone:x"]
    assert response.device_key_count.signed_curve25519 == 42
    assert batch["device_unused_fallback_key_types"] == ["signed_curve25519"]


def test_an_empty_transaction_is_an_empty_batch() -> None:
    response = SyncResponse.from_dict(pushed_batch({"events": []}, txn_id="1", bot=BOT, device_id="D"))
    assert isinstance(response, SyncResponse)
    assert not response.rooms.join and not response.rooms.invite and not response.to_device_events
    assert response.device_key_count.signed_curve25519 is None


def test_own_join_is_a_join_not_a_profile_change() -> None:
    assert own_join([_event("$x", "!r:x"), _member("$j", "!r:x", "join", sender=BOT, prev="invite")], BOT) == "$j"
    assert own_join([_member("$n", "!r:x", "join", sender=BOT, prev="join")], BOT) is None
    assert own_join([_member("$o", "!r:x", "join", target="@alice:example.org", prev="invite")], BOT) is None
    assert own_join([_member("$c", "!r:x", "join", sender=BOT)], BOT) is None  # a room it created
    assert own_join([_member("$r", "!r:x", "join", sender=BOT, prev="leave")], BOT) is None  # joined again


def test_what_was_said_between_the_invite_and_the_join() -> None:
    newest_first = [_event("$after", "!r:x"), _member("$join", "!r:x", "join", sender=BOT),
                    _event("$m2", "!r:x"), _event("$m1", "!r:x"), _member("$invite", "!r:x", "invite"),
                    _event("$before", "!r:x")]

    events, reached = said_while_invited(newest_first, bot=BOT, join_event_id="$join")

    assert [e["event_id"] for e in events] == ["$m1", "$m2"] and reached
    partial, reached = said_while_invited(newest_first[:3], bot=BOT, join_event_id="$join")
    assert [e["event_id"] for e in partial] == ["$m2"] and not reached
    assert said_while_invited(newest_first, bot=BOT, join_event_id="$elsewhere") == ([], False)
