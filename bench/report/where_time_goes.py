"""The report's "where the time goes" section: per backend, for each comparison a reader asks
about, the layer that makes the slower style slower on each workload of the section (of
SQLAlchemy's ORM, Core, the event loop with greenlet, the driver, the style's own code, and
waiting off the CPU), and the memory each style takes; the chart ``layers`` draws every style's
split (:mod:`bench.report.chart_layers`). Kept short: the report's length is held to a limit.

Everything comes from the JSON (``time_by_layer``, ``layer_samples``, ``peak_bytes``,
``bytes_per_row``); how they are measured is ``docs/time-and-memory.md``.
"""

from __future__ import annotations

from collections.abc import Sequence

from bench.report.markdown import markdown_table
from bench.results.model import (
    CellResult,
    Results,
    compare_cells,
    format_seconds,
    variants_of,
)
from bench.results.record import LAYERS

#: the workloads the section shows: a read of rows, a read of nested rows, a write of parents
#: with their children (the unit of work's); every cell of a run has its layers in the JSON
LAYER_WORKLOADS = ("crud_read", "parent_child_read", "parent_child_insert")
#: the workloads whose bytes per row the memory table shows
READ_WORKLOADS = ("crud_read", "parent_child_read")
#: the comparisons a reader asks about: which layer makes the first slower than the second
COMPARISONS = (("orm", "core"), ("core", "dbapi"), ("orm_async", "orm"), ("asyncpg", "dbapi"))
#: how the report names each layer
LAYER_TITLES = {
    "orm": "the ORM",
    "core": "Core",
    "event_loop": "the event loop and greenlet",
    "driver": "the driver",
    "variant": "the style's own code",
    "waiting": "waiting off the CPU",
}
LAYER_HEADINGS = {
    "orm": "ORM",
    "core": "Core",
    "event_loop": "event loop",
    "driver": "driver",
    "variant": "own code",
    "waiting": "waiting",
}
#: the sizes the section shows: one row, and the reference size
SHOWN_SIZES = (1, 100)


def layered(cells: Sequence[CellResult]) -> list[CellResult]:
    return [c for c in cells if c.time_by_layer is not None and c.is_batch]


def layer_sizes(cells: Sequence[CellResult]) -> list[int]:
    """The sizes shown: 1 and 100, or where the run lacks one, the nearest it has (a quick run
    has 1 and 50)."""
    sizes = sorted({c.size for c in layered(cells)})
    if not sizes:
        return []
    shown = [min(sizes, key=lambda size: (abs(size - wanted), size)) for wanted in SHOWN_SIZES]
    return sorted(set(shown))


def _cells(cells: Sequence[CellResult], workload: str, size: int) -> dict[str, CellResult]:
    return {c.variant: c for c in layered(cells) if c.workload == workload and c.size == size}


def difference_clause(slower: CellResult, faster: CellResult) -> str:
    """How much slower ``slower`` is than ``faster`` on one workload, and the layer that makes
    most of the difference, with its share of it and what it added."""
    assert slower.time_by_layer is not None and faster.time_by_layer is not None
    times = f"{format_seconds(slower.median)} against {format_seconds(faster.median)}"
    difference = slower.median - faster.median
    if difference <= 0:
        return f"`{slower.workload}` {times}, not the slower"
    comparison = compare_cells(slower, faster)
    noise = " (within the noise)" if comparison.known and comparison.low <= 1 else ""
    moved = {layer: slower.time_by_layer[layer] - faster.time_by_layer[layer] for layer in LAYERS}
    main = max(moved, key=lambda layer: moved[layer])
    return (
        f"`{slower.workload}` {times}{noise}, {100 * moved[main] / difference:.0f} % of the "
        f"difference in {LAYER_TITLES[main]} (+{format_seconds(moved[main])})"
    )


