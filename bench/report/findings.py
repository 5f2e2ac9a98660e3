"""The report's checks, per backend, in its details: how far the server is and how much of the
medians its round trips already are, where a network would change which style is fastest (from
the projection, or from the cells measured through the delay proxy), and the reset check. Each
order between two styles is claimed only where the interval of their ratio excludes 1; the
comparisons a reader decides on are on the first screen (:mod:`bench.report.decision`)."""

from __future__ import annotations

from bench.report.delays import crossing_sentence, measured_crossing, measured_rtts
from bench.report.text import plural
from bench.results.model import (
    CellResult,
    Results,
    at_size,
    compare_cells,
    format_seconds,
    reference_size,
)

#: the largest network round-trip time a crossover is looked for at (ms)
RTT_LIMIT_MS = 10.0


def checks(results: Results, backend: str) -> list[str]:
    """Sentences computed from one backend's results that no table holds. (A concurrent
    workload's are in its own section: they read throughput, not the time of one execution.)"""
    cells = [c for c in results.for_backend(backend) if not c.is_concurrent]
    if not cells:
        return []
    lines = []
    if results.heading(backend).networked:
        size = reference_size(cells)
        lines += _server_distance(results, cells, size, backend)
        lines += _crossovers(results, cells, size, backend)
    lines += _steady_loop(cells)
    return lines


def _crossovers(results: Results, cells: list[CellResult], size: int, backend: str) -> list[str]:
    """Per workload, where a network would change which style is fastest: from the cells
    measured through the delay proxy where there are some, else from the projection."""
    rtts = measured_rtts(results, backend)
    lines = []
    for workload in results.catalog.projected_workloads():
        group = [c for c in cells if c.workload == workload and c.size == size]
        if len(group) < 2:
            continue
        delayed = [
            c
            for c in results.delayed
            if (c.backend, c.workload, c.size) == (backend, workload, size)
        ]
        sentence = (
            crossing_sentence(measured_crossing(group, delayed), rtts)
            if delayed
            else _crossover(group)
        )
        if sentence:
            lines.append(f"`{workload}` at size {size}:{sentence}")
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
