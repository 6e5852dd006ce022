"""The command grammar: declarations, parsing, usage and help derived from one place."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from harmony_matrix.command_table import CommandTable, help_detail, unknown_command
from harmony_matrix.commands import (
    CommandParseError,
    CommandSpec,
    Flag,
    Option,
    Param,
    Place,
    Role,
    bind_arguments,
    extract_options,
    find_invocation,
    length_refusal,
    parse_positive_int,
    parse_user,
    refusal,
    strip_reply_fallback,
)

POLL = CommandSpec("poll start", "Start a poll.", "!h poll start Lunch? | Soup | Salad",
                   params=(Param("question", rest=True),),
                   options=(Option("closes"), Option("seats", parser=parse_positive_int)),
                   flags=(Flag("secret"),), role=Role.SECRETARY, place=Place.ASSEMBLY)
SECRETARY = CommandSpec("secretary set", "Set the secretary.", "!h secretary set @a:b",
                        params=(Param("user", parser=parse_user),), options=(Option("term"),))
PING = CommandSpec("ping", "Ping.", "!h ping")


def test_find_invocation_prefers_the_longest_prefix_and_needs_a_boundary() -> None:
    assert find_invocation("!harmony ping", ["!h", "!harmony"]).prefix == "!harmony"
    assert find_invocation("!h ping", ["!h", "!harmony"]).text == "ping"
    assert find_invocation("!hping", ["!h"]) is None
    assert find_invocation("hello !h ping", ["!h"]) is None
    assert find_invocation("!h", ["!h"]).text == ""


def test_reply_fallback_is_stripped() -> None:
    assert strip_reply_fallback("> <@a:b> old\n> more\n\n!h ping") == "!h ping"
    assert find_invocation("> <@a:b> quoted\n\n!h ping", ["!h"]).text == "ping"


def test_options_flags_and_rest() -> None:
    args = bind_arguments(POLL, 'Lunch? | Soup | "Big salad" closes="tomorrow 12:00" seats=2 secret')
    assert args == {"question": 'Lunch? | Soup | "Big salad"', "closes": "tomorrow 12:00", "seats": 2,
                    "secret": True}
    args = bind_arguments(POLL, "Lunch? | Soup | Salad")
    assert args["secret"] is False and args["closes"] is None


def test_parse_errors_say_what_and_show_the_usage() -> None:
    with pytest.raises(CommandParseError) as raised:
        bind_arguments(SECRETARY, "bob")
    assert '"bob" is not a Matrix user ID' in raised.value.message
    assert "Usage: !h secretary set <user> [term=<term>]" in raised.value.message
    with pytest.raises(CommandParseError, match="<user> is missing"):
        bind_arguments(SECRETARY, "")
    with pytest.raises(CommandParseError, match="seats=: .* not a whole number"):
        bind_arguments(POLL, "Q | a | b seats=zero")
    with pytest.raises(CommandParseError, match="closes= is given twice"):
        bind_arguments(POLL, "Q | a | b closes=1h closes=2h")
    with pytest.raises(CommandParseError, match="unknown option colour="):
        bind_arguments(SECRETARY, "@a:b colour=red")
    with pytest.raises(CommandParseError, match='unexpected "now"'):
        bind_arguments(PING, "now")


def test_table_resolves_multiword_names_and_aliases_case_insensitively() -> None:
    table = CommandTable([POLL, SECRETARY, PING, CommandSpec("assemblies", "List.", "!h assemblies",
                                                              aliases=("tree",))])
    spec, rest = table.resolve("Poll START Q | a | b")
    assert spec is POLL and rest == "Q | a | b"
    assert table.resolve("tree")[0].name == "assemblies"
    assert table.resolve("nothing here") is None
    assert table.suggest("poll") == ["poll start"]
    assert "ping" in table.suggest("pnig")
    with pytest.raises(ValueError, match="declared twice"):
        table.add(PING)


def test_help_is_generated_from_the_declaration() -> None:
    lines = help_detail(POLL, prefix="!harmony")
    assert lines[1] == "Usage: !harmony poll start <question…> [closes=<closes>] [seats=<seats>] [secret]"
    assert lines[-1] == "Example: !harmony poll start Lunch? | Soup | Salad"
    assert "Who: secretaries; where: in a room of an assembly." in lines


def test_refusal_names_who_and_where() -> None:
    assert refusal(POLL, role=Role.EVERYONE, place_ok=True, prefix="!h") == ("!h poll start is for secretaries only: "
                                                                            "!h offices shows who they are.")
    assert refusal(POLL, role=Role.ADMIN, place_ok=False, prefix="!h") == "!h poll start works in a room of an assembly."
    assert refusal(POLL, role=Role.SECRETARY, place_ok=True, prefix="!h") is None


def test_extract_options_leaves_undeclared_equals_alone() -> None:
    assert extract_options("3 A=5 B=2 note=x", ["note"]) == ("3 A=5 B=2", {"note": "x"})


@given(st.lists(st.text(alphabet=st.characters(blacklist_categories=("Cs", "Zs", "Cc"),
                                               blacklist_characters='"='), min_size=1, max_size=8),
                min_size=1, max_size=6))
def test_rest_parameter_keeps_the_text_verbatim(words: list[str]) -> None:
    text = " ".join(words)
    spec = CommandSpec("propose", "Propose.", "!h propose X", params=(Param("title", rest=True),))
    assert bind_arguments(spec, text)["title"] == text.strip()


def test_a_label_replaces_the_name_in_the_usage() -> None:
    spec = CommandSpec("poll start", "Start.", "!h poll start Q | a | b",
                       params=(Param("poll", label="question | option | option …", rest=True),))
    assert spec.usage() == "!h poll start <question | option | option …>"


def test_an_unknown_command_is_answered_with_its_group_or_close_names() -> None:
    table = CommandTable([POLL, SECRETARY, PING])
    assert unknown_command(table, "poll strat now", prefix="!v") == (
        'I don\'t know the command "poll strat". Did you mean: !v poll start? Send !v help for the list.')
    assert unknown_command(table, "pnig", prefix="!h") == (
        'I don\'t know the command "pnig". Did you mean: !h ping? Send !h help for the list.')
    assert unknown_command(table, "zzz", prefix="!h") == 'I don\'t know the command "zzz". Send !h help for the list.'


def test_a_command_text_has_a_length_limit() -> None:
    assert length_refusal("x" * 20_000) is None
    assert length_refusal("x" * 20_001) == (
        "That command is too long for me to read: 20,001 characters, at most 20,000.")
