"""Making one Database's tortoise context current while a store talks to it.

tortoise 1.1 resolves a model's connection through a ``ContextVar`` holding the active
``TortoiseContext``. ``TortoiseContext.__enter__`` keeps its reset token on the context object, so
two tasks using the same context at once would overwrite each other's token; this scope keeps the
token on the caller's stack instead, which makes it safe for concurrent tasks and nesting.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

# Private in tortoise 1.1 (pinned <1.2 in pyproject); the public alternative is the unsafe
# ``with context:`` described above.
from tortoise.context import TortoiseContext, _current_context


class DatabaseClosedError(RuntimeError):
    """A store was used after ``Database.close()``."""


class ContextScope:
    """Calling the scope gives a ``with`` block in which ``context`` is tortoise's current context."""

    def __init__(self, context: TortoiseContext) -> None:
        self._context = context
        self.closed = False

    def close(self) -> None:
        """Refuse every later use: the connections are about to go away."""
        self.closed = True

    @contextmanager
    def __call__(self) -> Iterator[TortoiseContext]:
        if self.closed:
            raise DatabaseClosedError("this Database has been closed")
        token = _current_context.set(self._context)
        try:
            yield self._context
        finally:
            _current_context.reset(token)
