"""``python -m bench report DIR``: charts and a citable REPORT.md from ``DIR/benchmarks.json``.

Every figure in the report is computed from the JSON; nothing is written by hand. The files are
written next to their final names and renamed into place, so a failed report leaves the
previous one whole.
"""

from __future__ import annotations

import json
import math
import os
import shutil
import tempfile
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bench.workloads import WORKLOADS
from implementations.registry import VARIANTS

RESULTS_FILE = "benchmarks.json"
REPORT_FILE = "REPORT.md"
CHARTS_DIR = "charts"
REQUIRED_FIELDS = (
    "workload",
    "variant",
    "backend",
    "size",
    "cursor_calls",
    "db_statements",
    "round_trips",
    "rows",
)
#: network round-trip times the projection is drawn over, and the one the summary quotes
RTT_RANGE_MS = (0.0, 10.0)
QUOTED_RTT_MS = 1.0
PROJECTED_WORKLOADS = (
    "crud_create",
    "crud_read",
    "crud_update",
    "crud_delete",
    "parent_child_insert",
)
BACKEND_TITLES = {"sqlite": "SQLite", "postgres": "PostgreSQL"}


class ReportError(Exception):
    """The results cannot be reported on; one line for the user."""


@dataclass(frozen=True)
class CellResult:
    workload: str
    variant: str
    backend: str
    size: int
    median: float
    q1: float
    q3: float
    rounds: int
    cursor_calls: int
    db_statements: int
    round_trips: int
    rows: int
    bytes_sent: int | None = None
    bytes_received: int | None = None
    connections_opened: int = 0

    def projected(self, rtt_seconds: float) -> float:
        """What the cell would take with a network round trip of ``rtt_seconds``."""
        return self.median + self.round_trips * rtt_seconds


@dataclass
class Results:
    cells: list[CellResult]
    datetime: str
    machine: dict[str, Any]
    harness: dict[str, Any] = field(default_factory=dict)

    @property
    def backends(self) -> list[str]:
        return _order((cell.backend for cell in self.cells), tuple(BACKEND_TITLES))

    def for_backend(self, backend: str) -> list[CellResult]:
        return [cell for cell in self.cells if cell.backend == backend]

    def lookup(self, workload: str, variant: str, backend: str, size: int) -> CellResult | None:
        for cell in self.cells:
            if (cell.workload, cell.variant, cell.backend, cell.size) == (
                workload,
                variant,
                backend,
                size,
            ):
                return cell
        return None


def _order(names: Iterable[str], known: Sequence[str]) -> list[str]:
    unique = set(names)
    return [n for n in known if n in unique] + sorted(unique - set(known))


def workloads_of(cells: Iterable[CellResult]) -> list[str]:
    return _order((cell.workload for cell in cells), tuple(WORKLOADS))


def variants_of(cells: Iterable[CellResult]) -> list[str]:
    return _order((cell.variant for cell in cells), tuple(VARIANTS))


# --- loading ------------------------------------------------------------------------------------


def load_results(folder: Path) -> Results:
    path = folder / RESULTS_FILE
    if not folder.is_dir():
        raise ReportError(f"{folder} is not a folder")
    if not path.is_file():
        raise ReportError(
            f"{folder} has no {RESULTS_FILE}; run `python -m bench run --out {folder}`"
        )
    try:
        document = json.loads(path.read_text())
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ReportError(f"{path} is not JSON ({exc})") from None
    if not (
        isinstance(document, dict)
        and isinstance(document.get("benchmarks"), list)
        and isinstance(document.get("machine_info"), dict)
    ):
        raise ReportError(f"{path} is not pytest-benchmark JSON (no benchmarks and machine_info)")
    if not document["benchmarks"]:
        raise ReportError(f"{path} holds no benchmarks")
    cells = [_cell(entry, path) for entry in document["benchmarks"]]
    return Results(
        cells=cells,
        datetime=str(document.get("datetime", "unknown")),
        machine=document["machine_info"],
        harness=document.get("harness") or {},
    )


