"""Tortoise models of the ``consensus`` app.

These rows never leave ``storage``: ``storage.consensus.stores`` translates them to the core types of
``harmony_matrix.consensus.proposals``, ``moots``, ``decisions`` and ``roles``. Every model sets
``Meta.table_description`` (see ``storage/core/models.py`` for why).
"""

from __future__ import annotations

from tortoise import fields
from tortoise.models import Model

_ID = 255  # Matrix caps user, room and event IDs at 255 bytes
_REF = 128
_SLUG = 64


class ProposalRow(Model):
    """A proposal and the thread it is discussed in."""

    id = fields.BigIntField(primary_key=True)
    ref = fields.CharField(max_length=_REF, unique=True)
    assembly = fields.CharField(max_length=_SLUG)
    number = fields.IntField()
    title = fields.TextField()
    details = fields.TextField()
    author = fields.CharField(max_length=_ID)
    created_at = fields.DatetimeField()
    status = fields.CharField(max_length=16)
    room_id = fields.CharField(max_length=_ID, null=True)
    thread_root = fields.CharField(max_length=_ID, null=True)
    evidence: fields.JSONField[list[str]] = fields.JSONField(default=list)  # event IDs

    class Meta:
        table = "consensus_proposal"
        table_description = "proposals with their discussion thread"
        unique_together = (("assembly", "number"),)


class MootRow(Model):
    """A moot. ``room_id`` is where its notices go (the announcements room when it was scheduled)."""

    id = fields.BigIntField(primary_key=True)
    ref = fields.CharField(max_length=_REF, unique=True)
    assembly = fields.CharField(max_length=_SLUG)
    number = fields.IntField()
    topic = fields.TextField()
    starts_at = fields.DatetimeField()
    duration_seconds = fields.IntField()
    scheduled_at = fields.DatetimeField()
    scheduled_by = fields.CharField(max_length=_ID)
    proposals: fields.JSONField[list[str]] = fields.JSONField(default=list)  # proposal references
    status = fields.CharField(max_length=16)
    minutes = fields.TextField(null=True)
    attendees: fields.JSONField[list[str]] = fields.JSONField(default=list)  # user IDs
    evidence: fields.JSONField[list[str]] = fields.JSONField(default=list)  # event IDs
    room_id = fields.CharField(max_length=_ID)
    agenda: fields.JSONField[list[str]] = fields.JSONField(default=list, db_default="[]")
    series = fields.CharField(max_length=_REF, null=True)  # the recurring series it is an occurrence of

    class Meta:
        table = "consensus_moot"
        table_description = "scheduled moots"
        unique_together = (("assembly", "number"),)


class SentNotice(Model):
    """A notice settled once (sent, or skipped as no longer useful): the unique key means never twice."""

    id = fields.BigIntField(primary_key=True)
    key = fields.CharField(max_length=512, unique=True)
    event_id = fields.CharField(max_length=_ID, null=True)
    skipped = fields.TextField(null=True)
    at = fields.DatetimeField()

    class Meta:
        table = "consensus_sent_notice"
        table_description = "moot and term notices already settled"


class DecisionEntry(Model):
    """One entry of the append-only decision record (a hash chain: see ``harmony_matrix.consensus.decisions``)."""

    seq = fields.IntField(primary_key=True, generated=False)
    ref = fields.CharField(max_length=_REF, unique=True)
    assembly = fields.CharField(max_length=_SLUG)
    number = fields.IntField()
    level = fields.CharField(max_length=16)
    method = fields.CharField(max_length=32)
    outcome = fields.TextField()
    statement = fields.TextField()
    topics: fields.JSONField[list[str]] = fields.JSONField(default=list)
    decided_at = fields.DatetimeField()
    evidence: fields.JSONField[list[str]] = fields.JSONField(default=list)  # event IDs
    proposal = fields.CharField(max_length=_REF, null=True)
    # [[option, total], ...] in the poll's option order; None unless a ballot decided.
    score_totals: fields.JSONField[list[list[str | int]] | None] = fields.JSONField(null=True)
    supersedes = fields.CharField(max_length=_REF, null=True)
    recorded_by = fields.CharField(max_length=_ID, null=True)
    cites: fields.JSONField[list[str]] = fields.JSONField(default=list, db_default="[]")  # M-, C-, poll refs
    without_quorum = fields.BooleanField(default=False, db_default=False)
    prev_hash = fields.CharField(max_length=64, unique=True)
    hash = fields.CharField(max_length=64)

    class Meta:
        table = "consensus_decision"
        table_description = "append-only decision record with hash chain"


