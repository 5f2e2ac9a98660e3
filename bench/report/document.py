"""``python -m bench report DIR``: charts and a citable REPORT.md from ``DIR/benchmarks.json``.

Every figure in the report is computed from the JSON; nothing is written by hand. The files are
prepared in a staging folder and renamed into place, so a failed report leaves the previous
one whole.
"""

from __future__ import annotations

import itertools
import os
from collections import defaultdict
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from bench.report.async_styles import async_findings, async_section
from bench.report.charts import draw_charts, plural
from bench.report.delays import (
    DISAGREEMENT,
    Delayed,
    crossing_sentence,
    delayed_cells,
    measured_crossing,
    measured_rtts,
    reasons,
)
from bench.report.server_cost import server_section
from bench.report.throughput import concurrency_section
from bench.results.load import (
    PROJECTED_WORKLOADS,
    CellResult,
    Comparison,
    Heading,
    ReportError,
    Results,
    at_size,
    compare_cells,
    format_comparison,
    format_seconds,
    is_concurrent,
    load_results,
    markdown_code,
    markdown_code_block,
    markdown_table,
    markdown_text,
    reference_size,
    variants_of,
    workloads_of,
)
from bench.results.output_folder import (
    CHARTS_DIR,
    REPORT_FILE,
    RESULTS_FILE,
    FolderRefused,
    files_made,
    publish,
    staging_folder,
)
from implementations.registry import BASELINE_VARIANT

#: the network round-trip time the summary quotes, and the largest it looks at
QUOTED_RTT_MS = 1.0
RTT_LIMIT_MS = 10.0

__all__ = ["ReportError", "render_report", "write_report"]


# --- the tables ----------------------------------------------------------------------------------

NOISY_MARK = "‡"
#: beside a ratio to dbapi: whether it compares the same SQL, or other SQL (a declared difference)
SAME_SQL_MARK, OTHER_SQL_MARK = "=SQL", "≠SQL"
SAME_SQL = "same SQL"
#: how the order of two variants is written: told apart by the data, or not
ORDERED, UNORDERED = " < ", " ≈ "


def ranking(cells: Sequence[CellResult]) -> str:
    """The variants of one group from fastest to slowest; ``≈`` where the interval of two
    neighbours' ratio holds 1, so the data cannot order them."""
    ordered = sorted(cells, key=lambda c: c.median)
    text = f"`{ordered[0].variant}`" if ordered else ""
    for faster, slower in itertools.pairwise(ordered):
        apart = not compare_cells(slower, faster).indistinguishable
        text += f"{ORDERED if apart else UNORDERED}`{slower.variant}`"
    return text


def _timing_entry(cell: CellResult | None) -> str:
    if cell is None:
        return "—"
    text = format_seconds(cell.median) + (NOISY_MARK if cell.noisy else "")
    if cell.ratio_to_dbapi is not None and cell.ratio_ci95 is not None:
        comparison = Comparison(cell.ratio_to_dbapi, *cell.ratio_ci95)
        mark = " ≈" if comparison.indistinguishable else ""
        text += f"<br>{format_comparison(comparison)}{mark}"
        if cell.sql_vs_dbapi is not None:
            text += f" {SAME_SQL_MARK if cell.sql_vs_dbapi == SAME_SQL else OTHER_SQL_MARK}"
    return text


def sql_notes(cells: Sequence[CellResult]) -> list[str]:
    """Below a workload's table: which variants send the same SQL as dbapi, and why the
    others' differs."""
    markers: dict[str, str] = {}
    for cell in cells:
        if cell.sql_vs_dbapi is not None:
            markers.setdefault(cell.variant, cell.sql_vs_dbapi)
    if not markers:
        return []
    same = [f"`{v}`" for v, marker in markers.items() if marker == SAME_SQL]
    lines = [
        f"SQL against `dbapi` ({SAME_SQL_MARK}, {OTHER_SQL_MARK} beside each ratio): "
        + (f"the same SQL: {', '.join(same)}." if same else "no variant sends the same SQL.")
    ]
    by_reason: dict[str, list[str]] = {}
    for variant, marker in markers.items():
        if marker != SAME_SQL:
            by_reason.setdefault(marker, []).append(f"`{variant}`")
    lines += [
        f"- {', '.join(names)}, other SQL: {markdown_text(why)}."
        for why, names in by_reason.items()
    ]
    return [*lines, ""]


