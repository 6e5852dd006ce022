"""The published record (harmony_matrix.sortition.record) and verify_draw.py, run as a bare python3."""

from __future__ import annotations

import copy
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from harmony_matrix.sortition import (
    STRATA,
    InfeasibleQuotas,
    InvalidDrawInput,
    Quota,
    RecordInputs,
    Witness,
    WitnessError,
    cancelled_record,
    make_problem,
    plan_leximin,
    plan_strata,
    record_probabilities,
    verify_record,
    witness_commitment,
)
from harmony_matrix.sortition.lot import canonical
from harmony_matrix.sortition.record import RECORD_FIELDS, verify_membership

from sortition_cases import REVEAL_A, REVEAL_B, example_problem, make_record, pool_from_counts, witnesses

REPO = Path(__file__).resolve().parents[2]
PYTHON3 = shutil.which("python3") or sys.executable


@pytest.fixture(scope="module")
def record() -> dict[str, Any]:
    return make_record(example_problem())


def run_verify(tmp_path: Path, record: dict[str, Any], *extra: str) -> subprocess.CompletedProcess[str]:
    path = tmp_path / "record.json"
    path.write_text(json.dumps(record, ensure_ascii=False), encoding="utf-8")
    # -I -S: isolated, no site-packages: what a member with a bare python3 has.
    return subprocess.run(
        [PYTHON3, "-I", "-S", str(REPO / "verify_draw.py"), str(path), *extra],
        capture_output=True, text=True, timeout=60, cwd=tmp_path,
    )  # fmt: skip


def test_record_has_the_spec_fields_and_checks_out(record: dict[str, Any]) -> None:
    assert tuple(record) == RECORD_FIELDS
    assert record["status"] == "drawn" and record["cancel_reason"] is None
    assert record["algorithm"] == "leximin-types/1"
    assert len(record["tickets"]) == 1000
    assert [e["type"] for e in record["types"]] == sorted(e["type"] for e in record["types"])
    assert [w["user"] for w in record["witnesses"]] == sorted(w["user"] for w in record["witnesses"])
    assert sum(1 for _ in record["selected"]) == record["seats"]
    assert record["selected"] == sorted(record["selected"], key=lambda e: (e["type"], e["pseudonym"]))
    assert verify_record(record) == []


def test_verify_draw_accepts_the_core_record_under_a_bare_python(tmp_path: Path, record: dict[str, Any]) -> None:
    result = run_verify(tmp_path, record)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "all checks passed" in result.stdout
    assert f"ok        ticket {record['ticket']} of 1000" in result.stdout
    for label, p in record_probabilities(record).items():
        assert f"  {label}  members " in result.stdout and f"({p})" in result.stdout


def test_a_member_can_find_their_own_entry(tmp_path: Path, record: dict[str, Any]) -> None:
    # pool_from_counts gave member 0 the salt "0"*32 and the first type in sorted order.
    assert verify_membership(record, "@member0:example.org", "0" * 32) == record["types"][0]["type"]
    assert verify_membership(record, "@member0:example.org", "1" * 32) is None
    result = run_verify(tmp_path, record, "--member", "@member0:example.org", "0" * 32)
    assert result.returncode == 0 and "member @member0:example.org" in result.stdout
    result = run_verify(tmp_path, record, "--member", "@member0:example.org", "wrong")
    assert result.returncode == 1 and "is not in the pool" in result.stdout


def tamper_selected(r: dict[str, Any]) -> None:
    r["selected"][0]["pseudonym"] = r["alternates"][0]["pseudonym"]


def tamper_ticket_count(r: dict[str, Any]) -> None:
    first = r["tickets"][0]
    label = sorted(first)[0]
    first[label] += 1


def tamper_ticket_index(r: dict[str, Any]) -> None:
    r["ticket"] = (r["ticket"] + 1) % len(r["tickets"])


def tamper_reveal(r: dict[str, Any]) -> None:
    r["witnesses"][0]["reveal"] = "f" * 32


def tamper_pool(r: dict[str, Any]) -> None:
    r["pool"][0][0] = "0" * 64


def tamper_alternates(r: dict[str, Any]) -> None:
    r["alternates"].reverse()


@pytest.mark.parametrize(
    ("tamper", "named"),
    [
        (tamper_selected, "selected"),
        (tamper_ticket_count, "tickets_hash"),
        (tamper_ticket_index, "ticket:"),
        (tamper_reveal, "witness @alice:example.org"),
        (tamper_pool, "pool_commitment"),
        (tamper_alternates, "alternates"),
    ],
)
def test_a_tampered_record_fails_with_the_field_named(
    tmp_path: Path, record: dict[str, Any], tamper: Any, named: str
) -> None:
    bad = copy.deepcopy(record)
    tamper(bad)
    result = run_verify(tmp_path, bad)
    assert result.returncode == 1, result.stdout
    assert any(line.startswith("MISMATCH: ") and named in line for line in result.stdout.splitlines()), result.stdout
    assert any(named.rstrip(":") in problem for problem in verify_record(bad))


def test_an_unreadable_file_is_exit_2(tmp_path: Path) -> None:
    path = tmp_path / "broken.json"
    path.write_text("{", encoding="utf-8")
    command = [PYTHON3, "-I", "-S", str(REPO / "verify_draw.py"), str(path)]
    result = subprocess.run(command, capture_output=True, text=True, timeout=60)
    assert result.returncode == 2


