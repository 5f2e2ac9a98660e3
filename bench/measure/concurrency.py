"""Running a concurrent workload: M small units of work shared by K worker threads.

The harness, not the variants, owns what is the same for every style: the threads, the order
in which they take the units, each unit's latency, and what happens when the database refuses
a unit because another holds its lock. A variant only says how one unit is done
(:meth:`~implementations.contract.Variant.concurrent_requests`), and gets ready for K threads
beforehand (:meth:`~implementations.contract.Variant.prepare_workers`).

- :class:`WorkerPool`: K threads that live as long as the harness, so what a variant keeps per
  thread (a connection, a scoped Session's registry) is made once, untimed, and reused by
  every execution at that K.
- :class:`ConcurrentExecution`: one execution, M units over the pool. The workers start
  together and take the next unit as they become free (as a web server's workers take
  requests); the execution ends when the last unit has committed. Each unit's latency is
  measured inside its worker, from its first attempt to its commit, retries and their waits
  included: what the client of that request waits.
- :class:`RetryPolicy`: a unit refused with a lock error (SQLite's "database is locked"; a
  deadlock or lock timeout on a server: the backend says which errors are) is rolled back by
  the variant and run again from its read, after a random wait that doubles with each retry,
  at most ``max_retries`` times; then the execution fails. Lock errors and retries are counted.
"""

from __future__ import annotations

import itertools
import os
import random
import statistics
import threading
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from bench.measure.workloads import WorkersKind, request_record_order
from implementations.contract import UserRecord, UserRequest


@dataclass(frozen=True)
class RetryPolicy:
    """Bounded retries with exponential backoff and full jitter: before retry n (from 0), a
    wait drawn uniformly from 0 to ``min(first_wait * 2**n, longest_wait)``."""

    max_retries: int = 10
    first_wait_s: float = 0.001
    longest_wait_s: float = 0.064

    def wait(self, retry: int, rng: random.Random) -> float:
        return rng.uniform(0.0, min(self.first_wait_s * 2**retry, self.longest_wait_s))


RETRY_POLICY = RetryPolicy()


#: how many workers serve an open loop (``requests_at_rate``), per kind: processes two per core
#: (gunicorn's rule of thumb for its sync workers, "2-4 x $(NUM_CORES)"), tasks as many as the
#: largest K of the closed loop's
def workers_at_rate(kind: WorkersKind) -> int:
    if kind == "task":
        return 16
    return 2 * (os.cpu_count() or 1)


class Execution(Protocol):
    """One execution of a concurrent workload by K workers of one kind: the records the
    units read, in the workload's order; :attr:`last` is its account."""

    workers_kind: WorkersKind
    arrivals: Arrivals | None
    last: BatchStats

    @property
    def workers(self) -> int: ...

    def __call__(self, requests: Sequence[UserRequest]) -> list[UserRecord]: ...


class RetriesExhausted(RuntimeError):
    """A unit was refused with a lock error more often than the policy retries."""


@dataclass(frozen=True)
class Arrivals:
    """An open loop: requests arrive on a fixed schedule, ``rate`` a second, whether or not
    the workers are free; request ``i`` is due ``i / rate`` seconds after the start. Its latency
    counts from when it was due, so the time it waited for a free worker is in it (what a
    closed loop, whose requests start when a worker is free, leaves out)."""

    rate: float

    def due(self, index: int) -> float:
        return index / self.rate


@dataclass
class BatchStats:
    """What one execution's units went through, and what the machine did meanwhile."""

    latencies: list[float] = field(default_factory=list)
    lock_errors: int = 0
    retries: int = 0
    retried_units: int = 0
    wall_seconds: float = 0.0
    #: CPU seconds of the workers (every thread of this process, or every worker process)
    #: and of the whole machine (every process: a server on it too; None where /proc/stat
    #: cannot be read)
    client_cpu_seconds: float = 0.0
    machine_cpu_seconds: float | None = None
    #: on a schedule (:class:`Arrivals`): the requests due before the last one whose worker
    #: had not begun them when the last one was due (the queue at the end), and the seconds
    #: from the start to the last commit
    backlog: int = 0
    finished_seconds: float = 0.0

    @classmethod
    def merged(
        cls,
        parts: Sequence[BatchStats],
        wall_seconds: float,
        client_cpu_seconds: float,
        machine_cpu_seconds: float | None,
    ) -> BatchStats:
        """The workers' accounts as one, with the execution's times and CPU."""
        return cls(
            latencies=[latency for part in parts for latency in part.latencies],
            lock_errors=sum(part.lock_errors for part in parts),
            retries=sum(part.retries for part in parts),
            retried_units=sum(part.retried_units for part in parts),
            wall_seconds=wall_seconds,
            client_cpu_seconds=client_cpu_seconds,
            machine_cpu_seconds=machine_cpu_seconds,
            backlog=sum(part.backlog for part in parts),
            finished_seconds=max((part.finished_seconds for part in parts), default=0.0),
        )

    def refused(
        self,
        retry: int,
        request: UserRequest,
        error: BaseException,
        policy: RetryPolicy,
        rng: random.Random,
    ) -> float:
        """A lock error at the attempt numbered ``retry`` (from 0), counted: RetriesExhausted
        when it is one too many for the policy, else the seconds to wait before the next."""
        self.lock_errors += 1
        if retry == policy.max_retries:
            raise RetriesExhausted(
                f"{request} was refused with a lock error {retry + 1} times: "
                f"{str(error).splitlines()[0]}"
            ) from error
        self.retries += 1
        self.retried_units += retry == 0
        return policy.wait(retry, rng)

    def served(self, counted_from: float, finished: float, start: float) -> None:
        """A request committed at ``finished``: its latency, and the execution's last commit."""
        self.latencies.append(finished - counted_from)
        self.finished_seconds = max(self.finished_seconds, finished - start)


