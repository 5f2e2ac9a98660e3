"""The report's charts, one set per backend, drawn with matplotlib's headless Agg backend:

- ``median-time``: median time per workload and variant, one panel per size, log scale,
  error bars spanning the interquartile range;
- ``statements``: cursor calls, database statements and (where there is a network) round
  trips per workload and variant;
- ``scaling``: median time against size, log-log, one line per variant;
- ``projected-rtt``: median + round trips x network RTT, from 0 to 10 ms, per variant, for a
  backend with a network: where the ranking of styles changes once the database is across one.
  A style whose round trips grow with the size (the N+1 pattern) would flatten the others into
  a bundle near zero: it gets a panel of its own beside the workload's main one;
- ``measured-rtt``, for a run with ``--rtt``: the projection's lines with the medians measured
  through the delay proxy as points, at size 1 and the reference size;
- ``concurrency``, for a concurrent workload: units of work per second against the number of
  worker threads K (error bars: the 95 % interval), one line per variant, and beside it the
  99th percentile of a unit's latency. The other charts leave such workloads out: the time of
  one execution is not what they are read by.

The look of each variant, and the parts the charts are built of, are in
:mod:`bench.report.chart_looks`; the drawing of them in worker processes, in
:mod:`bench.report.drawing`.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

from bench.report.chart_looks import Colors, line_look, log_scale, new_figure, variant_legend
from bench.report.text import plural
from bench.results.model import (
    CellResult,
    Heading,
    at_size,
    reference_size,
    units_per_second_interval,
    variants_of,
    workloads_of,
)

if TYPE_CHECKING:
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

RTT_RANGE_MS = (0.0, 10.0)
#: a variant with this many times the fewest round trips of its workload, and at least
#: MANY_ROUND_TRIPS, is drawn in a panel of its own in the projection
ROUND_TRIP_FACTOR = 10
MANY_ROUND_TRIPS = 10
#: the chart of the cells run through the delay proxy, drawn from them as well as the direct
#: cells (the others, in :data:`CHARTS`, from the direct cells alone)
MEASURED_RTT = "measured-rtt"


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
            color=colors[variant]["color"],
            hatch=colors[variant]["hatch"],
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
    cells = [c for c in cells if not c.is_concurrent]
    if not cells:
        return None
    sizes = sorted({c.size for c in cells})
    figure, rows, columns = new_figure(len(sizes), 2, (6.5, 4.0))
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
        log_scale(axes, "y")
        axes.set_title(f"size {size}")
        axes.set_ylabel("median time (ms, log scale)")
    variant_legend(figure, variants_of(cells), colors)
    return figure


def statements(cells: list[CellResult], colors: Colors, heading: Heading) -> Figure | None:
    size = reference_size(cells)
    shown = at_size(cells, size)
    measures: list[tuple[str, Callable[[CellResult], float]]] = [
        ("cursor calls (client side)", lambda c: c.cursor_calls),
        ("statements the database ran", lambda c: c.db_statements),
    ]
    if heading.networked:  # without a network, round trips are the statements again
        measures.append(("round trips", lambda c: c.round_trips))
    figure, rows, columns = new_figure(len(measures), 1, (9.0, 3.4))
    single = workloads_of(c for c in shown if not c.is_batch)
    figure.suptitle(
        f"{heading.title}: what one execution sends, size {size}"
        + (f" ({', '.join(single)}: one unit of work)" if single else "")
    )
    for index, (label, value) in enumerate(measures):
        axes = figure.add_subplot(rows, columns, index + 1)
        _bars(axes, shown, colors, value)
        log_scale(axes, "y")
        axes.set_ylabel(f"{label}\n(count, log scale)", fontsize=9)
    variant_legend(figure, variants_of(shown), colors)
    return figure


def scaling(cells: list[CellResult], colors: Colors, heading: Heading) -> Figure | None:
    workloads = [
        w
        for w in workloads_of(cells)
        if len({c.size for c in cells if c.workload == w and not c.is_concurrent}) > 1
    ]
    if not workloads:
        return None
    figure, rows, columns = new_figure(len(workloads), 4, (4.2, 3.4))
    figure.suptitle(f"{heading.title}: median time against size (log-log)")
    drawn: set[str] = set()
    for index, workload in enumerate(workloads):
        axes = figure.add_subplot(rows, columns, index + 1)
        workload_cells = [c for c in cells if c.workload == workload]
        for variant in variants_of(workload_cells):
            line = sorted((c for c in workload_cells if c.variant == variant), key=lambda c: c.size)
            axes.plot(
                [c.size for c in line],
                [c.median * 1000 for c in line],
                markersize=3,
                **line_look(colors[variant]),
            )
            drawn.add(variant)
        log_scale(axes, "x", "y")
        axes.set_title(workload, fontsize=10)
        axes.set_xlabel("size (rows or parents)")
        axes.set_ylabel("median time (ms)")
    variant_legend(figure, [v for v in variants_of(cells) if v in drawn], colors, lines=True)
    return figure


def many_round_trips(cells: Sequence[CellResult]) -> set[str]:
    """The variants of one workload whose round trips dwarf the others' (the N+1 pattern)."""
    fewest = min((c.round_trips for c in cells), default=0)
    return {
        c.variant
        for c in cells
        if c.round_trips >= MANY_ROUND_TRIPS and c.round_trips >= ROUND_TRIP_FACTOR * max(fewest, 1)
    }


