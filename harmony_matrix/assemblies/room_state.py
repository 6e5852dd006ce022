"""Room state as the bot compares it, and how actual state drifts from desired state (pure).

The handlers compare the state an assembly's room should have (``room_policy.desired_room_state``)
with what the server holds, on ``assembly sync`` or when a state event arrives, and send back
each :class:`Drift`'s ``revert_content``.
"""

from __future__ import annotations

import copy
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from harmony_matrix import event_types as et

StateKey = tuple[str, str]


@dataclass(frozen=True)
class RoomState:
    """Some state of one room: ``(event type, state key) → content``.

    As *desired* state it lists what we manage; as *actual* state it may hold more (it is
    compared only on the keys and types we manage).
    """

    events: Mapping[StateKey, Mapping[str, Any]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        # Private copy, so a caller mutating its dict cannot change a frozen value.
        object.__setattr__(
            self, "events", {key: copy.deepcopy(dict(c)) for key, c in self.events.items()}
        )

    def get(self, event_type: str, state_key: str = "") -> Mapping[str, Any] | None:
        """The content of one state event, or None when absent."""
        return self.events.get((event_type, state_key))

    def __iter__(self) -> Iterator[StateKey]:
        return iter(self.events)

    def __len__(self) -> int:
        return len(self.events)


class DriftKind(StrEnum):
    """How actual state differs from desired state."""

    #: A state event we want is absent (or emptied).
    MISSING = "missing"
    #: Present with different content.
    CHANGED = "changed"
    #: Present but not wanted (e.g. a space child someone added).
    UNEXPECTED = "unexpected"


@dataclass(frozen=True)
class Drift:
    """One difference between desired and actual room state, with what to send to revert it."""

    event_type: str
    state_key: str
    kind: DriftKind
    #: Readable differences, e.g. ``"join_rule: 'knock' → 'public'"``; safe to post.
    differences: tuple[str, ...]
    #: The content to put back (``{}`` removes an unexpected space child or parent).
    revert_content: Mapping[str, Any]

    def describe(self) -> str:
        """One line for the secretariat report."""
        where = self.event_type + (f" [{self.state_key}]" if self.state_key else "")
        if self.kind is DriftKind.MISSING:
            return f"{where}: missing"
        if self.kind is DriftKind.UNEXPECTED:
            return f"{where}: not expected here"
        return f"{where}: " + "; ".join(self.differences)


#: Types where any state key we did not ask for is drift (someone grafted onto the tree).
TREE_TYPES: frozenset[str] = frozenset({et.SPACE_CHILD, et.SPACE_PARENT})


def detect_drift(
    desired: RoomState,
    actual: RoomState,
    *,
    exclusive_types: frozenset[str] = TREE_TYPES,
) -> list[Drift]:
    """Compare desired with actual state; an empty list means nothing to repair.

    Each desired event is compared in full. For ``exclusive_types`` (the space tree by default),
    actual events with a state key we do not want are reported as UNEXPECTED, unless their
    content is already empty or lacks ``via`` (which Matrix treats as removed). The result is
    sorted by event type and state key so reports are stable.
    """
    drifts: list[Drift] = []
    for (event_type, state_key), want in desired.events.items():
        have = actual.get(event_type, state_key)
        if not have or (event_type in TREE_TYPES and not have.get("via")):
            drifts.append(
                Drift(event_type, state_key, DriftKind.MISSING, ("missing",), copy.deepcopy(want))
            )
            continue
        differences = tuple(_diff(want, have))
        if differences:
            drifts.append(
                Drift(event_type, state_key, DriftKind.CHANGED, differences, copy.deepcopy(want))
            )
    for (event_type, state_key), have in actual.events.items():
        if event_type not in exclusive_types or (event_type, state_key) in desired.events:
            continue
        if not have or (event_type in TREE_TYPES and not have.get("via")):
            continue
        drifts.append(
            Drift(event_type, state_key, DriftKind.UNEXPECTED, ("not expected",), {})
        )
    return sorted(drifts, key=lambda d: (d.event_type, d.state_key))


def _diff(want: Any, have: Any, path: str = "") -> Iterator[str]:
    """Readable differences between two JSON values, by dotted path."""
    if isinstance(want, Mapping) and isinstance(have, Mapping):
        for key in sorted(set(want) | set(have), key=str):
            sub = f"{path}.{key}" if path else str(key)
            if key not in have:
                yield f"{sub}: missing (want {want[key]!r})"
            elif key not in want:
                yield f"{sub}: unexpected {have[key]!r}"
            else:
                yield from _diff(want[key], have[key], sub)
    elif want != have or type(want) is not type(have):
        # type check: JSON 50 and 50.0 are different in power levels (v10+ want integers).
        yield f"{path or 'content'}: {have!r} → want {want!r}"