class Units:
    """What every kind of worker shares in one execution: the requests, which one each takes
    next, when it is due, and the first failure (after which the others stop taking)."""

    def __init__(
        self,
        requests: Sequence[UserRequest],
        take: Callable[[], int],
        arrivals: Arrivals | None = None,
    ) -> None:
        self.requests = requests
        self.take = take
        self.arrivals = arrivals
        self.failed = False

    def schedule_end(self, start: float) -> float:
        """When the last request is due (open loop)."""
        assert self.arrivals is not None
        return start + self.arrivals.due(len(self.requests) - 1)

    def counted_from(self, index: int, start: float, began: float, stats: BatchStats) -> float:
        """When request ``index``'s latency counts from, its worker free at ``began``: then
        (closed loop), or when it is due (open loop; the worker waits until then). One begun
        late, after the last was due, is counted in the backlog (the last itself is not)."""
        if self.arrivals is None:
            return began
        due = start + self.arrivals.due(index)
        if due <= began and index < len(self.requests) - 1 and began > self.schedule_end(start):
            stats.backlog += 1
        return due


def serve_units(
    units: Units,
    unit: Callable[[UserRequest], UserRecord],
    is_lock_error: Callable[[BaseException], bool],
    policy: RetryPolicy,
    start: float,
    stats: BatchStats,
    records: list[UserRecord],
    rng: random.Random,
) -> None:
    """One worker (a thread or a process): take the next request until none is left or
    another worker failed; on a schedule, wait until it is due. Each latency runs from its
    first attempt (closed loop) or from when it was due (open loop) to its commit, retries and
    their waits included: what the client of that request waits. Raises what a unit raised."""
    last = len(units.requests) - 1
    while not units.failed:
        index = units.take()
        if index > last:
            return
        began = time.perf_counter()
        counted_from = units.counted_from(index, start, began, stats)
        if counted_from > began:
            time.sleep(counted_from - began)
        records.append(attempt(units.requests[index], unit, is_lock_error, policy, stats, rng))
        stats.served(counted_from, time.perf_counter(), start)


def attempt(
    request: UserRequest,
    unit: Callable[[UserRequest], UserRecord],
    is_lock_error: Callable[[BaseException], bool],
    policy: RetryPolicy,
    stats: BatchStats,
    rng: random.Random,
) -> UserRecord:
    """One request, run again after a lock error by the policy."""
    for retry in itertools.count():
        try:
            return unit(request)
        except Exception as exc:
            if not is_lock_error(exc):
                raise
            time.sleep(stats.refused(retry, request, exc, policy, rng))
    raise AssertionError("unreachable")


class WorkerPool:
    """K threads that run one job at a time together: each calls ``job(worker_index)``."""

    def __init__(self, workers: int) -> None:
        self.workers = workers
        self._start = threading.Barrier(workers + 1)
        self._finish = threading.Barrier(workers + 1)
        self._job: Callable[[int], None] | None = None
        self._threads = [
            threading.Thread(
                target=self._serve, args=(index,), name=f"bench-worker-{index}", daemon=True
            )
            for index in range(workers)
        ]
        for thread in self._threads:
            thread.start()

    def _serve(self, index: int) -> None:
        while True:
            try:
                self._start.wait()
            except threading.BrokenBarrierError:
                return  # closed
            job = self._job
            try:
                if job is not None:
                    job(index)
            finally:
                try:
                    self._finish.wait()
                except threading.BrokenBarrierError:
                    return

    def run(self, job: Callable[[int], None]) -> None:
        """Every worker runs ``job`` once, all starting together; returns when all are done.
        ``job`` must not raise (it records its own errors)."""
        self._job = job
        try:
            self._start.wait()
            self._finish.wait()
        finally:
            self._job = None

    def close(self) -> None:
        self._start.abort()
        self._finish.abort()
        for thread in self._threads:
            thread.join(timeout=10)


