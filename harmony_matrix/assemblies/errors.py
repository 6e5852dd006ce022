"""What can be wrong with an assembly or the federation of assemblies (messages are safe to post).

Kept apart from the model so that both ``assembly`` (one assembly) and ``federation`` (the set of
them) raise the same family of errors without importing each other.
"""

from __future__ import annotations

from harmony_matrix.errors import UserError


class AssemblyError(UserError):
    """Base class for problems with assemblies and the federation; messages are safe to post."""


class InvalidAssembly(AssemblyError):
    """One assembly's fields are wrong. ``field`` names the offending field (for line lookup)."""

    def __init__(self, slug: str, field_name: str, problem: str) -> None:
        super().__init__(f"assembly {slug!r}: {problem}")
        self.slug = slug
        self.field = field_name
        self.problem = problem


class FederationError(AssemblyError):
    """The set of assemblies is inconsistent (cycle, unknown parent, duplicate slug)."""


class CycleError(FederationError):
    """Nesting would form a cycle; ``cycle`` is the path, first slug repeated at the end."""

    def __init__(self, cycle: tuple[str, ...]) -> None:
        super().__init__(
            f"nesting forms a cycle: {' → '.join(cycle)} (each is nested in the next)"
        )
        self.cycle = cycle


class UnknownParent(FederationError):
    """An assembly names a parent that is not in the federation."""

    def __init__(self, slug: str, parent: str) -> None:
        super().__init__(f"assembly {slug!r} is nested in {parent!r}, which does not exist")
        self.slug = slug
        self.parent = parent


class DuplicateSlug(FederationError):
    """Two assemblies share a slug."""

    def __init__(self, slug: str) -> None:
        super().__init__(f"two assemblies use the slug {slug!r}")
        self.slug = slug


class UnknownAssembly(FederationError):
    """A slug was asked for that the federation does not hold."""

    def __init__(self, slug: str) -> None:
        super().__init__(f"there is no assembly {slug!r}")
        self.slug = slug