def _cell(entry: Any, path: Path) -> CellResult:
    name = entry.get("name", "?") if isinstance(entry, dict) else "?"
    info = entry.get("extra_info") if isinstance(entry, dict) else None
    stats = entry.get("stats") if isinstance(entry, dict) else None
    missing = [f for f in REQUIRED_FIELDS if not isinstance(info, dict) or f not in info]
    if missing:
        raise ReportError(
            f"{path}: benchmark {name} lacks the harness's fields ({', '.join(missing)}); "
            "was it written by `python -m bench run`?"
        )
    if not isinstance(stats, dict) or not all(k in stats for k in ("median", "q1", "q3")):
        raise ReportError(f"{path}: benchmark {name} has no timing statistics")
    assert isinstance(info, dict)
    try:
        return CellResult(
            workload=str(info["workload"]),
            variant=str(info["variant"]),
            backend=str(info["backend"]),
            size=int(info["size"]),
            median=float(stats["median"]),
            q1=float(stats["q1"]),
            q3=float(stats["q3"]),
            rounds=int(stats.get("rounds", 0)),
            cursor_calls=int(info["cursor_calls"]),
            db_statements=int(info["db_statements"]),
            round_trips=int(info["round_trips"]),
            rows=int(info["rows"]),
            bytes_sent=_optional_int(info.get("bytes_sent")),
            bytes_received=_optional_int(info.get("bytes_received")),
            connections_opened=int(info.get("connections_opened", 0)),
        )
    except (TypeError, ValueError) as exc:
        raise ReportError(f"{path}: benchmark {name} has a malformed field ({exc})") from None


def _optional_int(value: Any) -> int | None:
    return None if value is None else int(value)


# --- formatting ---------------------------------------------------------------------------------


def format_seconds(seconds: float) -> str:
    if seconds < 1e-3:
        return f"{seconds * 1e6:.1f} µs"
    if seconds < 1:
        return f"{seconds * 1e3:.3g} ms" if seconds < 0.1 else f"{seconds * 1e3:.0f} ms"
    return f"{seconds:.2f} s"


def format_ratio(ratio: float | None) -> str:
    return "—" if ratio is None else f"{ratio:.2f}×"


def reference_size(cells: Sequence[CellResult]) -> int:
    """The size the summaries quote: 100 when it was run, else the largest batch size."""
    sizes = sorted({c.size for c in cells if _is_batch(c.workload)}) or [max(c.size for c in cells)]
    return 100 if 100 in sizes else sizes[-1]


def _is_batch(workload: str) -> bool:
    return workload not in WORKLOADS or WORKLOADS[workload].kind == "batch"


def ratio_to_dbapi(results: Results, cell: CellResult) -> float | None:
    baseline = results.lookup(cell.workload, "dbapi", cell.backend, cell.size)
    if baseline is None or baseline.median <= 0:
        return None
    return cell.median / baseline.median


# --- the tables ----------------------------------------------------------------------------------

TABLE_HEADER = (
    "| workload | size | variant | median | ratio to dbapi | cursor calls | db statements "
    "| round trips |"
)


def table_rows(results: Results, backend: str) -> list[list[str]]:
    """One row per cell (workload, size, variant order), plus one n/a row per variant that
    does not implement a workload."""
    cells = results.for_backend(backend)
    rows: list[list[str]] = []
    not_applicable = defaultdict(list)
    for entry in results.harness.get("not_applicable", []):
        not_applicable[entry["workload"]].append(entry["variant"])
    for workload in workloads_of(cells):
        workload_cells = [c for c in cells if c.workload == workload]
        for size in sorted({c.size for c in workload_cells}):
            for variant in variants_of(workload_cells):
                cell = results.lookup(workload, variant, backend, size)
                if cell is None:
                    continue
                rows.append(
                    [
                        workload,
                        str(size),
                        variant,
                        format_seconds(cell.median),
                        format_ratio(ratio_to_dbapi(results, cell)),
                        str(cell.cursor_calls),
                        str(cell.db_statements),
                        str(cell.round_trips),
                    ]
                )
        for variant in not_applicable.get(workload, []):
            rows.append([workload, "—", variant, "n/a", "n/a", "n/a", "n/a", "n/a"])
    return rows


def _markdown_table(header: str, rows: Sequence[Sequence[str]]) -> str:
    columns = header.count("|") - 1
    separator = "|" + "|".join(" --- " for _ in range(columns)) + "|"
    return "\n".join([header, separator, *("| " + " | ".join(row) + " |" for row in rows)])


# --- what the numbers say ---------------------------------------------------------------------


def findings(results: Results, backend: str) -> list[str]:
    """Sentences computed from the results of one backend."""
    cells = results.for_backend(backend)
    size = reference_size(cells)
    lines = []
    for workload in workloads_of(cells):
        at_size = [c for c in cells if c.workload == workload and c.size == size] or [
            c for c in cells if c.workload == workload
        ]
        if len(at_size) < 2:
            continue
        shown_size = at_size[0].size
        fastest = min(at_size, key=lambda c: c.median)
        slowest = max(at_size, key=lambda c: c.median)
        lines.append(
            f"`{workload}` at size {shown_size}: fastest `{fastest.variant}` "
            f"({format_seconds(fastest.median)}), slowest `{slowest.variant}` "
            f"({format_seconds(slowest.median)}, {slowest.median / fastest.median:.1f}× the "
            "fastest)."
        )
    lines.extend(_orm_growth(results, backend, cells))
    lines.extend(_statement_extremes(cells, size))
    lines.extend(_network_effect(cells, size, backend))
    return lines


