"""Who may enter an assembly's rooms, and who must leave: pure decisions (no I/O).

Like Synapse's event auth rules, these are functions of the facts they need: what we know about
one person (:class:`PersonFacts`), the assembly and the federation. The handlers gather the
facts, call :func:`decide_access` (on ``join`` or a knock) or :func:`may_stay` (enforcement)
and act on the answer. The private explanations name commands with the configured ``prefix``.

Privacy (docs/spec/product.md §5): membership and self-declarations are special-category data. Every
answer carries two texts: ``reason`` is for the person concerned, sent to them privately (it
explains the rule they did or did not meet); ``public_reason`` never depends on their status
and is the only one that may go into a room, a kick/ban reason, the secretariat or a log.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from enum import StrEnum

from harmony_matrix.assemblies.assembly import Access, Assembly
from harmony_matrix.assemblies.federation import Federation
from harmony_matrix.assemblies.room_policy import RoomKind
from harmony_matrix.assemblies.server_acl import server_denied
from harmony_matrix.ids import UserId, server_of


@dataclass(frozen=True)
class PersonFacts:
    """What the bot knows about one person, gathered by the handler before a decision.

    ``is_member``, ``declared`` and ``invited_to`` are sensitive: never log or post this object.
    """

    user_id: UserId
    #: In the party membership registry (may vote; may enter members-only assemblies).
    is_member: bool = False
    #: A registry admin (set in config): may manage every assembly and sits in secretariats.
    is_admin: bool = False
    #: Slugs of self-identified assemblies whose statement this person privately confirmed.
    declared: frozenset[str] = frozenset()
    #: Slugs of assemblies whose space this person is joined to (direct participation).
    participates_in: frozenset[str] = frozenset()
    #: Slugs of assemblies a secretary (or admin) invited or admitted this person to.
    invited_to: frozenset[str] = frozenset()
    #: Slugs of assemblies whose space invite this person has not accepted yet. It grants nothing:
    #: it only lets a refusal say what to do next ("accept the invite first").
    pending_invites: frozenset[str] = frozenset()
    #: Slugs of assemblies where this person holds a seat drawn by lot, within its term.
    seated_in: frozenset[str] = frozenset()

    def __post_init__(self) -> None:
        for name in ("declared", "participates_in", "invited_to", "seated_in", "pending_invites"):
            object.__setattr__(self, name, frozenset(getattr(self, name)))


class Outcome(StrEnum):
    """The answer to "may this person come in?"."""

    #: Invite them (or accept their knock).
    ADMIT = "admit"
    #: Ask them privately, by DM, to confirm the assembly's declaration statement.
    ASK_DECLARATION = "ask-declaration"
    REFUSE = "refuse"


@dataclass(frozen=True)
class AccessDecision:
    """The outcome of :func:`decide_access`, with the texts to explain it."""

    outcome: Outcome
    #: For the person only, privately (a DM). Explains the rule; may imply their status.
    reason: str
    #: Safe anywhere: rooms, membership-event reasons, the secretariat, logs.
    public_reason: str
    #: The statement to confirm when ``outcome`` is ASK_DECLARATION.
    declaration: str | None = None

    @property
    def admitted(self) -> bool:
        """True when the person may come in now."""
        return self.outcome is Outcome.ADMIT


def is_officer(person: PersonFacts, assembly: Assembly) -> bool:
    """The secretary or a deputy of this assembly."""
    return person.user_id in assembly.officers


def may_manage(person: PersonFacts, assembly: Assembly) -> bool:
    """May run management commands for ``assembly`` (and admit or remove people there)?

    Its secretary and deputies, and the registry admins. Officers of an umbrella do not manage
    the assemblies nested in it: secretaries organise, they do not lead (docs/spec/product.md §1).
    """
    return person.is_admin or is_officer(person, assembly)


def decide_access(
    person: PersonFacts,
    assembly: Assembly,
    federation: Federation,
    *,
    room: RoomKind = RoomKind.SPACE,
    prefix: str,
) -> AccessDecision:
    """May ``person`` enter ``room`` of ``assembly``? ADMIT, ASK_DECLARATION or REFUSE.

    ``prefix`` is the command prefix the explanations name (``{prefix} confirm``).

    The order of the rules, and why:

    1. A server the assembly blocks (``denied_servers``) is refused: its events would be dropped
       by the ACL anyway.
    2. The secretariat admits only the assembly's officers and the registry admins.
    3. A ``drawn`` assembly (a sortition council) admits only those holding a seat drawn by lot in
       it, within their term: not its officers, an invitation or automatic participation.
    4. Officers, and the members holding a drawn seat (delegates), may always enter their assembly.
    5. Automatic participation admits anyone who participates in any other assembly.
    6. Otherwise the access policy: ``open`` admits everyone; ``participants`` needs
       participation in a parent (umbrella participation counts, but not through this assembly
       itself); ``self-identified`` needs a private declaration (else ASK_DECLARATION) or a
       secretary's admission; ``members`` needs the registry (a secretary cannot override it:
       it decides who votes); ``invite`` needs a secretary's invitation.

    Facts only ever add permissions, so adding a declaration, a membership, a participation or
    an invitation never turns ADMIT into anything else (a property the tests check).
    """
    name = assembly.name
    if server_denied(server_of(person.user_id), assembly.denied_servers):
        return _refuse(f"{name} does not accept accounts from your server.")
    if room is RoomKind.SECRETARIAT:
        if may_manage(person, assembly):
            return _admit(f"Welcome to the secretariat of {name}.")
        return _refuse(f"The secretariat of {name} is for its secretary and deputies only.")
    if assembly.access is Access.DRAWN:
        if assembly.slug in person.seated_in:
            return _admit(f"Welcome to {name}: you hold a seat in it, drawn by lot.")
        return _refuse(f"{name} is for the members drawn by lot to sit in it, during their term.")
    if is_officer(person, assembly) or assembly.slug in person.seated_in:
        return _admit(f"Welcome to {name}.")
    if assembly.automatic_participation and _participates_elsewhere(person, assembly, federation):
        return _admit(f"Everyone who takes part in the party takes part in {name}. Welcome.")

    access = assembly.access
    invited = assembly.slug in person.invited_to
    if access is Access.OPEN:
        return _admit(f"Welcome to {name}.")
    if access is Access.PARTICIPANTS:
        if invited or _participates_in_parent(person, assembly, federation):
            return _admit(f"Welcome to {name}.")
        return _refuse(_participants_first(person, assembly, federation, prefix=prefix))
    if access is Access.SELF_IDENTIFIED:
        if invited or assembly.slug in person.declared:
            return _admit(f"Welcome to {name}.")
        return AccessDecision(
            Outcome.ASK_DECLARATION,
            reason=(
                f"{name} is for people who confirm this statement: “{assembly.declaration}”"
                f"{'' if _ends_a_sentence(assembly.declaration) else '.'} "
                f"If it applies to you, answer `{prefix} confirm`; otherwise `{prefix} cancel`. "
                "Your answer stays between you and the bot."
            ),
            public_reason="awaiting a private reply",
            declaration=assembly.declaration,
        )
    if access is Access.MEMBERS:
        if person.is_member:
            return _admit(f"Welcome to {name}.")
        return _refuse(
            f"{name} is open to registered party members only. If you are a member, ask an "
            "admin to check the membership registry."
        )
    if access is Access.INVITE:
        if invited:
            return _admit(f"Welcome to {name}.")
        return _refuse(f"{name} is by invitation: ask its secretary to invite you.")
    raise ValueError(f"unknown access {access!r}")  # pragma: no cover - exhaustive above


def _participants_first(
    person: PersonFacts, assembly: Assembly, federation: Federation, *, prefix: str
) -> str:
    """Why a ``participants`` assembly refuses, and the next step: accept the umbrella's invite if
    one is waiting, else join the umbrella."""
    parents = [federation[p] for p in assembly.parents]
    names = " or ".join(p.name for p in parents)
    again = f"`{prefix} join {assembly.slug}`"
    waiting = [p for p in parents if p.slug in person.pending_invites]
    if waiting:
        return (
            f"{assembly.name} is open to participants of {names}. You have an invite to "
            f"{waiting[0].name} that you have not accepted yet: accept the invite to {waiting[0].name} "
            f"first, then send {again} again."
        )
    first = f"`{prefix} join {parents[0].slug}`"
    return (
        f"{assembly.name} is open to participants of {names}, and you are not in "
        f"{'it' if len(parents) == 1 else 'any of them'}. Send {first}, accept the invite, then send "
        f"{again} again."
    )


def _ends_a_sentence(text: str | None) -> bool:
    # A quoted statement that already ends with . ! ? or … needs no full stop after the quote.
    return text is not None and text.rstrip()[-1:] in {".", "!", "?", "…"}


def _admit(reason: str) -> AccessDecision:
    return AccessDecision(Outcome.ADMIT, reason=reason, public_reason="admitted")


def _refuse(reason: str) -> AccessDecision:
    # The public text is the same for every refusal, so it reveals nothing about the person.
    return AccessDecision(
        Outcome.REFUSE, reason=reason, public_reason="does not meet this assembly's access rule"
    )


def _participates_in_parent(
    person: PersonFacts, assembly: Assembly, federation: Federation
) -> bool:
    # Presence in this assembly (or what is nested in it) must not count as participation in
    # its parent: otherwise someone who left the parent could never be found out.
    return any(
        federation.participates(parent, person.participates_in, ignoring=assembly.slug)
        for parent in assembly.parents
    )


def _participates_elsewhere(
    person: PersonFacts, assembly: Assembly, federation: Federation
) -> bool:
    # "Everyone who participates anywhere", not counting this assembly itself, so leaving the
    # party entirely also ends the automatic participation.
    excluded = federation.descendants(assembly.slug) | {assembly.slug}
    return any(s in federation and s not in excluded for s in person.participates_in)


# --- enforcement -----------------------------------------------------------------------------
class EnforcementPolicy(StrEnum):
    """What to do with someone found in a room without meeting its rule (configurable)."""

    REMOVE = "remove"
    WARN_THEN_REMOVE = "warn-then-remove"


class Enforcement(StrEnum):
    """The action for one person in one room."""

    KEEP = "keep"
    #: Tell them privately that they will be removed after the grace period.
    WARN = "warn"
    #: Warned already; the grace period is still running.
    PENDING = "pending"
    #: Kick them, with ``public_reason`` as the kick reason, and send ``reason`` by DM.
    REMOVE = "remove"


@dataclass(frozen=True)
class EnforcementAction:
    """The outcome of :func:`may_stay`."""

    action: Enforcement
    #: For the person only, privately.
    reason: str
    #: Safe for the kick reason, the secretariat and the audit log.
    public_reason: str
    #: When a warned person is due for removal (WARN and PENDING only).
    remove_after: datetime | None = field(default=None)


def may_stay(
    person: PersonFacts,
    assembly: Assembly,
    federation: Federation,
    *,
    room: RoomKind = RoomKind.SPACE,
    policy: EnforcementPolicy = EnforcementPolicy.REMOVE,
    now: datetime,
    warned_at: datetime | None = None,
    grace: timedelta = timedelta(hours=24),
    prefix: str,
) -> EnforcementAction:
    """Should ``person``, found in ``room`` of ``assembly``, stay there?

    Staying needs exactly what entering needs (:func:`decide_access`): an outstanding
    declaration counts as not meeting the rule. With ``WARN_THEN_REMOVE`` the first finding
    warns (the caller records ``now`` as ``warned_at``), and removal follows once ``grace`` has
    passed since the warning. Never call this for the bot itself.
    """
    decision = decide_access(person, assembly, federation, room=room, prefix=prefix)
    if decision.admitted:
        return EnforcementAction(Enforcement.KEEP, reason="", public_reason="meets the rule")
    if decision.outcome is Outcome.ASK_DECLARATION:
        rule = (
            f"{assembly.name} is for people who confirm its statement, and we have no "
            f"confirmation from you. You can ask to join again with `{prefix} join "
            f"{assembly.slug}`."
        )
    else:
        rule = decision.reason
    public = "does not meet this assembly's access rule"
    if policy is EnforcementPolicy.WARN_THEN_REMOVE:
        if warned_at is None:
            return EnforcementAction(
                Enforcement.WARN,
                reason=f"{rule} You will be removed from {assembly.name} if this does not change.",
                public_reason=f"warned: {public}",
                remove_after=now + grace,
            )
        if now < warned_at + grace:
            return EnforcementAction(
                Enforcement.PENDING,
                reason=rule,
                public_reason=f"warned: {public}",
                remove_after=warned_at + grace,
            )
    return EnforcementAction(
        Enforcement.REMOVE,
        reason=f"You were removed from {assembly.name}. {rule}",
        public_reason=public,
    )
