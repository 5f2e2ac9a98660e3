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

Each variant keeps one colour (the Okabe-Ito palette, told apart by colour-blind readers), one
line style and one marker in every chart, so a second cue remains where colours are close.
"""

from __future__ import annotations

import math
import multiprocessing
import os
import shutil
import signal
import tempfile
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ProcessPoolExecutor
from contextlib import ExitStack, contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

from bench.results.catalog import Catalog
from bench.results.load import (
    PROJECTED_WORKLOADS,
    CellResult,
    Heading,
    Results,
    at_size,
    is_batch,
    is_concurrent,
    reference_size,
    units_per_second_interval,
    variants_of,
    workloads_of,
)
from bench.results.output_folder import nearest_existing
from bench.safety import stopping
from bench.safety.leftovers import owned_prefix
from implementations.registry import VARIANTS

if TYPE_CHECKING:
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

RTT_RANGE_MS = (0.0, 10.0)
DPI = 100

#: Okabe & Ito's colour-blind-safe palette, a grey, and the wine of Paul Tol's muted scheme:
#: ten variants, ten colours (past them, bars are hatched as well)
PALETTE = (
    "#000000",
    "#E69F00",
    "#56B4E9",
    "#009E73",
    "#D55E00",
    "#0072B2",
    "#CC79A7",
    "#F0E442",
    "#999999",
    "#882255",
    "#44AA99",
    "#AA4499",
    "#332288",
)
LINE_STYLES = ("-", "--", "-.", ":")
MARKERS = ("o", "s", "^", "D", "v")
#: a variant with this many times the fewest round trips of its workload, and at least
#: MANY_ROUND_TRIPS, is drawn in a panel of its own in the projection
ROUND_TRIP_FACTOR = 10
MANY_ROUND_TRIPS = 10

#: each variant's colour, line style and marker
Colors = dict[str, dict[str, Any]]


#: the run being drawn, for the processes that draw it (inherited when they fork)
_DRAWING: tuple[Results, Path] | None = None


def draw_charts(results: Results, folder: Path) -> list[Path]:
    """Every backend's charts as PNG files in ``folder``; their paths. Drawn by as many
    processes as the machine has cores, up to two: a chart takes up to two seconds."""
    global _DRAWING
    settings = ExitStack()
    jobs = [
        (backend, name)
        for backend in results.backends
        for name in (*(name for name, _ in CHARTS), MEASURED_RTT)
    ]
    _DRAWING = (results, folder)
    try:
        settings.enter_context(_matplotlib_settings_folder())
        workers = min(2, os.cpu_count() or 1)
        if workers > 1 and "fork" in multiprocessing.get_all_start_methods():
            context = multiprocessing.get_context("fork")
            with ProcessPoolExecutor(workers, mp_context=context, initializer=_drawer) as pool:
                drawn = list(pool.map(_draw_one, jobs))
        else:
            drawn = [_draw_one(job) for job in jobs]
    finally:
        _DRAWING = None
        settings.close()
    return [path for path in drawn if path is not None]


@contextmanager
def _matplotlib_settings_folder() -> Iterator[None]:
    """Where the home folder cannot hold matplotlib's settings and font cache, a temporary
    folder of the run's own, removed afterwards (matplotlib would warn four times and leave
    folders of its own in the temporary folder)."""
    if os.environ.get("MPLCONFIGDIR") or _writable_home_settings():
        yield
        return
    folder = tempfile.mkdtemp(prefix=owned_prefix("bench-matplotlib-"))
    forget = stopping.remove_at_once(Path(folder))
    os.environ["MPLCONFIGDIR"] = folder
    try:
        yield
    finally:
        del os.environ["MPLCONFIGDIR"]
        shutil.rmtree(folder, ignore_errors=True)
        forget()


def _writable_home_settings() -> bool:
    """Whether matplotlib can keep its settings and cache where it looks by default."""
    home = Path.home()
    for variable, default in (("XDG_CONFIG_HOME", ".config"), ("XDG_CACHE_HOME", ".cache")):
        folder = Path(os.environ.get(variable) or home / default) / "matplotlib"
        existing = nearest_existing(folder)
        if not (existing.is_dir() and os.access(existing, os.W_OK | os.X_OK)):
            return False
    return True


def _drawer() -> None:
    # a Ctrl-C goes to the whole process group: the parent, which stops the report, handles it
    signal.signal(signal.SIGINT, signal.SIG_IGN)


def _draw_one(job: tuple[str, str]) -> Path | None:
    import matplotlib

    matplotlib.use("Agg")
    assert _DRAWING is not None
    results, folder = _DRAWING
    backend, name = job
    cells = results.for_backend(backend)
    heading = results.heading(backend)
    colors = _variant_colors(variants_of(results.cells), results.catalog)
    if name == MEASURED_RTT:
        delayed = [c for c in results.delayed if c.backend == backend]
        figure = measured_projection(cells, delayed, colors, heading)
    else:
        figure = dict(CHARTS)[name](cells, colors, heading)
    if figure is None:
        return None
    path = folder / f"{backend}-{name}.png"
    figure.savefig(path, dpi=DPI)
    return path


#: the chart of the cells run through the delay proxy
MEASURED_RTT = "measured-rtt"


#: how an asyncio variant's bars and lines differ from its synchronous form's, whose colour
#: it keeps: the first of a style's asyncio forms, the second, ...
ASYNC_LOOKS = (("//", "--", "x"), ("xx", ":", "+"), ("..", "-.", "*"))


def _variant_colors(variants: Sequence[str], catalog: Catalog) -> Colors:
    """The same look for a variant in every chart: by its place in the registry. An asyncio
    variant takes the colour of its synchronous form, hatched and dashed, so the two stand
    side by side."""
    known = [name for name in VARIANTS if name in variants]
    others = [name for name in variants if name not in VARIANTS]
    looks: Colors = {}
    forms: dict[str, int] = {}
    for name in [*known, *others]:
        counterpart = catalog.sync_counterpart(name)
        if counterpart in looks:
            assert counterpart is not None
            hatch, linestyle, marker = ASYNC_LOOKS[forms.get(counterpart, 0) % len(ASYNC_LOOKS)]
            forms[counterpart] = forms.get(counterpart, 0) + 1
            looks[name] = {
                "color": looks[counterpart]["color"],
                "linestyle": linestyle,
                "marker": marker,
                "hatch": hatch,
            }
            continue
        index = len(looks) - sum(forms.values())
        looks[name] = {
            "color": PALETTE[index % len(PALETTE)],
            "linestyle": LINE_STYLES[index % len(LINE_STYLES)],
            "marker": MARKERS[index % len(MARKERS)],
            "hatch": "" if index < len(PALETTE) else "\\\\",
        }
    return looks


def _line(style: dict[str, Any]) -> dict[str, Any]:
    """A variant's look as line properties."""
    return {key: style[key] for key in ("color", "linestyle", "marker")}


