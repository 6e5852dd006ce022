"""The local Synapse runner's public names (the implementation is in ``harmony_app.synapse``)."""

from __future__ import annotations

from harmony_app.synapse.errors import SynapseError
from harmony_app.synapse.pair import start_federated_pair
from harmony_app.synapse.server import LocalSynapse, RegisteredUser, pick_free_ports

__all__ = ["LocalSynapse", "RegisteredUser", "SynapseError", "pick_free_ports", "start_federated_pair"]