def comparison_lines(cells: Sequence[CellResult], size: int) -> list[str]:
    """One bullet per comparison a reader asks about: on each workload of the section at
    ``size``, which layer makes the slower style slower."""
    lines = []
    for slower, faster in COMPARISONS:
        clauses = []
        for workload in LAYER_WORKLOADS:
            found = _cells(cells, workload, size)
            if slower in found and faster in found:
                clauses.append(difference_clause(found[slower], found[faster]))
        if clauses:
            lines.append(f"- `{slower}` against `{faster}`: " + "; ".join(clauses) + ".")
    return lines


def memory_table(cells: Sequence[CellResult]) -> list[str]:
    """Per style, on the reading workloads at their largest size: the peak of one execution,
    its bytes per row returned, and what each row beyond the smallest size's added (the peak's
    growth over the rows' growth: what one more row costs, without the fixed part)."""
    columns: list[tuple[str, int, int]] = []
    for workload in READ_WORKLOADS:
        sizes = [c.size for c in cells if c.workload == workload and c.bytes_per_row is not None]
        if sizes:
            columns.append((workload, min(sizes), max(sizes)))
    if not columns:
        return []
    found = {(c.workload, c.size, c.variant): c for c in cells if c.peak_bytes is not None}
    variants = [v for v in variants_of(cells) if any((w, s, v) in found for w, _, s in columns)]
    names = ["style"]
    for workload, _, size in columns:
        names += [f"`{workload}` {size}: peak", "bytes per row", "per further row"]
    header = "| " + " | ".join(names) + " |"
    rows = []
    for variant in variants:
        row = [f"`{variant}`"]
        for workload, smallest, size in columns:
            cell, small = (
                found.get((workload, size, variant)),
                found.get((workload, smallest, variant)),
            )
            if cell is None or cell.peak_bytes is None:
                row += ["", "", ""]
                continue
            row += [
                _bytes(cell.peak_bytes),
                f"{cell.bytes_per_row or 0:,.0f}",
                _further(small, cell),
            ]
        rows.append(row)
    return [
        "Memory: the most one execution held at once (traced by `tracemalloc` from its start: "
        "Python's allocator, not the drivers' own `malloc`), that over the rows it returned, "
        "and what each further row added (the peak's growth from the smallest size, over the "
        "rows': a buffer of fixed size drops out). The ORM keeps every object it loads in the "
        "session's identity map, each with its `InstanceState`, until the session closes.",
        "",
        markdown_table(header, rows),
        "",
    ]


def _further(small: CellResult | None, large: CellResult) -> str:
    if small is None or small.peak_bytes is None or large.peak_bytes is None:
        return ""
    if large.rows <= small.rows:
        return ""
    return f"{(large.peak_bytes - small.peak_bytes) / (large.rows - small.rows):,.0f}"


def _bytes(count: int) -> str:
    if count >= 1 << 20:
        return f"{count / (1 << 20):.1f} MiB"
    return f"{count / 1024:.1f} KiB"


def time_section(results: Results, backend: str) -> list[str]:
    cells = results.for_backend(backend)
    sizes = layer_sizes(cells)
    if not sizes:
        return []
    size = sizes[-1]
    lines = [
        "#### Where the time goes",
        "",
        "Each style's median execution split into layers: the time its timed rounds spent "
        "off the CPU is *waiting* (the server, the network, the disk); the time on the CPU is "
        "shared out between the ORM, Core, the event loop with greenlet, the driver and the "
        "style's own code as the samples of a stack sampler (py-spy, 400 a second) fell in "
        "executions of their own, untimed (each cell's `layer_samples`: a share from 100 "
        "samples is within about 10 points, from 400 within 5). The chart `layers` draws every "
        "style at sizes " + " and ".join(map(str, sizes)) + "; `python -m bench profile` shows "
        f"one cell's in full. At size {size}, where the slower style's time goes:",
        "",
        *comparison_lines(cells, size),
        "",
    ]
    lines += memory_table(cells)
    return lines
