"""One benchmark cell (workload, variant, backend, size) and the harness that checks it:

1. verify: from the seed state, one execution by the timed instance; its result and the rows
   it leaves must equal the workload's expectation, or the cell fails instead of being timed;
2. count: one execution by a separate instance whose engines and connections carry an
   :class:`~bench.measure.counting.Observer`, so timed rounds carry no instrumentation. For a
   concurrent workload, one of its units of work, run alone by one worker thread: what one
   request costs, exactly and the same every time, which a whole execution's interleaving
   (and SQLite's retries) would not be.

An execution of a concurrent workload is its units over K workers: the harness's threads
(:mod:`bench.measure.concurrency`), worker processes (:mod:`bench.measure.worker_processes`) or
tasks on the variant's event loop (:mod:`bench.measure.worker_tasks`), the variant made ready
for K first.

Timing, in alternation with the other variants of the cell's group, is :mod:`bench.measure.groups`.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from contextlib import ExitStack
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Engine
from sqlalchemy.ext.asyncio import AsyncEngine

from bench.backends import Backend, backend_type
from bench.measure.concurrency import (
    Arrivals,
    ConcurrentExecution,
    WorkerPool,
    workers_at_rate,
)
from bench.measure.counting import Observation, Observer
from bench.measure.worker_processes import ProcessExecution, WorkerProcesses
from bench.measure.worker_tasks import TaskExecution
from bench.measure.workloads import WORKLOADS, Case
from implementations._async import AsyncVariant
from implementations.contract import DBAPIConnection, NotApplicable, Variant
from implementations.registry import load_variant


@dataclass(frozen=True, order=True)
class Cell:
    workload: str
    variant: str
    backend: str
    size: int
    #: the round-trip time a delay proxy adds between the variant and the server, in ms;
    #: None for the usual, direct cells
    rtt_ms: float | None = None

    @property
    def id(self) -> str:
        return f"{self.variant}-{self.where}-{self.size}"

    @property
    def where(self) -> str:
        """The backend, and the delay the proxy adds when it runs through one."""
        return self.backend if self.rtt_ms is None else f"{self.backend}+{self.rtt_ms:g}ms"

    def __str__(self) -> str:
        return f"{self.workload}[{self.id}]"


@dataclass(frozen=True)
class Profile:
    """How long to time each cell: rounds fill ``target_seconds`` within the bounds."""

    name: str
    warmup_rounds: int
    min_rounds: int
    max_rounds: int
    target_seconds: float
    #: the reset check's blocks, and executions per block of each kind
    steady_blocks: tuple[int, int]
    #: the timed rounds of every cell of a concurrent workload, whatever a round takes: each
    #: is a whole batch of units, whose latencies make the percentiles
    concurrent_rounds: int = 5
    #: of a concurrent workload, how many of its units one execution runs at the most (None:
    #: all of them); rates and percentiles are per unit either way
    concurrent_units: int | None = None
    #: of every cell but a concurrent workload's, the seconds of untimed executions the
    #: stack sampler watches for its time by layer
    layer_seconds: float = 0.15

    def rounds_for(self, seconds_per_round: float) -> int:
        wanted = math.ceil(self.target_seconds / max(seconds_per_round, 1e-6))
        return max(self.min_rounds, min(self.max_rounds, wanted))


PROFILES: dict[str, Profile] = {
    "default": Profile(
        "default",
        warmup_rounds=2,
        min_rounds=5,
        # sized so that the three backends' default run stays under 8 minutes on 2 cores
        max_rounds=120,
        target_seconds=0.3,
        steady_blocks=(10, 20),
        concurrent_rounds=5,
    ),
    # a first look in under 90 seconds for three backends, the asyncio styles and the
    # concurrent workload included: fewer rounds, and 32 of the concurrent requests
    "quick": Profile(
        "quick",
        warmup_rounds=1,
        min_rounds=4,
        max_rounds=10,
        target_seconds=0.04,
        steady_blocks=(5, 8),
        concurrent_rounds=3,
        concurrent_units=32,
        layer_seconds=0.04,
    ),
}


def runs_on(variant: str, backend: str) -> bool:
    """Whether the backend has what the variant needs (an asyncio variant, its driver)."""
    driver = load_variant(variant).async_driver
    return driver is None or driver in backend_type(backend).async_drivers


def workers_of(cell: Cell) -> int:
    """The workers a concurrent cell's timed executions run on (threads, processes or tasks):
    its size, or an open loop's fixed number for the variant's kind."""
    workload = WORKLOADS[cell.workload]
    kind = workload.workers_kind(load_variant(cell.variant))
    if workload.at_rate and kind is not None:
        return workers_at_rate(kind)
    return cell.size


def case_for(cell: Cell, profile: Profile | None = None) -> Case:
    """What the cell runs: its workload at its size; of a concurrent workload, only the first
    units where the variant or the profile runs fewer (the same seed either way)."""
    limits = [
        units
        for units in (
            load_variant(cell.variant).concurrent_units,
            profile.concurrent_units if profile is not None else None,
        )
        if units is not None
    ]
    return WORKLOADS[cell.workload].case(cell.size, min(limits) if limits else None)


class VerificationError(AssertionError):
    """A variant returned something else, or left other rows, than the workload defines."""


class HarnessConnections:
    """The :class:`~implementations.contract.Connections` of one variant instance."""

    def __init__(self, backend: Backend, observer: Observer | None = None) -> None:
        self._backend = backend
        self._observer = observer
        self._engine: Engine | None = None
        self._dbapi_connection: DBAPIConnection | None = None
        #: the asyncio drivers' raw connections handed out (their owners close them)
        self._async_connections: list[Any] = []

    @property
    def backend(self) -> str:
        return self._backend.name

    @property
    def engine(self) -> Engine:
        if self._engine is None:
            self._engine = self.create_engine()
            # the first connect runs the dialect's own queries; keep them out of any count
            self._engine.connect().close()
        return self._engine

    @property
    def dbapi_connection(self) -> DBAPIConnection:
        if self._dbapi_connection is None:
            self._dbapi_connection = self.connect_dbapi()
        return self._dbapi_connection

    def create_engine(self, **engine_options: Any) -> Engine:
        return self._backend.create_engine(self._observer, **engine_options)

    def connect_dbapi(self) -> DBAPIConnection:
        return self._backend.connect_dbapi(self._observer)

    def create_async_engine(self, driver: str, **engine_options: Any) -> AsyncEngine:
        return self._backend.create_async_engine(driver, self._observer, **engine_options)

    async def connect_async(self, driver: str) -> Any:
        connection = await self._backend.connect_async(driver, self._observer)
        self._async_connections.append(connection)
        return connection

    def roll_back_open_transactions(self) -> bool:
        """Whether a raw driver connection was left inside a transaction; each that was is
        rolled back (or every later reset would wait on it). The engines' connections need no
        check: their pool rolls back whatever is returned unfinished, and the statement count
        shows that ROLLBACK."""
        raw = [self._dbapi_connection] if self._dbapi_connection is not None else []
        left_open = [
            connection
            for connection in [*raw, *self._async_connections]
            if self._backend.in_transaction(connection)
        ]
        for connection in left_open:
            self._backend.roll_back(connection)
        return bool(left_open)

    def close(self) -> None:
        if self._dbapi_connection is not None:
            self._dbapi_connection.close()
        if self._engine is not None:
            self._engine.dispose()


class Harness:
    """One backend's variant instances, timed and counting, all built outside any timed region."""

    def __init__(self, backend: Backend) -> None:
        self.backend = backend
        self._instances: dict[tuple[str, bool], tuple[Variant, HarnessConnections]] = {}
        self._observers: dict[str, Observer] = {}
        self._warm_counting: set[tuple[str, str]] = set()
        #: the worker threads of each number of workers, and the number each variant
        #: instance was made ready for
        self._pools: dict[int, WorkerPool] = {}
        self._processes: dict[int, WorkerProcesses] = {}
        self._prepared: dict[tuple[str, bool], int] = {}

    def variant(self, name: str, counting: bool = False) -> Variant:
        key = (name, counting)
        if key not in self._instances:
            observer = None
            if counting:
                observer = self._observers.setdefault(name, self.backend.new_observer())
            connections = HarnessConnections(self.backend, observer)
            self._instances[key] = (load_variant(name)(connections), connections)
        return self._instances[key][0]

    def observer(self, name: str) -> Observer:
        self.variant(name, counting=True)
        return self._observers[name]

    def execution(self, cell: Cell, counting: bool = False) -> Callable[[Any], Any]:
        """What runs one execution of the cell by its timed (or counting) instance: the
        variant's workload method, or for a concurrent workload its units over K workers of
        the workload's kind for the variant (:class:`~bench.measure.concurrency.Execution`).
        The counting instance runs one unit on one worker of this process: a thread, or a
        task of an asyncio style (its observer is here, and one request costs the same
        statements whoever runs it)."""
        variant = self.variant(cell.variant, counting)
        workload = WORKLOADS[cell.workload]
        if workload.kind != "concurrent":
            run: Callable[[Any], Any] = getattr(variant, cell.workload)
            return run
        kind = workload.workers_kind(type(variant))
        if kind is None:
            raise NotApplicable(f"{cell.variant} has no kind of worker {cell.workload} takes")
        arrivals = None if counting or not workload.at_rate else Arrivals(cell.size)
        workers = 1 if counting else workers_of(cell)
        if kind == "process" and not counting:
            if workers not in self._processes:
                self._processes[workers] = WorkerProcesses(workers, self.backend)
            return ProcessExecution(self._processes[workers], cell.variant, arrivals)
        if self._prepared.get((cell.variant, counting)) != workers:
            variant.prepare_workers(workers)
            self._prepared[(cell.variant, counting)] = workers
        if kind == "task":
            assert isinstance(variant, AsyncVariant)
            return TaskExecution(
                variant.loop,
                workers,
                variant.concurrent_requests_async,
                self.backend.is_lock_error,
                arrivals=arrivals,
            )
        if workers not in self._pools:
            self._pools[workers] = WorkerPool(workers)
        return ConcurrentExecution(
            self._pools[workers],
            variant.concurrent_requests,
            self.backend.is_lock_error,
            arrivals=arrivals,
        )

    def release_workers(self, variant: str) -> None:
        """Free what the variant's instances were made ready for (a pool of connections per
        worker) once its cells of a concurrent workload have run."""
        for counting in (False, True):
            if self._prepared.pop((variant, counting), 0):
                self.variant(variant, counting).prepare_workers(0)

    def close_workers(self) -> None:
        """End the worker threads and processes once a group of a concurrent workload is
        done: idle threads would still be stopped with the process for every sample the stack
        sampler takes of a later cell (with 20 of them, the sampled thread ran a tenth of the
        time), and each process holds a connection per style."""
        pools, self._pools = self._pools, {}
        processes, self._processes = self._processes, {}
        with ExitStack() as stack:
            for pool in pools.values():
                stack.callback(pool.close)
            for workers in processes.values():
                stack.callback(workers.close)

    @property
    def worker_pids(self) -> list[int]:
        """The worker processes running now."""
        return [pid for workers in self._processes.values() for pid in workers.pids]

    def verify(self, cell: Cell, case: Case) -> None:
        """From the seed, one execution by the timed instance, its result and rows checked."""
        run = self.execution(cell)
        self.backend.reset(case.seed)
        result = run(case.argument)
        self._check_finished(cell, counting=False)
        check_result(cell, case, result)
        check_state(cell, self.backend, case)

    def _check_finished(self, cell: Cell, counting: bool) -> None:
        connections = self._instances[(cell.variant, counting)][1]
        if connections.roll_back_open_transactions():
            raise VerificationError(f"{cell}: the variant left its transaction open")

    def count(self, cell: Cell, case: Case, reset: bool = True) -> Observation:
        """One execution by the cell's counting instance, from the seed state (of a concurrent
        workload: one unit of work)."""
        workload = WORKLOADS[cell.workload]
        if workload.build_counted is not None:
            case = workload.counted_case(cell.size)
        run = self.execution(cell, counting=True)
        if self.backend.type.counts_server_work:
            # the server's figures depend on the tables' state (the rows earlier resets left
            # dead, the statistics the plans are made from): every style is counted from the
            # one the timed rounds start from, the seed freshly loaded, not from whatever the
            # styles counted before it left behind. As in the timed rounds, an execution
            # comes first: after new statistics the first statements plan afresh, and the
            # first to read the statistics catalog prunes its old rows, which writes to the log.
            # It is the warm-up execution too (below, for the other backends)
            self.backend.load_seed(case.seed)
            run(case.argument)
            self.backend.reset(case.seed)
        else:
            warm_key = (cell.workload, cell.variant)
            if warm_key not in self._warm_counting:
                # a first execution may set up what later ones reuse (a NullPool engine's
                # dialect, for one); what is counted is the steady state
                self.backend.reset(case.seed)
                run(case.argument)
                self._warm_counting.add(warm_key)
            if reset:
                self.backend.reset(case.seed)
        with self.observer(cell.variant).observing() as observation:
            result = run(case.argument)
        self._check_finished(cell, counting=True)
        check_result(cell, case, result)
        check_state(cell, self.backend, case)
        # (a unit of work that connects also runs the dialect's first-connect queries, in a
        # transaction of their own: that is what connecting costs, counted, not checked)
        if workload.kind == "batch" or (
            workload.kind == "concurrent" and not observation.connections_opened
        ):
            check_one_transaction(cell, observation, self.backend.implicit_begin())
        return observation

    def close(self) -> None:
        with ExitStack() as stack:
            # unwound in reverse: the variants, their connections, then the observers
            for observer in self._observers.values():
                stack.callback(observer.close)
            for variant, connections in self._instances.values():
                stack.callback(connections.close)
                stack.callback(variant.close)
            # the workers first: a worker process holds connections to the same database
            stack.callback(self.close_workers)
        self._instances.clear()
        self._observers.clear()


