"""The report's section on the concurrent workloads, per backend: throughput (units of work per
second) and per-unit latency against the number of worker threads K, lock errors and retries,
and where throughput stops growing with K and why, in sentences computed from the numbers.

A throughput is claimed to grow from one K to the next only where the 95 % intervals of the
two do not overlap (each from its cell's rounds). Why it stops is read off what the timed
rounds recorded: the CPU the client process used (in cores: Python runs one thread at a time,
so a style whose work is Python cannot use much more than one), the CPU the whole machine used
(client and server share its cores), and whether the database lets one writer at a time.
"""

from __future__ import annotations

from collections.abc import Sequence

from bench.results.model import (
    CellResult,
    Concurrency,
    Results,
    units_per_second_interval,
    variants_of,
    workloads_of,
)

#: a client process using this share of one core or more is bound by its own Python work
CLIENT_BOUND_CORES = 0.85
#: a machine using this share of its cores or more has none to spare
MACHINE_BOUND_SHARE = 0.85


def _table(header: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join(" --- " for _ in header) + "|"]
    return "\n".join([*lines, *("| " + " | ".join(row) + " |" for row in rows)])


def _rate(value: float) -> str:
    return f"{value:,.0f}" if value >= 100 else f"{value:.3g}"


def _throughput_entry(cell: CellResult | None) -> str:
    if cell is None or cell.concurrency is None:
        return "—"
    measures = cell.concurrency
    interval = units_per_second_interval(cell)
    text = f"{_rate(measures.units_per_second)}/s"
    if interval is not None:
        text += f" [{_rate(interval[0])}–{_rate(interval[1])}]"
    return f"{text}<br>p50 {measures.p50_ms:.2g} ms, p99 {measures.p99_ms:.3g} ms"


def concurrency_section(results: Results, backend: str) -> list[str]:
    """The tables and findings of every concurrent workload on one backend."""
    cells = [c for c in results.for_backend(backend) if c.is_concurrent]
    lines: list[str] = []
    for workload in workloads_of(cells):
        workload_cells = [c for c in cells if c.workload == workload and c.concurrency]
        if not workload_cells:
            continue
        lines += _workload_section(results, backend, workload, workload_cells)
    return lines


def _workload_section(
    results: Results, backend: str, workload: str, cells: list[CellResult]
) -> list[str]:
    variants = variants_of(cells)
    workers = sorted({c.size for c in cells})

    def lookup(variant: str, k: int) -> CellResult | None:
        return results.lookup(workload, variant, backend, k)

    throughput_rows = [
        [str(k), *(_throughput_entry(lookup(v, k)) for v in variants)] for k in workers
    ]
    lock_rows = []
    for k in workers:
        row = [str(k)]
        for variant in variants:
            cell = lookup(variant, k)
            measures = cell.concurrency if cell else None
            row.append(
                "—"
                if cell is None or measures is None
                else f"{measures.lock_errors} / {measures.retries} in {cell.rounds} × "
                f"{measures.units}"
            )
        lock_rows.append(row)
    smallest = [lookup(v, workers[0]) for v in variants]
    units = sorted({c.concurrency.units for c in cells if c.concurrency})
    lines = [
        f"### Concurrency: `{workload}`",
        "",
        "Units of work per second (from the median round; a round is one execution of "
        + " or ".join(str(u) for u in units)
        + " units, shared by K worker threads), with the 95 % interval from the rounds, and "
        "each unit's latency as its worker saw it (from its first attempt to its commit), "
        "percentiles over every unit of every timed round:",
        "",
        _table(["K", *(f"`{v}`" for v in variants)], throughput_rows),
        "",
        "Lock errors / retries (units refused because another held a lock, each rolled back "
        "and run again after a random wait that doubles per retry, at most 10 times), over "
        "the timed rounds:",
        "",
        _table(["K", *(f"`{v}`" for v in variants)], lock_rows),
        "",
        "Cursor calls / database statements / round trips of one unit of work, run alone:",
        "",
        _table(
            [*(f"`{v}`" for v in variants)],
            [
                [
                    "—" if c is None else f"{c.cursor_calls} / {c.db_statements} / {c.round_trips}"
                    for c in smallest
                ]
            ],
        ),
        "",
    ]
    found = concurrency_findings(results, backend, workload, cells)
    if found:
        lines += ["What the numbers say:", "", *(f"- {line}" for line in found), ""]
    return lines


