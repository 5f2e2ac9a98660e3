"""K worker processes for a concurrent workload, as a pre-fork server (gunicorn's sync
workers) runs a synchronous application: each process has its own interpreter, so its own
GIL, and its own connection.

The processes are forked from the benchmark's process, untimed, when a group first needs K of
them, and live until the group ends. Each builds its own instance of each variant it is told
of (:meth:`WorkerProcesses.prepare`), on connections of its own, made ready for one worker
(``prepare_workers(1)``: an Engine with one pooled connection, or one driver connection), as
SQLAlchemy's documentation advises for a forked process ("Using Connection Pools with
Multiprocessing or os.fork()": new engines in the child, the parent's never touched). The
parent's connections are inherited but never used, nor closed: a worker leaves with
``os._exit``. Right after the fork each worker freezes the heap it inherited
(:func:`gc.freeze`, as Python's documentation advises for a process that forks without exec),
so its collections scan its own objects, not the benchmark's.

An execution (:class:`ProcessExecution`) sends each worker the requests, untimed; the workers
start together at a barrier and take the next request from a shared counter, as the threads
do (:func:`~bench.measure.concurrency.serve_units`, the same code); each reports its records,
its latencies, its CPU seconds and when it finished. The execution's time runs from the
barrier to the last worker's last commit.

A worker ignores Ctrl-C (the terminal sends it to the whole group): the benchmark's process
stops the workers itself, in order. It also asks the kernel to kill it when the benchmark's
process dies (``PR_SET_PDEATHSIG``), so a run killed outright, or stopped at once by a second
Ctrl-C, leaves no worker behind.
"""

from __future__ import annotations

import contextlib
import ctypes
import functools
import gc
import multiprocessing
import multiprocessing.connection
import os
import pickle
import random
import signal
import threading
import time
import warnings
from collections.abc import Sequence
from multiprocessing.connection import Connection
from typing import Any

from bench.backends import Backend
from bench.measure.concurrency import (
    RETRY_POLICY,
    Arrivals,
    BatchStats,
    RetryPolicy,
    Units,
    cpu_between,
    machine_cpu_seconds,
    ordered_records,
    serve_units,
)
from bench.measure.workloads import WorkersKind
from implementations.contract import UserRecord, UserRequest, Variant
from implementations.registry import load_variant

#: how long the workers may take to reach the start of an execution, or to answer a command
#: other than running one (building a variant connects)
ANSWER_SECONDS = 60.0
#: how long closing waits for a worker to leave before it is killed
CLOSE_SECONDS = 5.0
_PR_SET_PDEATHSIG = 1


class WorkerFailed(RuntimeError):
    """A worker process ended, or did not answer, in the middle of its work."""


class _SharedUnits(Units):
    """:class:`Units` whose next request and failure flag live in shared memory."""

    def __init__(
        self,
        requests: Sequence[UserRequest],
        counter: Any,
        failed: Any,
        arrivals: Arrivals | None,
    ) -> None:
        self._counter = counter
        self._failed = failed
        super().__init__(requests, self._take, arrivals)

    def _take(self) -> int:
        with self._counter.get_lock():
            index: int = self._counter.value
            self._counter.value = index + 1
        return index

    @property
    def failed(self) -> bool:
        return bool(self._failed.value)

    @failed.setter
    def failed(self, value: bool) -> None:
        self._failed.value = int(value)


def _stamp(started_at: Any) -> None:
    """The barrier's action: the execution's start, which every worker's schedule and
    latencies count from."""
    started_at.value = time.perf_counter()


