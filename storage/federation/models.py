"""Tortoise models of the ``federation`` app: links to peer instances and the peer messages applied.

Nothing here is personal data: links name spaces and peer bots, applied messages their keys."""

from __future__ import annotations

from tortoise import fields
from tortoise.models import Model

from harmony_matrix.assemblies.assembly import MAX_SLUG_LENGTH

_MATRIX_ID_LENGTH = 255


class FederationLink(Model):
    """One nesting across instances, as this side records it (``harmony_matrix.federation_peers.links``)."""

    id = fields.BigIntField(primary_key=True)
    side = fields.CharField(max_length=16)
    local_slug = fields.CharField(max_length=MAX_SLUG_LENGTH)
    local_space = fields.CharField(max_length=_MATRIX_ID_LENGTH)
    remote_space = fields.CharField(max_length=_MATRIX_ID_LENGTH)
    peer = fields.CharField(max_length=_MATRIX_ID_LENGTH)
    state = fields.CharField(max_length=16)
    key = fields.TextField()
    via = fields.TextField(db_default="[]")  # JSON list of server names
    remote_label = fields.TextField(db_default="")
    reason = fields.TextField(db_default="")
    updated_at = fields.DatetimeField()

    class Meta:
        table = "federation_link"
        table_description = "nestings across instances"
        unique_together = (("side", "local_space", "remote_space"),)


class AppliedPeerMessage(Model):
    """A peer message applied once: a repeat of the same (sender, key) is ignored."""

    id = fields.BigIntField(primary_key=True)
    sender = fields.CharField(max_length=_MATRIX_ID_LENGTH)
    key = fields.CharField(max_length=400)
    kind = fields.CharField(max_length=32)
    applied_at = fields.DatetimeField()

    class Meta:
        table = "federation_applied"
        table_description = "peer messages applied (idempotency)"
        unique_together = (("sender", "key"),)


class PeerRoomRow(Model):
    """The encrypted room this bot shares with one peer bot."""

    peer = fields.CharField(max_length=_MATRIX_ID_LENGTH, primary_key=True)
    room_id = fields.CharField(max_length=_MATRIX_ID_LENGTH)

    class Meta:
        table = "federation_peer_room"
        table_description = "the encrypted room shared with each peer bot"


class FederationDelegate(Model):
    """One delegate of a nested assembly seated across instances (``federation_peers.delegates``).

    Delegates are public (they speak for their assembly); no membership or ballot is kept here."""

    id = fields.BigIntField(primary_key=True)
    side = fields.CharField(max_length=16)
    local_slug = fields.CharField(max_length=MAX_SLUG_LENGTH)
    local_space = fields.CharField(max_length=_MATRIX_ID_LENGTH)
    remote_space = fields.CharField(max_length=_MATRIX_ID_LENGTH)
    peer = fields.CharField(max_length=_MATRIX_ID_LENGTH)
    user = fields.CharField(max_length=_MATRIX_ID_LENGTH)
    state = fields.CharField(max_length=16)
    key = fields.TextField()
    reason = fields.TextField(db_default="")
    updated_at = fields.DatetimeField()

    class Meta:
        table = "federation_delegate"
        table_description = "delegates seated across instances"
        unique_together = (("side", "local_space", "remote_space", "user"),)


class EligibilityQuestion(Model):
    """A question asked of a peer instance ("was @x a member at T?") and its yes/no once answered.

    Membership is special-category data: the answer is kept here (for the recount at close) and never
    logged or posted."""

    id = fields.BigIntField(primary_key=True)
    key = fields.CharField(max_length=400, unique=True)
    peer = fields.CharField(max_length=_MATRIX_ID_LENGTH)
    user = fields.CharField(max_length=_MATRIX_ID_LENGTH)
    at = fields.BigIntField()
    answer = fields.BooleanField(null=True)
    asked_at = fields.DatetimeField()

    class Meta:
        table = "federation_eligibility_question"
        table_description = "membership questions asked of peer instances (yes/no)"
