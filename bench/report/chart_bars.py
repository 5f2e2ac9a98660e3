"""The bar charts, one group of bars per workload and one bar per variant, on linear axes:

- ``median-time``: each variant's median time per execution as a multiple of the baseline's
  (the raw driver's), its error bar the 95 % interval of that ratio as the report quotes it
  (:func:`~bench.results.model.compare_cells`), one panel per size; the baseline is the line
  at 1, its own median under each workload's name. A cell whose group has no baseline cell is
  left out: there is nothing to divide by;
- ``statements``: cursor calls, database statements and (where there is a network) round
  trips, each bar labelled with its count.

A bar that would flatten the others on a linear axis (the N+1 pattern's hundred round trips,
a connection opened per request) is cut at the top of the axis and labelled with its value.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from bench.report.chart_looks import Colors, bar_look, line_look, new_figure, title, variant_legend
from bench.results.model import (
    CellResult,
    Heading,
    at_size,
    compare_cells,
    format_seconds,
    reference_size,
    variants_of,
    workloads_of,
)

if TYPE_CHECKING:
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure


@dataclass(frozen=True)
class Cut:
    """Which of the tallest bars a linear axis cuts at its top: each at least ``gap`` times
    what every other bar and error bar reaches, at most ``share`` of the bars (the most such
    bars): the axis that held them would flatten every bar below."""

    gap: float
    share: float


#: ratios: the odd bar of a panel (the N+1 pattern, a connection per request) is cut; a slow
#: style, tallest in every group, stays whole
RATIOS = Cut(gap=1.5, share=1 / 8)
#: counts: cut only past a wider gap (3 statements against 2 is no outlier, 100 against 3 is),
#: and as many as half the bars (SQLite runs an executemany as a statement per row: there
#: every style sends 100 statements on most workloads)
COUNTS = Cut(gap=3.0, share=1 / 2)
#: room above the tallest bar kept (for its error bar's cap), and for a label above every bar
HEADROOM = 1.08
LABELLED_HEADROOM = 1.3
#: a workload's group of bars spans this much of the space between two workloads, a bar at
#: most the second figure
GROUP_WIDTH = 0.84
BAR_WIDTH = 0.22
LABEL_SIZE = 6.5
#: panels of the bar charts: wide enough for a group of sixteen bars per workload
PANEL_SIZE = (13.0, 3.3)
#: the label of the line at 1 (hidden from the legend, which has a handle of its own)
BASELINE_LINE = "_baseline"


@dataclass(frozen=True)
class Bar:
    """One variant's bar in one workload's group."""

    cell: CellResult
    value: float
    #: the 95 % interval its error bar spans; None for no error bar, NaN ends where the JSON
    #: holds no rounds to draw one from
    interval: tuple[float, float] | None = None

    @property
    def reach(self) -> float:
        """How high the bar and its error bar go."""
        ends = [end for end in self.interval or () if math.isfinite(end)]
        return max([self.value, *ends])


def axis_top(bars: Sequence[Bar], cut: Cut, headroom: float = HEADROOM) -> float:
    """The top of a linear axis for these bars: above every bar and error bar but those of
    the tallest bars ``cut`` off."""
    ordered = sorted(bars, key=lambda bar: bar.value, reverse=True)
    # what the bars from the i-th on reach
    rest = [max(bar.reach for bar in ordered[i:]) for i in range(len(ordered))]
    cut_off = 0
    for count in range(1, int(len(ordered) * cut.share) + 1):
        if ordered[count - 1].value >= cut.gap * rest[count]:
            cut_off = count
    highest = rest[cut_off] if ordered else 0.0
    return highest * headroom if highest > 0 else 1.0


def draw_bars(
    axes: Axes,
    bars: Sequence[Bar],
    colors: Colors,
    label: Callable[[Bar], str],
    cut: Cut,
    label_every_bar: bool = False,
) -> None:
    """One group of bars per workload, holding only the variants that implement it, on a
    linear axis from 0; a bar above the axis is cut at its top and labelled with ``label``
    (and with ``label_every_bar``, every bar is)."""
    workloads = workloads_of(bar.cell for bar in bars)
    order = variants_of(bar.cell for bar in bars)
    placed: dict[str, list[tuple[float, float, Bar]]] = {}
    for position, workload in enumerate(workloads):
        group = sorted(
            (bar for bar in bars if bar.cell.workload == workload),
            key=lambda bar: order.index(bar.cell.variant),
        )
        width = min(GROUP_WIDTH / len(group), BAR_WIDTH)
        for index, bar in enumerate(group):
            x = position + width * (index - (len(group) - 1) / 2)
            placed.setdefault(bar.cell.variant, []).append((x, width, bar))
    top = axis_top(bars, cut, LABELLED_HEADROOM if label_every_bar else HEADROOM)
    # one call per variant: bars (and their error bars) are costly to draw one by one
    for variant, row in placed.items():
        axes.bar(
            [x for x, _, _ in row],
            [bar.value for _, _, bar in row],
            [width for _, width, _ in row],
            yerr=_errors(row) if any(bar.interval for _, _, bar in row) else None,
            capsize=2,
            error_kw={"elinewidth": 1, "ecolor": "#000000", "path_effects": _halo()},
            label=variant,
            **bar_look(colors[variant]),
        )
    for x, _, bar in (item for row in placed.values() for item in row):
        if bar.value > top:
            axes.text(
                x,
                top,
                f"↑ {label(bar)}",
                rotation=90,
                ha="center",
                va="top",
                fontsize=LABEL_SIZE,
                bbox={"boxstyle": "square,pad=0.1", "facecolor": "#FFFFFF", "linewidth": 0},
            )
        elif label_every_bar:
            axes.text(
                x, bar.value, label(bar), rotation=90, ha="center", va="bottom", fontsize=LABEL_SIZE
            )
    axes.set_ylim(0, top)
    axes.set_xlim(-0.5, len(workloads) - 0.5)
    axes.set_xticks(range(len(workloads)), workloads, fontsize=8)


def _errors(row: Sequence[tuple[float, float, Bar]]) -> list[list[float]]:
    """Error bar extents below and above each bar: its interval's ends (NaN: none drawn)."""
    below, above = [], []
    for _, _, bar in row:
        low, high = bar.interval or (math.nan, math.nan)
        below.append(bar.value - low)
        above.append(high - bar.value)
    return [below, above]


