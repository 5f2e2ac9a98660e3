"""K asyncio tasks on one event loop for a concurrent workload, as an asyncio service runs its
requests: the asyncio styles' form of the worker threads.

The tasks run on the variant's own event loop (made with the variant, outside any timed
region), each taking the next request as it becomes free (or, on a schedule, when it is due),
awaiting the variant's :meth:`~implementations.contract.Variant.concurrent_requests_async`; a
request refused with a lock error waits (``asyncio.sleep``: the other tasks go on) and runs
again, by the same policy as the threads'. The variant's pool fits K
(:meth:`~implementations.contract.Variant.prepare_workers`).
"""

from __future__ import annotations

import asyncio
import itertools
import random
import time
from collections.abc import Awaitable, Callable, Sequence

from bench.measure.concurrency import (
    RETRY_POLICY,
    Arrivals,
    BatchStats,
    RetryPolicy,
    Units,
    cpu_between,
    machine_cpu_seconds,
    ordered_records,
)
from bench.measure.workloads import WorkersKind
from implementations.contract import UserRecord, UserRequest


class TaskExecution:
    """One execution of a concurrent workload by K tasks on ``loop``; :attr:`last` holds its
    :class:`BatchStats`."""

    workers_kind: WorkersKind = "task"

    def __init__(
        self,
        loop: asyncio.AbstractEventLoop,
        workers: int,
        unit: Callable[[UserRequest], Awaitable[UserRecord]],
        is_lock_error: Callable[[BaseException], bool],
        policy: RetryPolicy = RETRY_POLICY,
        arrivals: Arrivals | None = None,
    ) -> None:
        self.loop = loop
        self.workers = workers
        self.unit = unit
        self.is_lock_error = is_lock_error
        self.policy = policy
        self.arrivals = arrivals
        self.last = BatchStats()

    def __call__(self, requests: Sequence[UserRequest]) -> list[UserRecord]:
        units = Units(requests, itertools.count().__next__, self.arrivals)
        per_task = [BatchStats() for _ in range(self.workers)]
        records: list[list[UserRecord]] = [[] for _ in range(self.workers)]
        machine_before = machine_cpu_seconds()
        client_before = time.process_time()
        wall = self.loop.run_until_complete(self._all(units, per_task, records))
        client = time.process_time() - client_before
        self.last = BatchStats.merged(
            per_task, wall, client, cpu_between(machine_before, machine_cpu_seconds())
        )
        return ordered_records(records)

    async def _all(
        self, units: Units, per_task: list[BatchStats], records: list[list[UserRecord]]
    ) -> float:
        start = time.perf_counter()
        tasks = [
            asyncio.ensure_future(self._serve(units, start, per_task[task], records[task], task))
            for task in range(self.workers)
        ]
        try:
            await asyncio.gather(*tasks)
        except BaseException:
            units.failed = True  # the others stop taking requests; each ends its own
            await asyncio.gather(*tasks, return_exceptions=True)
            raise
        return time.perf_counter() - start

    async def _serve(
        self,
        units: Units,
        start: float,
        stats: BatchStats,
        records: list[UserRecord],
        task: int,
    ) -> None:
        """:func:`~bench.measure.concurrency.serve_units`, awaiting."""
        last = len(units.requests) - 1
        rng = random.Random(task)
        while not units.failed:
            index = units.take()
            if index > last:
                return
            began = time.perf_counter()
            counted_from = units.counted_from(index, start, began, stats)
            if counted_from > began:
                await asyncio.sleep(counted_from - began)
            try:
                records.append(await self._attempt(units.requests[index], stats, rng))
            except BaseException:
                units.failed = True
                raise
            stats.served(counted_from, time.perf_counter(), start)

    async def _attempt(
        self, request: UserRequest, stats: BatchStats, rng: random.Random
    ) -> UserRecord:
        for retry in itertools.count():
            try:
                return await self.unit(request)
            except Exception as exc:
                if not self.is_lock_error(exc):
                    raise
                await asyncio.sleep(stats.refused(retry, request, exc, self.policy, rng))
        raise AssertionError("unreachable")
