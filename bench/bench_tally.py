"""Benchmark: harmony_matrix.polls.star.tally_star against the PyPI ``starvote`` package.

Generates 100,000 random ballots over 10 options (fixed seed), times ``tally_star`` (best of 3) and,
on the same ballots, ``starvote.election(starvote.star, ballots)`` (best of 3), and prints both
figures and their ratio. Run: ``.venv/bin/python bench/bench_tally.py [ballots] [options]``.
"""

from __future__ import annotations

import random
import sys
import time
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run from a checkout without installing

from harmony_matrix.polls.star import tally_star  # noqa: E402


def make_ballots(n_ballots: int, n_options: int, seed: int = 20250701) -> tuple[list[str], list[dict[str, int]]]:
    rng = random.Random(seed)
    options = [f"option {i}" for i in range(n_options)]
    # Give options different "appeal" so the election is not a pure coin toss.
    appeal = [rng.uniform(0.5, 4.5) for _ in options]
    ballots = []
    for _ in range(n_ballots):
        ballot = {}
        for option, mean in zip(options, appeal):
            score = min(5, max(0, round(rng.gauss(mean, 1.5))))
            if score:  # leave zeros out, as real ballots do
                ballot[option] = score
        ballots.append(ballot)
    return options, ballots


def best_of(repeats: int, fn: Callable[[], object]) -> tuple[float, object]:
    best = float("inf")
    result: object = None
    for _ in range(repeats):
        start = time.perf_counter()
        result = fn()
        best = min(best, time.perf_counter() - start)
    return best, result


def main() -> None:
    n_ballots = int(sys.argv[1]) if len(sys.argv) > 1 else 100_000
    n_options = int(sys.argv[2]) if len(sys.argv) > 2 else 10
    options, ballots = make_ballots(n_ballots, n_options)
    print(f"{n_ballots:,} ballots x {n_options} options")

    ours, result = best_of(3, lambda: tally_star(options, ballots))
    print(f"harmony_matrix.polls.star.tally_star: {ours * 1000:8.1f} ms  winner {result.winners[0]!r}")  # type: ignore[attr-defined]

    try:
        import starvote
    except ImportError:
        print("starvote is not installed; skipping the comparison")
        return
    # starvote wants every option on every ballot to know the candidate list.
    full = [{o: b.get(o, 0) for o in options} for b in ballots]
    theirs, their_result = best_of(3, lambda: starvote.election(starvote.star, full))
    print(f"starvote {starvote.__version__} election(star):  {theirs * 1000:8.1f} ms  winner {their_result[0]!r}")
    print(f"ratio starvote / tally_star: {theirs / ours:.1f}x")


if __name__ == "__main__":
    main()