def plural(count: int, noun: str) -> str:
    return f"{count} {noun}" if count == 1 else f"{count} {noun}s"


def _figure(panels: int, columns: int, panel_size: tuple[float, float]) -> tuple[Figure, int, int]:
    from matplotlib.figure import Figure

    rows = max(1, math.ceil(panels / columns))
    columns = min(columns, max(panels, 1))
    figure = Figure(
        figsize=(panel_size[0] * columns, panel_size[1] * rows + 0.8), layout="constrained"
    )
    return figure, rows, columns


def _legend(figure: Figure, variants: Sequence[str], colors: Colors, lines: bool = False) -> None:
    """A legend of the variants drawn, and only those."""
    from matplotlib.lines import Line2D
    from matplotlib.patches import Patch

    handles: list[Any] = [
        Line2D([], [], label=v, **_line(colors[v]))
        if lines
        else Patch(facecolor=colors[v]["color"], hatch=colors[v]["hatch"], label=v)
        for v in variants
    ]
    figure.legend(
        handles=handles,
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
    cells = [c for c in cells if not is_concurrent(c.workload)]
    if not cells:
        return None
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
    measures: list[tuple[str, Callable[[CellResult], float]]] = [
        ("cursor calls (client side)", lambda c: c.cursor_calls),
        ("statements the database ran", lambda c: c.db_statements),
    ]
    if heading.networked:  # without a network, round trips are the statements again
        measures.append(("round trips", lambda c: c.round_trips))
    figure, rows, columns = _figure(len(measures), 1, (9.0, 3.4))
    single = [w for w in workloads_of(shown) if not is_batch(w)]
    figure.suptitle(
        f"{heading.title}: what one execution sends, size {size}"
        + (f" ({', '.join(single)}: one unit of work)" if single else "")
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
        w
        for w in workloads_of(cells)
        if not is_concurrent(w) and len({c.size for c in cells if c.workload == w}) > 1
    ]
    if not workloads:
        return None
    figure, rows, columns = _figure(len(workloads), 4, (4.2, 3.4))
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
                **_line(colors[variant]),
            )
            drawn.add(variant)
        _log_scale(axes, "x", "y")
        axes.set_title(workload, fontsize=10)
        axes.set_xlabel("size (rows or parents)")
        axes.set_ylabel("median time (ms)")
    _legend(figure, [v for v in variants_of(cells) if v in drawn], colors, lines=True)
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
    shown = [c for c in cells if c.size == size and c.workload in PROJECTED_WORKLOADS]
    panels: list[tuple[str, list[CellResult]]] = []
    for workload in workloads_of(shown):
        workload_cells = [c for c in shown if c.workload == workload]
        many = many_round_trips(workload_cells)
        panels.append((workload, [c for c in workload_cells if c.variant not in many]))
        if many:
            panels.append((f"{workload}: many round trips", workload_cells))
    if not panels:
        return None
    figure, rows, columns = _figure(len(panels), 4, (4.2, 3.4))
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
                **_line(colors[variant]),
            )
            drawn.add(variant)
        axes.set_ylim(bottom=0)
        axes.set_title(title, fontsize=10)
        axes.set_xlabel("network round-trip time (ms)")
        axes.set_ylabel("projected time (ms)")
        axes.legend(fontsize=7)
    _legend(figure, [v for v in variants_of(shown) if v in drawn], colors, lines=True)
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
            if c.size == shown
            and c.workload in PROJECTED_WORKLOADS
            and any(d.key == c.key for d in delayed)
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
    figure, rows, columns = _figure(len(panels), 4, (4.2, 3.4))
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
    _legend(figure, [v for v in variants_of(cells) if v in drawn], colors, lines=True)
    return figure


