"""The federation file (parsing with line numbers, planning imports) and the members CSV."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from hypothesis import given
from hypothesis import strategies as st

from harmony_matrix.assemblies.assembly import Access, Assembly, AssemblyKind
from harmony_matrix.assemblies.federation import Federation
from harmony_matrix.assemblies.federation_file import (
    FederationFileError,
    federation_to_mapping,
    load_federation,
)
from harmony_matrix.assemblies.import_plan import (
    CreateAssembly,
    FieldChange,
    Nest,
    RemoveAssembly,
    Unnest,
    UpdateAssembly,
    plan_changes,
)
from harmony_matrix.membership import MembershipFileError, parse_members_csv

EXAMPLE = Path(__file__).parents[2] / "examples" / "harmony-federation.yaml"


def load(text: str) -> Federation:
    return load_federation(text, source="fed.yaml")


def refused(text: str) -> FederationFileError:
    with pytest.raises(FederationFileError) as err:
        load(text)
    return err.value


# --- the shipped example ---------------------------------------------------------------------
def test_shipped_example_loads_and_models_the_constitution() -> None:
    fed = load_federation(EXAMPLE.read_text(encoding="utf-8"), source=str(EXAMPLE))
    names = {a.name for a in fed}
    for core in ("Committee for Resolutions", "Operational Working Group",
                 "Financial Working Group", "Foundational Committee",
                 "Society for Presentation of Policy", "Media Working Group",
                 "Research Working Group", "Society for Constructive Activism",
                 "Policy Societies Committee", "Constituency Societies Committee",
                 "Disability Activism Society", "Trans Liberation Assembly",
                 "Cardiff West", "Cardiff City Assembly"):
        assert core in names
    assert [r.kind for r in fed.roots()] == [AssemblyKind.PARTY]
    assert fed["operational-working-group"].automatic_participation
    for slug in ("disability-activism-society", "trans-liberation-assembly"):
        assert fed[slug].access is Access.SELF_IDENTIFIED and fed[slug].declaration
    assert "cardiff" in fed["cardiff-west"].parents
    assert fed["cardiff-west"].parents and "wales" in fed.ancestors("cardiff-west")
    committee_of_wgs = [a for a in fed if a.kind is AssemblyKind.COMMITTEE and fed.children(a.slug)
                        and all(c.kind is AssemblyKind.WORKING_GROUP
                                for c in fed.children(a.slug))]
    assert committee_of_wgs
    assert fed["operational-working-group"].reference == "HPUK-ASSE-2025-09-4"


# --- refusals name the problem and the line ----------------------------------------------------
HEAD = "version: 1\nassemblies:\n  - slug: party\n    name: Party\n    kind: party\n"


def test_cycle_refused_with_line() -> None:
    err = refused(HEAD + """\
  - slug: a
    name: A
    kind: committee
    parents: [party, b]
  - slug: b
    name: B
    kind: committee
    parents: [a]
""")
    assert str(err) == ("fed.yaml, line 9: nesting forms a cycle: a → b → a "
                        "(each is nested in the next)")


def test_unknown_parent_refused_with_line_and_hint() -> None:
    err = refused(HEAD + """\
  - slug: a
    name: A
    kind: committee
    parents:
      - partty
""")
    assert str(err) == "fed.yaml, line 10: unknown parent 'partty' of 'a'; did you mean 'party'?"


def test_unknown_kind_refused_with_allowed_values() -> None:
    err = refused(HEAD + "  - slug: a\n    name: A\n    kind: club\n")
    assert err.problems[0].line == 8
    assert "fed.yaml, line 8: kind: unknown value 'club' (allowed: party, working-group" in str(err)


def test_unknown_access_refused_with_allowed_values() -> None:
    err = refused(HEAD + "  - slug: a\n    name: A\n    kind: society\n    access: secret\n")
    assert str(err) == (
        "fed.yaml, line 9: access: unknown value 'secret' "
        "(allowed: open, participants, self-identified, members, invite, drawn)"
    )


def test_duplicate_slug_missing_key_unknown_key() -> None:
    err = refused(HEAD + """\
  - slug: party
    name: Again
    kind: party
  - slug: nameless
    kind: party
  - slug: typo
    name: T
    kind: party
    remitt: x
