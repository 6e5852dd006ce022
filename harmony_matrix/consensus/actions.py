"""Acting on what was decided: action items with an owner and a due date, and a decision's review date.

"Act together to make that consensus reality": an action item (``A-<assembly>-<n>``) comes from a
decision (``D-…``) or a moot (``M-…``), has one owner and usually a due date. Its owner is reminded
privately ``consensus.action_reminder_before`` ahead of the due date (once, even after a restart); the
owner (or an officer) marks it done or blocked, by command or by reacting ✅ / ⛔ on its message. A
decision may carry a review date, on which the assembly's secretariat is reminded to look at it again.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from enum import StrEnum

from harmony_matrix.errors import UserError
from harmony_matrix.ids import EventId, RoomId, UserId
from harmony_matrix.refs import Ref, make_ref, parse_ref

__all__ = ["DONE_KEYS", "BLOCKED_KEYS", "TEXT_MAX", "Action", "ActionStatus", "Review", "block_action", "due_reminders",
           "finish_action", "make_action_ref", "new_action", "parse_action_ref", "parse_source_ref", "review_due"]

TEXT_MAX = 500
DONE_KEYS = frozenset({"✅", "✔", "☑"})
BLOCKED_KEYS = frozenset({"⛔", "🚫"})


class ActionStatus(StrEnum):
    OPEN = "open"
    DONE = "done"
    BLOCKED = "blocked"


@dataclass(frozen=True)
class Action:
    """An action item; ``source`` is the decision or moot it comes from, ``event_id`` its message."""

    ref: str
    assembly: str
    text: str
    owner: UserId
    source: str
    created_by: UserId
    created_at: datetime
    room_id: RoomId
    due_at: datetime | None = None
    status: ActionStatus = ActionStatus.OPEN
    note: str | None = None  # why it is blocked
    closed_at: datetime | None = None
    event_id: EventId | None = None

    @property
    def reminder_key(self) -> str:
        return f"{self.ref}/due-reminder"


def make_action_ref(assembly: str, number: int) -> str:
    """``A-<assembly>-<n>``."""
    return make_ref("A", assembly, number)


def parse_action_ref(text: str) -> Ref:
    """``A-ops-3`` (or a bare number in the assembly's rooms)."""
    return parse_ref(text, letter="A", noun="action")


def parse_source_ref(text: str) -> Ref:
    """Where an action comes from: a decision (``D-ops-2``) or a moot (``M-ops-3``)."""
    letter = text.strip()[:2].upper()
    if letter in ("D-", "M-"):
        return parse_ref(text, letter=letter[0], noun="decision" if letter == "D-" else "moot")
    raise UserError(f"'{text.strip()}' is neither a decision nor a moot; an action comes from one, e.g. D-ops-2 "
                    "or M-ops-3")


def new_action(*, ref: str, assembly: str, text: str, owner: UserId, source: str, created_by: UserId,
               now: datetime, room_id: RoomId, due_at: datetime | None) -> Action:
    """Check and build an action item."""
    cleaned = " ".join(text.split())
    if not cleaned:
        raise UserError("say what is to be done after the owner, e.g. Buy the projector")
    if len(cleaned) > TEXT_MAX:
        raise UserError(f"the action is too long ({len(cleaned)} characters; at most {TEXT_MAX})")
    if due_at is not None and due_at <= now:
        raise UserError("the due date is in the past")
    return Action(ref=ref, assembly=assembly, text=cleaned, owner=owner, source=source, created_by=created_by,
                  created_at=now, room_id=room_id, due_at=due_at)


def _closable(action: Action, by: str, *, officer: bool) -> None:
    if action.status is not ActionStatus.OPEN:
        raise UserError(f"{action.ref} is already {action.status.value}")
    if by != action.owner and not officer:
        raise UserError(f"only {action.owner}, who owns {action.ref}, or an officer of {action.assembly} can close it")


def finish_action(action: Action, *, by: str, officer: bool, now: datetime) -> Action:
    """Mark done (its owner, or an officer)."""
    _closable(action, by, officer=officer)
    return replace(action, status=ActionStatus.DONE, closed_at=now)


def block_action(action: Action, *, by: str, officer: bool, now: datetime, reason: str) -> Action:
    """Mark blocked, with why (its owner, or an officer)."""
    _closable(action, by, officer=officer)
    note = " ".join(reason.split())[:TEXT_MAX] or "no reason given"
    return replace(action, status=ActionStatus.BLOCKED, note=note, closed_at=now)


def due_reminders(actions: Iterable[Action], *, now: datetime, before: timedelta,
                  sent: Iterable[str]) -> list[Action]:
    """Open actions whose reminder is due (``before`` ahead of the due date) and not yet sent."""
    done = set(sent)
    return [a for a in actions if a.status is ActionStatus.OPEN and a.due_at is not None
            and now >= a.due_at - before and a.reminder_key not in done]


@dataclass(frozen=True)
class Review:
    """Decision ``decision`` is to be reviewed at ``review_at``."""

    decision: str
    assembly: str
    review_at: datetime
    set_by: UserId

    @property
    def key(self) -> str:
        return f"{self.decision}/review-{int(self.review_at.timestamp())}"


def review_due(reviews: Iterable[Review], *, now: datetime, sent: Iterable[str]) -> list[Review]:
    """Reviews whose date has come and whose reminder was not sent."""
    done = set(sent)
    return [r for r in reviews if now >= r.review_at and r.key not in done]
