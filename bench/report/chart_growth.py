"""The line charts of how a style's cost grows:

- ``scaling``: median time against size, log-log (the sizes and the times span three
  decades; on log axes a constant gap is a constant ratio and a slope of 1 is time in
  proportion to the rows), one line per variant, error bars the median's 95 % interval;
- ``concurrency``, for a concurrent workload (threads, processes, tasks): units of work per
  second against the number of workers K (error bars: the 95 % interval), one line per variant,
  and beside it the 99th percentile of a unit's latency. The other charts leave such workloads
  out: the time of one execution is not what they are read by;
- ``capacity``, for requests arriving on a schedule: the rate achieved against the rate the
  requests arrived at, and the 99th percentile latency from the schedule against it.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any

from bench.report.chart_looks import Colors, line_look, log_scale, new_figure, title, variant_legend
from bench.results.model import (
    WORKERS_KIND_NAMES,
    CellResult,
    Heading,
    units_per_second_interval,
    variants_of,
    workloads_of,
)
from bench.results.statistics import median_interval

if TYPE_CHECKING:
    from matplotlib.figure import Figure


def median_errors(line: list[CellResult]) -> list[list[float]]:
    """Each cell's extent below and above its median (ms) to the median's 95 % interval
    (NaN where the JSON holds no rounds: none drawn)."""
    below, above = [], []
    for cell in line:
        sample = cell.sample
        low, high = median_interval(sample, cell.pass_count) if sample else (math.nan, math.nan)
        below.append((cell.median - low) * 1000)
        above.append((high - cell.median) * 1000)
    return [below, above]


def scaling(cells: list[CellResult], colors: Colors, heading: Heading) -> Figure | None:
    workloads = [
        w
        for w in workloads_of(cells)
        if len({c.size for c in cells if c.workload == w and not c.is_concurrent}) > 1
    ]
    if not workloads:
        return None
    figure, rows, columns = new_figure(len(workloads), 4, (4.2, 3.4))
    title(
        figure,
        f"{heading.title}: median time against size (log-log: the same gap is the same "
        "ratio); error bars: the median's 95 % interval",
    )
    drawn: set[str] = set()
    for index, workload in enumerate(workloads):
        axes = figure.add_subplot(rows, columns, index + 1)
        workload_cells = [c for c in cells if c.workload == workload]
        for variant in variants_of(workload_cells):
            line = sorted((c for c in workload_cells if c.variant == variant), key=lambda c: c.size)
            axes.errorbar(
                [c.size for c in line],
                [c.median * 1000 for c in line],
                yerr=median_errors(line),
                markersize=3,
                capsize=1.5,
                elinewidth=0.8,
                linewidth=1.2,
                label=variant,
                **line_look(colors[variant]),
            )
            drawn.add(variant)
        log_scale(axes, "x", "y")
        axes.set_title(workload, fontsize=10)
        axes.set_xlabel("size (rows or parents)")
        axes.set_ylabel("median time (ms)")
    variant_legend(figure, [v for v in variants_of(cells) if v in drawn], colors, lines=True)
    return figure


def concurrency(cells: list[CellResult], colors: Colors, heading: Heading) -> Figure | None:
    """Per concurrent workload: units per second against K, and the p99 latency beside it."""
    measured = [
        c
        for c in cells
        if c.is_concurrent and c.concurrency is not None and c.concurrency.target_rate is None
    ]
    if not measured:
        return None
    workloads = workloads_of(measured)
    figure, rows, columns = new_figure(2 * len(workloads), 2, (5.2, 3.6))
    title(figure, f"{heading.title}: throughput and latency against the number of workers")
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
                workers,
                rates,
                yerr=errors,
                markersize=4,
                capsize=2,
                label=variant,
                **line_look(colors[variant]),
            )
            latency.plot(
                workers,
                [c.concurrency.p99_ms for c in line if c.concurrency],
                markersize=4,
                label=variant,
                **line_look(colors[variant]),
            )
            drawn.add(variant)
        sizes = sorted({c.size for c in workload_cells})
        for axes in (throughput, latency):
            axes.set_xscale("log", base=2)
            axes.set_xticks(sizes, [str(k) for k in sizes])
            axes.xaxis.set_minor_locator(_null_locator())
            axes.set_xlabel(f"workers K ({_kind_of(workload_cells)})")
            log_scale(axes, "y")
            # labelled at 1, 2 and 5 of each decade: a panel often spans less than one
            axes.yaxis.set_major_locator(_one_two_five())
            axes.yaxis.set_major_formatter(_plain_numbers())
        throughput.set_title(f"{workload}: units of work per second", fontsize=10)
        throughput.set_ylabel("units/s (log scale)")
        latency.set_title(f"{workload}: 99th percentile latency", fontsize=10)
        latency.set_ylabel("p99 per unit (ms, log scale)")
    variant_legend(figure, [v for v in variants_of(measured) if v in drawn], colors, lines=True)
    return figure


def _kind_of(cells: list[CellResult]) -> str:
    kinds = sorted({c.concurrency.workers_kind for c in cells if c.concurrency})
    return " or ".join(WORKERS_KIND_NAMES.get(kind, (kind, kind))[1] for kind in kinds)


def capacity(cells: list[CellResult], colors: Colors, heading: Heading) -> Figure | None:
    """Requests on a schedule: the rate achieved against the rate they arrived at, and the
    p99 latency from the schedule against it, one line per variant."""
    measured = sorted(
        (c for c in cells if c.concurrency is not None and c.concurrency.target_rate is not None),
        key=lambda c: c.size,
    )
    if not measured:
        return None
    figure, rows, columns = new_figure(2, 2, (5.2, 3.6))
    title(figure, f"{heading.title}: requests arriving on a schedule")
    achieved_axes = figure.add_subplot(rows, columns, 1)
    latency_axes = figure.add_subplot(rows, columns, 2)
    rates = sorted({c.size for c in measured})
    achieved_axes.plot(rates, rates, color="0.7", linewidth=0.8, linestyle=":", label="_nolegend_")
    for variant in variants_of(measured):
        line = [c for c in measured if c.variant == variant and c.concurrency]
        look = line_look(colors[variant])
        achieved_axes.plot(
            [c.size for c in line],
            [c.concurrency.achieved_rate or 0.0 for c in line if c.concurrency],
            markersize=4,
            label=variant,
            **look,
        )
        latency_axes.plot(
            [c.size for c in line],
            [c.concurrency.p99_ms for c in line if c.concurrency],
            markersize=4,
            label=variant,
            **look,
        )
    budget = heading.latency_budget_ms
    latency_axes.axhline(budget, color="0.45", linewidth=0.9, linestyle="--", zorder=0)
    latency_axes.annotate(
        f"budget {budget:g} ms",
        (0.01, budget),
        xycoords=("axes fraction", "data"),
        xytext=(0, 3),
        textcoords="offset points",
        fontsize=8,
        color="0.35",
    )
    for axes in (achieved_axes, latency_axes):
        log_scale(axes, "x", "y")
        # the rates run, labelled: a sweep's few rates rarely reach a decade's tick
        axes.set_xticks(rates, [f"{rate:,}" for rate in rates])
        axes.set_xlabel("requests arriving a second")
        axes.yaxis.set_major_locator(_one_two_five())
        axes.yaxis.set_major_formatter(_plain_numbers())
    achieved_axes.set_yticks(rates, [f"{rate:,}" for rate in rates])
    achieved_axes.set_title("rate achieved (dotted: all of them)", fontsize=10)
    achieved_axes.set_ylabel("requests a second (log scale)")
    latency_axes.set_title("99th percentile latency from the schedule", fontsize=10)
    latency_axes.set_ylabel("p99 (ms, log scale)")
    variant_legend(figure, variants_of(measured), colors, lines=True)
    return figure


def _plain_numbers() -> Any:
    """A log axis's labels as plain numbers (0.5, 20, 1,000), not powers of ten."""
    from matplotlib.ticker import FuncFormatter

    return FuncFormatter(lambda value, _: f"{value:,.6g}")


def _one_two_five() -> Any:
    from matplotlib.ticker import LogLocator

    return LogLocator(base=10, subs=(1.0, 2.0, 5.0))


def _null_locator() -> Any:
    from matplotlib.ticker import NullLocator

    return NullLocator()
