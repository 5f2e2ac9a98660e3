"""Measured against projected: the cells run through the delay proxy (``run --rtt``) set beside
what the projection, ``median + round trips × RTT``, says from the direct cells.

Where the two disagree by more than :data:`DISAGREEMENT`, :func:`reasons` says why, from the
numbers: the proxy's own cost (the cells through it at 0 ms), TCP's handshake for each
connection opened (a round trip no protocol trace sees), pipelined statements whose round
trips do not each cost one wait, waits of about 40 ms (Nagle's algorithm meeting a delayed
ACK), or what is left per round trip. The report's section on them
(:func:`measured_against_projected`) sets each beside its projection, per workload, and lists
the disagreements with their reasons.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from bench.report.markdown import markdown_table
from bench.results.model import (
    CellResult,
    Comparison,
    Results,
    compare_cells,
    format_comparison,
    format_seconds,
    reference_size,
    variants_of,
    workloads_of,
)

#: a measurement this far from its projection (either way) is called out, with a reason
DISAGREEMENT = 0.20
#: the least wait that Nagle's algorithm meeting a delayed ACK adds (Linux: 40 ms)
DELAYED_ACK_SECONDS = 0.035


@dataclass(frozen=True)
class Delayed:
    """One cell measured through the proxy at ``rtt_ms``, with its direct cell and the same
    cell through the proxy at 0 ms (when it ran)."""

    direct: CellResult
    measured: CellResult
    through_proxy: CellResult | None

    @property
    def rtt_seconds(self) -> float:
        return self.measured.rtt_ms / 1000

    @property
    def projected(self) -> float:
        return self.direct.projected(self.rtt_seconds)

    @property
    def error(self) -> float:
        """measured / projected - 1."""
        return self.measured.median / self.projected - 1

    @property
    def disagrees(self) -> bool:
        return abs(self.error) > DISAGREEMENT

    @property
    def proxy_cost(self) -> float | None:
        """What passing through the proxy at 0 ms added to the direct median."""
        if self.through_proxy is None:
            return None
        return self.through_proxy.median - self.direct.median

    @property
    def waits(self) -> float | None:
        """How many round-trip times the delay added to the median, against the cell through
        the proxy at 0 ms: the round trips the network actually cost."""
        if self.through_proxy is None or not self.rtt_seconds:
            return None
        return (self.measured.median - self.through_proxy.median) / self.rtt_seconds


def delayed_cells(results: Results, backend: str) -> list[Delayed]:
    """Every cell of the backend measured through the proxy at a round-trip time above 0,
    with its direct cell; in the order they ran."""
    direct = {cell.key: cell for cell in results.for_backend(backend)}
    at_zero = {c.key: c for c in results.delayed if c.backend == backend and c.rtt_ms == 0}
    found = []
    for cell in results.delayed:
        if cell.backend != backend or cell.rtt_ms == 0 or cell.key not in direct:
            continue
        found.append(Delayed(direct[cell.key], cell, at_zero.get(cell.key)))
    return found


def measured_rtts(results: Results, backend: str) -> list[float]:
    return sorted({c.rtt_ms for c in results.delayed if c.backend == backend and c.rtt_ms})


def reasons(check: Delayed) -> str:
    """Why the measurement and the projection disagree, from the numbers."""
    measured = check.measured
    rtt = check.rtt_seconds
    explained = []
    accounted = check.projected
    cost = check.proxy_cost
    if cost is not None and cost > 0.05 * check.projected:
        explained.append(
            f"the proxy's own cost ({format_seconds(cost)} at 0 ms, "
            f"{format_seconds(cost / max(measured.round_trips, 1))} per round trip)"
        )
        accounted += cost
    waits = check.waits
    if measured.connections_opened and waits is not None and waits > measured.round_trips + 0.5:
        unseen = waits - measured.round_trips
        explained.append(
            f"connecting: {measured.connections_opened} connection(s) opened, each about "
            f"{unseen / measured.connections_opened:.1f} round trips (TCP's handshake, the TLS "
            "request, start-up and authentication) that the protocol trace does not see"
        )
        accounted += unseen * rtt
    if measured.noisy or check.direct.noisy:
        explained.append("the rounds spread widely (‡): part of the difference may be noise")
    left = measured.median - accounted
    if explained and abs(measured.median / accounted - 1) <= DISAGREEMENT:
        return "; ".join(explained)
    per_trip = left / max(measured.round_trips, 1)
    if (
        waits is not None
        and measured.db_statements > measured.round_trips
        and waits < measured.round_trips - 0.5
    ):
        explained.append(
            f"pipelined: {measured.db_statements} statements in {measured.round_trips} round "
            f"trips by the trace, and the delay cost {waits:.1f} round-trip times: some of the "
            "trace's turns overlap in flight instead of each waiting"
        )
    elif left >= DELAYED_ACK_SECONDS and per_trip >= DELAYED_ACK_SECONDS / 4:
        explained.append(
            f"{format_seconds(left)} more than the delays account for, in lumps rather than "
            "spread over the round trips: waits of about 40 ms, Nagle's algorithm meeting a "
            "delayed ACK"
        )
    elif left > 0:
        explained.append(
            f"{format_seconds(per_trip)} per round trip more than the delays account for: "
            "with a delay, every round trip wakes three sleeping processes (client, proxy, "
            "server), and on this machine each wake-up costs time that a loopback exchange "
            "without a delay does not show"
        )
    else:
        explained.append(
            f"{format_seconds(-per_trip)} per round trip less than projected: the client "
            "overlapped its own work with the wait, or the direct cell the projection starts "
            "from ran when the machine was slower"
        )
    return "; ".join(explained)


@dataclass(frozen=True)
class Crossing:
    """Where, along the measured round-trip times, another variant overtakes the locally
    fastest one."""

    fastest: CellResult
    overtaker: CellResult
    #: the last measured RTT (s) at which the fastest still led, and the first it did not
    before: float
    after: float
    #: the overtaker over the fastest at ``after``, with its interval
    comparison: Comparison
    #: how far between ``before`` and ``after`` the straight lines through the two
    #: measurements cross
    share: float = 0.5

    @property
    def estimate(self) -> float:
        """Where the two measured lines cross, between ``before`` and ``after``."""
        return self.before + (self.after - self.before) * self.share


def measured_crossing(
    direct: Sequence[CellResult], delayed: Sequence[CellResult]
) -> Crossing | None:
    """Where another variant overtakes the locally fastest one along the measured round-trip
    times: the first RTT at which it is faster and the data tell the two apart, else the
    first at which it is faster at all (the sentence then says the data cannot tell); None
    when no variant is faster at any measured RTT. The lines start from the cells through
    the proxy at 0 ms where they ran (the proxy's own cost is then on both sides), else from
    the direct cells."""
    if not direct:
        return None
    fastest = min(direct, key=lambda c: c.median)
    by_variant: dict[str, dict[float, CellResult]] = {}
    for cell in delayed:
        by_variant.setdefault(cell.variant, {})[cell.rtt_ms / 1000] = cell
    for cell in direct:
        by_variant.setdefault(cell.variant, {}).setdefault(0.0, cell)
    lead = by_variant[fastest.variant]
    rtts = sorted(rtt for rtt in lead if rtt)
    told_apart: list[Crossing] = []
    tied: list[Crossing] = []
    for other in direct:
        if other is fastest:
            continue
        theirs = by_variant[other.variant]
        previous_rtt, previous_gap = 0.0, theirs[0.0].median - lead[0.0].median
        first_tied: Crossing | None = None
        for rtt in rtts:
            if rtt not in theirs:
                continue
            gap = theirs[rtt].median - lead[rtt].median
            if gap < 0:
                share = previous_gap / (previous_gap - gap) if previous_gap > 0 else 0.0
                crossing = Crossing(
                    fastest,
                    other,
                    previous_rtt,
                    rtt,
                    compare_cells(theirs[rtt], lead[rtt]),
                    share,
                )
                if not crossing.comparison.indistinguishable:
                    told_apart.append(crossing)
                    break
                first_tied = first_tied or crossing
            previous_rtt, previous_gap = rtt, gap
        else:
            if first_tied is not None:
                tied.append(first_tied)
    candidates = told_apart or tied
    return min(candidates, key=lambda c: c.estimate) if candidates else None


def crossing_sentence(crossing: Crossing | None, rtts: Sequence[float]) -> str:
    """The crossover sentence from measurements through the proxy."""
    measured_at = " and ".join(f"{rtt:g}" for rtt in rtts)
    if crossing is None:
        return (
            f" Measured through the delay proxy at {measured_at} ms per round trip, no style "
            "overtakes the fastest."
        )
    comparison = crossing.comparison
    at = crossing.after * 1000
    if comparison.indistinguishable:
        return (
            f" Measured through the delay proxy: at {at:g} ms per round trip "
            f"`{crossing.overtaker.variant}` takes {format_comparison(comparison)} of "
            f"`{crossing.fastest.variant}`'s time, which the data cannot tell from 1."
        )
    return (
        f" Measured through the delay proxy: `{crossing.fastest.variant}` is fastest direct, "
        f"but from about {crossing.estimate * 1000:.2g} ms per round trip (between the "
        f"measurements at {crossing.before * 1000:g} and {at:g} ms) "
        f"`{crossing.overtaker.variant}` is faster: at {at:g} ms it takes "
        f"{format_comparison(comparison)} of the time."
    )


# --- the report's section ------------------------------------------------------------------------


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
        "#### Measured through a delay proxy",
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
                f"##### `{workload}` through the proxy",
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