def concurrency_findings(
    results: Results, backend: str, workload: str, cells: list[CellResult]
) -> list[str]:
    """Per variant: where its throughput stops growing with K, and why; then the order of the
    styles at the largest K."""
    single_writer = results.catalog.single_writer_of(backend)
    lines = []
    for variant in variants_of(cells):
        line = sorted(
            (c for c in cells if c.variant == variant and c.concurrency), key=lambda c: c.size
        )
        if len(line) >= 2:
            lines.append(_growth(variant, line, single_writer))
    if single_writer is not None and lines:
        lines.append(f"One writer at a time: {single_writer}.")
    largest = max(c.size for c in cells)
    at_largest = sorted(
        (c for c in cells if c.size == largest and c.concurrency),
        key=lambda c: -_measures(c).units_per_second,
    )
    if len(at_largest) >= 2:
        best, worst = at_largest[0], at_largest[-1]
        lines.append(
            f"At K={largest}: most units per second `{best.variant}` "
            f"({_rate(_measures(best).units_per_second)}/s), fewest `{worst.variant}` "
            f"({_rate(_measures(worst).units_per_second)}/s, "
            f"{_measures(best).units_per_second / _measures(worst).units_per_second:.1f}× "
            "fewer)."
        )
    return lines


def _measures(cell: CellResult) -> Concurrency:
    assert cell.concurrency is not None
    return cell.concurrency


def _grows(smaller: CellResult, larger: CellResult) -> bool:
    """Whether throughput at the larger K is above the smaller's beyond both intervals."""
    low_larger = units_per_second_interval(larger)
    high_smaller = units_per_second_interval(smaller)
    if low_larger is None or high_smaller is None:
        return False
    return low_larger[0] > high_smaller[1]


def _growth(variant: str, line: list[CellResult], single_writer: str | None) -> str:
    """Where the variant's throughput stops growing with K, and the likely reason."""
    figures = ", ".join(
        f"{_rate(_measures(c).units_per_second)}/s at K={c.size}"
        + (f" (p99 {_measures(c).p99_ms:.3g} ms)" if c is line[0] or c is line[-1] else "")
        for c in line
    )
    # the largest K whose throughput no larger K beats beyond the intervals
    stop = next(
        c for c in line if not any(_grows(c, later) for later in line if later.size > c.size)
    )
    if stop is line[-1]:
        return (
            f"`{variant}`: {figures}: still growing at K={stop.size}, the largest number of "
            "workers run."
        )
    last = line[-1]
    verdict = "falls" if _grows(last, stop) else "does not grow (the intervals overlap)"
    return (
        f"`{variant}`: {figures}. Past K={stop.size} throughput {verdict}: "
        f"{_reason(stop, last, single_writer)}."
    )


def _reason(stop: CellResult, last: CellResult, single_writer: str | None) -> str:
    measures = _measures(last)
    at_stop = _measures(stop)
    client = (
        f"the client process used {at_stop.client_cpu_cores:.2f} cores at K={stop.size} and "
        f"{measures.client_cpu_cores:.2f} at K={last.size}"
    )
    machine = (
        ""
        if measures.machine_cpu_cores is None or not measures.machine_cores
        else f", the machine {measures.machine_cpu_cores:.2f} of its {measures.machine_cores}"
    )
    if single_writer is not None:
        return (
            f"every unit writes, and the database has one writer at a time (below): the "
            f"waits show in p99, {at_stop.p99_ms:.3g} ms at K={stop.size} and "
            f"{measures.p99_ms:.3g} ms at K={last.size} ({client}{machine})"
        )
    if at_stop.client_cpu_cores >= CLIENT_BOUND_CORES:
        return (
            f"{client}{machine}: its work is Python, which runs one thread at a time (the "
            "GIL), so more threads only queue for it"
        )
    if (
        measures.machine_cpu_cores is not None
        and measures.machine_cores
        and measures.machine_cpu_cores >= MACHINE_BOUND_SHARE * measures.machine_cores
    ):
        return (
            f"the machine's cores were busy ({client}{machine}): client and server share "
            "them, so more threads have no core to run on"
        )
    return (
        f"neither the client nor the machine was saturated ({client}{machine}): the units "
        "waited on the database, for locks on the rows they share or for connections"
    )