class WorkerProcesses:
    """K worker processes forked from this one, each holding its own instance of every
    variant it was told of."""

    def __init__(self, workers: int, backend: Backend, policy: RetryPolicy = RETRY_POLICY) -> None:
        self.workers = workers
        self._backend = backend
        self._policy = policy
        self._pipes: list[Connection] = []
        self._processes: list[Any] = []
        self._fork()

    def _fork(self) -> None:
        """Fork the K workers, with what they share; each variant is prepared in them as an
        execution first asks for it."""
        context = multiprocessing.get_context("fork")
        workers = self.workers
        self._started_at = context.Value("d", 0.0, lock=False)
        # the start is stamped as the last party arrives, before any is released: after
        # every worker has its requests (unpickling them is not the execution's time)
        stamp = functools.partial(_stamp, self._started_at)
        self._start = context.Barrier(workers + 1, action=stamp)
        self._counter = context.Value("q", 0)
        self._failed = context.Value("b", 0, lock=False)
        self._prepared: set[str] = set()
        #: a command failed without every worker's answer (one ended, or did not reach the
        #: start): answers may be left in the pipes and workers still running
        self._broken = False
        parent = os.getpid()
        try:
            for index in range(workers):
                ours, theirs = context.Pipe()
                process = context.Process(
                    target=_worker_main,
                    args=(index, parent, theirs, self._backend, self._policy, self._shared()),
                    name=f"bench-worker-{index}",
                    daemon=True,
                )
                with warnings.catch_warnings():
                    # Python 3.12 warns of fork() in a process with threads: the worker uses
                    # no lock a thread of this process could hold (it builds its own engines)
                    warnings.simplefilter("ignore", DeprecationWarning)
                    process.start()
                theirs.close()
                self._pipes.append(ours)
                self._processes.append(process)
        except BaseException:
            self.close()
            raise

    def _renew_if_broken(self) -> None:
        """After a failure that left the workers out of step, new ones (the next cell of the
        group would otherwise read the old answers, or wait on the old workers)."""
        if self._broken:
            self.close()
            self._fork()

    def _shared(self) -> tuple[Any, Any, Any, Any]:
        return (self._start, self._counter, self._failed, self._started_at)

    @property
    def pids(self) -> list[int]:
        return [process.pid for process in self._processes if process.pid is not None]

    def prepare(self, variant: str) -> None:
        """Every worker builds its instance of the variant, ready for one worker (untimed)."""
        self._renew_if_broken()
        if variant in self._prepared:
            return
        load_variant(variant)  # imported here once, not in each worker
        try:
            self._send(("prepare", variant))
            self._answers(ANSWER_SECONDS)
        except BaseException:
            # some workers may hold an instance and others not: start again from none
            self._broken = True
            raise
        self._prepared.add(variant)

    def run(
        self, variant: str, requests: Sequence[UserRequest], arrivals: Arrivals | None
    ) -> tuple[list[UserRecord], BatchStats]:
        """One execution by every worker, all starting together: the records read, in the
        workload's order, and the execution's account."""
        self.prepare(variant)
        self._counter.value = 0
        self._failed.value = 0
        try:
            self._send(("run", variant, list(requests), arrivals))
            self._start.wait(timeout=ANSWER_SECONDS)
        except threading.BrokenBarrierError:
            self._broken = True
            raise WorkerFailed("the worker processes did not reach the start") from None
        machine_before = machine_cpu_seconds()
        try:
            answers = self._answers(None)
        except WorkerFailed:
            self._broken = True
            raise
        machine_after = machine_cpu_seconds()
        parts: list[BatchStats] = [stats for _, stats in answers]
        stats = BatchStats.merged(
            parts,
            max(part.wall_seconds for part in parts),
            sum(part.client_cpu_seconds for part in parts),
            cpu_between(machine_before, machine_after),
        )
        return ordered_records(records for records, _ in answers), stats

    def _send(self, message: tuple[Any, ...]) -> None:
        """The command to every worker; WorkerFailed (and new workers next time) when one
        has ended."""
        for index, pipe in enumerate(self._pipes):
            try:
                pipe.send(message)
            except OSError:
                self._broken = True
                code = self._processes[index].exitcode
                raise WorkerFailed(f"worker process {index} ended (exit code {code})") from None

    def _answers(self, timeout: float | None) -> list[Any]:
        """Every worker's answer to the last command, in worker order; the first error a
        worker reported is raised (after all have answered), and a worker that ended or did
        not answer in time is WorkerFailed."""
        answers: dict[int, tuple[str, Any]] = {}
        deadline = None if timeout is None else time.monotonic() + timeout
        while len(answers) < self.workers:
            waiting = [index for index in range(self.workers) if index not in answers]
            left = None if deadline is None else max(0.0, deadline - time.monotonic())
            ready = multiprocessing.connection.wait(
                [self._pipes[index] for index in waiting]
                + [self._processes[index].sentinel for index in waiting],
                timeout=left,
            )
            if not ready:
                raise WorkerFailed(f"a worker process did not answer within {timeout:g} s")
            for index in waiting:
                pipe = self._pipes[index]
                if pipe in ready or pipe.poll():
                    try:
                        answers[index] = pipe.recv()
                    except EOFError:
                        pass
                    else:
                        continue
                if self._processes[index].sentinel in ready:
                    code = self._processes[index].exitcode
                    raise WorkerFailed(f"worker process {index} ended (exit code {code})")
        for status, payload in answers.values():
            if status == "error":
                raise payload
        return [answers[index][1] for index in range(self.workers)]

    def close(self) -> None:
        """Every worker closes its variants and leaves; one that does not in time is killed."""
        for pipe in self._pipes:
            with contextlib.suppress(OSError, ValueError):
                pipe.send(("close",))
        deadline = time.monotonic() + CLOSE_SECONDS
        for process in self._processes:
            process.join(timeout=max(0.0, deadline - time.monotonic()))
            if process.is_alive():
                process.kill()
                process.join(timeout=CLOSE_SECONDS)
        for pipe in self._pipes:
            pipe.close()
        self._processes.clear()
        self._pipes.clear()


