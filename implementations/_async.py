"""What the asyncio variants share: an event loop of their own, made with the variant (outside
any timed region), on which every execution runs, and the contract's methods written as
coroutines.

The harness calls a workload method as it calls any other; :func:`awaited` makes the coroutine
method the contract's method, which runs it with ``loop.run_until_complete``. So the timed
region holds the awaited unit of work and the loop's own cost of running it once, which the
harness measures apart (an empty coroutine run the same way) and reports.

The concurrent workload runs on the same loop, as K tasks of the harness's each awaiting
:meth:`~implementations.contract.Variant.concurrent_requests_async`. :meth:`prepare_workers`
makes, on the loop and untimed, a pool that fits K tasks with every connection open: for the
SQLAlchemy styles an engine of ``create_async_engine(pool_size=K, max_overflow=0)``, whose
pool is ``AsyncAdaptedQueuePool`` ("an asyncio-compatible version of QueuePool", used by
default with ``create_async_engine``: SQLAlchemy's "Connection Pooling" documentation), each
task's request checking a connection out of it (or an ``AsyncSession`` per task: "Using
AsyncSession with Concurrent Tasks" in SQLAlchemy's "Asynchronous I/O (asyncio)"
documentation, docs.sqlalchemy.org/en/20/orm/extensions/asyncio.html).
"""

from __future__ import annotations

import asyncio
import functools
from collections.abc import Callable, Coroutine
from typing import Any, ClassVar, Concatenate, ParamSpec, TypeVar

from sqlalchemy.ext.asyncio import AsyncEngine

from implementations._workers import async_workers_engine
from implementations.contract import Connections, Variant

P = ParamSpec("P")
R = TypeVar("R")
SelfT = TypeVar("SelfT", bound="AsyncVariant")


def awaited(
    method: Callable[Concatenate[SelfT, P], Coroutine[Any, Any, R]],
) -> Callable[Concatenate[SelfT, P], R]:
    """A coroutine method as the contract's method: awaited on the variant's event loop."""

    @functools.wraps(method)
    def run(self: SelfT, /, *args: P.args, **kwargs: P.kwargs) -> R:
        return self.loop.run_until_complete(method(self, *args, **kwargs))

    return run


class AsyncVariant(Variant):
    """Base of the asyncio variants: the loop, and the driver's resources opened on it."""

    # what the asyncio layer adds is a cost per statement and per await, which sizes 1 to 100
    # show; at 1000 five more styles would take a minute of the default run (--sizes runs it)
    largest_default_size: ClassVar[int | None] = 100
    #: its requests are coroutines, run as tasks on its event loop
    workers_kinds: ClassVar[tuple[str, ...]] = ("task",)

    def __init__(self, connections: Connections) -> None:
        super().__init__(connections)
        self.loop = asyncio.new_event_loop()
        try:
            self.loop.run_until_complete(self.open())
        except BaseException:
            self.close()  # what open() acquired before it failed
            raise

    async def open(self) -> None:
        """Acquire the engine or connection, and connect once (so no execution pays for it)."""

    async def aclose(self) -> None:
        """Release what :meth:`open` acquired (also when it failed half-way)."""

    def prepare_workers(self, workers: int) -> None:
        self.loop.run_until_complete(self.prepare_tasks(workers))

    async def prepare_tasks(self, workers: int) -> None:
        """:meth:`prepare_workers` on the loop: release what the last call made, then make a
        pool that fits ``workers`` tasks, every connection of it open (``0``: nothing)."""

    async def _release(self) -> None:
        try:
            await self.prepare_tasks(0)
        finally:
            await self.aclose()

    def close(self) -> None:
        try:
            self.loop.run_until_complete(self._release())
        finally:
            try:
                self.loop.run_until_complete(self.loop.shutdown_asyncgens())
            finally:
                self.loop.close()


class AsyncEngineVariant(AsyncVariant):
    """An asyncio variant on SQLAlchemy's ``AsyncEngine`` through its ``async_driver``."""

    async def open(self) -> None:
        assert self.async_driver is not None
        self.engine: AsyncEngine = self.connections.create_async_engine(self.async_driver)
        async with self.engine.connect():
            pass  # the first connect runs the dialect's own queries

    async def aclose(self) -> None:
        if hasattr(self, "engine"):
            await self.engine.dispose()

    #: for the concurrent workload: an AsyncEngine whose pool fits the tasks
    workers_engine: AsyncEngine | None = None

    async def prepare_tasks(self, workers: int) -> None:
        engine, self.workers_engine = self.workers_engine, None
        try:
            if engine is not None:
                await engine.dispose()
            if workers:
                assert self.async_driver is not None
                self.workers_engine = await async_workers_engine(
                    self.connections, self.async_driver, workers
                )
        finally:
            self._workers_ready()

    def _workers_ready(self) -> None:
        """Make what the requests need of the workers' engine (a new one, or None)."""
