"""A user of a second, federating Synapse joins an open assembly and then a restricted room nested in it."""

from __future__ import annotations

from pathlib import Path

import pytest

from botrunner import start_app, write_bot_config
from harmony_matrix.assemblies.federation_file import load_federation
from harmony_app.local_synapse import LocalSynapse

pytestmark = pytest.mark.asyncio(loop_scope="session")

FEDERATION = """
version: 1
assemblies:
  - slug: party
    name: Federated Party
    kind: party
    access: open
  - slug: wg
    name: Federated Working Group
    kind: working-group
    access: participants
    parents: [party]
"""


async def test_a_remote_user_joins_an_open_assembly_then_a_restricted_room(
        synapse_pair: tuple[LocalSynapse, LocalSynapse], make_user, tmp_path: Path) -> None:
    home, remote_server = synapse_pair
    admin = await make_user("fed-admin", server=home)
    bot_user = await home.register_user(f"fedbot-{tmp_path.name[-8:].lower()}".replace("_", "-"))
    app = await start_app(write_bot_config(tmp_path, synapse=home, bot=bot_user, admins=[admin.user_id],
                                           sync={"timeout_ms": 2000}))
    try:
        feature = app.features["assemblies"]
        await feature.apply_federation(load_federation(FEDERATION, source="fed.yaml"))
        party, wg = await feature.rooms_of("party"), await feature.rooms_of("wg")
        via = [home.server_name]
        remote = await make_user("remote", server=remote_server)
        assert remote.user_id.endswith(":" + remote_server.server_name)

        await remote.join(party["space"], via=via)
        await remote.join(party["discussion"], via=via)
        # The working group's space is restricted to participants of the party: the bot's server
        # authorises the remote join (join_authorised_via_users_server).
        await remote.join(wg["space"], via=via)
        await remote.join(wg["discussion"], via=via)
        member = await remote.get_state(wg["discussion"], "m.room.member", remote.user_id)
        assert member["membership"] == "join"
        assert member.get("join_authorised_via_users_server") == bot_user.user_id
        assert remote.user_id in await app.gateway.joined_members(wg["discussion"])
    finally:
        await app.stop()
