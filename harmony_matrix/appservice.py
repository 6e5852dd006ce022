"""Appservice mode: the registration, the homeserver's credentials and a pushed transaction read as a
/sync batch. Pure: the HTTP side is ``handlers/matrix/appservice.py``.

In appservice mode the homeserver *pushes* transactions (``PUT /_matrix/app/v1/transactions/{txnId}``)
instead of the bot polling ``/sync``. ``pushed_batch`` turns one transaction into the shape of a /sync
response, so the very same dispatcher (``handlers/matrix/dispatcher.py``) handles it: one event path in
both modes. With MSC2409 (to-device) and MSC3202 (device lists, one-time key counts) the transaction
also carries what end-to-end encryption needs; only what is meant for the bot's own device is kept.
"""

from __future__ import annotations

import hmac
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from harmony_matrix.event_types import ROOM_MEMBER
from harmony_matrix.ids import UserId

#: The transaction keys of MSC2409 (to-device) and MSC3202 (device lists, key counts) as Synapse sends
#: them (unstable prefixes; Synapse 1.163 has no stable names for them yet).
TO_DEVICE_KEYS = ("de.sorunome.msc2409.to_device", "org.matrix.msc2409.to_device", "to_device")
DEVICE_LISTS_KEYS = ("org.matrix.msc3202.device_lists", "device_lists")
OTK_COUNT_KEYS = ("org.matrix.msc3202.device_one_time_keys_count", "org.matrix.msc3202.device_one_time_key_counts",
                  "device_one_time_keys_count")
FALLBACK_KEYS = ("org.matrix.msc3202.device_unused_fallback_key_types", "device_unused_fallback_key_types")

#: What a prefix of ``next_batch`` marks a pushed batch with (nio ignores a batch whose token it has seen).
PUSHED_BATCH_PREFIX = "appservice:"


@dataclass(frozen=True)
class Refusal:
    """An answer to a request the homeserver did not authenticate (the spec's status and errcode)."""

    status: int
    errcode: str
    error: str


def check_hs_token(*, authorization: str | None, query_token: str | None, expected: str) -> Refusal | None:
    """None when the request carries the registration's ``hs_token``, else the refusal to send.

    The token comes as ``Authorization: Bearer <token>`` (spec v1.4 and later) or, from older
    homeservers, as the ``access_token`` query parameter. No token: 401 ``M_UNAUTHORIZED``; a wrong
    one: 403 ``M_FORBIDDEN``. Compared in constant time."""
    token: str | None = None
    if authorization:
        scheme, _, value = authorization.strip().partition(" ")
        if scheme.lower() == "bearer" and value.strip():
            token = value.strip()
    if token is None and query_token:
        token = query_token
    if token is None:
        return Refusal(401, "M_UNAUTHORIZED", "no homeserver token given")
    if not expected or not hmac.compare_digest(token.encode(), expected.encode()):
        return Refusal(403, "M_FORBIDDEN", "the homeserver token is not this appservice's")
    return None


def registration(*, id: str, url: str, as_token: str, hs_token: str, bot: UserId) -> dict[str, Any]:
    """The registration file's content (the homeserver loads it from ``app_service_config_files``).

    The user namespace is the bot alone (exclusively: nobody else may register it), the bot is the
    ``sender_localpart``; no alias or room namespace. ``receive_ephemeral`` and the MSC2409/MSC3202 flags
    ask the homeserver to push to-device messages, device list changes and key counts, which the bot's
    end-to-end encryption needs without /sync. ``rate_limited: false`` exempts requests made with the
    as_token (the bot's device token is exempted by the operator, see the README)."""
    localpart, _, _server = bot[1:].partition(":")
    return {
        "id": id,
        "url": url,
        "as_token": as_token,
        "hs_token": hs_token,
        "sender_localpart": localpart,
        "namespaces": {
            "users": [{"exclusive": True, "regex": "^" + re.escape(bot) + "$"}],
            "aliases": [],
            "rooms": [],
        },
        "rate_limited": False,
        "receive_ephemeral": True,
        "de.sorunome.msc2409.push_ephemeral": True,
        "org.matrix.msc3202": True,
    }


def _first(body: Mapping[str, Any], keys: Sequence[str]) -> Any:
    for key in keys:
        if key in body:
            return body[key]
    return None


def _stripped(event: Mapping[str, Any]) -> dict[str, Any]:
    return {key: event[key] for key in ("type", "state_key", "sender", "content") if key in event}


