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

from bench.report.markdown import markdown_table
from bench.report.tables import counts
from bench.results.model import (
    CellResult,
    Concurrency,
    Results,
    units_per_second_interval,
    variants_of,
    workloads_of,
)

#: a client process using this much of one core or more is bound by its own Python work
CLIENT_BOUND_CORES = 0.9
#: a client process using more than this runs threads beside its Python (a driver's C code)
MORE_THAN_ONE_CORE = 1.1
#: a machine using this share of its cores or more has none to spare
MACHINE_BOUND_SHARE = 0.85

#: why a variant's throughput stops growing with K, said once for every variant it holds
REASONS = {
    "growing": "still growing at the largest number of workers run",
    "single writer": "every unit writes, and the database has one writer at a time: {writer}",
    "client": (
        f"the client process used about one core (at least {CLIENT_BOUND_CORES:g} of one): its "
        "work is Python, which runs one thread at a time (the GIL), so its CPU capped the "
        "throughput and more threads only queue for it"
    ),
    "machine": (
        "the machine's cores were busy: client and server share them, so more threads have no "
        "core to run on"
    ),
    "database": (
        "neither the client nor the machine was saturated: the units waited on the database, "
        "for locks on the rows they share or for connections"
    ),
}


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

    rows = [[str(k), *(_throughput_entry(lookup(v, k)) for v in variants)] for k in workers]
    smallest = [lookup(v, workers[0]) for v in variants]
    rows.append(["one unit", *("—" if c is None else counts(c) for c in smallest)])
    units = sorted({c.concurrency.units for c in cells if c.concurrency})
    lines = [
        f"#### Concurrency: `{workload}`",
        "",
        "Units of work per second (from the median round; a round is one execution of "
        + " or ".join(str(u) for u in units)
        + " units, shared by K worker threads), with the 95 % interval from the rounds, and "
        "each unit's latency as its worker saw it (from its first attempt to its commit), "
        "percentiles over every unit of every timed round; last, the cursor calls / database "
        "statements / round trips of one unit run alone:",
        "",
        markdown_table("| K | " + " | ".join(f"`{v}`" for v in variants) + " |", rows),
        "",
    ]
    found = concurrency_findings(results, backend, workload, cells)
    return [*lines, *(f"- {line}" for line in found), *([""] if found else [])]


def _locks(cells: list[CellResult], variants: list[str], workers: list[int]) -> list[str]:
    """Lock errors and retries: one sentence where there were none, else a table."""
    if not any(
        c.concurrency and (c.concurrency.lock_errors or c.concurrency.retries) for c in cells
    ):
        return [
            "No unit was refused for a lock: every one of every timed round committed at its "
            "first attempt."
        ]
    by_key = {(c.variant, c.size): c for c in cells}
    rows = []
    for k in workers:
        row = [str(k)]
        for variant in variants:
            cell = by_key.get((variant, k))
            measures = cell.concurrency if cell else None
            row.append(
                "—"
                if cell is None or measures is None
                else f"{measures.lock_errors} / {measures.retries} in {cell.rounds} × "
                f"{measures.units}"
            )
        rows.append(row)
    return [
        "Lock errors / retries (units refused because another held a lock, each rolled back "
        "and run again after a random wait that doubles per retry, at most 10 times), over "
        "the timed rounds:",
        "",
        markdown_table("| K | " + " | ".join(f"`{v}`" for v in variants) + " |", rows),
    ]


def concurrency_findings(
    results: Results, backend: str, workload: str, cells: list[CellResult]
) -> list[str]:
    """Where each variant's throughput stops growing with K, one line per reason with the
    variants it holds for; then the lock errors."""
    single_writer = results.catalog.single_writer_of(backend)
    by_reason: dict[str, list[str]] = {}
    for variant in variants_of(cells):
        line = sorted(
            (c for c in cells if c.variant == variant and c.concurrency), key=lambda c: c.size
        )
        if len(line) >= 2:
            reason, detail = _growth(variant, line, single_writer)
            by_reason.setdefault(reason, []).append(detail)
    lines = [
        f"{', '.join(details)}: {REASONS[reason].format(writer=single_writer)}."
        for reason, details in by_reason.items()
    ]
    variants = variants_of(cells)
    workers = sorted({c.size for c in cells})
    locks = _locks(cells, variants, workers)
    if len(locks) == 1:
        return [*lines, locks[0]]
    return [*lines, "", *locks]


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


def _growth(variant: str, line: list[CellResult], single_writer: str | None) -> tuple[str, str]:
    """Why the variant's throughput stops growing with K (a key of :data:`REASONS`), and the
    variant with where it stops and the figures that say why."""
    # the largest K whose throughput no larger K beats beyond the intervals
    stop = next(
        c for c in line if not any(_grows(c, later) for later in line if later.size > c.size)
    )
    last = line[-1]
    if stop is last:
        return "growing", f"`{variant}` (K={last.size})"
    at_stop, at_last = _measures(stop), _measures(last)
    verdict = "falls" if _grows(last, stop) else "no growth"
    figures = f"client {at_stop.client_cpu_cores:.2f} → {at_last.client_cpu_cores:.2f} cores" + (
        ""
        if at_last.machine_cpu_cores is None or not at_last.machine_cores
        else f", machine {at_last.machine_cpu_cores:.2f} of {at_last.machine_cores}"
    )
    client = max(at_stop.client_cpu_cores, at_last.client_cpu_cores)
    machine_busy = (
        at_last.machine_cpu_cores is not None
        and bool(at_last.machine_cores)
        and at_last.machine_cpu_cores >= MACHINE_BOUND_SHARE * (at_last.machine_cores or 0)
    )
    if single_writer is not None:
        reason = "single writer"
        figures = f"p99 {at_stop.p99_ms:.3g} → {at_last.p99_ms:.3g} ms, {figures}"
    elif machine_busy and client > MORE_THAN_ONE_CORE:
        # past one core the client is not held by the GIL alone: the machine has none left
        reason = "machine"
    elif client >= CLIENT_BOUND_CORES:
        reason = "client"
    elif machine_busy:
        reason = "machine"
    else:
        reason = "database"
    return reason, f"`{variant}` ({verdict} past K={stop.size}; {figures})"
