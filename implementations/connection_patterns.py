"""Ways of getting a connection for one small unit of work (read one user by id), where the
cost of connecting is what is measured. The shared-resource patterns (one pooled Engine, one
driver connection kept open) are the ``core``, ``orm`` and ``dbapi`` variants' own
``connect_read_one``; these are the patterns that connect per use.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import ClassVar

from sqlalchemy import Engine
from sqlalchemy.pool import NullPool

from implementations.contract import Connections, UserRecord, UserRequest, Variant
from implementations.core import read_user as read_user_core
from implementations.core import revise_email as revise_email_core
from implementations.dbapi import read_user as read_user_dbapi
from implementations.drivers import driver_sql


class _DatabaseSession:
    """The pattern as applications write it: a context manager that creates an Engine on
    entry and disposes of it on exit."""

    def __init__(
        self, connections: Connections, configure: Callable[[Engine], None] | None = None
    ) -> None:
        self.connections = connections
        self.configure = configure

    def __enter__(self) -> Engine:
        self.engine = self.connections.create_engine()
        if self.configure is not None:
            self.configure(self.engine)
        return self.engine

    def __exit__(self, *exc_info: object) -> None:
        self.engine.dispose()


class EnginePerUseVariant(Variant):
    """a new Engine per unit of work, as a context manager calling create_engine() in __enter__"""

    # each request connects, 10 to 35 ms on a server: 16 of them (8 users, each twice) take
    # about as long as the other styles' 160
    concurrent_units: ClassVar[int | None] = 16

    def __init__(self, connections: Connections) -> None:
        super().__init__(connections)
        self.sql = driver_sql(connections.backend)

    def connect_read_one(self, user_id: int) -> UserRecord:
        """with a context manager: create_engine(), connect, read, commit, dispose()"""
        with _DatabaseSession(self.connections) as engine:
            return read_user_core(engine, user_id)

    def concurrent_requests(self, request: UserRequest) -> UserRecord:
        """with a context manager per request: create_engine(), connect, SELECT ... FOR
        UPDATE, UPDATE, commit, dispose()"""
        with _DatabaseSession(self.connections, self.sql.lock_at_begin) as engine:
            return revise_email_core(engine, request.user_id)


class NullPoolVariant(Variant):
    """one Engine with poolclass=NullPool: a new database connection per use"""

    def __init__(self, connections: Connections) -> None:
        super().__init__(connections)
        self.engine = connections.create_engine(poolclass=NullPool)

    def close(self) -> None:
        self.engine.dispose()

    def connect_read_one(self, user_id: int) -> UserRecord:
        """engine.begin() opens a new driver connection and closes it after the commit"""
        return read_user_core(self.engine, user_id)


class DbapiConnectPerUseVariant(Variant):
    """raw DB-API: connect() per unit of work, close() after it"""

    def __init__(self, connections: Connections) -> None:
        super().__init__(connections)
        self.sql = driver_sql(connections.backend)

    def connect_read_one(self, user_id: int) -> UserRecord:
        """the driver's connect(), read, commit, close(): every time"""
        connection = self.connections.connect_dbapi()
        try:
            return read_user_dbapi(connection, self.sql, user_id)
        finally:
            connection.close()
