"""Tortoise models of the ``assemblies`` app.

Rows never leave ``storage``: ``storage.assemblies.stores`` turns them into core types. Every model
sets ``Meta.table_description`` (see ``storage/core/models.py`` for why).

Privacy: ``Declaration`` and ``PendingDeclaration`` are special-category data (docs/spec/product.md §5). They
are only ever read to decide access and to export or erase a person's data.
"""

from __future__ import annotations

from typing import Any

from tortoise import fields
from tortoise.models import Model

from harmony_matrix.assemblies.assembly import MAX_SLUG_LENGTH

_MATRIX_ID_LENGTH = 255
_SLUG_LENGTH = MAX_SLUG_LENGTH


class AssemblyRow(Model):
    """One assembly of the registry; ``data`` holds its fields as in the federation file."""

    slug = fields.CharField(max_length=_SLUG_LENGTH, primary_key=True)
    # Keeps the order assemblies were given in (display order of the tree).
    position = fields.IntField(default=0)
    data: fields.JSONField[dict[str, Any]] = fields.JSONField()
    updated_at = fields.DatetimeField(auto_now=True)

    class Meta:
        table = "assemblies_assembly"
        table_description = "registry of assemblies"


class AssemblyRoomRow(Model):
    """A Matrix room provisioned for an assembly: its space or one of its child rooms."""

    id = fields.BigIntField(primary_key=True)
    slug = fields.CharField(max_length=_SLUG_LENGTH)
    kind = fields.CharField(max_length=32)
    room_id = fields.CharField(max_length=_MATRIX_ID_LENGTH, unique=True)
    room_version = fields.CharField(max_length=32, default="12")
    #: Its canonical alias (``#party-discussion:example.org``) once the bot has set it.
    alias = fields.CharField(max_length=_MATRIX_ID_LENGTH, null=True)

    class Meta:
        table = "assemblies_room"
        table_description = "rooms of each assembly"
        unique_together = (("slug", "kind"),)


class RegistryGeneration(Model):
    """A counter raised by every change to the registry, so a running bot notices an import made by
    another process with one cheap read (``AssemblyRegistryStore.generation``)."""

    name = fields.CharField(max_length=32, primary_key=True)
    value = fields.BigIntField(default=0)

    class Meta:
        table = "assemblies_generation"
        table_description = "registry change counter"


class Declaration(Model):
    """A person privately confirmed a self-identified assembly's statement (sensitive)."""

    id = fields.BigIntField(primary_key=True)
    user_id = fields.CharField(max_length=_MATRIX_ID_LENGTH)
    slug = fields.CharField(max_length=_SLUG_LENGTH)
    declared_at = fields.DatetimeField()

    class Meta:
        table = "assemblies_declaration"
        table_description = "private self-declarations"
        unique_together = (("user_id", "slug"),)


class PendingDeclaration(Model):
    """The bot asked a person, by DM, to confirm a statement; awaiting confirm or cancel."""

    id = fields.BigIntField(primary_key=True)
    user_id = fields.CharField(max_length=_MATRIX_ID_LENGTH)
    slug = fields.CharField(max_length=_SLUG_LENGTH)
    dm_room_id = fields.CharField(max_length=_MATRIX_ID_LENGTH)
    requested_at = fields.DatetimeField()

    class Meta:
        table = "assemblies_pending_declaration"
        table_description = "declaration requests awaiting an answer"
        unique_together = (("user_id", "slug"),)


class Admission(Model):
    """A secretary (or admin) admitted or invited a person to an assembly."""

    id = fields.BigIntField(primary_key=True)
    user_id = fields.CharField(max_length=_MATRIX_ID_LENGTH)
    slug = fields.CharField(max_length=_SLUG_LENGTH)
    admitted_by = fields.CharField(max_length=_MATRIX_ID_LENGTH)
    admitted_at = fields.DatetimeField()

    class Meta:
        table = "assemblies_admission"
        table_description = "admissions by secretaries"
        unique_together = (("user_id", "slug"),)


class EnforcementWarning(Model):
    """A person was warned that they will be removed from a room (warn-then-remove policy)."""

    id = fields.BigIntField(primary_key=True)
    user_id = fields.CharField(max_length=_MATRIX_ID_LENGTH)
    room_id = fields.CharField(max_length=_MATRIX_ID_LENGTH)
    slug = fields.CharField(max_length=_SLUG_LENGTH)
    warned_at = fields.DatetimeField()

    class Meta:
        table = "assemblies_warning"
        table_description = "enforcement warnings issued"
        unique_together = (("user_id", "room_id"),)
