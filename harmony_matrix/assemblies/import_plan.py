"""What importing a federation changes: the plan ``harmony-matrix import`` prints and applies (pure).

:func:`plan_changes` compares the registry with the desired federation; an unchanged file gives an
empty plan, so an import is idempotent. ``--dry-run`` prints :meth:`FederationPlan.describe`; a real
import applies only the operations listed.
"""

from __future__ import annotations

from dataclasses import dataclass, fields
from enum import StrEnum
from typing import ClassVar, TypeAlias

from harmony_matrix.assemblies.assembly import Assembly
from harmony_matrix.assemblies.federation import Federation


#: Fields compared by an update (nesting is planned separately as nest/unnest).
UPDATABLE_FIELDS: tuple[str, ...] = tuple(
    f.name for f in fields(Assembly) if f.name not in ("slug", "parents")
)


def _show(value: object) -> str:
    if isinstance(value, StrEnum):
        return value.value
    if isinstance(value, tuple):
        return "[" + ", ".join(_show(v) for v in value) + "]"
    if value is None:
        return "(none)"
    return repr(value) if isinstance(value, str) else str(value)


@dataclass(frozen=True)
class FieldChange:
    """One field of an assembly that changes."""

    field: str
    old: object
    new: object

    def describe(self) -> str:
        """``remit: 'old' → 'new'``."""
        return f"{self.field}: {_show(self.old)} → {_show(self.new)}"


@dataclass(frozen=True)
class CreateAssembly:
    """Create the assembly (space, child rooms, state) and link it under its parents.

    Creations come parent-first, so its parents exist by the time it is created.
    """

    assembly: Assembly

    @property
    def slug(self) -> str:
        """The assembly concerned."""
        return self.assembly.slug

    def describe(self) -> str:
        """A readable line for ``--dry-run``."""
        a = self.assembly
        where = f", nested in {', '.join(a.parents)}" if a.parents else ""
        return f"+ create {a.slug} “{a.name}” ({a.kind.value}, access {a.access.value}{where})"


@dataclass(frozen=True)
class UpdateAssembly:
    """Change fields of an existing assembly."""

    slug: str
    changes: tuple[FieldChange, ...]

    def describe(self) -> str:
        """A readable line for ``--dry-run``."""
        return f"~ update {self.slug}: " + "; ".join(c.describe() for c in self.changes)


@dataclass(frozen=True)
class _Link:
    """A change to one nesting link, child in parent (``m.space.child`` + ``m.space.parent``)."""

    child: str
    parent: str
    #: The ``--dry-run`` line, formatted with ``child`` and ``parent``.
    _LINE: ClassVar[str]

    @property
    def slug(self) -> str:
        """The assembly concerned (the child)."""
        return self.child

    def describe(self) -> str:
        """A readable line for ``--dry-run``."""
        return self._LINE.format(child=self.child, parent=self.parent)


@dataclass(frozen=True)
class Nest(_Link):
    """Nest an existing assembly in an umbrella (m.space.child + m.space.parent)."""

    _LINE: ClassVar[str] = "> nest {child} in {parent}"


@dataclass(frozen=True)
class Unnest(_Link):
    """Take an assembly out of an umbrella."""

    _LINE: ClassVar[str] = "< unnest {child} from {parent}"


@dataclass(frozen=True)
class RemoveAssembly:
    """The assembly is no longer in the file. What that means in Matrix is the importer's call
    (we suggest archiving, never deleting history, and asking for confirmation)."""

    slug: str

    def describe(self) -> str:
        """A readable line for ``--dry-run``."""
        return f"- remove {self.slug} (no longer in the file)"


Operation: TypeAlias = CreateAssembly | UpdateAssembly | Nest | Unnest | RemoveAssembly


@dataclass(frozen=True)
class FederationPlan:
    """What an import changes, in the order to apply it.

    Order: creations (parents first), nestings, updates, unnestings, removals (children first).
    Nesting before unnesting means an assembly moved between umbrellas is never briefly without
    a parent (a ``participants`` assembly needs one).
    """

    operations: tuple[Operation, ...] = ()

    def __len__(self) -> int:
        return len(self.operations)

    def __bool__(self) -> bool:
        return bool(self.operations)

    @property
    def is_empty(self) -> bool:
        """True when the import changes nothing."""
        return not self.operations

    @property
    def removals(self) -> tuple[RemoveAssembly, ...]:
        """Removals, which the importer may want confirmed separately."""
        return tuple(op for op in self.operations if isinstance(op, RemoveAssembly))

    @property
    def affected_slugs(self) -> frozenset[str]:
        """Assemblies whose Matrix state may change (recompute their desired state).

        An umbrella is affected by nesting and unnesting too: its ``m.space.child`` list changes.
        """
        slugs: set[str] = set()
        for op in self.operations:
            if isinstance(op, (Nest, Unnest)):
                slugs |= {op.child, op.parent}
            elif isinstance(op, CreateAssembly):
                slugs |= {op.slug, *op.assembly.parents}
            else:
                slugs.add(op.slug)
        return frozenset(slugs)

    def describe(self) -> list[str]:
        """Readable lines for ``--dry-run``: one per operation, or one saying nothing changes."""
        if not self.operations:
            return ["No changes: Matrix already matches the file."]
        counts = _summary(self.operations)
        return [op.describe() for op in self.operations] + [counts]


def _summary(operations: tuple[Operation, ...]) -> str:
    names = {
        CreateAssembly: "to create",
        Nest: "to nest",
        UpdateAssembly: "to update",
        Unnest: "to unnest",
        RemoveAssembly: "to remove",
    }
    parts = []
    for kind, label in names.items():
        n = sum(1 for op in operations if isinstance(op, kind))
        if n:
            parts.append(f"{n} {label}")
    return f"{len(operations)} change(s): " + ", ".join(parts) + "."


def plan_changes(current: Federation, desired: Federation) -> FederationPlan:
    """The operations that turn ``current`` into ``desired``; empty when they are equal."""
    creates: list[Operation] = []
    nests: list[Operation] = []
    updates: list[Operation] = []
    unnests: list[Operation] = []
    removals: list[Operation] = []

    for assembly in desired.topological_order():
        before = current.get(assembly.slug)
        if before is None:
            creates.append(CreateAssembly(assembly))
            continue
        changes = tuple(
            FieldChange(name, getattr(before, name), getattr(assembly, name))
            for name in UPDATABLE_FIELDS
            if getattr(before, name) != getattr(assembly, name)
        )
        if changes:
            updates.append(UpdateAssembly(assembly.slug, changes))
        for parent in assembly.parents:
            if parent not in before.parents:
                nests.append(Nest(assembly.slug, parent))
        for parent in before.parents:
            if parent not in assembly.parents:
                unnests.append(Unnest(assembly.slug, parent))

    for assembly in reversed(current.topological_order()):
        if assembly.slug not in desired:
            # Its links go with it; listing them as unnests too would only be noise.
            removals.append(RemoveAssembly(assembly.slug))

    return FederationPlan(tuple(creates + nests + updates + unnests + removals))