""")
    messages = [(p.line, p.message) for p in err.problems]
    assert (9, "missing key 'name' in the entry of 'nameless'") in messages
    assert any(line == 14 and "unknown key 'remitt'" in m and "'remit'" in m
               for line, m in messages)
    # the duplicate is reported once the entries themselves are fine
    err = refused(HEAD + "  - slug: party\n    name: Again\n    kind: party\n")
    assert str(err) == "fed.yaml, line 6: duplicate slug 'party' (first used on line 3)"


def test_field_errors_point_at_their_key() -> None:
    err = refused(HEAD + """\
  - slug: das
    name: DAS
    kind: society
    access: self-identified
    parents: [party]
""")
    assert err.problems[0].line == 9 and "declaration" in err.problems[0].message
    err = refused(HEAD + "  - slug: w\n    name: W\n    kind: party\n    access: participants\n")
    assert err.problems[0].line == 9 and "parent" in err.problems[0].message
    err = refused(HEAD + "  - slug: w\n    name: W\n    kind: party\n    secretary: bob\n")
    assert err.problems[0].line == 9


def test_shape_errors() -> None:
    assert "line 1" in str(refused(""))
    assert "missing key 'assemblies'" in str(refused("version: 1\n"))
    assert "must be a list" in str(refused("assemblies: {}\n"))
    assert "version '2' is not supported" in str(refused("version: 2\nassemblies: []\n"))
    err = refused("assemblies:\n  - slug: a\n    name: [oops\n")
    assert err.problems[0].message.startswith("not valid YAML")
    assert "appears twice" in str(refused(HEAD + "    kind: party\n"))
    assert "true or false" in str(
        refused(HEAD.replace("kind: party\n", "kind: party\n    automatic_participation: 3\n")))


def test_raw_text_is_kept() -> None:
    fed = load(HEAD + "  - slug: x\n    name: 'no'\n    kind: city\n    reference: 2025-09-01\n"
               "    parents: party\n    automatic_participation: yes\n")
    x = fed["x"]
    assert x.name == "no" and x.reference == "2025-09-01" and x.parents == ("party",)
    assert x.automatic_participation is True


# --- planning --------------------------------------------------------------------------------
def test_plan_of_unchanged_file_is_empty() -> None:
    text = EXAMPLE.read_text(encoding="utf-8")
    plan = plan_changes(load(text), load(text))
    assert plan.is_empty and not plan and len(plan) == 0
    assert plan.describe() == ["No changes: Matrix already matches the file."]


def test_plan_from_nothing_creates_parents_first() -> None:
    fed = load(EXAMPLE.read_text(encoding="utf-8"))
    plan = plan_changes(Federation(), fed)
    assert all(isinstance(op, CreateAssembly) for op in plan.operations)
    order = [op.slug for op in plan.operations]  # type: ignore[union-attr]
    for a in fed:
        for p in a.parents:
            assert order.index(p) < order.index(a.slug)
    assert plan.describe()[-1] == f"{len(fed)} change(s): {len(fed)} to create."


def test_plan_of_changed_file_contains_only_the_difference() -> None:
    text = EXAMPLE.read_text(encoding="utf-8")
    changed = (
        text.replace("remit: Press, social media and publications.",
                     "remit: Press and publications.")
        .replace("parents: [cardiff, constituency-societies-committee]", "parents: [cardiff]")
        .replace("    parents: [wales]\n", "    parents: [wales, party]\n")
        + "\n  - slug: cardiff-east\n    name: Cardiff East\n    kind: constituency\n"
        "    access: participants\n    parents: [cardiff]\n"
    )
    plan = plan_changes(load(text), load(changed))
    assert plan.operations == (
        CreateAssembly(load(changed)["cardiff-east"]),
        Nest("cardiff", "party"),
        UpdateAssembly(
            "media-working-group",
            (FieldChange("remit", "Press, social media and publications.",
                         "Press and publications."),),
        ),
        Unnest("cardiff-west", "constituency-societies-committee"),
    )
    lines = plan.describe()
    assert lines[0] == ("+ create cardiff-east “Cardiff East” (constituency, access participants, "
                        "nested in cardiff)")
    assert lines[1] == "> nest cardiff in party"
    assert lines[2] == ("~ update media-working-group: remit: 'Press, social media and "
                        "publications.' → 'Press and publications.'")
    assert lines[3] == "< unnest cardiff-west from constituency-societies-committee"
    assert plan.affected_slugs == {
        "cardiff-east", "cardiff", "party", "media-working-group", "cardiff-west",
        "constituency-societies-committee",
    }


def test_plan_removals_children_first() -> None:
    fed = load(HEAD + "  - slug: a\n    name: A\n    kind: city\n    parents: [party]\n"
               "  - slug: b\n    name: B\n    kind: city\n    parents: [a]\n")
    plan = plan_changes(fed, load(HEAD))
    assert plan.operations == (RemoveAssembly("b"), RemoveAssembly("a"))
    assert plan.removals == plan.operations


def test_export_round_trips() -> None:
    fed = load(EXAMPLE.read_text(encoding="utf-8"))
    again = load(yaml.safe_dump(dict(federation_to_mapping(fed)), sort_keys=False))
    assert again == fed and plan_changes(fed, again).is_empty


_kinds = st.sampled_from(list(AssemblyKind))
_printable = st.characters(max_codepoint=0x2FF, exclude_categories=("Cc", "Cs", "Zl", "Zp"))
_text = st.text(_printable, min_size=1, max_size=20).filter(lambda s: s.strip() == s and s)


@given(st.lists(st.tuples(_kinds, _text, st.booleans()), min_size=1, max_size=6))
def test_plan_of_any_file_against_itself_is_empty(rows: list[tuple[AssemblyKind, str, bool]]
                                                  ) -> None:
    assemblies = [Assembly("root", "Root", AssemblyKind.PARTY)] + [
        Assembly(f"a{i}", name, kind, remit=name, parents=("root",),
                 automatic_participation=auto)
        for i, (kind, name, auto) in enumerate(rows)
    ]
    fed = Federation(assemblies)
    text = yaml.safe_dump(dict(federation_to_mapping(fed)), allow_unicode=True)
    assert load(text) == fed
    assert plan_changes(fed, load(text)).is_empty


# --- members CSV -----------------------------------------------------------------------------
def test_members_csv() -> None:
    text = ("\ufeffName,Matrix_ID,email\n"
            "Ann,@ann:hs,a@x\n"
            "\n"
            "Bob,,b@x\n"
            "Cat,cat,c@x\n"
            "Dee,@dee:hs\n"
            "Ann again,@ann:hs,z\n")
    result = parse_members_csv(text, source="m.csv")
    assert result.members == {"@ann:hs", "@dee:hs"}
    assert [(e.line, e.message) for e in result.errors] == [
        (4, "the matrix_id cell is empty"),
        (5, "'cat' is not a Matrix user ID like @name:example.org"),
        (7, "@ann:hs is already listed on line 2"),
    ]
    assert result.errors[0].describe("m.csv") == "m.csv, line 4: the matrix_id cell is empty"
    # other columns never appear in errors
    assert all("b@x" not in e.message and "Bob" not in e.message for e in result.errors)


def test_members_csv_without_column() -> None:
    with pytest.raises(MembershipFileError, match="m.csv, line 1: no 'matrix_id' column"):
        parse_members_csv("user\n@a:hs\n", source="m.csv")
    with pytest.raises(MembershipFileError, match="empty"):
        parse_members_csv("", source="m.csv")