def _orm_growth(results: Results, backend: str, cells: list[CellResult]) -> list[str]:
    lines = []
    for workload in workloads_of(cells):
        orm = sorted(
            (c for c in cells if c.workload == workload and c.variant == "orm"),
            key=lambda c: c.size,
        )
        pairs = [(c, results.lookup(workload, "dbapi", backend, c.size)) for c in orm]
        pairs = [(o, d) for o, d in pairs if d is not None]
        if len(pairs) < 2:
            continue
        (small, small_dbapi), (large, large_dbapi) = pairs[0], pairs[-1]
        assert small_dbapi is not None and large_dbapi is not None
        lines.append(
            f"`orm` on `{workload}` costs {small.median / small_dbapi.median:.1f}× `dbapi` at "
            f"size {small.size} and {large.median / large_dbapi.median:.1f}× at size "
            f"{large.size}; per row at size {large.size}: "
            f"{format_seconds(large.median / large.rows)} against "
            f"{format_seconds(large_dbapi.median / large_dbapi.rows)}."
        )
    return lines


def _statement_extremes(cells: list[CellResult], size: int) -> list[str]:
    lines = []
    for workload in workloads_of(cells):
        at_size = [c for c in cells if c.workload == workload and c.size == size]
        if len(at_size) < 2:
            continue
        most = max(at_size, key=lambda c: c.round_trips)
        fewest = min(at_size, key=lambda c: c.round_trips)
        if most.round_trips >= 2 * max(fewest.round_trips, 1):
            lines.append(
                f"`{workload}` at size {size}: `{most.variant}` needs {most.round_trips} round "
                f"trips ({most.db_statements} database statements) where `{fewest.variant}` "
                f"needs {fewest.round_trips}."
            )
    return lines


def _network_effect(cells: list[CellResult], size: int, backend: str) -> list[str]:
    rtt = QUOTED_RTT_MS / 1000
    lines = []
    for workload in PROJECTED_WORKLOADS:
        at_size = [c for c in cells if c.workload == workload and c.size == size]
        if len(at_size) < 2:
            continue
        local = min(at_size, key=lambda c: c.median)
        remote = min(at_size, key=lambda c: c.projected(rtt))
        added = ", ".join(
            f"`{c.variant}` +{format_seconds(c.round_trips * rtt)}"
            for c in sorted(at_size, key=lambda c: c.round_trips)
        )
        change = (
            f"the fastest changes from `{local.variant}` to `{remote.variant}`"
            if remote.variant != local.variant
            else f"`{local.variant}` stays the fastest"
        )
        lines.append(
            f"`{workload}` at size {size} with a {QUOTED_RTT_MS:g} ms network round trip "
            f"adds {added}; {change}."
        )
    if lines and backend == "sqlite":
        lines.insert(
            0,
            "SQLite has no network; the projections below treat each SQLite statement as if it "
            "were a round trip to a server.",
        )
    return lines


# --- charts ---------------------------------------------------------------------------------------


def _variant_colors(variants: Sequence[str]) -> dict[str, Any]:
    from matplotlib import colormaps

    palette = colormaps["tab10"]
    return {
        name: palette(index % 10) for index, name in enumerate(VARIANTS) if name in variants
    } | {
        name: palette((len(VARIANTS) + i) % 10)
        for i, name in enumerate(v for v in variants if v not in VARIANTS)
    }


def draw_charts(results: Results, folder: Path) -> list[Path]:
    """The chart set of every backend, as PNG files in ``folder``."""
    import matplotlib

    matplotlib.use("Agg")
    written = []
    for backend in results.backends:
        cells = results.for_backend(backend)
        colors = _variant_colors(variants_of(cells))
        title = BACKEND_TITLES.get(backend, backend)
        for name, draw in (
            ("median-time", _draw_median_time),
            ("statements", _draw_statements),
            ("scaling", _draw_scaling),
            ("projected-rtt", _draw_projection),
        ):
            figure = draw(cells, colors, title)
            if figure is None:
                continue
            path = folder / f"{backend}-{name}.png"
            figure.savefig(path, dpi=110)
            written.append(path)
    return written


def _grid(count: int, columns: int) -> tuple[int, int]:
    return max(1, math.ceil(count / columns)), min(columns, max(count, 1))


