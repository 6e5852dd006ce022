"""Tortoise model of the ``outbox`` app (see ``storage/README.md`` for the rules models follow)."""

from __future__ import annotations

from tortoise import fields
from tortoise.models import Model

_MATRIX_ID_LENGTH = 255


class OutboxRecord(Model):
    """One send queued by the bot and not yet confirmed by the homeserver (deleted once sent).

    The content may be a private message (a direct message to someone): it lives here only until
    it is sent, and it is never logged."""

    id = fields.BigIntField(primary_key=True)
    kind = fields.CharField(max_length=16)  # event / redaction (state writes are not kept)
    room_id = fields.CharField(max_length=_MATRIX_ID_LENGTH)
    priority = fields.SmallIntField()
    txn_seed = fields.TextField()
    event_type = fields.CharField(max_length=_MATRIX_ID_LENGTH, db_default="")
    content = fields.TextField(db_default="{}")  # canonical JSON
    state_key = fields.TextField(db_default="")
    redacts = fields.CharField(max_length=_MATRIX_ID_LENGTH, db_default="")
    reason = fields.TextField(null=True)
    queued_at = fields.DatetimeField()

    class Meta:
        table = "outbox_record"
        table_description = "sends queued and not yet confirmed"