def workload_tables(results: Results, backend: str, workload: str) -> list[str]:
    """A workload's tables: times and ratios, then counts; one row per size, the variants as
    columns; the variants that do not implement it in one line below."""
    cells = [c for c in results.for_backend(backend) if c.workload == workload]
    variants = variants_of(cells)
    sizes = sorted({c.size for c in cells})
    header = "| size | " + " | ".join(f"`{v}`" for v in variants) + " | fastest to slowest |"
    timing_rows = []
    count_rows = []
    for size in sizes:
        row = [results.lookup(workload, v, backend, size) for v in variants]
        present = [c for c in row if c is not None]
        timing_rows.append([str(size), *(_timing_entry(c) for c in row), ranking(present)])
        count_rows.append(
            [
                str(size),
                *(
                    "—" if c is None else f"{c.cursor_calls} / {c.db_statements} / {c.round_trips}"
                    for c in row
                ),
            ]
        )
    lines = [
        f"#### `{workload}`",
        "",
        markdown_table(header, timing_rows),
        "",
        *sql_notes(cells),
        "Cursor calls / database statements / round trips per execution:",
        "",
        markdown_table("| size | " + " | ".join(f"`{v}`" for v in variants) + " |", count_rows),
        "",
    ]
    missing = not_applicable(results).get(workload, [])
    if missing:
        lines += ["Not applicable: " + ", ".join(f"`{v}`" for v in missing) + ".", ""]
    limits = results.harness.get("size_limits", {})
    cut = [
        f"`{v}` above size {limits[v]}" for v in variants if max(sizes) > limits.get(v, max(sizes))
    ]
    if cut:
        lines += [
            "Left out of the default sizes: " + ", ".join(cut) + " (ask with `--sizes`).",
            "",
        ]
    return lines


def not_applicable(results: Results) -> dict[str, list[str]]:
    found: dict[str, list[str]] = defaultdict(list)
    for entry in results.harness.get("not_applicable", []):
        found[entry["workload"]].append(entry["variant"])
    return found


# --- what the numbers say ---------------------------------------------------------------------


def findings(results: Results, backend: str) -> list[str]:
    """Sentences computed from the results of one backend; an order between two styles is
    claimed only where the interval of their ratio excludes 1. (A concurrent workload's are
    in its own section: they read throughput, not the time of one execution.)"""
    cells = [c for c in results.for_backend(backend) if not is_concurrent(c.workload)]
    if not cells:
        return []
    size = reference_size(cells)
    lines = []
    for workload in workloads_of(cells):
        at_size = [c for c in cells if c.workload == workload and c.size == size] or [
            c for c in cells if c.workload == workload
        ]
        if len(at_size) >= 2:
            lines.append(_fastest(workload, at_size))
    lines.extend(_orm_growth(results, backend, cells))
    lines.extend(async_findings(results, backend))
    lines.extend(_statement_extremes(cells, size))
    heading = results.heading(backend)
    networked = bool(cells) and heading.networked
    lines.extend(
        _network_effect(results, cells, size, backend) if networked else [_no_network(heading)]
    )
    lines.extend(_steady_loop(cells))
    return lines


def _fastest(workload: str, cells: list[CellResult]) -> str:
    ordered = sorted(cells, key=lambda c: c.median)
    fastest, slowest = ordered[0], ordered[-1]
    size = fastest.size
    tied = [
        (other, compare_cells(other, fastest))
        for other in ordered[1:]
        if compare_cells(other, fastest).indistinguishable
    ]
    if tied:
        head = (
            f"`{workload}` at size {size}: no single fastest style on this machine: "
            f"`{fastest.variant}` ({format_seconds(fastest.median)}) and "
            + ", ".join(f"`{o.variant}` ({format_comparison(c)})" for o, c in tied)
            + " are indistinguishable"
        )
    else:
        second = ordered[1]
        head = (
            f"`{workload}` at size {size}: fastest `{fastest.variant}` "
            f"({format_seconds(fastest.median)}; the next, `{second.variant}`, takes "
            f"{format_comparison(compare_cells(second, fastest))} as long)"
        )
    if slowest is fastest or any(slowest is o for o, _ in tied):
        return head + "."
    return (
        f"{head}; slowest `{slowest.variant}` ({format_seconds(slowest.median)}, "
        f"{format_comparison(compare_cells(slowest, fastest))} the fastest)."
    )