class ConcurrentExecution:
    """One execution of a concurrent workload by K worker threads: its units over the pool's
    workers, each unit retried after a lock error by the policy, on a schedule when
    ``arrivals`` is given. Returns the records the units read, ordered
    (:func:`~bench.measure.workloads.request_record_order`), so that any interleaving of a
    correct variant returns the same; :attr:`last` holds the execution's :class:`BatchStats`."""

    workers_kind: WorkersKind = "thread"

    def __init__(
        self,
        pool: WorkerPool,
        unit: Callable[[UserRequest], UserRecord],
        is_lock_error: Callable[[BaseException], bool],
        policy: RetryPolicy = RETRY_POLICY,
        arrivals: Arrivals | None = None,
    ) -> None:
        self.pool = pool
        self.unit = unit
        self.is_lock_error = is_lock_error
        self.policy = policy
        self.arrivals = arrivals
        self.last = BatchStats()

    @property
    def workers(self) -> int:
        return self.pool.workers

    def __call__(self, requests: Sequence[UserRequest]) -> list[UserRecord]:
        units = Units(requests, itertools.count().__next__, self.arrivals)  # atomic take
        records: list[list[UserRecord]] = [[] for _ in range(self.pool.workers)]
        per_worker = [BatchStats() for _ in range(self.pool.workers)]
        failures: list[BaseException] = []
        start = 0.0

        def work(worker: int) -> None:
            try:
                serve_units(
                    units,
                    self.unit,
                    self.is_lock_error,
                    self.policy,
                    start,
                    per_worker[worker],
                    records[worker],
                    random.Random(worker),
                )
            except BaseException as exc:  # the others stop taking units; the caller raises it
                units.failed = True
                failures.append(exc)

        machine_before = machine_cpu_seconds()
        client_before = time.process_time()
        start = time.perf_counter()
        self.pool.run(work)
        wall = time.perf_counter() - start
        client = time.process_time() - client_before
        machine_after = machine_cpu_seconds()
        if failures:
            raise failures[0]
        self.last = BatchStats.merged(
            per_worker, wall, client, cpu_between(machine_before, machine_after)
        )
        return ordered_records(records)


def ordered_records(records: Iterable[Iterable[UserRecord]]) -> list[UserRecord]:
    """The workers' records as one list in the workload's order."""
    return sorted(itertools.chain.from_iterable(records), key=request_record_order)


def cpu_between(before: float | None, after: float | None) -> float | None:
    return None if before is None or after is None else after - before


_CLOCK_TICKS = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100


def machine_cpu_seconds() -> float | None:
    """CPU seconds every core of the machine has spent busy since boot (Linux /proc/stat:
    everything but idle and iowait); None elsewhere."""
    try:
        with open("/proc/stat") as stat:
            fields = stat.readline().split()
    except OSError:
        return None
    if not fields or fields[0] != "cpu":
        return None
    ticks = [int(value) for value in fields[1:]]
    idle = ticks[3] + (ticks[4] if len(ticks) > 4 else 0)
    # guest time is already in user time
    return (sum(ticks[:8]) - idle) / _CLOCK_TICKS


def concurrency_measures(
    workers: int,
    workers_kind: WorkersKind,
    units: int,
    durations: Sequence[float],
    batches: Sequence[BatchStats],
    arrivals: Arrivals | None = None,
) -> dict[str, Any]:
    """The ``extra_info`` of a concurrent cell, from its timed rounds: throughput from the
    median round, latency percentiles over every unit of every timed round, lock errors and
    retries summed over them, and how busy the workers and the machine were; on a schedule,
    its rate, the rate achieved (the median round's) and the largest backlog of a round."""
    latencies = sorted(latency for batch in batches for latency in batch.latencies)
    wall = sum(batch.wall_seconds for batch in batches)
    machine = [batch.machine_cpu_seconds for batch in batches]
    measures: dict[str, Any] = {
        "workers": workers,
        "workers_kind": workers_kind,
        "units": units,
        "units_per_second": units / statistics.median(durations),
        "p50_ms": percentile(latencies, 50) * 1000,
        "p99_ms": percentile(latencies, 99) * 1000,
        "p999_ms": percentile(latencies, 99.9) * 1000,
        "lock_errors": sum(batch.lock_errors for batch in batches),
        "retries": sum(batch.retries for batch in batches),
        "retried_units": sum(batch.retried_units for batch in batches),
        "client_cpu_cores": sum(batch.client_cpu_seconds for batch in batches) / wall,
        "machine_cpu_cores": (
            None if None in machine else sum(m for m in machine if m is not None) / wall
        ),
        "machine_cores": os.cpu_count(),
    }
    if arrivals is not None:
        measures["target_rate"] = arrivals.rate
        measures["achieved_rate"] = statistics.median(
            units / batch.finished_seconds for batch in batches
        )
        measures["backlog"] = max(batch.backlog for batch in batches)
    return measures


def percentile(ordered: Sequence[float], percent: float) -> float:
    """The nearest-rank percentile of sorted values."""
    if not ordered:
        raise ValueError("no values")
    rank = max(1, -(-len(ordered) * percent // 100))
    return ordered[int(rank) - 1]