def check_result(cell: Cell, case: Case, result: Any) -> None:
    if result != case.expected_result:
        raise VerificationError(
            f"{cell}: the variant returned {_describe_difference(case.expected_result, result)}"
        )


def check_state(cell: Cell, backend: Backend, case: Case) -> None:
    users, posts = backend.snapshot()
    expected_users, expected_posts = backend.expected_snapshot(case.expected_state)
    for table, actual, expected in (
        ("user_account", users, expected_users),
        ("user_blog_post", posts, expected_posts),
    ):
        if actual != expected:
            raise VerificationError(
                f"{cell}: {table} holds {_describe_difference(expected, actual)}"
            )


def check_one_transaction(
    cell: Cell, observation: Observation, implicit_begin: bool = False
) -> None:
    """One unit of work: at most one transaction, committed, nothing rolled back. Where the
    driver begins transactions without a statement, one COMMIT ends the unit of work; a
    ROLLBACK after it, with nothing in between (SQLAlchemy's pool resetting a connection on
    its return, which PyMySQL sends even then), rolls nothing back."""
    begins = commits = rolled_back = 0
    work_open = False
    for statement in observation.server_statements:
        # asyncpg's transaction() ends its BEGIN and COMMIT with a semicolon
        kind = (statement.split(None, 1) or [""])[0].rstrip(";").upper()
        if kind == "COMMIT":
            commits += 1
            work_open = False
        elif kind == "ROLLBACK":
            rolled_back += work_open
            work_open = False
        else:
            begins += kind == "BEGIN"
            work_open = True
    expected_commits = 1 if implicit_begin else begins
    if begins > 1 or commits != expected_commits or rolled_back:
        raise VerificationError(
            f"{cell}: one execution ran {begins} BEGIN, {commits} COMMIT and {rolled_back} "
            "ROLLBACK of work done; a unit of work commits once"
        )


def _describe_difference(expected: Any, actual: Any) -> str:
    if isinstance(expected, (list, tuple)) and isinstance(actual, (list, tuple)):
        if len(expected) != len(actual):
            return f"{len(actual)} rows where {len(expected)} were expected"
        for index, (want, got) in enumerate(zip(expected, actual, strict=True)):
            if want != got:
                return f"{got!r} at position {index} where {want!r} was expected"
    return f"{actual!r} where {expected!r} was expected"