def _orm_growth(results: Results, backend: str, cells: list[CellResult]) -> list[str]:
    lines = []
    for workload in workloads_of(cells):
        orm = sorted(
            (c for c in cells if c.workload == workload and c.variant == "orm"),
            key=lambda c: c.size,
        )
        pairs = [(c, results.lookup(workload, BASELINE_VARIANT, backend, c.size)) for c in orm]
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
            f"`orm` on `{workload}` costs {format_comparison(compare_cells(small, small_dbapi))} "
            f"`dbapi` at size {small.size} and "
            f"{format_comparison(compare_cells(large, large_dbapi))} at size {large.size}"
            f"{per_row}."
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


def _no_network(heading: Heading) -> str:
    return (
        f"{heading.title} runs inside the application's process: "
        "there is no network round trip to add, and no projection chart: its statements "
        "cost what the median times show."
    )


def _network_effect(
    results: Results, cells: list[CellResult], size: int, backend: str
) -> list[str]:
    rtt = QUOTED_RTT_MS / 1000
    lines = _server_distance(results, cells, size, backend)
    rtts = measured_rtts(results, backend)
    for workload in PROJECTED_WORKLOADS:
        at_size = [c for c in cells if c.workload == workload and c.size == size]
        if len(at_size) < 2:
            continue
        projected = ", ".join(
            f"`{c.variant}` {format_seconds(c.projected(rtt))} ({c.round_trips})"
            for c in sorted(at_size, key=lambda c: c.projected(rtt))
        )
        delayed = [
            c
            for c in results.delayed
            if (c.backend, c.workload, c.size) == (backend, workload, size)
        ]
        # where the cells were measured through the delay proxy, the measurements speak
        crossover = (
            crossing_sentence(measured_crossing(at_size, delayed), rtts)
            if delayed
            else _crossover(at_size)
        )
        lines.append(
            f"`{workload}` at size {size} with {QUOTED_RTT_MS:g} ms per round trip "
            f"(round trips in brackets), projected: {projected}.{crossover}"
        )
    return lines


def _server_distance(
    results: Results, cells: list[CellResult], size: int, backend: str
) -> list[str]:
    """The round trip to the server as measured before the cells, and what the projection
    says that distance already costs each style."""
    server = results.harness.get("servers", {}).get(backend, {})
    try:
        rtt = float(server["round_trip_ms"]) / 1000
    except (KeyError, TypeError, ValueError):
        return []
    shares = sorted(
        (
            (c.round_trips * rtt / c.median, c)
            for c in at_size(cells, size)
            if c.workload in PROJECTED_WORKLOADS and c.median > 0
        ),
        key=lambda entry: entry[0],
    )
    if not shares:
        return []
    share, most = shares[-1]
    least, fewest = shares[0]
    return [
        f"A round trip to this server, measured before the cells, takes {format_seconds(rtt)} "
        "(the least of a few hundred `SELECT 1` exchanges: the network and the client's and "
        "the server's own work for one small statement; on a server on this machine it is "
        "mostly that work). The medians in the tables were measured against this server, so "
        "they include it. At that round-trip time the projection puts "
        f"{format_seconds(most.round_trips * rtt)} of `{most.variant}`'s "
        f"{format_seconds(most.median)} on `{most.workload}` at size {size} "
        f"({plural(most.round_trips, 'round trip')}, {share:.0%}) on the round trips, the "
        f"largest share, and {least:.0%} of `{fewest.variant}`'s on `{fewest.workload}`, "
        "the smallest."
    ]


def _crossover(cells: list[CellResult]) -> str:
    """Where, as the network slows, the locally fastest variant loses first place; said only
    where the data tell the two apart on this machine."""
    fastest = min(cells, key=lambda c: c.median)
    fewer = [other for other in cells if other.round_trips < fastest.round_trips]
    if not fewer:
        return ""
    crossings = []
    for other in fewer:
        comparison = compare_cells(other, fastest)
        per_trip = fastest.median / (fastest.round_trips - other.round_trips)
        if comparison.indistinguishable:
            crossings.append((0.0, 0.0, 0.0, other))
        else:
            crossings.append(
                (
                    (comparison.ratio - 1) * per_trip,
                    (comparison.low - 1) * per_trip,
                    (comparison.high - 1) * per_trip,
                    other,
                )
            )
    seconds, low, high, overtaker = min(crossings, key=lambda entry: entry[0])
    if seconds == 0.0:
        return (
            f" `{fastest.variant}` and `{overtaker.variant}` are indistinguishable on this "
            f"machine, and `{overtaker.variant}` needs fewer round trips: with any network "
            "between them and the server it is the faster."
        )
    if seconds * 1000 > RTT_LIMIT_MS:
        return ""
    return (
        f" `{fastest.variant}` is fastest on this machine, but from {seconds * 1000:.2g} ms per "
        f"round trip (95 % interval {low * 1000:.2g}–{high * 1000:.2g} ms) "
        f"`{overtaker.variant}` is faster."
    )


