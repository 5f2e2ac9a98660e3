"""``python -m bench report DIR``: charts and a citable REPORT.md from ``DIR/benchmarks.json``.

Every figure in the report is computed from the JSON; nothing is written by hand. The files are
prepared in a staging folder and renamed into place, so a failed report leaves the previous
one whole.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from collections import defaultdict
from collections.abc import Sequence
from pathlib import Path

from bench.charts import draw_charts
from bench.results import (
    BACKEND_TITLES,
    PROJECTED_WORKLOADS,
    CellResult,
    ReportError,
    Results,
    format_ratio,
    format_seconds,
    load_results,
    ratio_to_dbapi,
    reference_size,
    variants_of,
    workloads_of,
)

REPORT_FILE = "REPORT.md"
CHARTS_DIR = "charts"
#: the network round-trip time the summary quotes, and the largest it looks at
QUOTED_RTT_MS = 1.0
RTT_LIMIT_MS = 10.0
NETWORKED_BACKENDS = ("postgres",)

__all__ = ["ReportError", "render_report", "write_report"]


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
        per_row = (
            f"; per row at size {large.size}: {format_seconds(large.median / large.rows)} "
            f"against {format_seconds(large_dbapi.median / large_dbapi.rows)}"
            if large.rows and large_dbapi.rows
            else ""
        )
        lines.append(
            f"`orm` on `{workload}` costs {small.median / small_dbapi.median:.1f}× `dbapi` at "
            f"size {small.size} and {large.median / large_dbapi.median:.1f}× at size "
            f"{large.size}{per_row}."
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
    if backend not in NETWORKED_BACKENDS:
        return [
            f"{BACKEND_TITLES.get(backend, backend)} runs inside the application's process: "
            "there is no network round trip to add (the projection chart shows what its "
            "statement counts would cost if each were one)."
        ]
    rtt = QUOTED_RTT_MS / 1000
    lines = []
    for workload in PROJECTED_WORKLOADS:
        at_size = [c for c in cells if c.workload == workload and c.size == size]
        if len(at_size) < 2:
            continue
        projected = ", ".join(
            f"`{c.variant}` {format_seconds(c.projected(rtt))} ({c.round_trips})"
            for c in sorted(at_size, key=lambda c: c.projected(rtt))
        )
        lines.append(
            f"`{workload}` at size {size} with {QUOTED_RTT_MS:g} ms per round trip "
            f"(round trips in brackets): {projected}.{_crossover(at_size)}"
        )
    return lines


def _crossover(cells: list[CellResult]) -> str:
    """Where, as the network slows, the locally fastest variant loses first place."""
    fastest = min(cells, key=lambda c: c.median)
    crossings = [
        ((other.median - fastest.median) / (fastest.round_trips - other.round_trips), other)
        for other in cells
        if other.round_trips < fastest.round_trips
    ]
    if not crossings:
        return ""
    seconds, overtaker = min(crossings, key=lambda pair: pair[0])
    if seconds * 1000 > RTT_LIMIT_MS:
        return ""
    return (
        f" `{fastest.variant}` is fastest on this machine, but from "
        f"{seconds * 1000:.2g} ms per round trip `{overtaker.variant}` is faster."
    )


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
        f"Code: {_source(harness.get('source', {}))}. Profile: {harness.get('profile', '?')}. "
        "Reproduce with:",
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
        "raw driver's median for the same workload and size."
        + (
            " On SQLite `round trips` equals `db statements`: there is no network."
            if "sqlite" in results.backends
            else ""
        ),
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


def _source(source: dict[str, object]) -> str:
    if not source.get("commit"):
        return "the harness's commit is unknown (not run from a git checkout of it)"
    state = "with uncommitted changes" if source.get("dirty") else "clean"
    return f"harness commit `{str(source['commit'])[:12]}` ({state})"


def write_report(folder: Path) -> Path:
    """Charts and REPORT.md for the results in ``folder``; the report's path.

    Everything is drawn in a staging folder first; then the charts folder and the report are
    renamed into place, and if the second rename fails the first is undone.
    """
    results = load_results(folder)
    final_charts, final_report = folder / CHARTS_DIR, folder / REPORT_FILE
    previous_charts = folder / f".{CHARTS_DIR}-previous"
    staging: Path | None = None
    try:
        staging = Path(tempfile.mkdtemp(prefix=".report-", dir=folder))
        staged_charts = staging / CHARTS_DIR
        staged_charts.mkdir()
        charts = draw_charts(results, staged_charts)
        (staging / REPORT_FILE).write_text(render_report(results, charts))
        shutil.rmtree(previous_charts, ignore_errors=True)
        if final_charts.exists():
            final_charts.rename(previous_charts)
        try:
            staged_charts.rename(final_charts)
            os.replace(staging / REPORT_FILE, final_report)
        except BaseException:
            if final_charts.exists() and previous_charts.exists():
                final_charts.rename(staged_charts)
            if previous_charts.exists():
                previous_charts.rename(final_charts)
            raise
        shutil.rmtree(previous_charts, ignore_errors=True)
    except OSError as exc:
        raise ReportError(f"cannot write the report into {folder}: {exc.strerror or exc}") from None
    finally:
        if staging is not None:
            shutil.rmtree(staging, ignore_errors=True)
    return final_report