def projection(cells: list[CellResult], colors: Colors, heading: Heading) -> Figure | None:
    if not heading.networked:
        return None  # no network: the projection would only repeat the median times
    size = reference_size(cells)
    shown = [c for c in cells if c.size == size and c.is_projected]
    panels: list[tuple[str, list[CellResult]]] = []
    for workload in workloads_of(shown):
        workload_cells = [c for c in shown if c.workload == workload]
        many = many_round_trips(workload_cells)
        panels.append((workload, [c for c in workload_cells if c.variant not in many]))
        if many:
            panels.append((f"{workload}: many round trips", workload_cells))
    if not panels:
        return None
    figure, rows, columns = new_figure(len(panels), 4, (4.2, 3.4))
    figure.suptitle(f"{heading.title}: projected time = median + round trips × RTT, size {size}")
    low, high = RTT_RANGE_MS
    rtts = [low + (high - low) * step / 20 for step in range(21)]
    drawn: set[str] = set()
    for index, (title, panel_cells) in enumerate(panels):
        axes = figure.add_subplot(rows, columns, index + 1)
        for variant in variants_of(panel_cells):
            cell = next(c for c in panel_cells if c.variant == variant)
            axes.plot(
                rtts,
                [cell.projected(rtt / 1000) * 1000 for rtt in rtts],
                markevery=5,
                markersize=4,
                label=f"{variant}: {plural(cell.round_trips, 'round trip')}",
                **line_look(colors[variant]),
            )
            drawn.add(variant)
        axes.set_ylim(bottom=0)
        axes.set_title(title, fontsize=10)
        axes.set_xlabel("network round-trip time (ms)")
        axes.set_ylabel("projected time (ms)")
        axes.legend(fontsize=7)
    variant_legend(figure, [v for v in variants_of(shown) if v in drawn], colors, lines=True)
    return figure


