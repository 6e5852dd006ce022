"""Tortoise models of the ``core`` app.

These rows never leave ``storage``: the stores in ``storage.core.stores`` translate them to the
plain types of ``storage.core.types``. Changing a model means generating a migration
(see ``storage/README.md``).

Every model sets ``Meta.table_description``: otherwise tortoise stores the first docstring line
as the table comment, so editing a docstring would need a migration, and a ``;`` in it breaks
the SQLite migration (the client splits statements on ``;``).
"""

from __future__ import annotations

from tortoise import fields
from tortoise.indexes import Index
from tortoise.models import Model

# Matrix caps user, room and event IDs at 255 bytes (spec: "Identifier grammar").
_MATRIX_ID_LENGTH = 255


class SyncToken(Model):
    """The ``next_batch`` token of the last fully handled sync, one row per bot account."""

    user_id = fields.CharField(max_length=_MATRIX_ID_LENGTH, primary_key=True)
    token = fields.TextField()
    updated_at = fields.DatetimeField(auto_now=True)

    class Meta:
        table = "core_sync_token"
        table_description = "sync token per bot account"


class ProcessedEvent(Model):
    """An event the dispatcher has handled; the unique event ID is what makes handling idempotent."""

    id = fields.BigIntField(primary_key=True)
    event_id = fields.CharField(max_length=_MATRIX_ID_LENGTH, unique=True)
    room_id = fields.CharField(max_length=_MATRIX_ID_LENGTH)
    # What the event was handled as ("command", "reaction", ...); added in 0002. A database-side
    # default, because adding a NOT NULL column to a table with rows needs one.
    kind = fields.CharField(max_length=32, db_default="")
    processed_at = fields.DatetimeField()

    class Meta:
        table = "core_processed_event"
        table_description = "events already handled, for idempotency"
        # prune() deletes by age. A Meta index rather than db_index=True: tortoise 1.1 rebuilds a
        # SQLite table for AlterField and loses field-level indexes; AddIndex is plain CREATE INDEX.
        indexes = (Index(fields=["processed_at"], name="core_processed_event_age"),)


class LoginSession(Model):
    """The bot's login, so a restart reuses its device instead of creating a new one."""

    user_id = fields.CharField(max_length=_MATRIX_ID_LENGTH, primary_key=True)
    device_id = fields.CharField(max_length=_MATRIX_ID_LENGTH)
    access_token = fields.TextField()
    updated_at = fields.DatetimeField(auto_now=True)

    class Meta:
        table = "core_login_session"
        table_description = "bot login per account"


class AuditRecord(Model):
    """One append-only line of the audit log (kicks, bans, power changes made by the bot)."""

    id = fields.BigIntField(primary_key=True)
    action = fields.CharField(max_length=64)
    room_id = fields.CharField(max_length=_MATRIX_ID_LENGTH, null=True)
    target_user = fields.CharField(max_length=_MATRIX_ID_LENGTH, null=True)
    actor = fields.CharField(max_length=_MATRIX_ID_LENGTH, null=True)
    reason = fields.TextField(null=True)
    at = fields.DatetimeField(db_index=True)

    class Meta:
        table = "core_audit_record"
        table_description = "append-only audit log"


class PartyMember(Model):
    """A registered party member (sensitive: who is a member is never posted or logged)."""

    user_id = fields.CharField(max_length=_MATRIX_ID_LENGTH, primary_key=True)
    added_by = fields.CharField(max_length=_MATRIX_ID_LENGTH)
    added_at = fields.DatetimeField()

    class Meta:
        table = "core_party_member"
        table_description = "the party membership registry"


class DirectChat(Model):
    """The bot's direct chat with one person (opened by them or by the bot); one per person."""

    user_id = fields.CharField(max_length=_MATRIX_ID_LENGTH, primary_key=True)
    room_id = fields.CharField(max_length=_MATRIX_ID_LENGTH, unique=True)
    since = fields.DatetimeField()

    class Meta:
        table = "core_direct_chat"
        table_description = "direct chats between the bot and one person"
