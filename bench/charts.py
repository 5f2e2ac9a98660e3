"""The report's charts, one set per backend, drawn with matplotlib's headless Agg backend:

- ``median-time``: median time per workload and variant, one panel per size, log scale,
  error bars spanning the interquartile range;
- ``statements``: cursor calls, database statements and round trips per workload and variant;
- ``scaling``: median time against size, log-log, one line per variant;
- ``projected-rtt``: median + round trips x network RTT, from 0 to 10 ms, per variant: where
  the ranking of styles changes once the database is across a network.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from bench.results import (
    PROJECTED_WORKLOADS,
    CellResult,
    Heading,
    Results,
    at_size,
    reference_size,
    variants_of,
    workloads_of,
)
from implementations.registry import VARIANTS

if TYPE_CHECKING:
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

RTT_RANGE_MS = (0.0, 10.0)
DPI = 100

Colors = dict[str, Any]


def draw_charts(results: Results, folder: Path) -> list[Path]:
    """Every backend's charts as PNG files in ``folder``; their paths."""
    import matplotlib

    matplotlib.use("Agg")
    written = []
    for backend in results.backends:
        cells = results.for_backend(backend)
        heading = results.heading(backend)
        colors = _variant_colors(variants_of(results.cells))
        for name, draw in CHARTS:
            figure = draw(cells, colors, heading)
            if figure is None:
                continue
            path = folder / f"{backend}-{name}.png"
            figure.savefig(path, dpi=DPI)
            written.append(path)
    return written


def _variant_colors(variants: Sequence[str]) -> Colors:
    from matplotlib import colormaps

    palette = colormaps["tab10"]
    known = [name for name in VARIANTS if name in variants]
    others = [name for name in variants if name not in VARIANTS]
    return {name: palette(index % 10) for index, name in enumerate([*known, *others])}


def _figure(panels: int, columns: int, panel_size: tuple[float, float]) -> tuple[Figure, int, int]:
    from matplotlib.figure import Figure

    rows = max(1, math.ceil(panels / columns))
    columns = min(columns, max(panels, 1))
    figure = Figure(
        figsize=(panel_size[0] * columns, panel_size[1] * rows + 0.8), layout="constrained"
    )
    return figure, rows, columns


def _legend(figure: Figure, variants: Sequence[str], colors: Colors) -> None:
    from matplotlib.patches import Patch

    figure.legend(
        handles=[Patch(color=colors[v], label=v) for v in variants],
        loc="outside lower center",
        ncols=min(len(variants), 6),
        title="variant",
        fontsize=8,
    )


def _log_scale(axes: Axes, *axis_names: str) -> None:
    # log axes without minor ticks: the minor ticks add nothing read here and most of the
    # drawing time
    from matplotlib.ticker import NullLocator

    if "x" in axis_names:
        axes.set_xscale("log")
        axes.xaxis.set_minor_locator(NullLocator())
    if "y" in axis_names:
        axes.set_yscale("log")
        axes.yaxis.set_minor_locator(NullLocator())


def _bars(
    axes: Axes,
    cells: Sequence[CellResult],
    colors: Colors,
    value: Callable[[CellResult], float],
    spread: Callable[[CellResult], tuple[float, float]] | None = None,
) -> None:
    """One group of bars per workload, holding only the variants that implement it."""
    workloads = workloads_of(cells)
    placed: dict[str, list[tuple[float, float, CellResult]]] = {}
    for position, workload in enumerate(workloads):
        in_workload = [c for c in cells if c.workload == workload]
        group = [c for v in variants_of(in_workload) for c in in_workload if c.variant == v]
        width = min(0.8 / len(group), 0.22)
        for index, cell in enumerate(group):
            x = position + width * (index - (len(group) - 1) / 2)
            placed.setdefault(cell.variant, []).append((x, width, cell))
    # one call per variant: bars (and their error bars) are costly to draw one by one
    for variant, bars in placed.items():
        axes.bar(
            [x for x, _, _ in bars],
            [value(cell) for _, _, cell in bars],
            [width for _, width, _ in bars],
            color=colors[variant],
            yerr=(
                [[spread(c)[0] for _, _, c in bars], [spread(c)[1] for _, _, c in bars]]
                if spread
                else None
            ),
            capsize=2,
        )
    axes.set_xticks(range(len(workloads)), workloads, rotation=20, ha="right", fontsize=8)
    axes.set_xlabel("workload")


