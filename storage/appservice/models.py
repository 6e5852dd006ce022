"""Tortoise model of the ``appservice`` app (see ``storage/README.md`` for the rules models follow)."""

from __future__ import annotations

from tortoise import fields
from tortoise.models import Model


class PushedTransaction(Model):
    """One transaction the homeserver pushed (appservice mode), stored before it is acknowledged.

    The transaction ID is unique: the homeserver retries a transaction with the same ID until it is
    acknowledged, and a retry of a stored one is acknowledged without being stored (or handled) twice.
    The body may hold private messages (encrypted events, to-device keys); it is dropped once handled,
    and never logged."""

    id = fields.BigIntField(primary_key=True)  # the order transactions arrived in, the order they are handled
    txn_id = fields.CharField(max_length=255, unique=True)
    body = fields.TextField()  # the transaction as JSON; emptied once handled
    received_at = fields.DatetimeField()
    handled_at = fields.DatetimeField(null=True)

    class Meta:
        table = "appservice_transaction"
        table_description = "transactions pushed by the homeserver, until handled"
