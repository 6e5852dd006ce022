"""The messages two peer bots exchange in their shared encrypted room (pure): schema, validation,
who may send each, and idempotency keys. docs/FEDERATION.md is the prose of this module.

Each message is one timeline event of type ``org.harmony.federation`` (encrypted on the wire, as
every event of an encrypted room) whose content is::

    {"version": 1, "kind": "nest.request", "key": "nest.request:!child:!parent:1733...",
     "child_space": "!child", "parent_space": "!parent", ..., "body": "text for humans"}

``key`` is the idempotency key: the sender derives it once from what caused the message and keeps
it, so a message sent again (after a crash, or a retry) carries the same key; the receiver applies
each ``(sender, key)`` once (a unique constraint in its database) and ignores repeats.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import Any, Final

PROTOCOL_VERSION: Final = 1
#: Longest idempotency key, reason and name accepted (a peer cannot make us store a novel).
MAX_KEY_LENGTH: Final = 400
MAX_TEXT_LENGTH: Final = 500
MAX_VIA: Final = 3
_ROOM_ID = re.compile(r"^![^\s:]{1,255}(?::[^\s]{1,255})?$")
_SERVER = re.compile(r"^[A-Za-z0-9.\-\[\]:]{1,255}$")
_USER = re.compile(r"^@[^\s:]{1,255}:[A-Za-z0-9.\-\[\]:]{1,255}$")
_ALIAS = re.compile(r"^#[^\s:]{1,255}:[A-Za-z0-9.\-\[\]:]{1,255}$")


class Kind(StrEnum):
    """The kinds of message (``content.kind``)."""

    #: child's host → parent's host: nest my space ``child_space`` under your ``parent_space``.
    NEST_REQUEST = "nest.request"
    #: parent's host → child's host: done, ``m.space.child`` is set (``via``: the parent's servers).
    NEST_ACCEPTED = "nest.accepted"
    #: parent's host → child's host: waiting for the parent assembly's secretary.
    NEST_PENDING = "nest.pending"
    #: parent's host → child's host: refused, ``reason`` says why.
    NEST_REFUSED = "nest.refused"
    #: child's host → parent's host: take my space out of yours.
    UNNEST_REQUEST = "unnest.request"
    #: parent's host → child's host: the ``m.space.child`` is gone.
    UNNEST_DONE = "unnest.done"
    #: child's host → parent's host: seat ``user``, a delegate of ``child_space``, in ``parent_space``.
    DELEGATE_SEAT = "delegate.seat"
    #: parent's host → child's host: ``user`` is seated (invited to the umbrella's rooms).
    DELEGATE_ADMITTED = "delegate.admitted"
    #: parent's host → child's host: ``user`` is not seated, ``reason`` says why.
    DELEGATE_REFUSED = "delegate.refused"
    #: child's host → parent's host: ``user`` no longer holds the seat (stood down, withdrawn).
    DELEGATE_UNSEAT = "delegate.unseat"
    #: parent's host → child's host: the seat of ``user`` is ended.
    DELEGATE_UNSEATED = "delegate.unseated"
    #: any instance → the home instance of ``user``: was ``user`` a registered member at ``at``?
    ELIGIBILITY_ASK = "eligibility.ask"
    #: the home instance → the asker: ``member`` (yes/no) for ``user`` at ``at``.
    ELIGIBILITY_ANSWER = "eligibility.answer"


#: The fields each kind needs besides ``version``, ``kind`` and ``key``.
REQUIRED: Final[Mapping[Kind, tuple[str, ...]]] = {
    Kind.NEST_REQUEST: ("child_space", "parent_space", "via", "child_name"),
    Kind.NEST_ACCEPTED: ("child_space", "parent_space", "via"),
    Kind.NEST_PENDING: ("child_space", "parent_space"),
    Kind.NEST_REFUSED: ("child_space", "parent_space", "reason"),
    Kind.UNNEST_REQUEST: ("child_space", "parent_space"),
    Kind.UNNEST_DONE: ("child_space", "parent_space"),
    Kind.DELEGATE_SEAT: ("child_space", "parent_space", "user"),
    Kind.DELEGATE_ADMITTED: ("child_space", "parent_space", "user"),
    Kind.DELEGATE_REFUSED: ("child_space", "parent_space", "user", "reason"),
    Kind.DELEGATE_UNSEAT: ("child_space", "parent_space", "user"),
    Kind.DELEGATE_UNSEATED: ("child_space", "parent_space", "user"),
    Kind.ELIGIBILITY_ASK: ("user", "at"),
    Kind.ELIGIBILITY_ANSWER: ("user", "at", "member"),
}

class Role(StrEnum):
    """Who must have sent a kind, checked against the receiver's own record of the link."""

    #: The host of ``child_space`` (its ``m.room.create`` sender).
    CHILD_HOST = "child-host"
    #: The peer the receiver asked (the host of ``parent_space``, recorded when it asked).
    PARENT_HOST = "parent-host"


SENDER_ROLE: Final[Mapping[Kind, Role]] = {
    Kind.NEST_REQUEST: Role.CHILD_HOST,
    Kind.UNNEST_REQUEST: Role.CHILD_HOST,
    Kind.NEST_ACCEPTED: Role.PARENT_HOST,
    Kind.NEST_PENDING: Role.PARENT_HOST,
    Kind.NEST_REFUSED: Role.PARENT_HOST,
    Kind.UNNEST_DONE: Role.PARENT_HOST,
    Kind.DELEGATE_SEAT: Role.CHILD_HOST,
    Kind.DELEGATE_UNSEAT: Role.CHILD_HOST,
    Kind.DELEGATE_ADMITTED: Role.PARENT_HOST,
    Kind.DELEGATE_REFUSED: Role.PARENT_HOST,
    Kind.DELEGATE_UNSEATED: Role.PARENT_HOST,
}


