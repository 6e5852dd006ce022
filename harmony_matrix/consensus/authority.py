"""Authority of levels: who may record a decision that binds beyond its own assembly.

Precedence (``harmony_matrix.consensus.precedence``) lets an All Thing decision override every
assembly's, and an umbrella's decision trump one of an assembly nested in it. So recording such a
decision is reserved:

* **All Thing level.** Only the party-wide body records it (``Federation.all_thing_body``: the
  assembly marked ``all_thing: true`` in the federation file, else the federation's single root), in
  its own rooms, by **its secretary**, citing the All Thing **moot** at which it was reached (or settled
  by a **ballot**, whose poll is the evidence).
* **Umbrella over nested.** A decision that would trump a decision of an assembly nested in its own is
  recorded only by the umbrella's own officers (secretary or deputies): not by a registry admin, and
  not by anyone else.

``check_all_thing`` and ``check_trump`` refuse a new decision with a message naming who may record it;
``verify_authority`` reads the stored record (``export-decisions --verify``) and reports every entry
that breaks these rules, or that can't be checked because it was recorded before recorders were kept.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from collections.abc import Set as AbstractSet
from dataclasses import dataclass
from datetime import datetime

from harmony_matrix.assemblies.assembly import Assembly
from harmony_matrix.assemblies.federation import Federation
from harmony_matrix.consensus.decisions import Decision, Level, Method
from harmony_matrix.errors import UserError
from harmony_matrix.ids import UserId

__all__ = ["AuthorityProblem", "Tenure", "check_all_thing", "check_trump", "trumped_nested", "verify_authority"]

_BALLOTS = (Method.STAR_BALLOT, Method.BLOC_STAR_BALLOT)


@dataclass(frozen=True)
class Tenure:
    """``user`` held ``role`` (``secretary`` or ``deputy``) in ``assembly`` from ``since`` until ``until``
    (None: still holds it)."""

    assembly: str
    user: UserId
    role: str
    since: datetime
    until: datetime | None = None

    def covers(self, at: datetime) -> bool:
        """Whether the office was held at ``at``."""
        return self.since <= at and (self.until is None or at < self.until)


@dataclass(frozen=True)
class AuthorityProblem:
    """One entry of the record that breaks the rule (``certain``), or that can't be checked."""

    seq: int
    ref: str
    message: str
    certain: bool = True

    def __str__(self) -> str:
        return f"entry {self.seq} ({self.ref}): {self.message}"


def _named(assembly: Assembly) -> str:
    return f"{assembly.name} ({assembly.slug})"


def check_all_thing(*, assembly: str, recorder: str, federation: Federation | None, evidence: str | None,
                    needs_evidence: bool, proposal: str, prefix: str) -> None:
    """Refuse recording an All Thing decision unless the rules above hold.

    ``assembly`` is the assembly whose room the command came from (a decision is always recorded in its
    own assembly's rooms); ``evidence`` the reference of the All Thing moot it was reached at (None when
    there is none); ``needs_evidence`` is False for a deadlock, which a ballot will settle."""
    body = federation.all_thing_body() if federation is not None else None
    if body is None:
        raise UserError("no assembly is the All Thing body, so no All Thing decision can be recorded: an admin "
                        "marks the party-wide assembly with all_thing: true in the federation file")
    if assembly != body.slug:
        here = federation.get(assembly) if federation is not None else None
        raise UserError(
            f"only the All Thing body, {_named(body)}, records All Thing decisions: in its own rooms, by its "
            f"secretary ({body.secretary or 'none set yet'}). {here.name if here else assembly} can record this "
            f"at its own level: {prefix} consensus {proposal} … level=moot")
    if body.secretary is None or recorder != body.secretary:
        raise UserError(f"only the secretary of {_named(body)} ({body.secretary or 'none set yet'}) records "
                        "All Thing decisions")
    if needs_evidence and evidence is None:
        raise UserError(
            f"an All Thing decision needs the All Thing moot or ballot as evidence: put {proposal} on the "
            f"agenda of a moot of {body.slug} ({prefix} moot schedule … proposal={proposal}) and record the outcome "
            f"once it has started, or settle it by ballot ({prefix} consensus {proposal} deadlock level=all-thing)")


