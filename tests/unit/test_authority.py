"""Authority of levels (issue 9.4): the All Thing body, who may record an All Thing decision or one that
trumps a nested assembly's, and what ``verify_authority`` reports in a stored record."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from harmony_matrix.assemblies.assembly import Assembly
from harmony_matrix.assemblies.federation import Federation
from harmony_matrix.assemblies.federation_file import FederationFileError, load_federation
from harmony_matrix.assemblies.errors import FederationError
from harmony_matrix.consensus.authority import Tenure, check_all_thing, check_trump, verify_authority
from harmony_matrix.consensus.decisions import Decision, Level, Method
from harmony_matrix.errors import UserError
from harmony_matrix.ids import UserId

T0 = datetime(2026, 1, 1, 12, tzinfo=UTC)
PARTY_SEC, MEDIA_SEC, MEDIA_DEP = UserId("@ps:x"), UserId("@ms:x"), UserId("@md:x")
FED = Federation((
    Assembly(slug="party", name="Harmony Party", kind="party", secretary=PARTY_SEC),
    Assembly(slug="media", name="Media Working Group", kind="working-group", parents=("party",),
             secretary=MEDIA_SEC, deputies=(MEDIA_DEP,)),
))


def decision(ref: str, assembly: str, *, level: Level = Level.MOOT, by: str | None = None, days: int = 0,
             cites: tuple[str, ...] = (), method: Method = Method.CONSENSUS) -> Decision:
    return Decision(ref=ref, assembly=assembly, level=level, method=method, outcome="adopted", statement="s",
                    topics=("budget",), decided_at=T0 + timedelta(days=days),
                    recorded_by=None if by is None else UserId(by), cites=cites)


def test_the_all_thing_body_is_the_marked_assembly_else_the_single_root() -> None:
    assert FED.all_thing_body() is not None and FED.all_thing_body().slug == "party"  # type: ignore[union-attr]
    two_roots = Federation((Assembly(slug="a", name="A", kind="party"), Assembly(slug="b", name="B", kind="party")))
    assert two_roots.all_thing_body() is None
    marked = Federation((Assembly(slug="a", name="A", kind="party"),
                         Assembly(slug="b", name="B", kind="assembly", all_thing=True)))
    assert marked.all_thing_body().slug == "b"  # type: ignore[union-attr]
    with pytest.raises(FederationError, match="only one assembly can be the All Thing body"):
        Federation((Assembly(slug="a", name="A", kind="party", all_thing=True),
                    Assembly(slug="b", name="B", kind="party", all_thing=True)))


def test_the_federation_file_marks_the_all_thing_body_and_refuses_two() -> None:
    head = "version: 1\nassemblies:\n  - slug: party\n    name: Party\n    kind: party\n"
    body = "  - slug: all\n    name: All Thing\n    kind: assembly\n    all_thing: true\n"
    assert load_federation(head + body, source="f.yaml").all_thing_body().slug == "all"  # type: ignore[union-attr]
    with pytest.raises(FederationFileError) as error:
        load_federation(head.replace("kind: party\n", "kind: party\n    all_thing: true\n") + body, source="f.yaml")
    assert "f.yaml, line 10: only one assembly can be the All Thing body; 'party' already is (line 6)" in str(error.value)


def test_a_working_groups_secretary_is_refused_naming_who_may() -> None:
    with pytest.raises(UserError) as error:
        check_all_thing(assembly="media", recorder=MEDIA_SEC, federation=FED, evidence="M-media-1",
                        needs_evidence=True, proposal="P-media-1", prefix="!h")
    message = error.value.message
    assert "only the All Thing body, Harmony Party (party), records All Thing decisions" in message
    assert PARTY_SEC in message and "Media Working Group can record this at its own level" in message


def test_the_all_thing_bodys_secretary_needs_its_moot_unless_a_ballot_settles_it() -> None:
    with pytest.raises(UserError, match="only the secretary of Harmony Party"):
        check_all_thing(assembly="party", recorder=MEDIA_SEC, federation=FED, evidence="M-party-1",
                        needs_evidence=True, proposal="P-party-1", prefix="!h")
    with pytest.raises(UserError, match="needs the All Thing moot or ballot as evidence"):
        check_all_thing(assembly="party", recorder=PARTY_SEC, federation=FED, evidence=None,
                        needs_evidence=True, proposal="P-party-1", prefix="!h")
    check_all_thing(assembly="party", recorder=PARTY_SEC, federation=FED, evidence="M-party-1",
                    needs_evidence=True, proposal="P-party-1", prefix="!h")
    check_all_thing(assembly="party", recorder=PARTY_SEC, federation=FED, evidence=None,
                    needs_evidence=False, proposal="P-party-1", prefix="!h")
    with pytest.raises(UserError, match="no assembly is the All Thing body"):
        check_all_thing(assembly="party", recorder=PARTY_SEC, federation=None, evidence="M-party-1",
                        needs_evidence=True, proposal="P-party-1", prefix="!h")


def test_only_the_umbrellas_officers_record_a_decision_that_trumps_a_nested_one() -> None:
    record = [decision("D-media-1", "media")]
    umbrella = decision("D-party-1", "party", days=1)
    with pytest.raises(UserError, match=r"would trump D-media-1 .* only Harmony Party's own officers \(@ps:x\)"):
        check_trump(umbrella, record, recorder="@admin:x", officers=(PARTY_SEC,),
                    descendants_of=FED.descendants, assembly_name="Harmony Party")
    check_trump(umbrella, record, recorder=PARTY_SEC, officers=(PARTY_SEC,), descendants_of=FED.descendants,
                assembly_name="Harmony Party")
    # Nothing nested on that topic: anyone the router let through may record it.
    check_trump(decision("D-party-1", "party"), [], recorder="@admin:x", officers=(PARTY_SEC,),
                descendants_of=FED.descendants, assembly_name="Harmony Party")


def test_verify_reports_records_that_break_the_rule() -> None:
    record = [
        decision("D-media-1", "media", by=MEDIA_SEC),
        decision("D-media-2", "media", level=Level.ALL_THING, by=MEDIA_SEC, cites=("M-media-1",)),  # wrong body
        decision("D-party-1", "party", level=Level.ALL_THING, by=MEDIA_SEC, cites=("M-party-1",)),  # not its sec
        decision("D-party-2", "party", level=Level.ALL_THING, by=PARTY_SEC),  # no moot cited
        decision("D-party-3", "party", level=Level.ALL_THING, by=PARTY_SEC, cites=("M-party-2",)),  # fine
        decision("D-party-4", "party", level=Level.ALL_THING, by=PARTY_SEC, method=Method.STAR_BALLOT),  # fine
        decision("D-party-5", "party", days=2, by=MEDIA_SEC),  # trumps D-media-1, by no officer of party
        decision("D-party-6", "party", days=2, by=PARTY_SEC),  # trumps, by its secretary: fine
        decision("D-party-7", "party", days=2),  # trumps, recorder unknown: can't be checked
    ]
    problems = verify_authority(record, federation=FED, tenures=[])
    assert [(p.ref, p.certain) for p in problems] == [
        ("D-media-2", True), ("D-party-1", True), ("D-party-2", True), ("D-party-5", True), ("D-party-7", False)]
    assert str(problems[0]) == ("entry 2 (D-media-2): an All Thing decision recorded by media, not by the All "
                                "Thing body party")


def test_verify_reads_who_held_the_office_at_the_time() -> None:
    # Ann was the party's secretary until day 5; Bo since then.
    tenures = [Tenure("party", UserId("@ann:x"), "secretary", T0 - timedelta(days=30), T0 + timedelta(days=5)),
               Tenure("party", UserId("@bo:x"), "secretary", T0 + timedelta(days=5))]
    ok = decision("D-party-1", "party", level=Level.ALL_THING, by="@ann:x", days=1, cites=("M-party-1",))
    late = decision("D-party-2", "party", level=Level.ALL_THING, by="@ann:x", days=6, cites=("M-party-1",))
    assert [p.ref for p in verify_authority([ok, late], federation=FED, tenures=tenures)] == ["D-party-2"]