def pushed_batch(body: Mapping[str, Any], *, txn_id: str, bot: UserId, device_id: str) -> dict[str, Any]:
    """A pushed transaction as a /sync response body (what ``nio.SyncResponse.from_dict`` reads).

    * Timeline events are grouped by room, in the order pushed. The bot's own membership decides the
      section: an invite to the bot becomes an entry of ``rooms.invite`` (with the room state the invite
      carries), a room the bot left or was removed from goes to ``rooms.leave`` (nothing there is acted
      on, as with /sync), every other room is in ``rooms.join``.
    * To-device messages for the bot's device, device list changes and the device's one-time key count
      and unused fallback key types are copied into their /sync places; those for other users or
      devices are dropped.
    """
    join: dict[str, list[dict[str, Any]]] = {}
    invite: dict[str, list[dict[str, Any]]] = {}
    bot_membership: dict[str, str] = {}
    for event in body.get("events") or []:
        if not isinstance(event, dict) or not isinstance(event.get("room_id"), str):
            continue
        room_id = event["room_id"]
        if event.get("type") == ROOM_MEMBER and event.get("state_key") == bot:
            membership = str((event.get("content") or {}).get("membership", ""))
            bot_membership[room_id] = membership
            if membership == "invite":
                state = (event.get("unsigned") or {}).get("invite_room_state") or []
                invite[room_id] = [_stripped(s) for s in state if isinstance(s, dict)] + [_stripped(event)]
                continue
        join.setdefault(room_id, []).append(event)
    rooms: dict[str, Any] = {"join": {}, "invite": {}, "leave": {}}
    for room_id, events in join.items():
        section = "leave" if bot_membership.get(room_id) in ("leave", "ban") else "join"
        rooms[section][room_id] = {"timeline": {"events": events, "limited": False, "prev_batch": ""},
                                   "state": {"events": []}}
    for room_id, state in invite.items():
        if room_id not in rooms["join"]:
            rooms["invite"][room_id] = {"invite_state": {"events": state}}
    to_device = [
        {key: value for key, value in message.items() if key not in ("to_user_id", "to_device_id")}
        for message in _first(body, TO_DEVICE_KEYS) or []
        if isinstance(message, dict) and message.get("to_user_id") == bot
        and message.get("to_device_id") in (device_id, "*")
    ]
    device_lists = _first(body, DEVICE_LISTS_KEYS) or {}
    counts = ((_first(body, OTK_COUNT_KEYS) or {}).get(bot) or {}).get(device_id) or {}
    fallback = ((_first(body, FALLBACK_KEYS) or {}).get(bot) or {}).get(device_id)
    batch: dict[str, Any] = {
        "next_batch": PUSHED_BATCH_PREFIX + txn_id,
        "rooms": rooms,
        "to_device": {"events": to_device},
        "device_lists": {"changed": list(device_lists.get("changed") or []),
                         "left": list(device_lists.get("left") or [])},
        "device_one_time_keys_count": dict(counts),
    }
    if fallback is not None:
        batch["device_unused_fallback_key_types"] = list(fallback)
    return batch


def own_join(events: Sequence[Mapping[str, Any]], bot: UserId) -> str | None:
    """The event ID of the bot's own join of a room it was invited to among ``events``, or None.

    Only a join that accepts an invite: a room the bot joins on its own (one it created, or joins
    again) has nobody waiting for an answer, and reading back to its last leave would replay old
    commands (a /sync after such a join shows nothing older than the last sync either)."""
    for event in events:
        if (event.get("type") == ROOM_MEMBER and event.get("state_key") == bot
                and (event.get("content") or {}).get("membership") == "join"
                and ((event.get("unsigned") or {}).get("prev_content") or {}).get("membership") == "invite"):
            return str(event.get("event_id"))
    return None


def said_while_invited(newest_first: Sequence[Mapping[str, Any]], *, bot: UserId, join_event_id: str
                       ) -> tuple[list[dict[str, Any]], bool]:
    """From a room's events newest first (``/messages`` pages), the ones between the bot's invite and its
    join ``join_event_id``, oldest first, and whether the invite was reached.

    The homeserver pushes only events of rooms the bot has joined, so what people said after inviting
    it and before it joined (a command typed at once) is read back, as the first /sync after a join
    would show it."""
    collected: list[dict[str, Any]] = []
    passed_join = False
    for event in newest_first:
        if not passed_join:
            passed_join = event.get("event_id") == join_event_id
            continue
        if event.get("type") == ROOM_MEMBER and event.get("state_key") == bot:
            return list(reversed(collected)), True  # the invite (or an earlier membership): stop here
        collected.append(dict(event))
    return list(reversed(collected)), False


def pushed_rooms(batch: Mapping[str, Any]) -> list[str]:
    """The rooms of a pushed batch the bot is in (whose state the edge loads once, see the dispatcher)."""
    return list(batch["rooms"]["join"])