def trumped_nested(decision: Decision, record: Iterable[Decision], *,
                   descendants_of: Callable[[str], AbstractSet[str]]) -> list[str]:
    """References of the adopted decisions, of assemblies nested in ``decision``'s, that it would trump:
    same level, a shared topic (``precedence`` rule "umbrella over nested")."""
    if not decision.adopts:
        return []
    nested = descendants_of(decision.assembly)
    return [d.ref for d in record
            if d.adopts and d.ref != decision.ref and d.level == decision.level and d.assembly in nested
            and set(d.topics) & set(decision.topics)]


def check_trump(decision: Decision, record: Iterable[Decision], *, recorder: str,
                officers: Sequence[str], descendants_of: Callable[[str], AbstractSet[str]],
                assembly_name: str) -> None:
    """Refuse a decision that would trump a nested assembly's decision unless ``recorder`` is one of the
    umbrella's own ``officers``."""
    trumped = trumped_nested(decision, record, descendants_of=descendants_of)
    if trumped and recorder not in officers:
        who = ", ".join(officers) or "none set yet"
        raise UserError(
            f"this decision would trump {', '.join(trumped)} of assemblies nested in {assembly_name}; only "
            f"{assembly_name}'s own officers ({who}) can record it")


def verify_authority(decisions: Sequence[Decision], *, federation: Federation,
                     tenures: Sequence[Tenure]) -> list[AuthorityProblem]:
    """Every entry of the record (in order; ``seq`` is 1-based) that breaks the authority rules, or that
    can't be checked because its recorder is not on record.

    An office is taken as held at a time when a ``Tenure`` covers it; an assembly with no tenure on record
    at all falls back to its registry officers (set up before roles were recorded)."""

    def held(assembly: str, user: str, at: datetime, *, secretary_only: bool) -> bool:
        mine = [t for t in tenures if t.assembly == assembly]
        if mine:
            return any(t.user == user and t.covers(at) and (t.role == "secretary" or not secretary_only)
                       for t in mine)
        registered = federation.get(assembly)
        if registered is None:
            return False
        return user == registered.secretary if secretary_only else user in registered.officers

    problems: list[AuthorityProblem] = []
    body = federation.all_thing_body()
    for seq, decision in enumerate(decisions, start=1):
        def report(message: str, *, certain: bool = True) -> None:
            problems.append(AuthorityProblem(seq, decision.ref, message, certain))

        if decision.level is Level.ALL_THING:
            if body is None:
                report("an All Thing decision, but no assembly is the All Thing body")
                continue
            if decision.assembly != body.slug:
                report(f"an All Thing decision recorded by {decision.assembly}, not by the All Thing body "
                       f"{body.slug}")
                continue
            if decision.recorded_by is None:
                report("an All Thing decision whose recorder is not on record (recorded before recorders were "
                       f"kept): it can't be shown to be the secretary of {body.slug}", certain=False)
            elif not held(body.slug, decision.recorded_by, decision.decided_at, secretary_only=True):
                report(f"an All Thing decision recorded by {decision.recorded_by}, who was not the secretary "
                       f"of {body.slug} then")
            moots = [c for c in decision.cites if c.startswith(f"M-{body.slug}-")]
            if decision.method not in _BALLOTS and not moots and decision.adopts:
                report("an All Thing decision that cites no All Thing moot or ballot")
            continue
        trumped = trumped_nested(decision, decisions[:seq - 1], descendants_of=_descendants(federation))
        if not trumped:
            continue
        if decision.recorded_by is None:
            report(f"trumps {', '.join(trumped)} but its recorder is not on record: it can't be shown to be "
                   f"an officer of {decision.assembly}", certain=False)
        elif not held(decision.assembly, decision.recorded_by, decision.decided_at, secretary_only=False):
            report(f"trumps {', '.join(trumped)} of nested assemblies but was recorded by "
                   f"{decision.recorded_by}, who was not an officer of {decision.assembly} then")
    return problems


def _descendants(federation: Federation) -> Callable[[str], frozenset[str]]:
    def descendants(slug: str) -> frozenset[str]:
        return federation.descendants(slug) if slug in federation else frozenset()

    return descendants
