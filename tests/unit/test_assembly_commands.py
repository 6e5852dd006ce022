"""The assembly commands' declarations (typed values, the core's limits, the assembly each manages)
and the permissions the assemblies feature gives the router, without a homeserver."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from handlers.assemblies.commands import AssemblyCommands
from handlers.assemblies.permissions import AssemblyPermissions
from handlers.assemblies.registry import LiveRegistry
from handlers.matrix.commands import RoomContext, collect_commands
from harmony_matrix.assemblies.assembly import MAX_REMIT_LENGTH, Access, Assembly, AssemblyKind
from harmony_matrix.assemblies.federation import Federation
from harmony_matrix.assemblies.room_policy import AssemblyRoom, RoomKind
from harmony_matrix.commands import (
    ROOM_ASSEMBLY,
    CommandParseError,
    Role,
    bind_arguments,
    management_refusal,
)
from harmony_matrix.errors import UserError
from harmony_matrix.ids import RoomId, UserId

# The declarations only: the commands' collaborators are not needed to read them.
SPECS = {spec.name: spec for spec in collect_commands(AssemblyCommands.__new__(AssemblyCommands))}

SECRETARY = UserId("@sec:hs")
ADMIN = UserId("@admin:hs")
FEDERATION = Federation([
    Assembly("party", "Party", AssemblyKind.PARTY),
    Assembly("wg", "Working Group", AssemblyKind.WORKING_GROUP, parents=("party",), secretary=SECRETARY),
])


def test_create_hands_the_handler_typed_values() -> None:
    args = bind_arguments(SPECS["assembly create"], 'media "Media Working Group" kind=working-group '
                          'access=self-identified parent=party declaration="I do media."')
    assert args == {"slug": "media", "name": "Media Working Group", "kind": AssemblyKind.WORKING_GROUP,
                    "access": Access.SELF_IDENTIFIED, "parent": "party", "remit": None,
                    "declaration": "I do media."}
    assert args["kind"] is AssemblyKind.WORKING_GROUP and args["access"] is Access.SELF_IDENTIFIED


@pytest.mark.parametrize(("text", "problem"), [
    ("media Media kind=guild", "kind=: unknown kind 'guild' (allowed: party, working-group, committee,"),
    ("media Media access=secret",
     "access=: unknown access 'secret' (allowed: open, participants, self-identified, members, invite, drawn)"),
    ("media Media parent=Party", 'parent=: "Party" is not a slug: a slug is 1–64 lowercase letters'),
    ("Media Media", '<slug>: "Media" is not a slug'),
    ("media Media remit=" + "r" * (MAX_REMIT_LENGTH + 1),
     f"remit= is too long: {MAX_REMIT_LENGTH + 1:,} characters, at most {MAX_REMIT_LENGTH:,}"),
])
def test_create_refuses_what_the_core_refuses_with_the_configured_prefix(text: str, problem: str) -> None:
    with pytest.raises(CommandParseError) as err:
        bind_arguments(SPECS["assembly create"], text, prefix="!harmony")
    assert err.value.problem.startswith(problem), err.value.problem
    assert err.value.usage.startswith("!harmony assembly create <slug> <name…>")


def test_each_management_command_declares_the_assembly_it_manages() -> None:
    assert {name: spec.manages for name, spec in SPECS.items() if spec.manages} == {
        "assembly create": "parent", "assembly nest": "parent", "assembly unnest": "parent",
        "assembly sync": "assembly", "assembly admit": ROOM_ASSEMBLY, "assembly remove": ROOM_ASSEMBLY}


def test_acting_on_an_assembly_one_does_not_manage_is_refused_by_the_declaration() -> None:
    nest = SPECS["assembly nest"]
    slug = nest.managed_assembly(bind_arguments(nest, "wg party"), room_assembly="wg")
    assert slug == "party"
    assert management_refusal(nest, slug=slug, manages=False, is_admin=False, prefix="!harmony") == (
        "Only the secretaries and deputies of party (or admins) may run !harmony assembly nest for it.")
    create = SPECS["assembly create"]
    outside = create.managed_assembly(bind_arguments(create, "media Media"), room_assembly=None)
    assert management_refusal(create, slug=outside, manages=False, is_admin=False, prefix="!h") == (
        "Only admins may run !h assembly create outside an assembly; name the assembly, or run it in one "
        "of its rooms.")


class FakeRegistryStore:
    """The registry store as ``AssemblyPermissions`` reads it: a federation and one room of ``wg``."""

    async def generation(self) -> int:
        return 1

    async def federation(self) -> Federation:
        return FEDERATION

    async def all_rooms(self) -> list[AssemblyRoom]:
        return [AssemblyRoom("wg", RoomKind.DISCUSSION, RoomId("!wg-discussion:hs"))]


class FakeDirectChats:
    async def is_direct(self, room_id: str) -> bool:
        return room_id == "!dm:hs"


def permissions() -> AssemblyPermissions:
    registry = LiveRegistry(FakeRegistryStore())  # type: ignore[arg-type]  # reads federation() and all_rooms() only
    asyncio.run(registry.refresh())
    return AssemblyPermissions(registry=registry, direct=FakeDirectChats(),  # type: ignore[arg-type]
                               admins=[ADMIN])


def test_officers_are_secretaries_in_their_own_assembly_only() -> None:
    perms = permissions()

    async def check() -> dict[str, Any]:
        wg_room = await perms.room_context(RoomId("!wg-discussion:hs"))
        dm = await perms.room_context(RoomId("!dm:hs"))
        party_room = RoomContext(room_id=RoomId("!p:hs"), is_direct=False, assembly="party")
        return {
            "wg_room": (wg_room.assembly, wg_room.room_kind, wg_room.is_direct), "dm": dm.is_direct,
            "secretary in wg": await perms.role_of(SECRETARY, wg_room),
            "secretary in party": await perms.role_of(SECRETARY, party_room),
            "admin in party": await perms.role_of(ADMIN, party_room),
            "manages wg": await perms.manages(SECRETARY, "wg"),
            "manages party": await perms.manages(SECRETARY, "party"),
            "manages unknown": await perms.manages(SECRETARY, "nowhere"),
            "may invite the bot": await perms.may_invite_bot(SECRETARY),
            "others may invite the bot": await perms.may_invite_bot(UserId("@x:hs")),
        }

    assert asyncio.run(check()) == {
        "wg_room": ("wg", RoomKind.DISCUSSION, False), "dm": True,
        "secretary in wg": Role.SECRETARY, "secretary in party": Role.EVERYONE,
        "admin in party": Role.ADMIN,
        "manages wg": True, "manages party": False, "manages unknown": False,
        "may invite the bot": True, "others may invite the bot": False,
    }


def test_an_unknown_assembly_is_refused_pointing_to_the_list_with_the_prefix() -> None:
    registry = LiveRegistry(FakeRegistryStore())  # type: ignore[arg-type]
    asyncio.run(registry.refresh())
    with pytest.raises(UserError) as err:
        registry.assembly("nowhere", prefix="!harmony")
    assert err.value.message == ('There is no assembly "nowhere". Send !harmony assemblies for the list '
                                 "(e.g. party, wg).")