def median_time(cells: list[CellResult], colors: Colors, heading: Heading) -> Figure | None:
    sizes = sorted({c.size for c in cells})
    figure, rows, columns = _figure(len(sizes), 2, (6.5, 4.0))
    figure.suptitle(f"{heading.title}: median time per execution (error bars: interquartile range)")
    for index, size in enumerate(sizes):
        axes = figure.add_subplot(rows, columns, index + 1)
        _bars(
            axes,
            [c for c in cells if c.size == size],
            colors,
            lambda c: c.median * 1000,
            lambda c: ((c.median - c.q1) * 1000, (c.q3 - c.median) * 1000),
        )
        _log_scale(axes, "y")
        axes.set_title(f"size {size}")
        axes.set_ylabel("median time (ms, log scale)")
    _legend(figure, variants_of(cells), colors)
    return figure


def statements(cells: list[CellResult], colors: Colors, heading: Heading) -> Figure | None:
    size = reference_size(cells)
    shown = at_size(cells, size)
    measures: tuple[tuple[str, Callable[[CellResult], float]], ...] = (
        ("cursor calls (client side)", lambda c: c.cursor_calls),
        ("statements the database ran", lambda c: c.db_statements),
        (
            "round trips"
            + ("" if heading.networked else f" (= statements: {heading.title} has no network)"),
            lambda c: c.round_trips,
        ),
    )
    figure, rows, columns = _figure(len(measures), 1, (9.0, 3.4))
    figure.suptitle(
        f"{heading.title}: what one execution sends, size {size} "
        "(connect_read_one: one unit of work)"
    )
    for index, (label, value) in enumerate(measures):
        axes = figure.add_subplot(rows, columns, index + 1)
        _bars(axes, shown, colors, value)
        _log_scale(axes, "y")
        axes.set_ylabel(f"{label}\n(count, log scale)", fontsize=9)
    _legend(figure, variants_of(shown), colors)
    return figure


def scaling(cells: list[CellResult], colors: Colors, heading: Heading) -> Figure | None:
    workloads = [
        w for w in workloads_of(cells) if len({c.size for c in cells if c.workload == w}) > 1
    ]
    if not workloads:
        return None
    figure, rows, columns = _figure(len(workloads), 4, (4.2, 3.4))
    figure.suptitle(f"{heading.title}: median time against size (log-log)")
    for index, workload in enumerate(workloads):
        axes = figure.add_subplot(rows, columns, index + 1)
        workload_cells = [c for c in cells if c.workload == workload]
        for variant in variants_of(workload_cells):
            line = sorted((c for c in workload_cells if c.variant == variant), key=lambda c: c.size)
            axes.plot(
                [c.size for c in line],
                [c.median * 1000 for c in line],
                marker="o",
                markersize=3,
                color=colors[variant],
            )
        _log_scale(axes, "x", "y")
        axes.set_title(workload, fontsize=10)
        axes.set_xlabel("size (rows or parents)")
        axes.set_ylabel("median time (ms)")
    _legend(figure, variants_of(cells), colors)
    return figure


def projection(cells: list[CellResult], colors: Colors, heading: Heading) -> Figure | None:
    size = reference_size(cells)
    shown = [c for c in cells if c.size == size and c.workload in PROJECTED_WORKLOADS]
    workloads = workloads_of(shown)
    if not workloads:
        return None
    figure, rows, columns = _figure(len(workloads), 4, (4.2, 3.4))
    caveat = (
        ""
        if heading.networked
        else f" ({heading.title} has no network: each statement counted as a round trip)"
    )
    figure.suptitle(
        f"{heading.title}: projected time = median + round trips × RTT, size {size}{caveat}"
    )
    low, high = RTT_RANGE_MS
    rtts = [low + (high - low) * step / 20 for step in range(21)]
    for index, workload in enumerate(workloads):
        axes = figure.add_subplot(rows, columns, index + 1)
        workload_cells = [c for c in shown if c.workload == workload]
        for variant in variants_of(workload_cells):
            cell = next(c for c in workload_cells if c.variant == variant)
            axes.plot(
                rtts,
                [cell.projected(rtt / 1000) * 1000 for rtt in rtts],
                color=colors[variant],
                label=f"{variant}: {cell.round_trips} round trips",
            )
        axes.set_ylim(bottom=0)
        axes.set_title(workload, fontsize=10)
        axes.set_xlabel("network round-trip time (ms)")
        axes.set_ylabel("projected time (ms)")
        axes.legend(fontsize=7)
    return figure


CHARTS: tuple[tuple[str, Callable[[list[CellResult], Colors, Heading], Figure | None]], ...] = (
    ("median-time", median_time),
    ("statements", statements),
    ("scaling", scaling),
    ("projected-rtt", projection),
)
