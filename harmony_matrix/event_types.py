"""Matrix event types and our own ``org.harmony.*`` types, named once.

Every module that reads or writes an event refers to these constants, so a typo is a NameError
rather than an event nobody ever matches.
"""

from __future__ import annotations

from typing import Final

# --- room state -----------------------------------------------------------------------------
ROOM_CREATE: Final = "m.room.create"
ROOM_MEMBER: Final = "m.room.member"
ROOM_JOIN_RULES: Final = "m.room.join_rules"
ROOM_POWER_LEVELS: Final = "m.room.power_levels"
ROOM_NAME: Final = "m.room.name"
ROOM_TOPIC: Final = "m.room.topic"
ROOM_AVATAR: Final = "m.room.avatar"
ROOM_CANONICAL_ALIAS: Final = "m.room.canonical_alias"
ROOM_HISTORY_VISIBILITY: Final = "m.room.history_visibility"
ROOM_GUEST_ACCESS: Final = "m.room.guest_access"
ROOM_SERVER_ACL: Final = "m.room.server_acl"
ROOM_ENCRYPTION: Final = "m.room.encryption"
#: The only room encryption algorithm (``m.room.encryption`` content ``algorithm``).
MEGOLM_ALGORITHM: Final = "m.megolm.v1.aes-sha2"
ROOM_TOMBSTONE: Final = "m.room.tombstone"

# --- spaces ---------------------------------------------------------------------------------
SPACE_CHILD: Final = "m.space.child"
SPACE_PARENT: Final = "m.space.parent"
#: ``creation_content.type`` of a space (not an event type, but it lives with them).
ROOM_TYPE_SPACE: Final = "m.space"

# --- timeline -------------------------------------------------------------------------------
ROOM_MESSAGE: Final = "m.room.message"
ROOM_REDACTION: Final = "m.room.redaction"
REACTION: Final = "m.reaction"
#: Any event in an encrypted room, as the homeserver stores it (the real type is inside the ciphertext).
ROOM_ENCRYPTED: Final = "m.room.encrypted"

# --- ours -----------------------------------------------------------------------------------
#: Public metadata of an assembly, a state event (``state_key`` "") in its space.
HARMONY_ASSEMBLY: Final = "org.harmony.assembly"
#: A content key on each message of a multi-part post (a poll's header, options, results, chart):
#: the part's stable name, so a restart can find in the room what it already posted.
HARMONY_POST_PART: Final = "org.harmony.post_part"

# --- consensus: marker keys in the content of the bot's consensus messages --------------------
# (for clients, tests and audits: which moot, decision, ballot or term a message is about)
MOOT_NOTICE: Final = "org.harmony.moot_notice"
DECISION_NOTICE: Final = "org.harmony.decision"
BALLOT_NOTICE: Final = "org.harmony.ballot"
TERM_NOTICE: Final = "org.harmony.term"
CHECK_NOTICE: Final = "org.harmony.consensus_check"
ACTION_NOTICE: Final = "org.harmony.action"
MINUTES_NOTICE: Final = "org.harmony.minutes"

# --- sortition: the marker key on the bot's messages about a draw ------------------------------
#: ``{"ref": "S-party-1", "kind": "setup" | "frozen" | "member" | "result" | "cancelled" | "record" |
#: "stand-down" | "term-ending" | "term-ended"}``.
DRAW_NOTICE: Final = "org.harmony.draw"

# --- federation of instances (docs/FEDERATION.md) -----------------------------------------------
#: A message between two peer bots, a timeline event in the encrypted room they share.
HARMONY_FEDERATION: Final = "org.harmony.federation"
#: A decision of the record published as state in its assembly's space (``state_key``: its reference).
HARMONY_DECISION_STATE: Final = "org.harmony.decision"
#: The head of an instance's decision chain, state (``state_key`` "") in each space it publishes into.
HARMONY_DECISION_CHAIN: Final = "org.harmony.decision_chain"
