"""The sizes a workload runs at: the batch sizes of a run (rows or parents per execution), one
unit of work for the connection patterns, numbers of workers for a concurrent workload, rates
for an open loop, and the checks of the sizes and rates a user gives."""

from __future__ import annotations

import itertools

from bench.measure.workloads import WorkersKind, Workload

DEFAULT_SIZES: tuple[int, ...] = (1, 10, 100, 1000)
QUICK_SIZES: tuple[int, ...] = (1, 50)
#: the connection-pattern workload always does one unit of work per execution
CONNECTION_SIZES: tuple[int, ...] = (1,)
#: the numbers of workers (K) of a concurrent workload, by kind of worker, and the most it
#: accepts: a pool per style that fits K connections, five styles at once, must fit a server's
#: connections. Processes go to 4 on the 2-core machines this is sized for: two per core, as a
#: pre-fork server runs them
DEFAULT_WORKERS: dict[WorkersKind, tuple[int, ...]] = {
    "thread": (1, 4, 16),
    "process": (1, 2, 4),
    "task": (1, 4, 16),
}
QUICK_WORKERS: dict[WorkersKind, tuple[int, ...]] = {
    "thread": (1, 4),
    "process": (1, 2),
    "task": (1, 4),
}
MAX_WORKERS = 32
#: the highest rate (requests a second) an open loop is asked to keep: far above what one
#: machine's Python serves, and SECONDS_AT_RATE of it must fit a seed
MAX_RATE = 20_000


def sizes_for(
    workload: Workload,
    sizes: tuple[int, ...],
    given: bool = True,
    quick: bool = False,
    rates: tuple[int, ...] = (),
) -> tuple[int, ...]:
    """The sizes a workload runs at: the batch sizes; one unit of work for the connection
    patterns; for a concurrent workload the numbers of workers, those given up to
    MAX_WORKERS, else its own defaults; for an open loop, the rates."""
    if workload.kind == "batch":
        return sizes
    if workload.kind == "connection":
        return CONNECTION_SIZES
    if workload.at_rate:
        return rates
    if given:
        return tuple(size for size in sizes if size <= MAX_WORKERS)
    return (QUICK_WORKERS if quick else DEFAULT_WORKERS)[workload.workers_kinds[0]]


def parse_rates(text: str) -> tuple[int, ...]:
    """ "200,400" -> (200, 400) requests a second; "200,400,..." goes on by the same factor
    (200 alone and "...": doubling) up to MAX_RATE, a sweep; ValueError for anything else."""
    parts = [part.strip() for part in text.split(",") if part.strip()]
    sweep = bool(parts) and parts[-1] == "..."
    if sweep:
        parts = parts[:-1]
    try:
        rates = [int(part) for part in parts]
    except ValueError:
        rates = []
    if not rates or min(rates) < 1:
        raise ValueError(
            f"{text!r} is not a comma-separated list of rates (positive whole numbers of "
            "requests a second), which may end in ... to go on by the same factor"
        )
    if any(later <= earlier for earlier, later in itertools.pairwise(rates)):
        raise ValueError(f"{text!r}: the rates must rise")
    if rates[-1] > MAX_RATE:
        raise ValueError(f"{rates[-1]} is higher than the highest rate supported, {MAX_RATE}")
    if sweep:
        factor = rates[-1] / rates[-2] if len(rates) > 1 else 2.0
        while (following := round(rates[-1] * factor)) <= MAX_RATE:
            rates.append(following)
    return tuple(rates)


#: the largest size accepted: above it one execution's rows would not fit a sensible run
MAX_SIZE = 100_000


def parse_sizes(text: str) -> tuple[int, ...]:
    """ "1,100,1000" -> (1, 100, 1000); ValueError for anything else."""
    try:
        sizes = sorted({int(part) for part in text.split(",") if part.strip()})
    except ValueError:
        sizes = []
    if not sizes or sizes[0] < 1:
        raise ValueError(f"{text!r} is not a comma-separated list of positive whole numbers")
    if sizes[-1] > MAX_SIZE:
        raise ValueError(f"{sizes[-1]} is larger than the largest size supported, {MAX_SIZE}")
    return tuple(sizes)