def measured_projection(
    cells: list[CellResult], delayed: list[CellResult], colors: Colors, heading: Heading
) -> Figure | None:
    """The projection's lines, and the medians measured through the delay proxy as points
    (filled at the RTTs it added, hollow through it at 0 ms), at size 1 and the reference
    size, on the projection chart's axes."""
    if not delayed:
        return None
    size = reference_size(cells)
    panels: list[tuple[str, list[CellResult]]] = []
    for shown in sorted({1, size}):
        at = [
            c
            for c in cells
            if c.size == shown and c.is_projected and any(d.key == c.key for d in delayed)
        ]
        for workload in workloads_of(at):
            workload_cells = [c for c in at if c.workload == workload]
            many = many_round_trips(workload_cells)
            panels.append(
                (f"{workload}, size {shown}", [c for c in workload_cells if c.variant not in many])
            )
            if many:
                panels.append((f"{workload}, size {shown}: many round trips", workload_cells))
    if not panels:
        return None
    figure, rows, columns = new_figure(len(panels), 4, (4.2, 3.4))
    figure.suptitle(
        f"{heading.title}: measured through the delay proxy (points; hollow: at 0 ms) "
        "against projected (lines)"
    )
    low = RTT_RANGE_MS[0]
    high = max(RTT_RANGE_MS[1], *(c.rtt_ms for c in delayed))
    rtts = [low + (high - low) * step / 20 for step in range(21)]
    drawn: set[str] = set()
    for index, (title, panel_cells) in enumerate(panels):
        axes = figure.add_subplot(rows, columns, index + 1)
        for cell in panel_cells:
            look = colors[cell.variant]
            axes.plot(
                rtts,
                [cell.projected(rtt / 1000) * 1000 for rtt in rtts],
                color=look["color"],
                linestyle=look["linestyle"],
                linewidth=1,
            )
            measured = sorted((d for d in delayed if d.key == cell.key), key=lambda d: d.rtt_ms)
            for point in measured:
                axes.plot(
                    [point.rtt_ms],
                    [point.median * 1000],
                    linestyle="none",
                    marker=look["marker"],
                    markersize=5,
                    color=look["color"],
                    markerfacecolor=look["color"] if point.rtt_ms else "none",
                )
            drawn.add(cell.variant)
        axes.set_ylim(bottom=0)
        axes.set_title(title, fontsize=10)
        axes.set_xlabel("network round-trip time (ms)")
        axes.set_ylabel("time (ms)")
    variant_legend(figure, [v for v in variants_of(cells) if v in drawn], colors, lines=True)
    return figure


def concurrency(cells: list[CellResult], colors: Colors, heading: Heading) -> Figure | None:
    """Per concurrent workload: units per second against K, and the p99 latency beside it."""
    workloads = workloads_of(c for c in cells if c.is_concurrent)
    measured = [c for c in cells if c.workload in workloads and c.concurrency is not None]
    if not measured:
        return None
    figure, rows, columns = new_figure(2 * len(workloads), 2, (5.2, 3.6))
    figure.suptitle(f"{heading.title}: throughput and latency against worker threads")
    drawn: set[str] = set()
    for index, workload in enumerate(workloads):
        throughput = figure.add_subplot(rows, columns, 2 * index + 1)
        latency = figure.add_subplot(rows, columns, 2 * index + 2)
        workload_cells = [c for c in measured if c.workload == workload]
        for variant in variants_of(workload_cells):
            line = sorted((c for c in workload_cells if c.variant == variant), key=lambda c: c.size)
            workers = [c.size for c in line]
            rates = [c.concurrency.units_per_second for c in line if c.concurrency]
            intervals = [units_per_second_interval(c) for c in line]
            errors = (
                [
                    [
                        rate - (i[0] if i else rate)
                        for rate, i in zip(rates, intervals, strict=True)
                    ],
                    [
                        (i[1] if i else rate) - rate
                        for rate, i in zip(rates, intervals, strict=True)
                    ],
                ]
                if any(intervals)
                else None
            )
            throughput.errorbar(
                workers, rates, yerr=errors, markersize=4, capsize=2, **line_look(colors[variant])
            )
            latency.plot(
                workers,
                [c.concurrency.p99_ms for c in line if c.concurrency],
                markersize=4,
                **line_look(colors[variant]),
            )
            drawn.add(variant)
        sizes = sorted({c.size for c in workload_cells})
        for axes in (throughput, latency):
            axes.set_xscale("log", base=2)
            axes.set_xticks(sizes, [str(k) for k in sizes])
            axes.xaxis.set_minor_locator(_null_locator())
            axes.set_xlabel("worker threads K")
            log_scale(axes, "y")
        throughput.set_title(f"{workload}: units of work per second", fontsize=10)
        throughput.set_ylabel("units/s (log scale)")
        latency.set_title(f"{workload}: 99th percentile latency", fontsize=10)
        latency.set_ylabel("p99 per unit (ms, log scale)")
    variant_legend(figure, [v for v in variants_of(measured) if v in drawn], colors, lines=True)
    return figure


def _null_locator() -> Any:
    from matplotlib.ticker import NullLocator

    return NullLocator()


CHARTS: tuple[tuple[str, Callable[[list[CellResult], Colors, Heading], Figure | None]], ...] = (
    ("median-time", median_time),
    ("statements", statements),
    ("scaling", scaling),
    ("projected-rtt", projection),
    ("concurrency", concurrency),
)
