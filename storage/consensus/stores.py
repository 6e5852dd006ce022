"""The stores of the ``consensus`` app, one module per record kind. Methods take and return core types,
never ORM rows.

Everything that must not be recorded half-way happens inside one transaction; the unique constraints
(references, notice keys, the chain's ``prev_hash``, one signature per member) are what make retries and
races safe (``storage.consensus.numbering`` retries a lost race for the next number).
"""

from __future__ import annotations

from storage.consensus.actions import ActionStore
from storage.consensus.ballots import BallotStore
from storage.consensus.checks import CheckStore
from storage.consensus.decisions import DecisionStore
from storage.consensus.moots import MootStore, NoticeStore
from storage.consensus.offices import OfficeStore
from storage.consensus.petitions import PetitionStore
from storage.consensus.proposals import ProposalStore
from storage.consensus.roles import RoleStore
from storage.scope import ContextScope

__all__ = ["ActionStore", "BallotStore", "CheckStore", "ConsensusStores", "DecisionStore", "MootStore", "NoticeStore", "OfficeStore", "PetitionStore",
           "ProposalStore", "RoleStore"]


class ConsensusStores:
    """The stores of the consensus process, as one ``Database`` attribute (``db.consensus``)."""

    def __init__(self, scope: ContextScope) -> None:
        self.proposals = ProposalStore(scope)
        self.moots = MootStore(scope)
        self.notices = NoticeStore(scope)
        self.decisions = DecisionStore(scope)
        self.roles = RoleStore(scope)
        self.petitions = PetitionStore(scope)
        self.ballots = BallotStore(scope)
        self.checks = CheckStore(scope)
        self.actions = ActionStore(scope)
        self.offices = OfficeStore(scope)
