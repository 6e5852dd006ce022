"""The assembly model and the federation DAG."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from harmony_matrix.assemblies.assembly import (
    MAX_DECLARATION_LENGTH,
    MAX_NAME_LENGTH,
    MAX_REMIT_LENGTH,
    Access,
    Assembly,
    AssemblyKind,
    Purpose,
    parse_access,
    parse_kind,
    parse_name,
    parse_slug,
)
from harmony_matrix.assemblies.errors import (
    CycleError,
    DuplicateSlug,
    FederationError,
    InvalidAssembly,
    UnknownAssembly,
    UnknownParent,
)
from harmony_matrix.assemblies.federation import Federation, find_cycle
from harmony_matrix.ids import UserId


def a(slug: str, *parents: str, **kw: object) -> Assembly:
    kw.setdefault("kind", AssemblyKind.WORKING_GROUP)
    return Assembly(slug, slug.title(), parents=parents, **kw)  # type: ignore[arg-type]


@pytest.fixture
def fed() -> Federation:
    # party ─┬─ committee ─┬─ wg1
    #        │             └─ wg2 ─ sub
    #        └─ city ─ ward (ward also in committee: a diamond)
    return Federation(
        [
            a("party", kind=AssemblyKind.PARTY),
            a("committee", "party", kind=AssemblyKind.COMMITTEE),
            a("wg1", "committee"),
            a("wg2", "committee"),
            a("sub", "wg2"),
            a("city", "party", kind=AssemblyKind.CITY),
            a("ward", "city", "committee", kind=AssemblyKind.CONSTITUENCY),
        ]
    )


def test_enum_values_are_the_file_spellings() -> None:
    assert AssemblyKind("society-working-group") is AssemblyKind.SOCIETY_WORKING_GROUP
    assert [x.value for x in Access] == [
        "open", "participants", "self-identified", "members", "invite", "drawn"
    ]
    assert Purpose("community-advocacy") is Purpose.COMMUNITY_ADVOCACY


def test_strings_are_coerced_to_enums() -> None:
    x = Assembly("x", "X", "committee", access="members", purpose="aid")  # type: ignore[arg-type]
    assert x.kind is AssemblyKind.COMMITTEE and x.access is Access.MEMBERS
    assert x.purpose is Purpose.AID


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"slug": "Bad Slug"}, "slug"),
        ({"slug": "-x"}, "slug"),
        ({"name": "  "}, "name"),
        ({"kind": "club"}, "kind"),
        ({"access": "secret"}, "access"),
        ({"access": Access.SELF_IDENTIFIED}, "declaration"),
        ({"declaration": "I am"}, "declaration"),
        ({"access": Access.PARTICIPANTS}, "parents"),
        ({"parents": ("p", "p")}, "parents"),
        ({"secretary": "bob"}, "secretary"),
        ({"secretary": "@s:hs", "deputies": ("@s:hs",)}, "deputies"),
        ({"timezone": "Mars/Olympus"}, "timezone"),
        ({"denied_servers": ("bad server",)}, "denied_servers"),
    ],
)
def test_invalid_fields_are_named(kwargs: dict[str, object], field: str) -> None:
    base: dict[str, object] = {"slug": "x", "name": "X", "kind": AssemblyKind.WORKING_GROUP}
    base.update(kwargs)
    with pytest.raises(InvalidAssembly) as err:
        Assembly(**base)  # type: ignore[arg-type]
    assert err.value.field == field


@pytest.mark.parametrize(("field", "limit"), [
    ("name", MAX_NAME_LENGTH), ("remit", MAX_REMIT_LENGTH), ("declaration", MAX_DECLARATION_LENGTH)])
def test_texts_longer_than_their_limit_are_refused(field: str, limit: int) -> None:
    base: dict[str, object] = {"slug": "x", "name": "X", "kind": AssemblyKind.SOCIETY,
                               "access": Access.SELF_IDENTIFIED, "declaration": "I am."}
    Assembly(**{**base, field: "a" * limit})  # type: ignore[arg-type]
    with pytest.raises(InvalidAssembly) as err:
        Assembly(**{**base, field: "a" * (limit + 1)})  # type: ignore[arg-type]
    assert err.value.field == field
    assert f"{limit + 1:,} characters long, at most {limit:,}" in err.value.message


def test_command_parsers_give_typed_values_and_name_the_allowed_ones() -> None:
    assert parse_kind("working-group") is AssemblyKind.WORKING_GROUP
    assert parse_access("self-identified") is Access.SELF_IDENTIFIED
    with pytest.raises(ValueError, match=r"unknown kind 'guild' \(allowed: party, working-group, "):
        parse_kind("guild")
    with pytest.raises(ValueError, match=r"unknown access 'secret' \(allowed: open, participants, "
                                         r"self-identified, members, invite, drawn\)"):
        parse_access("secret")
    assert parse_slug("cardiff-west") == "cardiff-west"
    with pytest.raises(ValueError, match='"Cardiff West" is not a slug: a slug is 1–64 lowercase'):
        parse_slug("Cardiff West")
    assert parse_name('"Media Working Group"') == "Media Working Group"
    with pytest.raises(ValueError, match="the name is empty"):
        parse_name('""')
    with pytest.raises(ValueError, match=f"at most {MAX_NAME_LENGTH}"):
        parse_name("n" * (MAX_NAME_LENGTH + 1))


def test_unknown_kind_lists_allowed_values() -> None:
    with pytest.raises(InvalidAssembly, match="allowed: party, working-group"):
        Assembly("x", "X", "club")  # type: ignore[arg-type]


def test_self_nesting_is_a_cycle() -> None:
    with pytest.raises(CycleError, match="x → x"):
        a("x", "x")


def test_officers_and_frozen() -> None:
    x = a("x", secretary=UserId("@s:hs"), deputies=[UserId("@d:hs")])
    assert x.officers == ("@s:hs", "@d:hs")
    assert isinstance(x.deputies, tuple)
    with pytest.raises(AttributeError):
        x.name = "Y"  # type: ignore[misc]


def test_cycle_is_refused_naming_it() -> None:
    with pytest.raises(CycleError) as err:
        Federation([a("a", "b"), a("b", "a")])
    assert err.value.cycle == ("a", "b", "a")
    assert "a → b → a" in str(err.value)


def test_longer_cycle_named_from_smallest_slug() -> None:
    assert find_cycle({"c": ["a"], "a": ["b"], "b": ["c"], "d": []}) == ("a", "b", "c", "a")


def test_unknown_parent_and_duplicate_refused() -> None:
    with pytest.raises(UnknownParent, match="'ghost'"):
        Federation([a("x", "ghost")])
    with pytest.raises(DuplicateSlug, match="'x'"):
        Federation([a("x"), a("x")])


def test_ancestors_descendants_children(fed: Federation) -> None:
    assert fed.ancestors("ward") == {"city", "committee", "party"}
    assert fed.descendants("committee") == {"wg1", "wg2", "sub", "ward"}
    assert fed.descendants("sub") == frozenset()
    assert [c.slug for c in fed.children("committee")] == ["wg1", "wg2", "ward"]
    assert [p.slug for p in fed.parents("ward")] == ["city", "committee"]
    assert [r.slug for r in fed.roots()] == ["party"]
    with pytest.raises(UnknownAssembly):
        fed.children("nope")


def test_topological_order_puts_parents_first(fed: Federation) -> None:
    order = [x.slug for x in fed.topological_order()]
    for x in fed:
        for p in x.parents:
            assert order.index(p) < order.index(x.slug)


def test_tree_shows_shared_child_under_each_parent_once_expanded(fed: Federation) -> None:
    lines = [("  " * t.depth + t.assembly.slug, t.repeated) for t in fed.tree()]
    assert lines == [
        ("party", False),
        ("  committee", False),
        ("    wg1", False),
        ("    wg2", False),
        ("      sub", False),
        ("    ward", False),
        ("  city", False),
        ("    ward", True),
    ]


def test_umbrella_participants_include_nested(fed: Federation) -> None:
    assert fed.participants_include("party", "sub")
    assert fed.participants_include("committee", "ward")
    assert fed.participants_include("wg1", "wg1")
    assert not fed.participants_include("wg1", "committee")
    assert fed.participates("committee", {"sub"})
    assert not fed.participates("wg1", {"sub"})
    # ignoring a subtree: being in wg2 (or below it) does not make you a committee participant
    assert not fed.participates("committee", {"sub"}, ignoring="wg2")
    assert fed.participates("committee", {"sub", "wg1"}, ignoring="wg2")
    assert fed.participating_assemblies({"sub"}) == {"sub", "wg2", "committee", "party"}


def test_changes_return_new_validated_federations(fed: Federation) -> None:
    nested = fed.nest("wg1", "city")
    assert nested["wg1"].parents == ("committee", "city")
    assert fed["wg1"].parents == ("committee",)  # the original is untouched
    assert nested.nest("wg1", "city") is nested
    with pytest.raises(CycleError, match="committee → party → sub → wg2 → committee"):
        fed.nest("party", "sub")
    assert fed.unnest("ward", "city")["ward"].parents == ("committee",)
    with pytest.raises(FederationError):
        fed.unnest("wg1", "city")
    with pytest.raises(FederationError, match="unnest them first"):
        fed.without("committee")
    assert "sub" not in fed.without("sub")
    assert fed.with_assembly(a("new", "party"))["new"].parents == ("party",)


def test_equality_ignores_listing_order() -> None:
    one = Federation([a("p"), a("c", "p")])
    two = Federation([a("c", "p"), a("p")])
    assert one == two and hash(one) == hash(two)


# --- properties ------------------------------------------------------------------------------
slugs = st.sampled_from([f"s{i}" for i in range(7)])
graphs = st.dictionaries(slugs, st.lists(slugs, max_size=3, unique=True), max_size=7)


def _has_cycle(graph: dict[str, list[str]]) -> bool:
    # Reference: a graph is acyclic iff repeatedly removing nodes without (known) parents
    # empties it.
    remaining = {k: {p for p in v if p in graph} for k, v in graph.items()}
    while True:
        free = [k for k, ps in remaining.items() if not ps]
        if not free:
            return bool(remaining)
        for k in free:
            del remaining[k]
        for ps in remaining.values():
            ps.difference_update(free)


@given(graphs)
def test_dag_validation_never_accepts_a_cycle(graph: dict[str, list[str]]) -> None:
    # Every parent known and no self-nesting (checked on its own): only cycles can be wrong.
    known = {*graph, *(p for ps in graph.values() for p in ps)}
    full = {s: [p for p in graph.get(s, []) if p != s] for s in sorted(known)}
    assemblies = [Assembly(s, s, AssemblyKind.WORKING_GROUP, parents=tuple(ps))
                  for s, ps in full.items()]
    if _has_cycle(full):
        with pytest.raises(CycleError) as err:
            Federation(assemblies)
        cycle = err.value.cycle
        assert cycle[0] == cycle[-1]
        for child, parent in zip(cycle, cycle[1:]):
            assert parent in full[child]  # the named cycle is real
    else:
        fed = Federation(assemblies)
        for x in fed:
            assert x.slug not in fed.ancestors(x.slug)
