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
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from bench.measure.workloads import request_record_order
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


class RetriesExhausted(RuntimeError):
    """A unit was refused with a lock error more often than the policy retries."""


@dataclass
class BatchStats:
    """What one execution's units went through, and what the machine did meanwhile."""

    latencies: list[float] = field(default_factory=list)
    lock_errors: int = 0
    retries: int = 0
    retried_units: int = 0
    wall_seconds: float = 0.0
    #: CPU seconds of this process (every thread) and of the whole machine (every process:
    #: a server on it too; None where /proc/stat cannot be read)
    client_cpu_seconds: float = 0.0
    machine_cpu_seconds: float | None = None


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
    """One execution of a concurrent workload: its units over the pool's workers, each unit
    retried after a lock error by the policy. Returns the records the units read, ordered
    (:func:`~bench.measure.workloads.request_record_order`), so that any interleaving of a correct
    variant returns the same; :attr:`last` holds the execution's :class:`BatchStats`."""

    def __init__(
        self,
        pool: WorkerPool,
        unit: Callable[[UserRequest], UserRecord],
        is_lock_error: Callable[[BaseException], bool],
        policy: RetryPolicy = RETRY_POLICY,
    ) -> None:
        self.pool = pool
        self.unit = unit
        self.is_lock_error = is_lock_error
        self.policy = policy
        self.last = BatchStats()

    def __call__(self, requests: Sequence[UserRequest]) -> list[UserRecord]:
        take = itertools.count().__next__  # atomic: each unit goes to exactly one worker
        records: list[list[UserRecord]] = [[] for _ in range(self.pool.workers)]
        per_worker = [BatchStats() for _ in range(self.pool.workers)]
        failures: list[BaseException] = []

        def work(worker: int) -> None:
            stats = per_worker[worker]
            rng = random.Random(worker)
            try:
                while not failures:
                    index = take()
                    if index >= len(requests):
                        return
                    started = time.perf_counter()
                    records[worker].append(self._attempt(requests[index], stats, rng))
                    stats.latencies.append(time.perf_counter() - started)
            except BaseException as exc:  # the others stop taking units; the caller raises it
                failures.append(exc)

        machine_before = machine_cpu_seconds()
        client_before = time.process_time()
        started = time.perf_counter()
        self.pool.run(work)
        wall = time.perf_counter() - started
        client = time.process_time() - client_before
        machine_after = machine_cpu_seconds()
        if failures:
            raise failures[0]
        self.last = BatchStats(
            latencies=[latency for stats in per_worker for latency in stats.latencies],
            lock_errors=sum(stats.lock_errors for stats in per_worker),
            retries=sum(stats.retries for stats in per_worker),
            retried_units=sum(stats.retried_units for stats in per_worker),
            wall_seconds=wall,
            client_cpu_seconds=client,
            machine_cpu_seconds=(
                None
                if machine_before is None or machine_after is None
                else machine_after - machine_before
            ),
        )
        return sorted(itertools.chain.from_iterable(records), key=request_record_order)

    def _attempt(self, request: UserRequest, stats: BatchStats, rng: random.Random) -> UserRecord:
        for retry in itertools.count():
            try:
                return self.unit(request)
            except Exception as exc:
                if not self.is_lock_error(exc):
                    raise
                stats.lock_errors += 1
                if retry == self.policy.max_retries:
                    raise RetriesExhausted(
                        f"{request} was refused with a lock error {retry + 1} times: "
                        f"{str(exc).splitlines()[0]}"
                    ) from exc
                stats.retries += 1
                stats.retried_units += retry == 0
                time.sleep(self.policy.wait(retry, rng))
        raise AssertionError("unreachable")


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
    workers: int, units: int, durations: Sequence[float], batches: Sequence[BatchStats]
) -> dict[str, Any]:
    """The ``extra_info`` of a concurrent cell, from its timed rounds: throughput from the
    median round, latency percentiles over every unit of every timed round, lock errors and
    retries summed over them, and how busy the client process and the machine were."""
    latencies = sorted(latency for batch in batches for latency in batch.latencies)
    wall = sum(batch.wall_seconds for batch in batches)
    machine = [batch.machine_cpu_seconds for batch in batches]
    return {
        "workers": workers,
        "units": units,
        "units_per_second": units / statistics.median(durations),
        "p50_ms": percentile(latencies, 50) * 1000,
        "p99_ms": percentile(latencies, 99) * 1000,
        "lock_errors": sum(batch.lock_errors for batch in batches),
        "retries": sum(batch.retries for batch in batches),
        "retried_units": sum(batch.retried_units for batch in batches),
        "client_cpu_cores": sum(batch.client_cpu_seconds for batch in batches) / wall,
        "machine_cpu_cores": (
            None if None in machine else sum(m for m in machine if m is not None) / wall
        ),
        "machine_cores": os.cpu_count(),
    }


def percentile(ordered: Sequence[float], percent: float) -> float:
    """The nearest-rank percentile of sorted values."""
    if not ordered:
        raise ValueError("no values")
    rank = max(1, -(-len(ordered) * percent // 100))
    return ordered[int(rank) - 1]