class RoleRow(Model):
    """A role assignment; ``ended_at`` is set when it stops (history is kept)."""

    id = fields.BigIntField(primary_key=True)
    assembly = fields.CharField(max_length=_SLUG)
    user = fields.CharField(max_length=_ID)
    role = fields.CharField(max_length=16)
    since = fields.DatetimeField()
    how_decided = fields.CharField(max_length=16)
    term_ends = fields.DatetimeField(null=True)
    evidence: fields.JSONField[list[str]] = fields.JSONField(default=list)  # event IDs
    decision_ref = fields.CharField(max_length=_REF, null=True)
    ended_at = fields.DatetimeField(null=True)

    class Meta:
        table = "consensus_role"
        table_description = "secretaries and deputies with terms"


class PetitionRow(Model):
    """A petition for re-election."""

    id = fields.BigIntField(primary_key=True)
    ref = fields.CharField(max_length=_REF, unique=True)
    assembly = fields.CharField(max_length=_SLUG)
    role = fields.CharField(max_length=16)
    opened_at = fields.DatetimeField()
    opened_by = fields.CharField(max_length=_ID)
    status = fields.CharField(max_length=24)
    # User IDs named to stand besides the office-holders.
    candidates: fields.JSONField[list[str]] = fields.JSONField(default=list, db_default="[]")

    class Meta:
        table = "consensus_petition"
        table_description = "petitions for re-election"


class SignatureRow(Model):
    """One member's signature on a petition (unique per member)."""

    id = fields.BigIntField(primary_key=True)
    petition: fields.ForeignKeyRelation[PetitionRow] = fields.ForeignKeyField(
        "consensus.PetitionRow", related_name="signatures")
    user = fields.CharField(max_length=_ID)
    signed_at = fields.DatetimeField()
    event_id = fields.CharField(max_length=_ID, null=True)

    class Meta:
        table = "consensus_signature"
        table_description = "petition signatures"
        unique_together = (("petition", "user"),)


class BallotRow(Model):
    """A ballot the consensus process asked for: a deadlock or an election, and the poll that runs it."""

    id = fields.BigIntField(primary_key=True)
    kind = fields.CharField(max_length=16)  # deadlock | election
    assembly = fields.CharField(max_length=_SLUG)
    proposal = fields.CharField(max_length=_REF, null=True)
    role = fields.CharField(max_length=16, null=True)
    seats = fields.IntField(default=1)
    options: fields.JSONField[list[str]] = fields.JSONField(default=list)
    level = fields.CharField(max_length=16, default="moot")
    statement = fields.TextField(default="")
    topics: fields.JSONField[list[str]] = fields.JSONField(default=list)
    status = fields.CharField(max_length=16)  # pending | started | done | abandoned
    poll_ref = fields.CharField(max_length=_REF, null=True, unique=True)
    room_id = fields.CharField(max_length=_ID)
    created_by = fields.CharField(max_length=_ID)
    created_at = fields.DatetimeField()
    evidence: fields.JSONField[list[str]] = fields.JSONField(default=list)  # event IDs

    class Meta:
        table = "consensus_ballot"
        table_description = "deadlock and election ballots"


class CheckRow(Model):
    """A consensus check on a proposal; ``event_id`` is the bot's message people react to."""

    id = fields.BigIntField(primary_key=True)
    ref = fields.CharField(max_length=_REF, unique=True)
    assembly = fields.CharField(max_length=_SLUG)
    number = fields.IntField()
    proposal = fields.CharField(max_length=_REF)
    room_id = fields.CharField(max_length=_ID)
    event_id = fields.CharField(max_length=_ID, null=True, unique=True)
    opened_at = fields.DatetimeField()
    opened_by = fields.CharField(max_length=_ID)
    status = fields.CharField(max_length=16)  # open | closed
    closed_at = fields.DatetimeField(null=True)

    class Meta:
        table = "consensus_check"
        table_description = "consensus checks on proposals"
        unique_together = (("assembly", "number"),)


class StanceRow(Model):
    """One reaction on a consensus check (kept when withdrawn: the latest standing one is the stance)."""

    id = fields.BigIntField(primary_key=True)
    check: fields.ForeignKeyRelation[CheckRow] = fields.ForeignKeyField(
        "consensus.CheckRow", related_name="stances")
    user = fields.CharField(max_length=_ID)
    stance = fields.CharField(max_length=16)
    event_id = fields.CharField(max_length=_ID, unique=True)
    ts = fields.BigIntField()  # server timestamp, ms
    member = fields.BooleanField()  # a registered member when the reaction was sent
    withdrawn = fields.BooleanField(default=False)

    class Meta:
        table = "consensus_stance"
        table_description = "stances taken on consensus checks"


