"""Tortoise models of the ``polls`` app.

Rows never leave ``storage``: ``storage.polls.stores`` turns them into core types. Every model sets
``Meta.table_description`` (see ``storage/core/models.py`` for why). Polls are referred to by their
integer ``id`` (shown as ``#id``); plain integer columns rather than foreign keys keep the migrations
of this app independent and simple.

Privacy: ``SecretBallotRow`` links a voter to a secret ballot only while the poll is open; at close
the scores are copied to ``AnonymousBallotRow`` (no voter, no time) and the linked rows deleted.
"""

from __future__ import annotations

from typing import Any

from tortoise import fields
from tortoise.indexes import Index
from tortoise.models import Model

_MATRIX_ID_LENGTH = 255


class PollRow(Model):
    """One poll: its settings (locked once open), status, and result."""

    id = fields.IntField(primary_key=True)
    room_id = fields.CharField(max_length=_MATRIX_ID_LENGTH)
    question = fields.TextField()
    seats = fields.IntField(default=1)
    secret = fields.BooleanField(default=False)
    eligibility = fields.CharField(max_length=16, default="members")
    closes_at = fields.DatetimeField(null=True)
    # open -> closed; "results_event_id" is set once the results are posted, "origin_notified" once
    # the caller (origin) was told, so a crash between the steps is finished at the next start.
    status = fields.CharField(max_length=16, default="open")
    created_by = fields.CharField(max_length=_MATRIX_ID_LENGTH)
    created_at = fields.DatetimeField()
    closed_at = fields.DatetimeField(null=True)
    origin = fields.CharField(max_length=255, null=True)
    # Makes starting idempotent: the command's event ID (or a caller's key) can open one poll only.
    source_key = fields.CharField(max_length=_MATRIX_ID_LENGTH, null=True, unique=True)
    header_event_id = fields.CharField(max_length=_MATRIX_ID_LENGTH, null=True)
    result: fields.JSONField[dict[str, Any] | None] = fields.JSONField(null=True)  # PollResult.to_json()
    results_event_id = fields.CharField(max_length=_MATRIX_ID_LENGTH, null=True)
    origin_notified = fields.BooleanField(default=False)

    class Meta:
        table = "polls_poll"
        table_description = "polls"
        indexes = (Index(fields=["status"], name="polls_poll_status"),)


class PollOptionRow(Model):
    """One option of a poll and the message people react to."""

    id = fields.BigIntField(primary_key=True)
    poll_id = fields.IntField()
    position = fields.IntField()
    label = fields.TextField()
    event_id = fields.CharField(max_length=_MATRIX_ID_LENGTH, null=True, unique=True)

    class Meta:
        table = "polls_option"
        table_description = "options of polls"
        unique_together = (("poll_id", "position"),)


class ReactionRow(Model):
    """A vote (a reaction, or a line of a DM ballot on an open poll), keyed by event ID: counted,
    superseded, withdrawn, or refused (``refused`` says why)."""

    id = fields.BigIntField(primary_key=True)
    event_id = fields.CharField(max_length=_MATRIX_ID_LENGTH, unique=True)
    poll_id = fields.IntField()
    position = fields.IntField()
    voter = fields.CharField(max_length=_MATRIX_ID_LENGTH)
    score = fields.SmallIntField()
    ts = fields.BigIntField()
    superseded = fields.BooleanField(default=False)
    withdrawn = fields.BooleanField(default=False)
    # "reaction" or "dm" (DM ballots have no reaction on the server, so the recount skips them).
    source = fields.CharField(max_length=16, default="reaction")
    # Why the vote was refused ("not-eligible", "closed"), or None if it was taken. A refused vote is
    # kept so that it is never counted later (the recount skips every stored event ID) and ``mydata``
    # shows what the voter was told; added in 0002.
    refused = fields.CharField(max_length=32, null=True)

    class Meta:
        table = "polls_reaction"
        table_description = "counted vote reactions"
        indexes = (Index(fields=["poll_id", "voter"], name="polls_reaction_voter"),)


class SecretBallotRow(Model):
    """A secret poll's ballot while the poll is open (revotes replace it)."""

    id = fields.BigIntField(primary_key=True)
    poll_id = fields.IntField()
    voter = fields.CharField(max_length=_MATRIX_ID_LENGTH)
    scores: fields.JSONField[dict[str, int]] = fields.JSONField()  # option position (as text) -> score
    updated_at = fields.DatetimeField()

    class Meta:
        table = "polls_secret_ballot"
        table_description = "voter-linked secret ballots of open polls"
        unique_together = (("poll_id", "voter"),)


class AnonymousBallotRow(Model):
    """A closed secret poll's ballot, with no link to who cast it."""

    id = fields.BigIntField(primary_key=True)
    poll_id = fields.IntField()
    scores: fields.JSONField[dict[str, int]] = fields.JSONField()  # option position (as text) -> score

    class Meta:
        table = "polls_anonymous_ballot"
        table_description = "unlinked ballots of closed secret polls"
        indexes = (Index(fields=["poll_id"], name="polls_anonymous_ballot_poll"),)


class ToldRow(Model):
    """That a person was told privately why their reaction on a poll did not count (once per poll)."""

    id = fields.BigIntField(primary_key=True)
    poll_id = fields.IntField()
    user_id = fields.CharField(max_length=_MATRIX_ID_LENGTH)
    reason = fields.CharField(max_length=32)

    class Meta:
        table = "polls_told"
        table_description = "private notices sent per poll and person"
        unique_together = (("poll_id", "user_id"),)


class ReconciliationRow(Model):
    """A difference between the database and the server's /relations found when a poll closed."""

    id = fields.BigIntField(primary_key=True)
    poll_id = fields.IntField()
    kind = fields.CharField(max_length=32)
    event_id = fields.CharField(max_length=_MATRIX_ID_LENGTH)
    detail = fields.TextField()
    at = fields.DatetimeField()

    class Meta:
        table = "polls_reconciliation"
        table_description = "differences found by the recount at close"