class ProcessExecution:
    """One execution of a concurrent workload by K worker processes (the variant's instances
    in them); :attr:`last` holds its :class:`BatchStats`."""

    workers_kind: WorkersKind = "process"

    def __init__(
        self, pool: WorkerProcesses, variant: str, arrivals: Arrivals | None = None
    ) -> None:
        pool.prepare(variant)
        self.pool = pool
        self.variant = variant
        self.arrivals = arrivals
        self.last = BatchStats()

    @property
    def workers(self) -> int:
        return self.pool.workers

    def __call__(self, requests: Sequence[UserRequest]) -> list[UserRecord]:
        records, self.last = self.pool.run(self.variant, requests, self.arrivals)
        return records


# --- in a worker process ---------------------------------------------------------------------


def _die_with_parent(parent: int) -> None:
    """Ask the kernel to kill this process when the one that forked it ends (Linux)."""
    with contextlib.suppress(OSError, AttributeError):
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
    if os.getppid() != parent:  # it ended before the request was made
        os._exit(1)


def _portable(error: BaseException) -> BaseException:
    """The error as the parent can receive it: itself when it pickles, else its words."""
    try:
        pickle.loads(pickle.dumps(error))
    except Exception:
        return RuntimeError(f"{type(error).__name__}: {error}")
    return error


def _worker_main(
    index: int,
    parent: int,
    pipe: Connection,
    backend: Backend,
    policy: RetryPolicy,
    shared: tuple[Any, Any, Any, Any],
) -> None:
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    _die_with_parent(parent)
    gc.freeze()
    # imported here: the worker is forked from the harness, which imports this module
    from bench.measure.cells import HarnessConnections

    start, counter, failed, started_at = shared
    variants: dict[str, tuple[Variant, HarnessConnections]] = {}
    try:
        while True:
            try:
                message = pipe.recv()
            except (EOFError, OSError):
                break
            if message[0] == "close":
                break
            try:
                if message[0] == "prepare":
                    connections = HarnessConnections(backend)
                    variant = load_variant(message[1])(connections)
                    variants[message[1]] = (variant, connections)
                    variant.prepare_workers(1)
                    pipe.send(("ok", None))
                else:
                    _, name, requests, arrivals = message
                    units = _SharedUnits(requests, counter, failed, arrivals)
                    start.wait()
                    began = started_at.value
                    cpu_before = time.process_time()
                    stats = BatchStats()
                    records: list[UserRecord] = []
                    try:
                        serve_units(
                            units,
                            variants[name][0].concurrent_requests,
                            backend.is_lock_error,
                            policy,
                            began,
                            stats,
                            records,
                            random.Random(index),
                        )
                    except BaseException:
                        units.failed = True
                        raise
                    stats.wall_seconds = time.perf_counter() - began
                    stats.client_cpu_seconds = time.process_time() - cpu_before
                    pipe.send(("ok", (records, stats)))
            except BaseException as exc:
                pipe.send(("error", _portable(exc)))
    finally:
        for variant, connections in variants.values():
            with contextlib.suppress(Exception):
                variant.prepare_workers(0)
                variant.close()
                connections.close()
        os._exit(0)