def _grouped_bars(
    axes: Any,
    cells: list[CellResult],
    colors: dict[str, Any],
    value: Any,
    errors: bool,
) -> None:
    workloads = workloads_of(cells)
    variants = variants_of(cells)
    width = 0.8 / max(len(variants), 1)
    for index, variant in enumerate(variants):
        xs, heights, lows, highs = [], [], [], []
        for position, workload in enumerate(workloads):
            cell = next((c for c in cells if c.workload == workload and c.variant == variant), None)
            if cell is None:
                continue
            xs.append(position - 0.4 + width * (index + 0.5))
            heights.append(value(cell))
            lows.append(max(value(cell) - cell.q1 * 1000, 0) if errors else 0)
            highs.append(max(cell.q3 * 1000 - value(cell), 0) if errors else 0)
        if xs:
            axes.bar(
                xs,
                heights,
                width,
                label=variant,
                color=colors[variant],
                yerr=[lows, highs] if errors else None,
                capsize=2 if errors else 0,
            )
    axes.set_xticks(range(len(workloads)))
    axes.set_xticklabels(workloads, rotation=25, ha="right", fontsize=8)


def _draw_median_time(cells: list[CellResult], colors: dict[str, Any], title: str) -> Any:
    from matplotlib.figure import Figure

    sizes = sorted({c.size for c in cells})
    rows, columns = _grid(len(sizes), 2)
    figure = Figure(figsize=(7 * columns, 4.5 * rows), layout="constrained")
    figure.suptitle(f"{title}: median time per execution (error bars: interquartile range)")
    for index, size in enumerate(sizes):
        axes = figure.add_subplot(rows, columns, index + 1)
        at_size = [c for c in cells if c.size == size]
        _grouped_bars(axes, at_size, colors, lambda c: c.median * 1000, errors=True)
        axes.set_title(f"size {size}")
        axes.set_ylabel("median time (ms, log scale)")
        axes.set_xlabel("workload")
        axes.set_yscale("log")
        axes.legend(fontsize=7, ncol=2)
    return figure


def _draw_statements(cells: list[CellResult], colors: dict[str, Any], title: str) -> Any:
    from matplotlib.figure import Figure

    size = reference_size(cells)
    at_size = [c for c in cells if c.size == size or not _is_batch(c.workload)]
    measures = (
        ("cursor_calls", "cursor calls (client)"),
        ("db_statements", "statements the database ran"),
        (
            "round_trips",
            "round trips" + (" (= statements, no network)" if title == "SQLite" else ""),
        ),
    )
    figure = Figure(figsize=(8, 4.2 * len(measures)), layout="constrained")
    figure.suptitle(f"{title}: what one execution sends, at size {size}")
    for index, (measure, label) in enumerate(measures):
        axes = figure.add_subplot(len(measures), 1, index + 1)
        _grouped_bars(axes, at_size, colors, lambda c, m=measure: getattr(c, m), errors=False)
        axes.set_ylabel(f"{label} (count, log scale)")
        axes.set_xlabel("workload")
        axes.set_yscale("log")
        axes.legend(fontsize=7, ncol=3)
    return figure


def _draw_scaling(cells: list[CellResult], colors: dict[str, Any], title: str) -> Any:
    from matplotlib.figure import Figure

    workloads = [
        w for w in workloads_of(cells) if len({c.size for c in cells if c.workload == w}) > 1
    ]
    if not workloads:
        return None
    rows, columns = _grid(len(workloads), 3)
    figure = Figure(figsize=(5 * columns, 3.8 * rows), layout="constrained")
    figure.suptitle(f"{title}: median time against size (log-log)")
    for index, workload in enumerate(workloads):
        axes = figure.add_subplot(rows, columns, index + 1)
        workload_cells = [c for c in cells if c.workload == workload]
        for variant in variants_of(workload_cells):
            line = sorted((c for c in workload_cells if c.variant == variant), key=lambda c: c.size)
            axes.plot(
                [c.size for c in line],
                [c.median * 1000 for c in line],
                marker="o",
                label=variant,
                color=colors[variant],
            )
        axes.set_xscale("log")
        axes.set_yscale("log")
        axes.set_title(workload)
        axes.set_xlabel("size (rows or parents)")
        axes.set_ylabel("median time (ms)")
        axes.legend(fontsize=7)
    return figure