def _steady_loop(cells: list[CellResult]) -> list[str]:
    lines = []
    for cell in cells:
        check = cell.steady_loop
        if not check:
            continue
        interval = check.get("ratio_ci95") or [check["ratio"], check["ratio"]]
        lines.append(
            f"Reset check: `{cell.workload}` `{cell.variant}` at size {cell.size} takes "
            f"{format_seconds(check['cell_median_s'])} with the seed restored before each "
            f"execution, and {format_seconds(check['steady_median_s'])} in a steady loop of "
            f"the same call with no reset between executions: "
            f"{check['ratio']:.2f}× [{interval[0]:.2f}–{interval[1]:.2f}], measured in "
            "alternating blocks. What the reset leaves for the timed round is the difference."
        )
    return lines


def noise_lines(harness: dict[str, Any]) -> list[str]:
    """The machine's load and speed at the start and end of the run."""
    noise = harness.get("noise") or {}
    start, end = noise.get("start"), noise.get("end")
    if not (isinstance(start, dict) and isinstance(end, dict)):
        return []
    try:
        before, after = start["calibration"], end["calibration"]
        change = after["median_s"] / before["median_s"] - 1
        return [
            f"Machine noise: load average {_load(start)} at the start and {_load(end)} at the "
            f"end; a fixed CPU loop took {format_seconds(before['median_s'])} (interquartile "
            f"range {before['iqr_s'] / before['median_s']:.0%}) before the cells and "
            f"{format_seconds(after['median_s'])} ({after['iqr_s'] / after['median_s']:.0%}) "
            f"after, {change:+.0%}. Times between runs move with these; ratios measured in "
            "one run much less.",
            "",
        ]
    # a field of another type than the harness writes (a text where a number was): no line
    except (KeyError, TypeError, ValueError, ZeroDivisionError):
        return []


def _load(state: dict[str, Any]) -> str:
    return " / ".join(f"{value:.2f}" for value in state.get("load_average", []))


# --- the report -----------------------------------------------------------------------------------


def render_report(results: Results, charts: Sequence[Path]) -> str:
    harness = results.harness
    machine = results.machine
    versions = harness.get("versions", {})
    servers = harness.get("servers", {})
    cpu = machine.get("cpu", {}) if isinstance(machine.get("cpu"), dict) else {}
    # every text below comes from the JSON, which anyone can edit: each is written so that it
    # shows itself and cannot end its code block, table row or line and start markup of its own
    text = markdown_text
    lines = [
        "# Data-access benchmark report",
        "",
        f"Run at {text(results.datetime)} on {markdown_code(machine.get('node', '?'))}: "
        f"{text(cpu.get('brand_raw', machine.get('processor', '?')))}, "
        f"{text(cpu.get('count', os.cpu_count()))} CPUs, {text(machine.get('system', '?'))} "
        f"{text(machine.get('release', ''))}, "
        f"{text(machine.get('python_implementation', 'Python'))} "
        f"{text(machine.get('python_version', '?'))}.",
        "",
        "| component | version |",
        "| --- | --- |",
        *(f"| {text(name)} | {text(version)} |" for name, version in versions.items()),
        "",
        f"Code: {_source(harness.get('source', {}))}. "
        f"Profile: {text(harness.get('profile', '?'))}. Reproduce with:",
        "",
        *markdown_code_block(harness.get("command") or "python -m bench run --backend all"),
        "",
    ]
    if harness.get("notes"):
        lines += [f"> {text(note)}" for note in harness["notes"]] + [""]
    lines += noise_lines(harness)
    lines += [
        "How to read it: each cell was verified (result and table contents equal the "
        "workload's definition) before it was timed; counts come from a separate, untimed "
        "execution. The variants of one workload and size were timed together, their rounds "
        "in alternation, each round starting from the same database state. A time is "
        "pytest-benchmark's median over a cell's rounds; under it, the median over the raw "
        "driver's (`dbapi`) with a 95 % interval from the alternated rounds (block "
        f"bootstrap). `≈` marks a ratio whose interval holds 1: on this machine the data "
        f"cannot tell that style from `dbapi`. {_event_loop_note(results)}"
        f"{NOISY_MARK} marks a cell whose rounds spread "
        "widely (interquartile range over 25 % of the median). `fastest to slowest` orders "
        "the styles; `≈` there joins neighbours the data cannot order."
        + "".join(
            f" On {heading.title} round trips equal database statements: there is no network."
            for heading in map(results.heading, results.backends)
            if not heading.networked
        ),
        "",
    ]
    lines += across_backends(results)
    for backend in results.backends:
        lines += [f"## {results.heading(backend).title}", ""]
        server = servers.get(backend, {})
        if server:
            lines += [
                "Server: "
                + ", ".join(f"{markdown_text(k)} {markdown_code(v)}" for k, v in server.items())
                + ".",
                "",
            ]
        found = findings(results, backend)
        if found:
            lines += ["### What the numbers say", "", *(f"- {line}" for line in found), ""]
        lines += server_section(results, backend)
        lines += async_section(results, backend)
        lines += ["### Results", ""]
        for workload in workloads_of(results.for_backend(backend)):
            if not is_concurrent(workload):
                lines += workload_tables(results, backend, workload)
        lines += concurrency_section(results, backend)
        lines += measured_against_projected(results, backend)
        backend_charts = [c for c in charts if c.name.startswith(f"{backend}-")]
        if backend_charts:
            lines += ["### Charts", ""]
            lines += [f"![{c.stem}]({CHARTS_DIR}/{c.name})" for c in backend_charts]
            lines.append("")
    return "\n".join(lines)