class ReasonRow(Model):
    """Why someone disagreed or blocked; ``asked_at`` when the bot asked them (once per check)."""

    id = fields.BigIntField(primary_key=True)
    check: fields.ForeignKeyRelation[CheckRow] = fields.ForeignKeyField(
        "consensus.CheckRow", related_name="reasons")
    user = fields.CharField(max_length=_ID)
    reason = fields.TextField(null=True)
    asked_at = fields.DatetimeField(null=True)
    given_at = fields.DatetimeField(null=True)

    class Meta:
        table = "consensus_reason"
        table_description = "reasons given for stances"
        unique_together = (("check", "user"),)


class MootSeriesRow(Model):
    """A recurring moot: the rule and its exceptions; its occurrences are ``MootRow``s naming it."""

    id = fields.BigIntField(primary_key=True)
    ref = fields.CharField(max_length=_REF, unique=True)
    assembly = fields.CharField(max_length=_SLUG)
    number = fields.IntField()
    topic = fields.TextField()
    rule = fields.CharField(max_length=512)
    first_start = fields.DatetimeField()
    tz = fields.CharField(max_length=64)
    duration_seconds = fields.IntField()
    scheduled_by = fields.CharField(max_length=_ID)
    created_at = fields.DatetimeField()
    exdates: fields.JSONField[list[str]] = fields.JSONField(default=list)  # ISO instants, UTC
    status = fields.CharField(max_length=16)
    room_id = fields.CharField(max_length=_ID)

    class Meta:
        table = "consensus_moot_series"
        table_description = "recurring moots"
        unique_together = (("assembly", "number"),)


class ActionRow(Model):
    """An action item from a decision or a moot."""

    id = fields.BigIntField(primary_key=True)
    ref = fields.CharField(max_length=_REF, unique=True)
    assembly = fields.CharField(max_length=_SLUG)
    number = fields.IntField()
    text = fields.TextField()
    owner = fields.CharField(max_length=_ID)
    source = fields.CharField(max_length=_REF)
    created_by = fields.CharField(max_length=_ID)
    created_at = fields.DatetimeField()
    room_id = fields.CharField(max_length=_ID)
    due_at = fields.DatetimeField(null=True)
    status = fields.CharField(max_length=16)
    note = fields.TextField(null=True)
    closed_at = fields.DatetimeField(null=True)
    event_id = fields.CharField(max_length=_ID, null=True, unique=True)

    class Meta:
        table = "consensus_action"
        table_description = "action items with owners and due dates"
        unique_together = (("assembly", "number"),)


class ReviewRow(Model):
    """When a decision is to be reviewed (one date per decision; setting it again replaces it)."""

    id = fields.BigIntField(primary_key=True)
    decision = fields.CharField(max_length=_REF, unique=True)
    assembly = fields.CharField(max_length=_SLUG)
    review_at = fields.DatetimeField()
    set_by = fields.CharField(max_length=_ID)

    class Meta:
        table = "consensus_review"
        table_description = "review dates of decisions"


class RaceRow(Model):
    """A race for an elected office: declared, or opened by a vacancy; its candidates in standing order."""

    id = fields.BigIntField(primary_key=True)
    ref = fields.CharField(max_length=_REF, unique=True)
    assembly = fields.CharField(max_length=_SLUG)
    number = fields.IntField()
    office = fields.CharField(max_length=16)
    seats = fields.IntField()
    opened_at = fields.DatetimeField()
    opened_by = fields.CharField(max_length=_ID, null=True)  # null: opened by a vacancy
    # [{"user": ..., "at": ISO instant, "event": event ID or null}, ...] in the order they stood
    candidates: fields.JSONField[list[dict[str, str | None]]] = fields.JSONField(default=list)
    status = fields.CharField(max_length=16)
    ballot_id = fields.BigIntField(null=True, unique=True)
    poll_ref = fields.CharField(max_length=_REF, null=True)

    class Meta:
        table = "consensus_race"
        table_description = "races for elected offices and their candidates"
        unique_together = (("assembly", "number"),)


class HoldingRow(Model):
    """Who holds a configured office (a Party Secretary's, e.g. the Treasurer), and who held it before."""

    id = fields.BigIntField(primary_key=True)
    assembly = fields.CharField(max_length=_SLUG)
    office = fields.CharField(max_length=16)
    user = fields.CharField(max_length=_ID)
    since = fields.DatetimeField()
    how_decided = fields.CharField(max_length=16)  # appointed | election
    term_ends = fields.DatetimeField(null=True)
    by = fields.CharField(max_length=_ID, null=True)
    evidence: fields.JSONField[list[str]] = fields.JSONField(default=list)  # event IDs
    decision_ref = fields.CharField(max_length=_REF, null=True)
    ended_at = fields.DatetimeField(null=True)

    class Meta:
        table = "consensus_office_holding"
        table_description = "holders of configured offices with history"
