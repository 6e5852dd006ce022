"""Tortoise models of the ``sortition`` app: draws, their witnesses and frozen pools, seats, features.

Rows never leave ``storage``: ``storage.sortition.stores`` turns them into core types. Every model sets
``Meta.table_description`` (see ``storage/README.md``).

Privacy: ``FeatureRow`` (self-described features such as gender) and ``PoolEntryRow`` (which pseudonym,
salt and type belong to whom) are sensitive: read to make a draw, to tell people their own entry, and
for ``mydata`` / ``forget-me`` only.
"""

from __future__ import annotations

from typing import Any

from tortoise import fields
from tortoise.indexes import Index
from tortoise.models import Model

_MATRIX_ID = 255
_SLUG = 64
_REF = 100


class DrawRow(Model):
    """A draw: what was asked, where it is in its life, the frozen pool and, once finished, its record."""

    id = fields.BigIntField(primary_key=True)
    ref = fields.CharField(max_length=_REF, unique=True)
    assembly = fields.CharField(max_length=_SLUG)
    number = fields.IntField()
    request: fields.JSONField[dict[str, Any]] = fields.JSONField()
    status = fields.CharField(max_length=16)
    created_by = fields.CharField(max_length=_MATRIX_ID)
    created_at = fields.DatetimeField()
    room_id = fields.CharField(max_length=_MATRIX_ID)
    reveal_by = fields.DatetimeField(null=True)
    frozen_at = fields.DatetimeField(null=True)
    frozen: fields.JSONField[dict[str, Any]] | None = fields.JSONField(null=True)
    finished_at = fields.DatetimeField(null=True)
    cancel_reason = fields.TextField(null=True)
    record: fields.JSONField[dict[str, Any]] | None = fields.JSONField(null=True)
    #: When the frozen pool was announced (and the members told), and when the result was posted.
    announced_at = fields.DatetimeField(null=True)
    result_posted_at = fields.DatetimeField(null=True)

    class Meta:
        table = "sortition_draw"
        table_description = "draws by lot"
        unique_together = (("assembly", "number"),)
        indexes = (Index(fields=["status"], name="sortition_draw_status"),)


class WitnessRow(Model):
    """A named witness of a draw, their commitment and (later) their reveal."""

    id = fields.BigIntField(primary_key=True)
    draw_ref = fields.CharField(max_length=_REF)
    user_id = fields.CharField(max_length=_MATRIX_ID)
    position = fields.IntField()
    commitment = fields.CharField(max_length=64, null=True)
    committed_at = fields.DatetimeField(null=True)
    reveal = fields.CharField(max_length=256, null=True)
    revealed_at = fields.DatetimeField(null=True)

    class Meta:
        table = "sortition_witness"
        table_description = "witnesses of draws"
        unique_together = (("draw_ref", "user_id"),)


class PoolEntryRow(Model):
    """One member of a frozen pool: their pseudonym, salt, type and probability (sensitive)."""

    id = fields.BigIntField(primary_key=True)
    draw_ref = fields.CharField(max_length=_REF)
    pseudonym = fields.CharField(max_length=64)
    #: None once the member asked to be forgotten (the published pool keeps the pseudonym).
    user_id = fields.CharField(max_length=_MATRIX_ID, null=True)
    salt = fields.CharField(max_length=64)
    type_label = fields.TextField()
    probability = fields.CharField(max_length=64)

    class Meta:
        table = "sortition_pool_entry"
        table_description = "frozen pools of draws"
        unique_together = (("draw_ref", "pseudonym"),)
        indexes = (Index(fields=["user_id"], name="sortition_pool_entry_user"),)


class SeatRow(Model):
    """A seat taken by a drawn member (or an alternate after a stand-down), with its term."""

    id = fields.BigIntField(primary_key=True)
    draw_ref = fields.CharField(max_length=_REF)
    assembly = fields.CharField(max_length=_SLUG)
    user_id = fields.CharField(max_length=_MATRIX_ID)
    type_label = fields.TextField()
    pseudonym = fields.CharField(max_length=64)
    since = fields.DatetimeField()
    term_ends = fields.DatetimeField()
    power = fields.CharField(max_length=16)
    status = fields.CharField(max_length=16)
    via = fields.CharField(max_length=16)
    ended_at = fields.DatetimeField(null=True)

    class Meta:
        table = "sortition_seat"
        table_description = "seats taken by the drawn"
        unique_together = (("draw_ref", "pseudonym"),)
        indexes = (Index(fields=["assembly", "status"], name="sortition_seat_assembly_status"),
                   Index(fields=["user_id"], name="sortition_seat_user"))


class FeatureRow(Model):
    """A member's self-described value of one feature (e.g. gender), given by DM (sensitive)."""

    id = fields.BigIntField(primary_key=True)
    user_id = fields.CharField(max_length=_MATRIX_ID)
    category = fields.CharField(max_length=32)
    value = fields.CharField(max_length=32)
    set_at = fields.DatetimeField()

    class Meta:
        table = "sortition_feature"
        table_description = "self-described features for quotas"
        unique_together = (("user_id", "category"),)


class SortitionNoticeRow(Model):
    """A reminder already sent (term ending, term ended), so a restart does not repeat it."""

    id = fields.BigIntField(primary_key=True)
    key = fields.CharField(max_length=255, unique=True)
    at = fields.DatetimeField()

    class Meta:
        table = "sortition_notice"
        table_description = "reminders sent about draws"
