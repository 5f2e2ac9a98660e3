"""The charts of what a network does to each style, for a backend with one:

- ``projected-rtt``: median + round trips × RTT per variant, from 0 to 2 ms, where the
  decisions are made (a database on the same host, 0.1 ms away, or in the same zone, 1 ms
  away); the error bars at 1 ms are the 95 % interval of the median moved up by the round
  trips; each line's label gives its round trips and what it comes to at 10 ms (across
  regions). A style whose round trips grow with the size (the N+1 pattern) would flatten the
  others into a bundle near zero: it gets a panel of its own beside the workload's main one;
- ``measured-rtt``, for a run with ``--rtt``: the projection's lines with the medians measured
  through the delay proxy as points (95 % intervals as error bars), at size 1 and the
  reference size, from 0 to 2 ms, and beside each such panel one to the largest RTT measured
  when that is beyond 2 ms.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import TYPE_CHECKING

from bench.report.chart_looks import Colors, line_look, new_figure, title, variant_legend
from bench.report.text import plural
from bench.results.model import (
    CellResult,
    Heading,
    format_seconds,
    reference_size,
    variants_of,
    workloads_of,
)
from bench.results.statistics import median_interval

if TYPE_CHECKING:
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

#: the RTTs (ms) the first panels span, where a database on the same host or in the same
#: zone is: the decisions are made there
RTT_RANGE_MS = (0.0, 2.0)
#: the RTTs marked on them, and the label of the marks' lines (hidden from legends)
MARKED_RTTS_MS = ((0.1, "same host"), (1.0, "same zone"))
RTT_MARK = "_rtt mark"
#: where the projection's error bars stand (the first screen's RTT), and the RTT across
#: regions each line's label gives
ERROR_BAR_RTT_MS = 1.0
FAR_RTT_MS = 10.0
#: points drawn per line (straight, but a marker every quarter of the range)
STEPS = 20
MARK_EVERY = 5
#: a variant with this many times the fewest round trips of its workload, and at least
#: MANY_ROUND_TRIPS, is drawn in a panel of its own in the projection
ROUND_TRIP_FACTOR = 10
MANY_ROUND_TRIPS = 10
#: a projection panel and the legend of its lines beside it
PROJECTION_PANEL = (6.8, 3.2)
#: a measured panel; four to a row, so a panel and its panel to the farthest RTT stay side by
#: side; the room left at either end of its x axis, so the points there show whole
MEASURED_PANEL = (4.2, 3.4)
MEASURED_COLUMNS = 4
POINT_MARGIN = 0.03


def many_round_trips(cells: Sequence[CellResult]) -> set[str]:
    """The variants of one workload whose round trips dwarf the others' (the N+1 pattern)."""
    fewest = min((c.round_trips for c in cells), default=0)
    return {
        c.variant
        for c in cells
        if c.round_trips >= MANY_ROUND_TRIPS and c.round_trips >= ROUND_TRIP_FACTOR * max(fewest, 1)
    }


def _split(title_: str, cells: list[CellResult]) -> list[tuple[str, list[CellResult]]]:
    """A workload's panel without its variants of many round trips, and theirs with all."""
    many = many_round_trips(cells)
    panels = [(title_, [c for c in cells if c.variant not in many])]
    if many:
        panels.append((f"{title_}: many round trips", cells))
    return panels


def rtt_steps(low: float, high: float) -> list[float]:
    return [low + (high - low) * step / STEPS for step in range(STEPS + 1)]


def projected_interval(cell: CellResult, rtt_ms: float) -> tuple[float, float] | None:
    """The 95 % interval of a cell's projected time at ``rtt_ms`` (ms): its median's, moved
    up by its round trips; None where the JSON holds no rounds."""
    sample = cell.sample
    if sample is None:
        return None
    low, high = median_interval(sample, cell.pass_count)
    return (low * 1000 + cell.round_trips * rtt_ms, high * 1000 + cell.round_trips * rtt_ms)


def _mark_rtts(axes: Axes) -> None:
    for rtt, name in MARKED_RTTS_MS:
        axes.axvline(rtt, color="#BBBBBB", linewidth=0.8, zorder=0, label=RTT_MARK)
        axes.annotate(
            name,
            (rtt, 1),
            xycoords=("data", "axes fraction"),
            xytext=(2, -2),
            textcoords="offset points",
            ha="left",
            va="top",
            fontsize=7,
            color="#666666",
        )


