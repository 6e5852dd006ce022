"""The results chart of a STAR poll: score distribution per option, and the runoff between the finalists.

Drawn with matplotlib's Agg backend (no display needed) into PNG bytes, for the size clients show an
image in the timeline (about 400 px wide, half the drawn width): large type, counts as whole numbers,
the winner marked in words as well as colour, and the runoff panel as wide as the scores panel and on
the same scale (both count ballots). ``alt_text`` says the same in words for people who cannot see it.
matplotlib is imported when the first chart is drawn (``_matplotlib``), not when the bot starts.
"""

from __future__ import annotations

import io
import textwrap
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from harmony_matrix.polls.star import Runoff

if TYPE_CHECKING:
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

# Colour-blind-safe ramp from 0 (grey) to 5 (dark blue); text on the three darkest is white.
_SCORE_COLOURS = ("#d9d9d9", "#fde0c5", "#f9b98a", "#9ecae1", "#4292c6", "#08519c")
_DARK = {4, 5}
_PREFER_A, _NO_PREFERENCE, _PREFER_B = "#4292c6", "#d9d9d9", "#f9b98a"
_WINNER = "#1a7f37"

#: Drawn size: 8 × 100 px wide; clients show it at about half that, so type is 15–18 pt.
_WIDTH_IN, _DPI = 8.0, 100
_TEXT, _SMALL, _TITLE = 16, 14, 18


@dataclass(frozen=True)
class Chart:
    """A drawn chart: the PNG, its size in pixels, and the same in words."""

    png: bytes
    width: int
    height: int
    alt_text: str


def draw_results_chart(*, title: str, options: Sequence[str], distribution: Mapping[str, Sequence[int]],
                       runoff: Runoff | None, winners: Sequence[str] = (),
                       totals: Mapping[str, int] | None = None) -> Chart:
    """``distribution[option][s]`` = ballots giving ``option`` the score ``s`` (0..5); ``runoff`` the
    result's automatic runoff, or None; ``winners`` are marked; ``totals`` (stars) written at each bar."""
    figure = results_figure(title=title, options=options, distribution=distribution, runoff=runoff,
                            winners=winners, totals=totals)
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png")
    width, height = (int(v) for v in figure.get_size_inches() * figure.dpi)
    return Chart(png=buffer.getvalue(), width=width, height=height,
                 alt_text=alt_text(title=title, options=options, distribution=distribution, runoff=runoff,
                                   winners=winners))


def results_figure(*, title: str, options: Sequence[str], distribution: Mapping[str, Sequence[int]],
                   runoff: Runoff | None, winners: Sequence[str] = (),
                   totals: Mapping[str, int] | None = None) -> Figure:
    """The chart as a matplotlib figure (``draw_results_chart`` renders it): the scores panel, then the
    runoff panel when there is a runoff."""
    count = max(len(options), 1)
    # Short rows: clients also cap the height (Hydrogen at 300 px), and a squat chart is shown wider.
    scores_h = 0.55 * count + 0.75
    runoff_h = 0.45 * 3 + 0.75 if runoff else 0.0
    _matplotlib()
    from matplotlib.figure import Figure
    from matplotlib.layout_engine import ConstrainedLayoutEngine
    from matplotlib.ticker import MaxNLocator

    figure = Figure(figsize=(_WIDTH_IN, 1.0 + scores_h + runoff_h), dpi=_DPI, layout="constrained")
    engine = figure.get_layout_engine()
    if isinstance(engine, ConstrainedLayoutEngine):
        engine.set(h_pad=0.1, hspace=0.08)
    figure.suptitle(_short(title, 56), fontsize=_TITLE, fontweight="bold", x=0.01, ha="left")
    if runoff:
        axes, bar = figure.subplots(2, 1, height_ratios=[scores_h, runoff_h])
    else:
        axes, bar = figure.subplots(1, 1), None
    ballots = max((sum(distribution[o]) for o in options), default=0)
    _draw_scores(axes, options, distribution, winners=winners, totals=totals)
    if bar is not None and runoff is not None:
        _draw_runoff(bar, runoff)
    # Both panels count ballots on one scale, so they are as wide and their bars compare.
    ticks = [t for t in MaxNLocator(integer=True, nbins=5).tick_values(0, max(ballots, 1)) if 0 <= t <= max(ballots, 1)]
    for panel in (axes, bar):
        if panel is None:
            continue
        panel.set_xlim(0, max(ballots, 1) * 1.3)  # room for the totals at the bars' ends
        panel.set_xticks(ticks, [str(int(t)) for t in ticks])  # whole ballots only
        panel.tick_params(labelsize=_SMALL, length=0, pad=6)
        for side in ("top", "right", "left"):
            panel.spines[side].set_visible(False)
        panel.set_xlabel("ballots", fontsize=_SMALL, loc="left")
    return figure


