"""The federation: the registry of all assemblies and how they nest (pure, no I/O).

A :class:`Federation` is validated as a whole: unique slugs, known parents, nesting a DAG. It is
immutable: changing it returns a new one, so a command can check the result (no cycle, no unknown
parent) before anything is written anywhere. Who participates in what through nesting is answered
here too.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, AbstractSet

from harmony_matrix.assemblies.errors import (
    CycleError,
    DuplicateSlug,
    FederationError,
    UnknownAssembly,
    UnknownParent,
)

if TYPE_CHECKING:  # only annotations: assembly.py re-exports Federation, so no import back at run time
    from harmony_matrix.assemblies.assembly import Assembly

_Step = Callable[[str], Iterable[str]]


@dataclass(frozen=True)
class TreeLine:
    """One line of :meth:`Federation.tree`: an assembly at a depth.

    An assembly with several parents appears under each; ``repeated`` marks the second and later
    appearances, whose children are not listed again (so the display stays finite and short).
    """

    depth: int
    assembly: Assembly
    repeated: bool = False


@dataclass(frozen=True, eq=False)
class Federation:
    """The registry of assemblies, validated: unique slugs, known parents, no cycles.

    Build it with ``Federation(assemblies)``; the constructor raises :class:`FederationError`
    (or :class:`InvalidAssembly`) and never returns an invalid federation.
    """

    assemblies: tuple[Assembly, ...] = ()
    _by_slug: Mapping[str, Assembly] = field(init=False, repr=False)
    _children: Mapping[str, tuple[str, ...]] = field(init=False, repr=False)

    def __post_init__(self) -> None:
        assemblies = tuple(self.assemblies)
        by_slug: dict[str, Assembly] = {}
        for assembly in assemblies:
            if assembly.slug in by_slug:
                raise DuplicateSlug(assembly.slug)
            by_slug[assembly.slug] = assembly
        for assembly in assemblies:
            for parent in assembly.parents:
                if parent not in by_slug:
                    raise UnknownParent(assembly.slug, parent)
        cycle = find_cycle({a.slug: a.parents for a in assemblies})
        if cycle is not None:
            raise CycleError(cycle)
        marked = [a.slug for a in assemblies if a.all_thing]
        if len(marked) > 1:
            raise FederationError(f"only one assembly can be the All Thing body: {', '.join(marked)} are marked")
        children: dict[str, list[str]] = {slug: [] for slug in by_slug}
        for assembly in assemblies:
            for parent in assembly.parents:
                children[parent].append(assembly.slug)
        object.__setattr__(self, "assemblies", assemblies)
        object.__setattr__(self, "_by_slug", by_slug)
        object.__setattr__(self, "_children", {k: tuple(v) for k, v in children.items()})

    # --- container protocol -----------------------------------------------------------------
    def __iter__(self) -> Iterator[Assembly]:
        return iter(self.assemblies)

    def __len__(self) -> int:
        return len(self.assemblies)

    def __contains__(self, slug: object) -> bool:
        return slug in self._by_slug

    def __getitem__(self, slug: str) -> Assembly:
        try:
            return self._by_slug[slug]
        except KeyError:
            raise UnknownAssembly(slug) from None

    def __eq__(self, other: object) -> bool:
        # Equal when they hold the same assemblies, whatever the order they were listed in.
        if not isinstance(other, Federation):
            return NotImplemented
        return dict(self._by_slug) == dict(other._by_slug)

    def __hash__(self) -> int:
        return hash(frozenset(self.assemblies))

    def get(self, slug: str) -> Assembly | None:
        """The assembly with ``slug``, or None."""
        return self._by_slug.get(slug)

    @property
    def slugs(self) -> tuple[str, ...]:
        """All slugs, in the order the assemblies were given."""
        return tuple(self._by_slug)

    # --- nesting ----------------------------------------------------------------------------
    def parents(self, slug: str) -> tuple[Assembly, ...]:
        """The umbrella assemblies ``slug`` is directly nested in."""
        return tuple(self._by_slug[p] for p in self[slug].parents)

    def children(self, slug: str) -> tuple[Assembly, ...]:
        """The assemblies directly nested in ``slug`` (for a committee: its member groups)."""
        self[slug]  # raise UnknownAssembly for a typo rather than answer "no children"
        return tuple(self._by_slug[c] for c in self._children[slug])

    def ancestors(self, slug: str) -> frozenset[str]:
        """Every umbrella above ``slug``, transitively, not including ``slug`` itself."""
        return self._reach(slug, lambda s: self._by_slug[s].parents)

    def descendants(self, slug: str) -> frozenset[str]:
        """Every assembly nested below ``slug``, transitively, not including ``slug`` itself."""
        return self._reach(slug, lambda s: self._children[s])

    def _reach(self, slug: str, step: _Step) -> frozenset[str]:
        self[slug]
        seen: set[str] = set()
        stack = list(step(slug))
        # Iterative with a seen-set: the DAG is validated, but a diamond would otherwise be
        # walked once per path, and recursion depth should not depend on the data.
        while stack:
            current = stack.pop()
            if current in seen:
                continue
            seen.add(current)
            stack.extend(step(current))
        seen.discard(slug)
        return frozenset(seen)

    def roots(self) -> tuple[Assembly, ...]:
        """Assemblies nested in nothing (normally just the party)."""
        return tuple(a for a in self.assemblies if not a.parents)

    def all_thing_body(self) -> Assembly | None:
        """The party-wide body whose decisions bind at the All Thing level: the assembly marked
        ``all_thing`` in the federation file, else the single root; None when there are several roots
        and none is marked (then nobody may record an All Thing decision)."""
        marked = [a for a in self.assemblies if a.all_thing]
        if marked:
            return marked[0]
        roots = self.roots()
        return roots[0] if len(roots) == 1 else None

    def topological_order(self) -> tuple[Assembly, ...]:
        """All assemblies, every parent before its children (the order to provision spaces).

        Ties keep the order the assemblies were given, so the result is deterministic.
        """
        placed: set[str] = set()
        order: list[Assembly] = []
        remaining = list(self.assemblies)
        while remaining:
            ready = [a for a in remaining if all(p in placed for p in a.parents)]
            # Non-empty because the federation is acyclic.
            for assembly in ready:
                placed.add(assembly.slug)
                order.append(assembly)
            remaining = [a for a in remaining if a.slug not in placed]
        return tuple(order)

    def tree(self) -> tuple[TreeLine, ...]:
        """The nesting as indented lines, roots first, children in the order given.

        An assembly with several parents is shown under each; later appearances are marked
        ``repeated`` and not expanded again.
        """
        lines: list[TreeLine] = []
        expanded: set[str] = set()

        def visit(slug: str, depth: int) -> None:
            assembly = self._by_slug[slug]
            if slug in expanded:
                lines.append(TreeLine(depth, assembly, repeated=True))
                return
            expanded.add(slug)
            lines.append(TreeLine(depth, assembly))
            for child in self._children[slug]:
                visit(child, depth + 1)

        for root in self.roots():
            visit(root.slug, 0)
        return tuple(lines)

    # --- participation ----------------------------------------------------------------------
    def participants_include(self, umbrella: str, nested: str) -> bool:
        """True when participants of ``nested`` count as participants of ``umbrella``.

        Umbrella participants include the participants of every assembly nested in it, at any
        depth (docs/spec/product.md §1); an assembly trivially includes its own participants.
        """
        self[nested]
        return umbrella == nested or nested in self.descendants(umbrella)

    def participates(
        self, slug: str, direct: AbstractSet[str], *, ignoring: str | None = None
    ) -> bool:
        """Does someone who is directly in the assemblies ``direct`` participate in ``slug``?

        ``ignoring`` leaves out that assembly and everything nested in it. Access checks need
        this: whether you may be in assembly A because you participate in its parent P must not
        count your presence in A itself, or leaving P would never get you removed from A.
        """
        excluded: frozenset[str] = frozenset()
        if ignoring is not None:
            excluded = self.descendants(ignoring) | {ignoring}
        counted = {s for s in direct if s in self._by_slug and s not in excluded}
        if slug in counted:
            return True
        return not counted.isdisjoint(self.descendants(slug))

    def participating_assemblies(self, direct: AbstractSet[str]) -> frozenset[str]:
        """Everything someone directly in ``direct`` participates in: those plus their umbrellas."""
        result: set[str] = set()
        for slug in direct:
            if slug in self._by_slug:
                result.add(slug)
                result |= self.ancestors(slug)
        return frozenset(result)

    # --- changes (each returns a new, validated federation) ----------------------------------
    def with_assembly(self, assembly: Assembly) -> Federation:
        """A federation with ``assembly`` added, or replacing the one with the same slug."""
        if assembly.slug in self._by_slug:
            return Federation(
                tuple(assembly if a.slug == assembly.slug else a for a in self.assemblies)
            )
        return Federation(self.assemblies + (assembly,))

    def without(self, slug: str) -> Federation:
        """A federation without ``slug``; refused while other assemblies are nested in it."""
        self[slug]
        if self._children[slug]:
            raise FederationError(
                f"cannot remove {slug!r}: {', '.join(self._children[slug])} "
                "are nested in it; unnest them first"
            )
        return Federation(tuple(a for a in self.assemblies if a.slug != slug))

    def nest(self, child: str, parent: str) -> Federation:
        """A federation with ``child`` also nested in ``parent`` (a no-op if it already is).

        Raises :class:`CycleError` naming the cycle if ``parent`` is nested in ``child``.
        """
        assembly = self[child]
        self[parent]
        if parent in assembly.parents:
            return self
        return self.with_assembly(assembly.with_parents(assembly.parents + (parent,)))

    def unnest(self, child: str, parent: str) -> Federation:
        """A federation with ``child`` no longer nested in ``parent``."""
        assembly = self[child]
        if parent not in assembly.parents:
            raise FederationError(f"{child!r} is not nested in {parent!r}")
        return self.with_assembly(
            assembly.with_parents(p for p in assembly.parents if p != parent)
        )


def find_cycle(parents: Mapping[str, Iterable[str]]) -> tuple[str, ...] | None:
    """Find one nesting cycle in a ``slug → parents`` map, or None if it is a DAG.

    The cycle is returned as a path that repeats its first slug at the end (``a → b → a``),
    starting from the smallest slug on it so the message is stable. Unknown parents are ignored
    here (they are reported separately). Iterative depth-first search: no recursion limit.
    """
    graph = {slug: tuple(ps) for slug, ps in parents.items()}
    white, grey, black = 0, 1, 2
    colour = dict.fromkeys(graph, white)
    for start in sorted(graph):
        if colour[start] != white:
            continue
        path: list[str] = [start]
        iters = [iter(graph[start])]
        colour[start] = grey
        while iters:
            nxt = next(iters[-1], None)
            if nxt is None:
                colour[path.pop()] = black
                iters.pop()
                continue
            if nxt not in graph:
                continue
            if colour[nxt] == grey:
                loop = path[path.index(nxt):]
                i = loop.index(min(loop))
                loop = loop[i:] + loop[:i]
                return tuple(loop) + (loop[0],)
            if colour[nxt] == white:
                colour[nxt] = grey
                path.append(nxt)
                iters.append(iter(graph[nxt]))
    return None
