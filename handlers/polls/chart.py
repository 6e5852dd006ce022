"""The results chart of a STAR poll: score distribution per option, and the runoff bar.

Drawn with matplotlib's Agg backend (no display needed) into PNG bytes; ``alt_text`` says the same in
words for people who cannot see the image. matplotlib is imported when the first chart is drawn.
"""

from __future__ import annotations

import io
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from typing import TYPE_CHECKING

from harmony_matrix.polls.star import Runoff

if TYPE_CHECKING:
    from matplotlib.figure import Figure

# Colour-blind-safe ramp from 0 (grey) to 5 (dark blue).
_SCORE_COLOURS = ("#bdbdbd", "#fde0c5", "#f9b98a", "#9ecae1", "#4292c6", "#08519c")


@dataclass(frozen=True)
class Chart:
    """A drawn chart: the PNG, its size in pixels, and the same in words."""

    png: bytes
    width: int
    height: int
    alt_text: str


def draw_results_chart(*, title: str, options: Sequence[str], distribution: Mapping[str, Sequence[int]],
                       runoff: Runoff | None) -> Chart:
    """``distribution[option][s]`` = ballots giving ``option`` the score ``s`` (0..5); ``runoff`` the
    result's automatic runoff, or None."""
    rows = 2 if runoff else 1
    height_in = 1.2 + 0.45 * len(options) + (1.3 if runoff else 0)
    figure = _figure(height_in)
    grid = figure.add_gridspec(rows, 1, height_ratios=[max(len(options), 1), 2] if runoff else [1])
    axes = figure.add_subplot(grid[0])
    labels = [_short(o) for o in options][::-1]
    lefts = [0] * len(options)
    for score in range(6):
        counts = [distribution[o][score] for o in options][::-1]
        axes.barh(labels, counts, left=lefts, color=_SCORE_COLOURS[score], label=str(score),
                  edgecolor="white", linewidth=0.5)
        lefts = [left + count for left, count in zip(lefts, counts)]
    axes.set_title(_short(title, 80), fontsize=11, loc="left")
    axes.set_xlabel("ballots")
    axes.legend(title="score", ncols=6, fontsize=8, title_fontsize=8, loc="lower right",
                bbox_to_anchor=(1.0, 1.0), frameon=False)
    for side in ("top", "right"):
        axes.spines[side].set_visible(False)
    if runoff:
        bar = figure.add_subplot(grid[1])
        parts = [(f"prefer {_short(runoff.a, 20)}", runoff.prefer_a, "#08519c"),
                 ("no preference", runoff.no_preference, "#bdbdbd"),
                 (f"prefer {_short(runoff.b, 20)}", runoff.prefer_b, "#e6550d")]
        left = 0
        for label, count, colour in parts:
            bar.barh(["runoff"], [count], left=left, color=colour, label=f"{label}: {count}")
            left += count
        bar.legend(ncols=3, fontsize=8, loc="upper center", bbox_to_anchor=(0.5, -0.35), frameon=False)
        bar.set_yticks([])
        for side in ("top", "right", "left"):
            bar.spines[side].set_visible(False)
    figure.tight_layout()
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png")
    width, height = (int(v) for v in figure.get_size_inches() * figure.dpi)
    return Chart(png=buffer.getvalue(), width=width, height=height,
                 alt_text=alt_text(title=title, options=options, distribution=distribution, runoff=runoff))


def alt_text(*, title: str, options: Sequence[str], distribution: Mapping[str, Sequence[int]],
             runoff: Runoff | None) -> str:
    """The chart in words."""
    lines = [f"Chart of the results of {title}. Ballots per score (0 to 5) for each option:"]
    for option in options:
        counts = ", ".join(f"{n}×{s}" for s, n in enumerate(distribution[option]) if n) or "no scores"
        lines.append(f"{option}: {counts}.")
    if runoff:
        lines.append(f"Runoff: {runoff.prefer_a} preferred {runoff.a}, {runoff.prefer_b} preferred "
                     f"{runoff.b}, {runoff.no_preference} had no preference.")
    return " ".join(lines)


def _short(text: str, limit: int = 32) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _figure(height_in: float) -> Figure:
    """A blank figure. matplotlib is imported here, when the first chart is drawn, not when the bot
    starts: it is the largest library the bot uses (start-up time and tens of MiB of memory) and
    many bots never draw a chart between restarts."""
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib.figure import Figure

    return Figure(figsize=(8, height_in), dpi=100)
