"""The sortition commands' declarations: typed values from their parsers, who may run them and where, the
assembly each manages, and refusals that name what is wrong."""

from __future__ import annotations

from datetime import timedelta

import pytest

from handlers.matrix.commands import collect_commands
from handlers.sortition.draws import DrawCommands
from handlers.sortition.features import FeatureCommands
from handlers.sortition.seats import Seats
from harmony_matrix.commands import ROOM_ASSEMBLY, CommandParseError, Place, Role, bind_arguments
from harmony_matrix.sortition.arguments import PoolKind, QuotaRow, SeatPower

SPECS = {spec.name: spec for handler in (DrawCommands.__new__(DrawCommands), Seats.__new__(Seats),
                                         FeatureCommands.__new__(FeatureCommands))
         for spec in collect_commands(handler)}


def test_announce_hands_the_handler_typed_values() -> None:
    args = bind_arguments(SPECS["draw announce"], "Delegates to the region conference pool=branches each=1 "
                          "quotas=gender:woman=1+ witnesses=@a:hs,@b:hs term=30d power=moderator alternates=3")
    assert args["purpose"] == "Delegates to the region conference"
    assert args["pool"] is PoolKind.BRANCHES and args["each"] == 1 and args["alternates"] == 3
    assert args["quotas"] == (QuotaRow("gender", "woman", 1, None),)
    assert args["witnesses"] == ("@a:hs", "@b:hs")
    assert args["term"].length == timedelta(days=30) and args["power"] is SeatPower.MODERATOR
    assert args["seats"] is None and args["deadline"] is None


@pytest.mark.parametrize(("text", "problem"), [
    ("Council pool=everyone", 'pool=: unknown pool "everyone" (allowed: members, branches)'),
    ("Council quotas=gender=woman", 'quotas=: "gender=woman" is not a quota row'),
    ("Council seats=0", 'seats=: "0" is not a whole number of at least 1'),
    ("Council witnesses=alice", "witnesses=: "),
    ("Council into=The-Council", 'into=: "The-Council" is not a slug'),
])
def test_announce_refuses_with_the_problem_and_the_usage(text: str, problem: str) -> None:
    with pytest.raises(CommandParseError) as err:
        bind_arguments(SPECS["draw announce"], text, prefix="!harmony")
    assert err.value.problem.startswith(problem), err.value.problem
    assert err.value.usage.startswith("!harmony draw announce <purpose…>")


def test_who_may_run_what_is_declared() -> None:
    managed = {name: (spec.role, spec.place, spec.manages) for name, spec in SPECS.items() if spec.manages}
    assert managed == {name: (Role.SECRETARY, Place.ASSEMBLY, ROOM_ASSEMBLY)
                       for name in ("draw announce", "draw freeze", "draw cancel")}
    # Witnesses commit and reveal by DM or in a room; features are given by DM only.
    assert SPECS["draw commit"].place is Place.ANYWHERE and SPECS["draw reveal"].place is Place.ANYWHERE
    assert {SPECS[n].place for n in ("feature set", "feature clear", "features")} == {Place.ENCRYPTED_DIRECT}


def test_commit_and_reveal_check_what_witnesses_type() -> None:
    commit = bind_arguments(SPECS["draw commit"], "S-party-1 " + "AB" * 32)
    assert commit["commitment"] == "ab" * 32 and commit["draw"].resolve(None) == "S-party-1"
    with pytest.raises(CommandParseError, match="<commitment>: a commitment is the SHA-256 of your secret"):
        bind_arguments(SPECS["draw commit"], "S-party-1 1234")
    with pytest.raises(CommandParseError, match="<secret>: a secret is 32 to 256 lowercase hex digits"):
        bind_arguments(SPECS["draw reveal"], "1 my-secret")
    with pytest.raises(CommandParseError, match="is not a draw reference; draws are named like S-ops-3"):
        bind_arguments(SPECS["draw show"], "P-party-1")