def _event_loop_note(results: Results) -> str:
    """What an asyncio style's time holds besides its work, where the run has any."""
    loops = [c.event_loop_s for c in results.cells if c.event_loop_s is not None]
    if not loops:
        return ""
    return (
        "An asyncio style's time includes its event loop's own cost of running one execution "
        f"({format_seconds(min(loops))} to {format_seconds(max(loops))}), which no style's "
        "work is: the section on the asyncio styles takes it out. "
    )


def measured_against_projected(results: Results, backend: str) -> list[str]:
    """The cells run through the delay proxy beside their projection, at size 1 and the
    reference size; then every cell, of any size, where the two disagree, and why."""
    checks = delayed_cells(results, backend)
    if not checks:
        return []
    rtts = measured_rtts(results, backend)
    direct = results.for_backend(backend)
    size = reference_size(direct)
    shown_sizes = sorted({1, size} & {c.direct.size for c in checks})
    costs = sorted(
        c.proxy_cost / max(c.direct.round_trips, 1)
        for c in checks
        if c.proxy_cost is not None and c.measured.rtt_ms == rtts[0]
    )
    lines = [
        "### Measured through a delay proxy",
        "",
        "These cells ran again with their connections through a proxy in the harness that "
        "delays each direction by half the round-trip time (RTT), "
        + " and ".join(f"{rtt:g}" for rtt in rtts)
        + " ms, and through it at 0 ms, which shows what the proxy itself costs. Each "
        "entry: the measured median, the projection from the direct cell (median + round "
        f"trips × RTT), and the error, measured over projected; beyond ±{DISAGREEMENT:.0%} it "
        "is marked ⚠ and explained below.",
        "",
    ]
    if costs:
        lines += [
            f"The proxy's own cost per round trip (through it at 0 ms, over direct): median "
            f"{format_seconds(costs[len(costs) // 2])}, from {format_seconds(costs[0])} to "
            f"{format_seconds(costs[-1])} across {len(costs)} cells.",
            "",
        ]
    by_key = {(c.direct.key, c.measured.rtt_ms): c for c in checks}
    zero = {c.direct.key: c.through_proxy for c in checks if c.through_proxy is not None}
    for workload in workloads_of(c.direct for c in checks):
        rows = []
        for shown in shown_sizes:
            for variant in variants_of(direct):
                cell = results.lookup(workload, variant, backend, shown)
                if cell is None or not any((cell.key, r) in by_key for r in rtts):
                    continue
                proxied = zero.get(cell.key)
                rows.append(
                    [
                        str(shown),
                        f"`{variant}`",
                        str(cell.round_trips),
                        format_seconds(cell.median),
                        format_seconds(proxied.median) if proxied else "—",
                        *(_measured_entry(by_key.get((cell.key, r))) for r in rtts),
                    ]
                )
        if rows:
            lines += [
                f"#### `{workload}` through the proxy",
                "",
                markdown_table(
                    "| size | variant | round trips | direct | at 0 ms | "
                    + " | ".join(f"at {rtt:g} ms: measured, projected, error" for rtt in rtts)
                    + " |",
                    rows,
                ),
                "",
            ]
    disagreeing = [c for c in checks if c.disagrees]
    lines += [
        f"Measurement and projection disagree by more than {DISAGREEMENT:.0%} in "
        f"{len(disagreeing)} of {len(checks)} cells" + (":" if disagreeing else "."),
        "",
    ]
    lines += [
        f"- `{c.direct.workload}` `{c.direct.variant}` at size {c.direct.size}, "
        f"{c.measured.rtt_ms:g} ms: measured {format_seconds(c.measured.median)}, projected "
        f"{format_seconds(c.projected)} ({c.error:+.0%}). Why: {reasons(c)}."
        for c in disagreeing
    ]
    return [*lines, ""] if disagreeing else lines


