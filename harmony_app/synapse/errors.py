"""The one error a local Synapse raises."""

from __future__ import annotations


class SynapseError(RuntimeError):
    """Synapse could not be started, or an admin request to it failed."""