def concurrency(cells: list[CellResult], colors: Colors, heading: Heading) -> Figure | None:
    """Per concurrent workload: units per second against K, and the p99 latency beside it."""
    workloads = [w for w in workloads_of(cells) if is_concurrent(w)]
    measured = [c for c in cells if c.workload in workloads and c.concurrency is not None]
    if not measured:
        return None
    figure, rows, columns = _figure(2 * len(workloads), 2, (5.2, 3.6))
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
                workers, rates, yerr=errors, markersize=4, capsize=2, **_line(colors[variant])
            )
            latency.plot(
                workers,
                [c.concurrency.p99_ms for c in line if c.concurrency],
                markersize=4,
                **_line(colors[variant]),
            )
            drawn.add(variant)
        sizes = sorted({c.size for c in workload_cells})
        for axes in (throughput, latency):
            axes.set_xscale("log", base=2)
            axes.set_xticks(sizes, [str(k) for k in sizes])
            axes.xaxis.set_minor_locator(_null_locator())
            axes.set_xlabel("worker threads K")
            _log_scale(axes, "y")
        throughput.set_title(f"{workload}: units of work per second", fontsize=10)
        throughput.set_ylabel("units/s (log scale)")
        latency.set_title(f"{workload}: 99th percentile latency", fontsize=10)
        latency.set_ylabel("p99 per unit (ms, log scale)")
    _legend(figure, [v for v in variants_of(measured) if v in drawn], colors, lines=True)
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
