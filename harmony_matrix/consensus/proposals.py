"""Proposals: what an assembly is asked to decide, and the path each one takes.

A proposal is raised with ``propose <title> [| details]`` and gets a readable reference
(``P-<assembly>-<n>``). Its status follows the consensus process of the constitution::

    discussion ──► moot ──► consensus            (broad approval: adopted)
        │            │ ├──► rejected             (broad disagreement: not adopted)
        │            │ └──► deadlock ──► ballot ──► decided   (a STAR ballot decides)
        └────────────┴─ (a simple proposal may reach an outcome without a moot)

A moot may be followed by another moot; a cancelled moot or a deadlock the secretary does not put to a
ballot sends the proposal back to discussion.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime
from enum import StrEnum

from harmony_matrix.errors import UserError
from harmony_matrix.ids import EventId, RoomId, UserId
from harmony_matrix.refs import Ref, make_ref, parse_ref

__all__ = [
    "ALLOWED_TRANSITIONS",
    "DETAILS_MAX",
    "TITLE_MAX",
    "Proposal",
    "ProposalStatus",
    "make_proposal_ref",
    "parse_proposal_ref",
    "parse_proposal_refs",
    "parse_propose_args",
    "transition",
]

TITLE_MAX = 200
DETAILS_MAX = 4000


class ProposalStatus(StrEnum):
    DISCUSSION = "discussion"
    MOOT = "moot"
    CONSENSUS = "consensus"
    REJECTED = "rejected"
    DEADLOCK = "deadlock"
    BALLOT = "ballot"
    DECIDED = "decided"


_S = ProposalStatus
ALLOWED_TRANSITIONS: dict[ProposalStatus, tuple[ProposalStatus, ...]] = {
    _S.DISCUSSION: (_S.MOOT, _S.CONSENSUS, _S.REJECTED, _S.DEADLOCK),
    _S.MOOT: (_S.MOOT, _S.DISCUSSION, _S.CONSENSUS, _S.REJECTED, _S.DEADLOCK),
    _S.DEADLOCK: (_S.BALLOT, _S.DISCUSSION),
    _S.BALLOT: (_S.DECIDED,),
    # Outcomes are final: changing one is a new proposal whose decision supersedes the old one.
    _S.CONSENSUS: (),
    _S.REJECTED: (),
    _S.DECIDED: (),
}


@dataclass(frozen=True)
class Proposal:
    """A proposal raised in an assembly.

    ``thread_root`` is the event that opened the proposal's discussion thread (the bot's announcement);
    ``evidence`` the Matrix event IDs of the commands that created it and moved its status.
    """

    ref: str
    assembly: str
    number: int
    title: str
    details: str
    author: UserId
    created_at: datetime
    status: ProposalStatus = ProposalStatus.DISCUSSION
    thread_root: EventId | None = None
    evidence: tuple[EventId, ...] = ()
    room_id: RoomId | None = None  # where it was raised (its thread is there)

    @property
    def is_closed(self) -> bool:
        return not ALLOWED_TRANSITIONS[self.status]


def transition(
    proposal: Proposal, new_status: ProposalStatus, *, evidence: EventId | None = None
) -> Proposal:
    """Move a proposal to ``new_status``, or explain which moves are possible from where it is."""
    allowed = ALLOWED_TRANSITIONS[proposal.status]
    if new_status not in allowed:
        if allowed:
            options = ", ".join(status.value for status in allowed)
            hint = f"from there it can go to: {options}"
        else:
            hint = "that is final; raise a new proposal to revisit it"
        raise UserError(
            f"{proposal.ref} is in {proposal.status.value} and can't move to {new_status.value}; {hint}"
        )
    new_evidence = proposal.evidence
    if evidence is not None and evidence not in new_evidence:
        new_evidence = (*new_evidence, evidence)
    return replace(proposal, status=new_status, evidence=new_evidence)


def make_proposal_ref(assembly: str, number: int) -> str:
    """The reference people type for the ``number``-th proposal of an assembly: ``P-<assembly>-<n>``."""
    return make_ref("P", assembly, number)


def parse_proposal_ref(text: str) -> Ref:
    """Read ``P-ops-3`` (or ``3`` / ``#3``, meaning the room's assembly: see ``Ref.locate``).

    Slugs may contain hyphens; the number is always the last part, so ``P-west-leeds-2`` is
    (``west-leeds``, 2).
    """
    return parse_ref(text, letter="P", noun="proposal")


def parse_proposal_refs(text: str) -> tuple[Ref, ...]:
    """Several proposal references, separated by commas or spaces (``P-ops-2,P-ops-3``)."""
    return tuple(parse_proposal_ref(part) for part in text.replace(",", " ").split())


def parse_propose_args(text: str) -> tuple[str, str]:
    """Split ``<title> [| details]`` into (title, details); details is ``""`` when absent.

    Only the first ``|`` separates: details may contain more of them.
    """
    title_part, _, details_part = text.partition("|")
    title = " ".join(title_part.split())  # titles are one line; collapse stray whitespace
    details = details_part.strip()
    if not title:
        raise UserError("a proposal needs a title, then optionally | and details")
    if len(title) > TITLE_MAX:
        raise UserError(
            f"the title is too long ({len(title)} characters; at most {TITLE_MAX}); "
            "put the rest after a | as details"
        )
    if len(details) > DETAILS_MAX:
        raise UserError(
            f"the details are too long ({len(details)} characters; at most {DETAILS_MAX}); "
            "link to a document instead"
        )
    return title, details