def _measured_entry(check: Delayed | None) -> str:
    if check is None:
        return "—"
    mark = " ⚠" if check.disagrees else ""
    return (
        f"{format_seconds(check.measured.median)}<br>{format_seconds(check.projected)}, "
        f"{check.error:+.0%}{mark}"
    )


def across_backends(results: Results) -> list[str]:
    """Where the networked backends' statement and round-trip counts differ for the same
    cell, at the reference size, and what shapes each backend's counts."""
    headings = [h for h in map(results.heading, results.backends) if h.networked]
    if len(headings) < 2:
        return []
    size = reference_size(results.cells)
    found = {
        (c.workload, c.variant, c.backend): c
        for c in at_size(results.cells, size)
        if c.workload in PROJECTED_WORKLOADS
    }
    rows = []
    for workload in workloads_of(results.cells):
        for variant in variants_of(results.cells):
            cells = [found.get((workload, variant, h.name)) for h in headings]
            present = [c for c in cells if c is not None]
            if len(present) < 2 or len({(c.db_statements, c.round_trips) for c in present}) < 2:
                continue
            rows.append(
                [
                    f"`{workload}`",
                    f"`{variant}`",
                    *(f"{c.db_statements} / {c.round_trips}" if c else "n/a" for c in cells),
                ]
            )
    if not rows:
        return []
    titles = " and ".join(h.title for h in headings)
    lines = [
        "## Across backends",
        "",
        f"Where {titles} differ in the database statements / round trips one execution "
        f"costs, at size {size}:",
        "",
        markdown_table(
            "| " + " | ".join(["workload", "variant", *(h.title for h in headings)]) + " |", rows
        ),
        "",
        "Why they differ:",
        "",
    ]
    for heading in headings:
        lines += [f"- {heading.title}: {note}." for note in heading.count_notes]
    return [*lines, ""]


def _source(source: dict[str, object]) -> str:
    if not source.get("commit"):
        return "the harness's commit is unknown (not run from a git checkout of it)"
    state = "with uncommitted changes" if source.get("dirty") else "clean"
    return f"harness commit {markdown_code(str(source['commit'])[:12])} ({state})"


def draw_report(results: Results, into: Path) -> None:
    """REPORT.md and charts/ for ``results``, written straight into ``into``: a staging
    folder of the caller's, not yet seen by anyone."""
    (into / CHARTS_DIR).mkdir()
    charts = draw_charts(results, into / CHARTS_DIR)
    (into / REPORT_FILE).write_text(render_report(results, charts))


def write_report(folder: Path) -> Path:
    """Charts and REPORT.md for the results in ``folder``; the report's path.

    Everything is drawn in a staging folder first, then the charts and the report replace
    the ones the harness wrote before, together (:func:`bench.results.output_folder.publish`).
    """
    results = load_results(folder)
    try:
        with staging_folder(folder, prefix=".report-") as staging:
            draw_report(results, staging)
            publish(staging, folder, files_made(staging), keep=(RESULTS_FILE,))
    except (OSError, FolderRefused) as exc:
        reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
        raise ReportError(f"cannot write the report into {folder}: {reason}") from None
    return folder / REPORT_FILE