def _label(option: str, *, won: bool) -> str:
    """An option's name on the axis: at most two lines of 16 characters, a star for a winner."""
    lines = textwrap.wrap(option, 16, max_lines=2, placeholder="…") or [option]
    return "\n".join([("★ " if won else "") + lines[0], *lines[1:]])


def _mark_winners(axes: Axes, names: Sequence[str], winners: Sequence[str]) -> None:
    for tick, name in zip(axes.get_yticklabels(), names):
        if name in winners:
            tick.set_fontweight("bold")
            tick.set_color(_WINNER)


def _draw_scores(axes: Axes, options: Sequence[str], distribution: Mapping[str, Sequence[int]], *,
                 winners: Sequence[str], totals: Mapping[str, int] | None) -> None:
    rows = list(options)[::-1]  # the first option on top
    positions = list(range(len(rows)))
    lefts = [0] * len(rows)
    for score in range(6):
        counts = [distribution[o][score] for o in rows]
        bars = axes.barh(positions, counts, left=lefts, color=_SCORE_COLOURS[score], label=str(score),
                         edgecolor="white", linewidth=1.5, height=0.78)
        axes.bar_label(bars, labels=[str(c) if c else "" for c in counts], label_type="center", fontsize=_SMALL,
                       color="white" if score in _DARK else "#222222")
        lefts = [left + c for left, c in zip(lefts, counts)]
    axes.set_yticks(positions, [_label(o, won=o in winners) for o in rows], fontsize=_TEXT)
    _mark_winners(axes, rows, winners)
    if totals is not None:
        widest = max(max(lefts), 1)
        for y, (option, left) in enumerate(zip(rows, lefts)):
            won = option in winners
            axes.text(left + 0.02 * widest, y, f"{totals.get(option, 0)} ★", va="center", fontsize=_TEXT,
                      fontweight="bold" if won else "normal", color=_WINNER if won else "#222222")
    axes.legend(title="Scores (0 worst, 5 best), stars in total", ncols=6, fontsize=_SMALL, title_fontsize=_SMALL,
                loc="lower left", bbox_to_anchor=(0.0, 1.0), frameon=False, alignment="left", handlelength=1.2,
                columnspacing=0.9, handletextpad=0.3, borderaxespad=0.2)


def _draw_runoff(bar: Axes, runoff: Runoff) -> None:
    rows = [(f"prefer {runoff.a}", runoff.prefer_a, _PREFER_A, runoff.winner == runoff.a),
            ("no preference", runoff.no_preference, _NO_PREFERENCE, False),
            (f"prefer {runoff.b}", runoff.prefer_b, _PREFER_B, runoff.winner == runoff.b)][::-1]
    positions = list(range(len(rows)))
    for y, (_, count, colour, _won) in zip(positions, rows):
        drawn = bar.barh([y], [count], color=colour, height=0.78)
        bar.bar_label(drawn, labels=[str(count)], padding=4, fontsize=_TEXT)
    bar.set_yticks(positions, [_label(name, won=won) for name, _, _, won in rows], fontsize=_TEXT)
    _mark_winners(bar, [name for name, _, _, _ in rows],
                  [name for name, _, _, won in rows if won])
    winner = f": {_short(runoff.winner, 24)} wins" if runoff.winner else ""
    bar.set_title(f"Runoff of the top two{winner}", fontsize=_TEXT, loc="left", fontweight="bold")


def alt_text(*, title: str, options: Sequence[str], distribution: Mapping[str, Sequence[int]],
             runoff: Runoff | None, winners: Sequence[str] = ()) -> str:
    """The chart in words."""
    lines = [f"Chart of the results of {_sentence(title)} Ballots per score (0 to 5) for each option:"]
    for option in options:
        counts = ", ".join(f"{n}×{s}" for s, n in enumerate(distribution[option]) if n) or "no scores"
        lines.append(f"{option}: {counts}.")
    if runoff:
        lines.append(f"Runoff: {runoff.prefer_a} preferred {runoff.a}, {runoff.prefer_b} preferred "
                     f"{runoff.b}, {runoff.no_preference} had no preference.")
    if winners:
        lines.append(("Winners: " if len(winners) > 1 else "Winner: ") + ", ".join(winners) + ".")
    return " ".join(lines)


def _sentence(text: str) -> str:
    """``text`` ending as a sentence: a full stop unless it already ends with one, ``?`` or ``!``."""
    return text if text.rstrip().endswith((".", "?", "!", "…")) else f"{text}."


def _short(text: str, limit: int = 32) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _matplotlib() -> None:
    """Choose matplotlib's Agg backend (no display needed), importing it: here, when the first chart is
    drawn, not when the bot starts. It is the largest library the bot uses (start-up time and tens of
    MiB of memory) and many bots never draw a chart between restarts."""
    import matplotlib

    matplotlib.use("Agg")
