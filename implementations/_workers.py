"""What the SQLAlchemy styles share for the concurrent workload: an Engine whose pool fits the
harness's worker threads, its connections opened before any request is timed."""

from __future__ import annotations

from contextlib import ExitStack

from sqlalchemy import Engine

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