def projection(cells: list[CellResult], colors: Colors, heading: Heading) -> Figure | None:
    if not heading.networked:
        return None  # no network: the projection would only repeat the median times
    size = reference_size(cells)
    shown = [c for c in cells if c.size == size and c.is_projected]
    panels = [
        panel
        for workload in workloads_of(shown)
        for panel in _split(workload, [c for c in shown if c.workload == workload])
    ]
    if not panels:
        return None
    figure, rows, columns = new_figure(len(panels), 2, PROJECTION_PANEL)
    title(
        figure,
        f"{heading.title}: projected time = median + round trips × RTT, size {size}; error "
        f"bars at {ERROR_BAR_RTT_MS:g} ms: the median's 95 % interval",
    )
    rtts = rtt_steps(*RTT_RANGE_MS)
    for index, (panel_title, panel_cells) in enumerate(panels):
        axes = figure.add_subplot(rows, columns, index + 1)
        for variant in variants_of(panel_cells):
            cell = next(c for c in panel_cells if c.variant == variant)
            far = format_seconds(cell.projected(FAR_RTT_MS / 1000))
            line = axes.plot(
                rtts,
                [cell.projected(rtt / 1000) * 1000 for rtt in rtts],
                markevery=MARK_EVERY,
                markersize=4,
                linewidth=1.2,
                label=f"{variant}: {plural(cell.round_trips, 'round trip')}; "
                f"{far} at {FAR_RTT_MS:g} ms",
                **line_look(colors[variant]),
            )[0]
            interval = projected_interval(cell, ERROR_BAR_RTT_MS)
            if interval is not None:
                middle = cell.projected(ERROR_BAR_RTT_MS / 1000) * 1000
                axes.errorbar(
                    [ERROR_BAR_RTT_MS],
                    [middle],
                    yerr=[[middle - interval[0]], [interval[1] - middle]],
                    color=line.get_color(),
                    linestyle="none",
                    capsize=2,
                    elinewidth=1,
                    label=f"_{variant} at {ERROR_BAR_RTT_MS:g} ms",
                )
        _mark_rtts(axes)
        axes.set_xlim(*RTT_RANGE_MS)
        axes.set_ylim(bottom=0)
        axes.set_title(panel_title, fontsize=10)
        axes.set_xlabel("network round-trip time (ms)")
        axes.set_ylabel("projected time (ms)")
        axes.legend(fontsize=7, loc="upper left", bbox_to_anchor=(1.01, 1.0), borderaxespad=0)
    return figure


def measured_projection(
    cells: list[CellResult], delayed: list[CellResult], colors: Colors, heading: Heading
) -> Figure | None:
    """The projection's lines, and the medians measured through the delay proxy as points
    (filled at the RTTs it added, hollow through it at 0 ms), at size 1 and the reference
    size."""
    if not delayed:
        return None
    size = reference_size(cells)
    far = max(d.rtt_ms for d in delayed)
    ranges = [RTT_RANGE_MS] + ([(RTT_RANGE_MS[0], far)] if far > RTT_RANGE_MS[1] else [])
    panels: list[tuple[str, list[CellResult], tuple[float, float]]] = []
    for shown in sorted({1, size}):
        at = [
            c
            for c in cells
            if c.size == shown and c.is_projected and any(d.key == c.key for d in delayed)
        ]
        for workload in workloads_of(at):
            for name, panel_cells in _split(
                f"{workload}, size {shown}", [c for c in at if c.workload == workload]
            ):
                panels += [
                    (
                        name if high == RTT_RANGE_MS[1] else f"{name}, to {high:g} ms",
                        panel_cells,
                        (low, high),
                    )
                    for low, high in ranges
                ]
    if not panels:
        return None
    figure, rows, columns = new_figure(len(panels), MEASURED_COLUMNS, MEASURED_PANEL)
    title(
        figure,
        f"{heading.title}: measured through the delay proxy (points, 95 % intervals; hollow: "
        "through it at 0 ms) against projected (lines)",
    )
    drawn: set[str] = set()
    for index, (panel_title, panel_cells, (low, high)) in enumerate(panels):
        axes = figure.add_subplot(rows, columns, index + 1)
        rtts = rtt_steps(low, high)
        for cell in panel_cells:
            _measured_line(axes, cell, [d for d in delayed if d.key == cell.key], rtts, colors)
            drawn.add(cell.variant)
        if high == RTT_RANGE_MS[1]:
            _mark_rtts(axes)
        margin = (high - low) * POINT_MARGIN
        axes.set_xlim(low - margin, high + margin)
        axes.set_ylim(bottom=0)
        axes.set_title(panel_title, fontsize=10)
        axes.set_xlabel("network round-trip time (ms)")
        axes.set_ylabel("time (ms)")
    variant_legend(figure, [v for v in variants_of(cells) if v in drawn], colors, lines=True)
    return figure


def _measured_line(
    axes: Axes, cell: CellResult, measured: list[CellResult], rtts: list[float], colors: Colors
) -> None:
    look = colors[cell.variant]
    axes.plot(
        rtts,
        [cell.projected(rtt / 1000) * 1000 for rtt in rtts],
        color=look["color"],
        linestyle=look["linestyle"],
        linewidth=1,
        label=cell.variant,
    )
    for point in sorted(measured, key=lambda d: d.rtt_ms):
        if point.rtt_ms > rtts[-1]:
            continue
        sample = point.sample
        low, high = median_interval(sample, point.pass_count) if sample else (math.nan, math.nan)
        median = point.median * 1000
        axes.errorbar(
            [point.rtt_ms],
            [median],
            yerr=[[median - low * 1000], [high * 1000 - median]],
            linestyle="none",
            marker=look["marker"],
            markersize=5,
            capsize=2,
            color=look["color"],
            markerfacecolor=look["color"] if point.rtt_ms else "none",
            label=f"_{cell.variant} at {point.rtt_ms:g} ms",
        )