_DETERMINISM_SCRIPT = """
import hashlib, sys
sys.path[:0] = [{repo!r}, {tests!r}]
from harmony_matrix.sortition import Quota, make_problem, plan_leximin
from harmony_matrix.sortition.lot import canonical
from sortition_cases import example_problem, make_record
three = make_problem(
    seats=5,
    categories={{"age": ["old", "young"], "branch": ["a", "b", "c"], "gender": ["man", "woman"]}},
    quotas=[Quota("gender", "woman", 2, 3), Quota("age", "young", 1, 2), Quota("branch", "c", 1, 1)],
    counts={{
        "age=old;branch=a;gender=man": 3, "age=young;branch=a;gender=woman": 2, "age=old;branch=b;gender=woman": 4,
        "age=young;branch=b;gender=man": 1, "age=old;branch=c;gender=woman": 2, "age=young;branch=c;gender=man": 3,
    }},
)
for problem in (example_problem(), three):
    print(hashlib.sha256(canonical(make_record(problem))).hexdigest())
"""


def test_same_input_gives_byte_identical_records_under_any_hash_seed() -> None:
    script = _DETERMINISM_SCRIPT.format(repo=str(REPO), tests=str(Path(__file__).parent))
    outputs = []
    for seed in ("0", "4242"):
        env = {**os.environ, "PYTHONHASHSEED": seed}
        result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, env=env, timeout=120)
        assert result.returncode == 0, result.stderr
        outputs.append([line for line in result.stdout.splitlines() if len(line) == 64])
    assert outputs[0] == outputs[1] and len(outputs[0]) == 2


def test_witness_rules() -> None:
    problem = example_problem()
    one = [w for w in witnesses() if w.user != "@bob:example.org"]
    with pytest.raises(WitnessError, match="only 1 witness"):
        make_record_with(problem, one)
    secretaries_only = [Witness("@alice:example.org", witness_commitment(REVEAL_A), REVEAL_A)] + [
        Witness("@sec:example.org", witness_commitment(REVEAL_B), REVEAL_B)
    ]
    with pytest.raises(WitnessError, match="secretary"):
        make_record_with(problem, secretaries_only, secretaries={"@alice:example.org", "@sec:example.org"})
    wrong = [Witness("@bob:example.org", witness_commitment(REVEAL_B), REVEAL_A), *one]
    with pytest.raises(WitnessError, match="does not match"):
        make_record_with(problem, wrong)
    short = [Witness("@bob:example.org", witness_commitment("ab"), "ab"), *one]
    with pytest.raises(WitnessError, match="hex digits"):
        make_record_with(problem, short)


def make_record_with(problem: Any, ws: list[Witness], secretaries: set[str] | None = None) -> dict[str, Any]:
    from harmony_matrix.sortition import RecordInputs, build_record

    return build_record(
        RecordInputs(ref="S-x-1", purpose="p", assembly="x", authorised_by=None, problem=problem,
                     pool=pool_from_counts(dict(zip(problem.types, problem.counts))), plan=plan_leximin(problem),
                     witnesses=ws),
        secretaries=secretaries or {"@alice:example.org"},
    )  # fmt: skip


def test_a_cancelled_draw_stays_on_record(tmp_path: Path) -> None:
    problem = example_problem()
    record = cancelled_record(
        RecordInputs(ref="S-x-2", purpose="p", assembly="x", authorised_by=None, problem=problem,
                     pool=pool_from_counts(dict(zip(problem.types, problem.counts))), plan=plan_leximin(problem),
                     witnesses=witnesses()[:1]),
        reason="only 1 witness revealed before the deadline",
    )  # fmt: skip
    assert record["status"] == "cancelled" and record["seed"] is None and record["selected"] == []
    assert verify_record(record) == []
    result = run_verify(tmp_path, record)
    assert result.returncode == 0 and "cancelled: only 1 witness" in result.stdout
    with pytest.raises(InvalidDrawInput):
        cancelled_record(
            RecordInputs(ref="S-x-2", purpose="p", assembly="x", authorised_by=None, problem=problem,
                         pool=pool_from_counts(dict(zip(problem.types, problem.counts))),
                         plan=plan_leximin(problem), witnesses=[]),
            reason=" ",
        )  # fmt: skip


def test_strata_draw_is_one_ticket_uniform_inside_each_stratum(tmp_path: Path) -> None:
    problem = make_problem(
        seats=3,
        categories={"branch": ["east", "west"]},
        quotas=[Quota("branch", "east", 2, 2), Quota("branch", "west", 1, 1)],
        counts={"branch=east": 5, "branch=west": 4},
    )
    plan = plan_strata(problem, {"branch=east": 2, "branch=west": 1})
    assert plan.algorithm == STRATA and plan.tickets == ({"branch=east": 2, "branch=west": 1},)
    assert dict(plan.probabilities) == {"branch=east": pytest.approx(2 / 5), "branch=west": pytest.approx(1 / 4)}
    record = make_record(problem, plan)
    assert record["algorithm"] == "strata-uniform/1" and record["ticket"] == 0
    assert run_verify(tmp_path, record).returncode == 0
    with pytest.raises(InfeasibleQuotas) as refused:
        plan_strata(problem, {"branch=east": 3, "branch=west": 1})
    assert "the strata's seats add up to 4, not seats 3" in refused.value.conflicts
    assert "branch=east min 2 max 2 but the strata give it 3" in refused.value.conflicts


def test_canonical_record_is_stable_bytes(record: dict[str, Any]) -> None:
    assert canonical(record) == canonical(json.loads(json.dumps(record, ensure_ascii=False)))