class MalformedMessage(ValueError):
    """The content is not a message of this protocol; the text names the field, never its value."""


@dataclass(frozen=True)
class FederationMessage:
    """One message, validated."""

    kind: Kind
    key: str
    child_space: str
    parent_space: str
    via: tuple[str, ...] = ()
    child_name: str = ""
    parent_alias: str = ""
    reason: str = ""
    #: The person a ``delegate.*`` or ``eligibility.*`` message is about (a Matrix user ID).
    user: str = ""
    #: ``eligibility.*``: the moment asked about (server milliseconds since the epoch).
    at: int = 0
    #: ``eligibility.answer``: whether ``user`` was a registered member at ``at``.
    member: bool = False

    def to_content(self, body: str) -> dict[str, Any]:
        """The event content (``body``: a line for a person reading the room)."""
        content: dict[str, Any] = {"version": PROTOCOL_VERSION, "kind": self.kind.value, "key": self.key,
                                   "body": body}
        if "child_space" in REQUIRED[self.kind] or self.child_space:
            content["child_space"] = self.child_space
            content["parent_space"] = self.parent_space
        for name in ("at", "member"):
            if name in REQUIRED[self.kind]:
                content[name] = getattr(self, name)
        if self.via or "via" in REQUIRED[self.kind]:
            content["via"] = list(self.via)
        for name in ("child_name", "parent_alias", "reason", "user"):
            if getattr(self, name) or name in REQUIRED[self.kind]:
                content[name] = getattr(self, name)
        return content


def parse_message(content: Mapping[str, Any]) -> FederationMessage:
    """A message from an event's content; ``MalformedMessage`` names what is wrong."""
    if not isinstance(content, Mapping):
        raise MalformedMessage("the content is not an object")
    if content.get("version") != PROTOCOL_VERSION:
        raise MalformedMessage(f"version must be {PROTOCOL_VERSION}")
    try:
        kind = Kind(str(content.get("kind")))
    except ValueError:
        raise MalformedMessage("unknown kind") from None
    missing = [name for name in ("key", *REQUIRED[kind]) if name not in content]
    if missing:
        raise MalformedMessage(f"{kind.value} lacks {', '.join(missing)}")
    key = _text(content, "key", limit=MAX_KEY_LENGTH)
    if not key:
        raise MalformedMessage("key is empty")
    spaces = "child_space" in REQUIRED[kind]
    child = _room(content, "child_space") if spaces else ""
    parent = _room(content, "parent_space") if spaces else ""
    at, member = 0, False
    if "at" in REQUIRED[kind]:
        if not isinstance(content["at"], int) or isinstance(content["at"], bool) or content["at"] < 0:
            raise MalformedMessage("at must be a non-negative integer (milliseconds)")
        at = content["at"]
    if "member" in REQUIRED[kind]:
        if not isinstance(content["member"], bool):
            raise MalformedMessage("member must be true or false")
        member = content["member"]
    via: tuple[str, ...] = ()
    if "via" in content:
        raw = content["via"]
        if not isinstance(raw, list) or not raw or len(raw) > MAX_VIA:
            raise MalformedMessage(f"via must be a list of 1 to {MAX_VIA} server names")
        if not all(isinstance(s, str) and _SERVER.match(s) for s in raw):
            raise MalformedMessage("via holds something that is not a server name")
        via = tuple(raw)
    alias = _text(content, "parent_alias") if "parent_alias" in content else ""
    if alias and not _ALIAS.match(alias):
        raise MalformedMessage("parent_alias is not a room alias")
    user = _text(content, "user") if "user" in content else ""
    if user and not _USER.match(user):
        raise MalformedMessage("user is not a Matrix user ID")
    if "user" in REQUIRED[kind] and not user:
        raise MalformedMessage("user is empty")
    return FederationMessage(
        kind=kind, key=key, child_space=child, parent_space=parent, via=via,
        child_name=_text(content, "child_name") if "child_name" in content else "",
        parent_alias=alias, reason=_text(content, "reason") if "reason" in content else "", user=user,
        at=at, member=member)


def _text(content: Mapping[str, Any], name: str, *, limit: int = MAX_TEXT_LENGTH) -> str:
    value = content[name]
    if not isinstance(value, str):
        raise MalformedMessage(f"{name} must be text")
    if len(value) > limit:
        raise MalformedMessage(f"{name} is longer than {limit} characters")
    return value.strip()


def _room(content: Mapping[str, Any], name: str) -> str:
    value = content[name]
    if not isinstance(value, str) or not _ROOM_ID.match(value):
        raise MalformedMessage(f"{name} is not a room ID")
    return value


# --- idempotency keys -------------------------------------------------------------------------
def request_key(kind: Kind, *, child_space: str, parent_space: str, epoch: int) -> str:
    """The key of a request, fixed when the sender decides to ask (``epoch``: e.g. milliseconds then,
    stored with the link) and kept for every resend."""
    return f"{kind.value}:{child_space}:{parent_space}:{epoch}"


def answer_key(request: FederationMessage, kind: Kind) -> str:
    """The key of the answer to ``request``: one answer of each kind per request."""
    return f"{request.key}/{kind.value}"


def answer(request: FederationMessage, kind: Kind, *, via: Sequence[str] = (), reason: str = "") -> FederationMessage:
    """The answer of ``kind`` to ``request`` (same spaces, key derived from the request's)."""
    return FederationMessage(kind=kind, key=answer_key(request, kind), child_space=request.child_space,
                             parent_space=request.parent_space, via=tuple(via)[:MAX_VIA],
                             reason=reason[:MAX_TEXT_LENGTH], user=request.user, at=request.at)