def _draw_projection(cells: list[CellResult], colors: dict[str, Any], title: str) -> Any:
    from matplotlib.figure import Figure

    size = reference_size(cells)
    workloads = [
        w for w in PROJECTED_WORKLOADS if any(c.workload == w and c.size == size for c in cells)
    ]
    if not workloads:
        return None
    rows, columns = _grid(len(workloads), 3)
    figure = Figure(figsize=(5 * columns, 3.8 * rows), layout="constrained")
    note = " (SQLite: each statement counted as a round trip)" if title == "SQLite" else ""
    figure.suptitle(
        f"{title}: projected time = median + round trips × network RTT, size {size}{note}"
    )
    low, high = RTT_RANGE_MS
    rtts = [low + (high - low) * step / 20 for step in range(21)]
    for index, workload in enumerate(workloads):
        axes = figure.add_subplot(rows, columns, index + 1)
        at_size = [c for c in cells if c.workload == workload and c.size == size]
        for variant in variants_of(at_size):
            cell = next(c for c in at_size if c.variant == variant)
            axes.plot(
                rtts,
                [cell.projected(rtt / 1000) * 1000 for rtt in rtts],
                label=f"{cell.variant} ({cell.round_trips} round trips)",
                color=colors[cell.variant],
            )
        axes.set_title(workload)
        axes.set_xlabel("network round-trip time (ms)")
        axes.set_ylabel("projected time (ms)")
        axes.legend(fontsize=7)
    return figure


# --- the report -----------------------------------------------------------------------------------


def render_report(results: Results, charts: Sequence[Path]) -> str:
    harness = results.harness
    machine = results.machine
    versions = harness.get("versions", {})
    servers = harness.get("servers", {})
    cpu = machine.get("cpu", {}) if isinstance(machine.get("cpu"), dict) else {}
    lines = [
        "# Data-access benchmark report",
        "",
        f"Run at {results.datetime} on `{machine.get('node', '?')}`: "
        f"{cpu.get('brand_raw', machine.get('processor', '?'))}, "
        f"{cpu.get('count', os.cpu_count())} CPUs, {machine.get('system', '?')} "
        f"{machine.get('release', '')}, "
        f"{machine.get('python_implementation', 'Python')} {machine.get('python_version', '?')}.",
        "",
        "| component | version |",
        "| --- | --- |",
        *(f"| {name} | {version} |" for name, version in versions.items()),
        "",
        f"Profile: {harness.get('profile', '?')}. Reproduce with:",
        "",
        "```",
        str(harness.get("command") or "python -m bench run --backend all"),
        "```",
        "",
    ]
    if harness.get("notes"):
        lines += [f"> {note}" for note in harness["notes"]] + [""]
    lines += [
        "How to read it: each cell was verified (result and table contents equal the "
        "workload's definition) before it was timed; counts come from a separate, untimed "
        "execution; `median` is pytest-benchmark's median over the timed rounds, each round "
        "starting from the same database state. `ratio to dbapi` is the median divided by the "
        "raw driver's median for the same workload and size. On SQLite `round trips` equals "
        "`db statements`: there is no network.",
        "",
    ]
    for backend in results.backends:
        title = BACKEND_TITLES.get(backend, backend)
        lines += [f"## {title}", ""]
        server = servers.get(backend, {})
        if server:
            lines += [
                "Server: " + ", ".join(f"{key} `{value}`" for key, value in server.items()) + ".",
                "",
            ]
        found = findings(results, backend)
        if found:
            lines += ["### What the numbers say", "", *(f"- {line}" for line in found), ""]
        lines += [
            "### Results",
            "",
            _markdown_table(TABLE_HEADER, table_rows(results, backend)),
            "",
        ]
        backend_charts = [c for c in charts if c.name.startswith(f"{backend}-")]
        if backend_charts:
            lines += ["### Charts", ""]
            lines += [f"![{c.stem}]({CHARTS_DIR}/{c.name})" for c in backend_charts]
            lines.append("")
    return "\n".join(lines)


def write_report(folder: Path) -> Path:
    """Charts and REPORT.md for the results in ``folder``; the report's path."""
    results = load_results(folder)
    staging = Path(tempfile.mkdtemp(prefix=".report-", dir=folder))
    try:
        staged_charts = staging / CHARTS_DIR
        staged_charts.mkdir()
        charts = draw_charts(results, staged_charts)
        (staging / REPORT_FILE).write_text(render_report(results, charts))
        final_charts = folder / CHARTS_DIR
        if final_charts.exists():
            shutil.rmtree(final_charts)
        staged_charts.rename(final_charts)
        os.replace(staging / REPORT_FILE, folder / REPORT_FILE)
    except OSError as exc:
        raise ReportError(f"cannot write the report into {folder}: {exc.strerror or exc}") from None
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return folder / REPORT_FILE
