"""What the SQLAlchemy styles share for the concurrent workload: an Engine whose pool fits the
harness's worker threads (an AsyncEngine whose pool fits its tasks, for the asyncio styles), its
connections opened before any request is timed."""

from __future__ import annotations

from contextlib import AsyncExitStack, ExitStack

from sqlalchemy import Engine
from sqlalchemy.ext.asyncio import AsyncEngine

from implementations.contract import Connections
from implementations.drivers import driver_sql


def workers_engine(connections: Connections, workers: int) -> Engine:
    """A new Engine with a pool of exactly ``workers`` connections (no overflow: a pool
    smaller than the threads would make them queue, a larger one is never used), each
    transaction locking what it reads where the backend needs telling, and every connection
    already open."""
    engine = connections.create_engine(pool_size=workers, max_overflow=0)
    driver_sql(connections.backend).lock_at_begin(engine)
    with ExitStack() as checked_out:
        for _ in range(workers):
            checked_out.enter_context(engine.connect())
    return engine


async def async_workers_engine(connections: Connections, driver: str, workers: int) -> AsyncEngine:
    """:func:`workers_engine` for ``workers`` asyncio tasks: a new AsyncEngine through the
    asyncio ``driver`` whose pool (SQLAlchemy's ``AsyncAdaptedQueuePool``) holds exactly
    ``workers`` connections, every one already open; disposed of again if that fails."""
    engine = connections.create_async_engine(driver, pool_size=workers, max_overflow=0)
    driver_sql(connections.backend).lock_at_begin(engine.sync_engine)
    try:
        async with AsyncExitStack() as checked_out:
            for _ in range(workers):
                await checked_out.enter_async_context(engine.connect())
    except BaseException:
        await engine.dispose()
        raise
    return engine
