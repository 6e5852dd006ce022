"""Benchmark: harmony_matrix.sortition (leximin over types + rounding to 1000 tickets) against the PyPI
``sortition-algorithms`` package (maximin, its default; its leximin needs the commercial Gurobi).

For each pool (members / seats) it builds one synthetic pool with a fixed seed and quotas around the
proportional shares, then prints, side by side: wall time and the minimum selection probability of
ours (from the published tickets) and of ``sortition_algorithms.committee_generation.maximin``'s
``find_distribution_maximin`` (per person, summed over its committees). The other package runs in a
subprocess with a time cap; "did not finish in 60 s" says when it hit it.

Run: ``.venv/bin/python bench/bench_sortition.py [cap seconds]``. The other package is a bench-only
dependency: ``.venv/bin/pip install sortition-algorithms``.
"""

from __future__ import annotations

import json
import random
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run from a checkout without installing

from harmony_matrix.sortition import Quota, make_problem, plan_leximin, type_label  # noqa: E402

GENDERS = {"man": 0.55, "woman": 0.38, "nonbinary": 0.04, "undisclosed": 0.03}
# (members, seats, branches, age bands); age bands 0 = no age category
SIZES = [(40, 8, 4, 0), (300, 24, 12, 0), (1000, 40, 12, 0), (20000, 100, 12, 5)]


def make_pool(
    members: int, seats: int, branches: int, ages: int, seed: int = 12
) -> tuple[dict[str, list[str]], list[dict[str, str]], list[Quota]]:
    """Members with branch (skewed sizes), gender and maybe age; quotas around proportional shares."""
    rng = random.Random(seed)
    categories: dict[str, list[str]] = {
        "branch": [f"branch-{i:02d}" for i in range(branches)],
        "gender": list(GENDERS),
    }
    if ages:
        categories["age"] = [f"age-{i}" for i in range(ages)]
    branch_weights = [1.0 / (1 + i / 3) for i in range(branches)]
    people = []
    for _ in range(members):
        person = {
            "branch": rng.choices(categories["branch"], branch_weights)[0],
            "gender": rng.choices(list(GENDERS), list(GENDERS.values()))[0],
        }
        if ages:
            person["age"] = rng.choices(categories["age"], [3, 4, 4, 3, 2][:ages])[0]
        people.append(person)
    quotas = []
    for name, values in categories.items():
        for value in values:
            have = sum(1 for p in people if p[name] == value)
            share = seats * have / members
            low, high = int(share), min(have, -int(-share // 1))
            if name == "gender":  # gender quotas that bind: near parity for women and men
                low, high = {
                    "woman": (int(0.45 * seats), -int(-0.55 * seats // 1)),
                    "man": (int(0.40 * seats), -int(-0.50 * seats // 1)),
                    "nonbinary": (min(1, have), max(1, high)),
                    "undisclosed": (0, high + 1),
                }[value]
            quotas.append(Quota(name, value, min(low, have), min(max(low, high), have)))
    return categories, people, quotas


def run_ours(
    categories: dict[str, list[str]], people: list[dict[str, str]], quotas: list[Quota], seats: int
) -> tuple[float, float, float, int]:
    start = time.perf_counter()
    counts: dict[str, int] = {}
    for person in people:
        label = type_label(person)
        counts[label] = counts.get(label, 0) + 1
    problem = make_problem(seats=seats, categories=categories, quotas=quotas, counts=counts)
    plan = plan_leximin(problem)
    elapsed = time.perf_counter() - start
    return elapsed, min(plan.optimum.values()), float(min(plan.probabilities.values())), len(problem.types)


_THEIRS = r"""
import json, sys, time
data = json.load(sys.stdin)
from sortition_algorithms.features import read_in_features
from sortition_algorithms.people import read_in_people
from sortition_algorithms.settings import Settings
from sortition_algorithms.committee_generation.maximin import find_distribution_maximin
rows = [{"feature": q[0], "value": q[1], "min": str(q[2]), "max": str(q[3])} for q in data["quotas"]]
features, _, _ = read_in_features(["feature", "value", "min", "max"], rows, data["seats"])
names = list(data["categories"])
body = [{"id": f"p{i}", **p} for i, p in enumerate(data["people"])]
settings = Settings(id_column="id", columns_to_keep=[])
people, _ = read_in_people(["id", *names], body, features, settings)
start = time.perf_counter()
committees, probabilities, _ = find_distribution_maximin(features, people, data["seats"], [])
elapsed = time.perf_counter() - start
chance = {pid: 0.0 for pid in people}
for committee, p in zip(committees, probabilities):
    for pid in committee:
        chance[pid] += p
print(json.dumps({"seconds": elapsed, "min": min(chance.values())}))
"""

_LEXIMIN_PROBE = r"""
from sortition_algorithms.committee_generation import leximin
print("available" if leximin.GUROBI_AVAILABLE else "needs Gurobi (commercial), not installed")
"""


def run_theirs(
    categories: dict[str, list[str]], people: list[dict[str, str]], quotas: list[Quota], seats: int, cap: float
) -> dict[str, Any] | str:
    data = {
        "categories": categories,
        "people": people,
        "quotas": [(q.category, q.value, q.min, q.max) for q in quotas],
        "seats": seats,
    }
    start = time.perf_counter()
    try:
        result = subprocess.run(
            [sys.executable, "-c", _THEIRS], input=json.dumps(data), capture_output=True, text=True, timeout=cap
        )
    except subprocess.TimeoutExpired:
        return f"did not finish in {cap:g} s"
    if result.returncode != 0:
        last = (result.stderr.strip().splitlines() or ["?"])[-1]
        return f"failed: {last[:60]}"
    answer: dict[str, Any] = json.loads(result.stdout.strip().splitlines()[-1])
    answer["wall"] = time.perf_counter() - start
    return answer


def main() -> None:
    cap = float(sys.argv[1]) if len(sys.argv) > 1 else 60.0
    try:
        probe = subprocess.run([sys.executable, "-c", _LEXIMIN_PROBE], capture_output=True, text=True, timeout=cap)
        leximin_note = probe.stdout.strip() or "not installed"
    except subprocess.TimeoutExpired:
        leximin_note = "probe timed out"
    print("ours: leximin-types/1 (HiGHS, column generation over types) + rounding to 1000 tickets")
    print("theirs: sortition-algorithms find_distribution_maximin (HiGHS); its leximin:", leximin_note)
    print()
    header = (
        f"{'pool/seats':>12} {'types':>6} | {'ours s':>7} {'LP min p':>9} {'ticket min p':>12} "
        f"| {'theirs s':>9} {'theirs min p':>12}"
    )
    print(header)
    print("-" * len(header))
    for members, seats, branches, ages in SIZES:
        categories, people, quotas = make_pool(members, seats, branches, ages)
        ours_s, lp_min, ours_min, n_types = run_ours(categories, people, quotas, seats)
        theirs = run_theirs(categories, people, quotas, seats, cap)
        left = f"{members:>6}/{seats:<5} {n_types:>6} | {ours_s:7.2f} {lp_min:9.5f} {ours_min:12.5f} | "
        if isinstance(theirs, str):
            print(left + theirs)
        else:
            print(left + f"{theirs['seconds']:9.2f} {theirs['min']:12.5f}")
        sys.stdout.flush()
    print()
    print("theirs s = time inside find_distribution_maximin (import and data loading excluded); ours s = all of")
    print("make_problem + leximin + rounding. LP min p: leximin optimum (= maximin value); ticket min p: from the")
    print("published tickets, within 1/1000 of the LP. theirs min p: per person, summed over its committees.")


if __name__ == "__main__":
    main()
