"""The report's "what the numbers say", per backend: sentences computed from the results, each
order between two styles claimed only where the interval of their ratio excludes 1: the fastest
and slowest style of each workload, how the growth variant's cost over the baseline changes with
the size, the asyncio styles against their synchronous forms, where one style needs many more
round trips, what a network (projected, or measured through the delay proxy) does to the order,
and the reset check."""

from __future__ import annotations

from bench.report.async_styles import async_findings
from bench.report.delays import crossing_sentence, measured_crossing, measured_rtts
from bench.report.text import plural
from bench.results.model import (
    CellResult,
    Heading,
    Results,
    at_size,
    compare_cells,
    format_comparison,
    format_seconds,
    reference_size,
    workloads_of,
)

#: the network round-trip time the summary quotes, and the largest it looks at
QUOTED_RTT_MS = 1.0
RTT_LIMIT_MS = 10.0


def findings(results: Results, backend: str) -> list[str]:
    """Sentences computed from the results of one backend; an order between two styles is
    claimed only where the interval of their ratio excludes 1. (A concurrent workload's are
    in its own section: they read throughput, not the time of one execution.)"""
    cells = [c for c in results.for_backend(backend) if not c.is_concurrent]
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
    lines.extend(_growth_over_baseline(results, backend, cells))
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


def _growth_over_baseline(results: Results, backend: str, cells: list[CellResult]) -> list[str]:
    """How the growth variant's cost over the baseline changes from its smallest size to its
    largest, per workload (both variants named by the run's catalog)."""
    followed, baseline = results.catalog.growth_variant, results.catalog.baseline_variant
    lines = []
    for workload in workloads_of(cells):
        grown = sorted(
            (c for c in cells if c.workload == workload and c.variant == followed),
            key=lambda c: c.size,
        )
        pairs = [(c, results.lookup(workload, baseline, backend, c.size)) for c in grown]
        pairs = [(g, b) for g, b in pairs if b is not None]
        if len(pairs) < 2:
            continue
        (small, small_baseline), (large, large_baseline) = pairs[0], pairs[-1]
        assert small_baseline is not None and large_baseline is not None
        per_row = (
            f"; per row at size {large.size}: {format_seconds(large.median / large.rows)} "
            f"against {format_seconds(large_baseline.median / large_baseline.rows)}"
            if large.rows and large_baseline.rows
            else ""
        )
        lines.append(
            f"`{followed}` on `{workload}` costs "
            f"{format_comparison(compare_cells(small, small_baseline))} "
            f"`{baseline}` at size {small.size} and "
            f"{format_comparison(compare_cells(large, large_baseline))} at size {large.size}"
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
    for workload in results.catalog.projected_workloads():
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
            if c.is_projected and c.median > 0
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
