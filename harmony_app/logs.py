"""What the bot's log leaves out or shortens: libraries that would log content or fill the log.

nio checks every event against a JSON schema and logs a failure as a multi-line WARNING that quotes
the offending content. A malformed event is not the operator's problem and its content may be
private, so it becomes one DEBUG line naming the field (``MalformedEventLog``), and nothing at all
unless the log level is DEBUG.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable

_INSTANCE = re.compile(r"On instance((?:\[[^\]\n]*\])*)")
_STEP = re.compile(r"\[([^\]\n]*)\]")
#: nio's loggers that report events failing their schema.
VALIDATION_LOGGERS = ("nio.events.misc",)


def malformed_field(message: str) -> str:
    """The field a schema error is about, as ``content.m.relates_to.key`` (at most four steps, each
    cut short: the keys of an event are not worth logging at length)."""
    match = _INSTANCE.search(message)
    if not match:
        return "an unknown field"
    steps = [step.strip("'\"")[:40] for step in _STEP.findall(match.group(1))][:4]
    return ".".join(steps) or "the event itself"


class MalformedEventLog(logging.Filter):
    """Turns nio's "Error validating event" into one DEBUG line without the content (see the module
    docstring); other records pass unchanged."""

    def filter(self, record: logging.LogRecord) -> bool:
        """Rewrite a validation record; keep it only when DEBUG is wanted."""
        message = record.getMessage()
        if not message.startswith("Error validating event"):
            return True
        record.msg = "ignored a malformed event: %s has the wrong type or shape"
        record.args = (malformed_field(message),)
        record.levelno, record.levelname = logging.DEBUG, "DEBUG"
        return logging.getLogger().isEnabledFor(logging.DEBUG)


def install_log_filters() -> list[Callable[[], None]]:
    """Attach the filters above; returns functions that take them off again (tests)."""
    removers: list[Callable[[], None]] = []
    for name in VALIDATION_LOGGERS:
        logger = logging.getLogger(name)
        if any(isinstance(existing, MalformedEventLog) for existing in logger.filters):
            continue
        log_filter = MalformedEventLog()
        logger.addFilter(log_filter)
        removers.append(_remover(logger, log_filter))
    return removers


def _remover(logger: logging.Logger, log_filter: logging.Filter) -> Callable[[], None]:
    def remove() -> None:
        logger.removeFilter(log_filter)

    return remove
