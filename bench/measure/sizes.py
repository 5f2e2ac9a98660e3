"""The sizes a workload runs at: the batch sizes of a run (rows or parents per execution), one
unit of work for the connection patterns, numbers of worker threads for a concurrent workload,
and the check of the sizes a user gives."""

from __future__ import annotations

from bench.measure.workloads import Workload

DEFAULT_SIZES: tuple[int, ...] = (1, 10, 100, 1000)
QUICK_SIZES: tuple[int, ...] = (1, 50)
#: the connection-pattern workload always does one unit of work per execution
CONNECTION_SIZES: tuple[int, ...] = (1,)
#: the numbers of worker threads (K) of a concurrent workload, and the most it accepts: a pool
#: per style that fits K connections, five styles at once, must fit a server's connections
DEFAULT_WORKERS: tuple[int, ...] = (1, 4, 16)
QUICK_WORKERS: tuple[int, ...] = (1, 4)
MAX_WORKERS = 32


def sizes_for(
    workload: Workload, sizes: tuple[int, ...], given: bool = True, quick: bool = False
) -> tuple[int, ...]:
    """The sizes a workload runs at: the batch sizes; one unit of work for the connection
    patterns; for a concurrent workload the numbers of workers, those given up to
    MAX_WORKERS, else its own defaults."""
    if workload.kind == "batch":
        return sizes
    if workload.kind == "connection":
        return CONNECTION_SIZES
    if given:
        return tuple(size for size in sizes if size <= MAX_WORKERS)
    return QUICK_WORKERS if quick else DEFAULT_WORKERS


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