def _halo() -> list[Any]:
    # a white edge, so an error bar shows on a black bar and on the white behind it alike
    from matplotlib.patheffects import Normal, Stroke

    return [Stroke(linewidth=2.5, foreground="#FFFFFF"), Normal()]


def ratio_bar(cell: CellResult, baseline: CellResult) -> Bar:
    """A cell's median over its baseline's, with the 95 % interval the report quotes."""
    comparison = compare_cells(cell, baseline)
    return Bar(cell, comparison.ratio, (comparison.low, comparison.high))


def ratio_panels(
    cells: Sequence[CellResult], baseline: str
) -> list[tuple[int, list[Bar], dict[str, CellResult]]]:
    """Per size: the bars of every variant but the baseline, and the baseline's cells by
    workload."""
    panels = []
    for size in sorted({c.size for c in cells}):
        at = [c for c in cells if c.size == size]
        bases = {c.workload: c for c in at if c.variant == baseline}
        bars = [
            ratio_bar(cell, bases[cell.workload])
            for cell in at
            if cell.variant != baseline and cell.workload in bases
        ]
        if bars:
            panels.append((size, bars, bases))
    return panels


def median_time(cells: list[CellResult], colors: Colors, heading: Heading) -> Figure | None:
    cells = [c for c in cells if not c.is_concurrent]
    if not cells:
        return None
    baseline = cells[0].catalog.baseline_variant
    panels = ratio_panels(cells, baseline)
    if not panels:
        return None
    figure, rows, columns = new_figure(len(panels), 1, PANEL_SIZE)
    title(
        figure,
        f"{heading.title}: median time per execution as a multiple of {baseline}'s (the line "
        "at 1; its median under each workload); error bars: the ratio's 95 % interval",
    )
    baseline_line = _without_marker(line_look(colors[baseline]))
    for index, (size, bars, bases) in enumerate(panels):
        axes = figure.add_subplot(rows, columns, index + 1)
        draw_bars(axes, bars, colors, _ratio_label, RATIOS)
        axes.set_xticks(
            axes.get_xticks(),
            [
                f"{label.get_text()}\n{baseline}: {format_seconds(bases[label.get_text()].median)}"
                for label in axes.get_xticklabels()
            ],
        )
        axes.axhline(1, linewidth=1, zorder=0.5, label=BASELINE_LINE, **baseline_line)
        axes.set_title(f"size {size}", fontsize=10)
        axes.set_ylabel(f"× {baseline}'s median")
    drawn = variants_of(bar.cell for _, bars, _ in panels for bar in bars)
    variant_legend(figure, drawn, colors, extra=[_baseline_handle(baseline, baseline_line)])
    return figure


def _ratio_label(bar: Bar) -> str:
    low, high = bar.interval or (math.nan, math.nan)
    if not (math.isfinite(low) and math.isfinite(high)):
        return f"{bar.value:.1f}×"
    return f"{bar.value:.1f}× [{low:.1f}–{high:.1f}]"


def _without_marker(look: dict[str, Any]) -> dict[str, Any]:
    return {key: value for key, value in look.items() if key != "marker"}


def _baseline_handle(baseline: str, look: dict[str, Any]) -> Any:
    from matplotlib.lines import Line2D

    return Line2D([], [], label=f"{baseline} (= 1)", **look)


def statements(cells: list[CellResult], colors: Colors, heading: Heading) -> Figure | None:
    size = reference_size(cells)
    shown = at_size(cells, size)
    measures: list[tuple[str, Callable[[CellResult], int]]] = [
        ("cursor calls (client side)", lambda c: c.cursor_calls),
        ("statements the database ran", lambda c: c.db_statements),
    ]
    if heading.networked:  # without a network, round trips are the statements again
        measures.append(("round trips", lambda c: c.round_trips))
    figure, rows, columns = new_figure(len(measures), 1, PANEL_SIZE)
    single = workloads_of(c for c in shown if not c.is_batch)
    title(
        figure,
        f"{heading.title}: what one execution sends, size {size}"
        + (f" ({', '.join(single)}: one unit of work)" if single else ""),
    )
    for index, (name, value) in enumerate(measures):
        axes = figure.add_subplot(rows, columns, index + 1)
        bars = [Bar(cell, value(cell)) for cell in shown]
        draw_bars(axes, bars, colors, _count_label, COUNTS, label_every_bar=True)
        axes.set_ylabel(f"{name}\n(count)", fontsize=9)
    variant_legend(figure, variants_of(shown), colors)
    return figure


def _count_label(bar: Bar) -> str:
    return f"{bar.value:.0f}"
