"""The report's section on the concurrent workloads, per backend: throughput against K for
threads, processes and tasks side by side; per workload, throughput (units of work per second)
and per-unit latency against the number of workers K, lock errors and retries, and where
throughput stops growing with K and why, in sentences computed from the numbers; and, for
requests arriving on a schedule, the highest rate each style kept within the latency budget.

A throughput is claimed to grow from one K to the next only where the 95 % intervals of the
two do not overlap (each from its cell's rounds). Why it stops is read off what the timed
rounds recorded: the CPU the workers used (in cores: the threads of one process run Python one
at a time, and an event loop is one thread, so a style whose work is Python cannot use much more
than one there; processes can use every core), the CPU the whole machine used (client and server
share its cores: what the workers did not use is the server's, and the rest of the machine's),
and whether the database lets one writer at a time.
"""

from __future__ import annotations

from bench.report.markdown import markdown_table
from bench.report.tables import counts
from bench.results.model import (
    WORKERS_KIND_NAMES,
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
    "event loop": (
        f"the event loop used about one core (at least {CLIENT_BOUND_CORES:g} of one): the "
        "tasks share its one thread, so its CPU capped the throughput and more tasks only wait "
        "for it"
    ),
    "machine": (
        "the machine's cores were busy: client and server share them, so more workers have no "
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


def _kind(cells: list[CellResult]) -> str:
    return _measures(cells[0]).workers_kind


def _is_open_loop(cell: CellResult) -> bool:
    return cell.concurrency is not None and cell.concurrency.target_rate is not None


def concurrency_section(results: Results, backend: str) -> list[str]:
    """The concurrent workloads on one backend: when more than one kind of worker ran, one
    table of them side by side, else a table per workload; what capped each style and the lock
    errors; then the capacity at a schedule's rates."""
    cells = [c for c in results.for_backend(backend) if c.is_concurrent and c.concurrency]
    closed = [c for c in cells if not _is_open_loop(c)]
    if len({_measures(c).workers_kind for c in closed}) >= 2:
        lines = _side_by_side(results, backend, closed)
    else:
        lines = []
        for workload in workloads_of(closed):
            workload_cells = [c for c in closed if c.workload == workload]
            lines += _workload_section(results, backend, workload, workload_cells)
    return lines + capacity_section(results, [c for c in cells if _is_open_loop(c)])


def _round_sizes(cells: list[CellResult]) -> str:
    return " or ".join(str(u) for u in sorted({_measures(c).units for c in cells}))


#: what each table's entries are
_ENTRIES = (
    "with the 95 % interval from the rounds, and each unit's latency as its worker saw it "
    "(from its first attempt to its commit), percentiles over every unit of every timed round; "
    "last, the cursor calls / database statements / round trips of one unit run alone"
)


def _side_by_side(results: Results, backend: str, cells: list[CellResult]) -> list[str]:
    """One row per style and kind of worker, a column per K: what each style gets from
    threads, processes or tasks at the same K; then, per workload, what capped each style,
    and the lock errors."""
    workers = sorted({c.size for c in cells})
    by_key = {(c.workload, c.variant, c.size): c for c in cells}
    rows = []
    findings: list[str] = []
    locks: list[str] = []
    for workload in workloads_of(cells):
        workload_cells = [c for c in cells if c.workload == workload]
        kind = WORKERS_KIND_NAMES.get(_kind(workload_cells), ("", "workers"))[1]
        for variant in variants_of(workload_cells):
            line = [by_key.get((workload, variant, k)) for k in workers]
            first = next(c for c in line if c is not None)
            rows.append([f"`{variant}`", kind, *map(_throughput_entry, line), counts(first)])
        findings += [
            f"{kind.capitalize()} (`{workload}`): {finding}"
            for finding in _caps(results, backend, workload_cells)
        ]
        workload_locks = _locks(workload_cells, variants_of(workload_cells), workers)
        if len(workload_locks) > 1:
            locks += ["", f"`{workload}`: {workload_locks[0]}", *workload_locks[1:]]
    if not locks:
        locks = ["", _NO_LOCKS]
    header = "| style | workers | " + " | ".join(f"K = {k}" for k in workers) + " | one unit |"
    return [
        "#### Concurrency: threads, processes and tasks side by side",
        "",
        "Units of work per second with K workers of each kind, the same requests (from the "
        f"median round; a round is one execution of {_round_sizes(cells)} units): threads of "
        "one process, processes of their own (one connection each, as a pre-fork server runs "
        "them) or asyncio tasks on one event loop (a pool of K connections); " + _ENTRIES + ":",
        "",
        markdown_table(header, rows),
        "",
        *(f"- {finding}" for finding in findings),
        *locks,
        "",
    ]


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
    kind = WORKERS_KIND_NAMES.get(_kind(cells), ("", "workers"))[1]
    lines = [
        f"#### Concurrency: `{workload}`",
        "",
        "Units of work per second (from the median round; a round is one execution of "
        f"{_round_sizes(cells)} units, shared by K {kind}), " + _ENTRIES + ":",
        "",
        markdown_table("| K | " + " | ".join(f"`{v}`" for v in variants) + " |", rows),
        "",
    ]
    found = concurrency_findings(results, backend, workload, cells)
    return [*lines, *(f"- {line}" for line in found), *([""] if found else [])]


_NO_LOCKS = (
    "No unit was refused for a lock: every one of every timed round committed at its first attempt."
)


def _locks(cells: list[CellResult], variants: list[str], workers: list[int]) -> list[str]:
    """Lock errors and retries: one sentence where there were none, else a table."""
    if not any(
        c.concurrency and (c.concurrency.lock_errors or c.concurrency.retries) for c in cells
    ):
        return [_NO_LOCKS]
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
    lines = _caps(results, backend, cells)
    variants = variants_of(cells)
    workers = sorted({c.size for c in cells})
    locks = _locks(cells, variants, workers)
    if len(locks) == 1:
        return [*lines, locks[0]]
    return [*lines, "", *locks]


def _caps(results: Results, backend: str, cells: list[CellResult]) -> list[str]:
    """Where each variant's throughput stops growing with K, one line per reason with the
    variants it holds for."""
    single_writer = results.catalog.single_writer_of(backend)
    by_reason: dict[str, list[str]] = {}
    for variant in variants_of(cells):
        line = sorted(
            (c for c in cells if c.variant == variant and c.concurrency), key=lambda c: c.size
        )
        if len(line) >= 2:
            reason, detail = _growth(variant, line, single_writer, _kind(line))
            by_reason.setdefault(reason, []).append(detail)
    return [
        f"{', '.join(details)}: {REASONS[reason].format(writer=single_writer)}."
        for reason, details in by_reason.items()
    ]


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


def _growth(
    variant: str, line: list[CellResult], single_writer: str | None, kind: str = "thread"
) -> tuple[str, str]:
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
    figures = (
        f"client {at_stop.client_cpu_cores:.2f} → {at_last.client_cpu_cores:.2f} cores"
        + _server_share(at_last)
    )
    client = max(at_stop.client_cpu_cores, at_last.client_cpu_cores)
    if single_writer is not None:
        reason = "single writer"
        figures = f"p99 {at_stop.p99_ms:.3g} → {at_last.p99_ms:.3g} ms, {figures}"
    else:
        reason = _cap(kind, client, _machine_busy(at_last))
    return reason, f"`{variant}` ({verdict} past K={stop.size}; {figures})"


def _server_share(measures: Concurrency) -> str:
    """The machine's CPU and what of it was not the workers' (the server's, and the rest)."""
    if measures.machine_cpu_cores is None or not measures.machine_cores:
        return ""
    server = max(0.0, measures.machine_cpu_cores - measures.client_cpu_cores)
    return (
        f", machine {measures.machine_cpu_cores:.2f} of {measures.machine_cores}, "
        f"{server:.2f} of it not the workers'"
    )


def _machine_busy(measures: Concurrency) -> bool:
    return (
        measures.machine_cpu_cores is not None
        and bool(measures.machine_cores)
        and measures.machine_cpu_cores >= MACHINE_BOUND_SHARE * (measures.machine_cores or 0)
    )


def _cap(kind: str, client: float, machine_busy: bool) -> str:
    """What capped a style's workers (a key of :data:`REASONS`), from the CPU they and the
    machine used."""
    if machine_busy and (kind == "process" or client > MORE_THAN_ONE_CORE):
        # past one core the client is not held by one thread alone: the machine has none left
        return "machine"
    if client >= CLIENT_BOUND_CORES and kind != "process":
        return "event loop" if kind == "task" else "client"
    if machine_busy:
        return "machine"
    return "database"


# --- requests on a schedule ------------------------------------------------------------------

#: what capped a style at the first rate past its budget, in a few words
CAP_WORDS = {
    "machine": "the machine's cores (client and server share them)",
    "client": "the client's one core (the GIL)",
    "event loop": "the event loop's one core",
    "database": "the database (neither client nor machine saturated: row locks or the server)",
}


def capacity_section(results: Results, cells: list[CellResult]) -> list[str]:
    """Per style, the highest rate whose p99 latency kept within the run's budget, between
    that rate and the next one run (the sweep's interval), and what capped it there."""
    if not cells:
        return []
    budget = results.latency_budget_ms
    rows = []
    for variant in variants_of(cells):
        line = sorted((c for c in cells if c.variant == variant), key=lambda c: c.size)
        measures = _measures(line[0])
        kept = [c for c in line if _measures(c).p99_ms <= budget]
        past = next((c for c in line if _measures(c).p99_ms > budget), None)
        highest = max(kept, key=lambda c: c.size) if kept else None
        if highest is None:
            within = f"below {line[0].size}/s (the lowest rate run)"
        elif past is None:
            within = f"{highest.size}/s or more (every rate timed kept within it)"
        else:
            within = f"{highest.size}/s, below {past.size}/s"
        rows.append(
            [
                f"`{variant}`",
                measures.workers_named,
                within,
                "—" if highest is None else _at_rate(_measures(highest)),
                "—" if past is None else f"{past.size}/s: {_at_rate(_measures(past))}",
                "—" if past is None else _cap_at(_measures(past)),
            ]
        )
    units = sorted({_measures(c).units for c in cells})
    return [
        "#### Capacity: requests arriving on a schedule (`requests_at_rate`)",
        "",
        f"Requests arrived at a fixed rate (an open loop), {units[0]} to {units[-1]} a round, "
        "whether or not a worker was free; each request's latency counts from when it was due, "
        "so the time it queued is in it. Each style ran each rate, lowest first, until its p99 "
        f"passed the budget of {budget:g} ms; its capacity lies between the last rate it kept "
        "within the budget and the next (the sweep's interval); a rate at which a style failed "
        "(the run said why) is not in its row, nor any above it. At each: the rate achieved, "
        "p99 and p99.9 from the schedule, and the requests still waiting when the last was due:",
        "",
        markdown_table(
            f"| style | workers | highest rate with p99 ≤ {budget:g} ms | there "
            "| the next rate | what capped it there |",
            rows,
        ),
        "",
    ]


def _at_rate(measures: Concurrency) -> str:
    achieved = measures.achieved_rate or 0.0
    p999 = "" if measures.p999_ms is None else f", p99.9 {measures.p999_ms:.3g} ms"
    return (
        f"{_rate(achieved)}/s achieved, p99 {measures.p99_ms:.3g} ms{p999}, "
        f"backlog {measures.backlog or 0}"
    )


def _cap_at(measures: Concurrency) -> str:
    cap = _cap(measures.workers_kind, measures.client_cpu_cores, _machine_busy(measures))
    return (
        f"{CAP_WORDS[cap]}; client {measures.client_cpu_cores:.2f} cores{_server_share(measures)}"
    )
