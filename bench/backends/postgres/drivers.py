"""PostgreSQL's drivers as the harness handles them: psycopg (blocking and asyncio) and asyncpg.

- :func:`session_of`: one driver connection's server process, as the statistics reader and the
  transaction check see it, whichever driver (and SQLAlchemy adapter) holds it;
- the observed connection classes of the asyncio drivers, whose calls report to an observer
  (psycopg's blocking ones are in :mod:`bench.backends.postgres.observer`);
- :func:`asyncpg_arguments`: a SQLAlchemy URL as asyncpg's ``connect()`` arguments.

asyncpg does not use libpq, so it has no protocol trace: its connections are counted on the
wire (:mod:`bench.measure.wire`, :mod:`bench.backends.postgres.protocol`).
"""

from __future__ import annotations

import asyncio
import sys
import weakref
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any, Protocol

import asyncpg
import psycopg
from sqlalchemy import URL

from bench.measure.counting import Observer, query_text

FLUSH_STATISTICS = "SELECT pg_stat_force_next_flush()"


def driver_connection_of(connection: Any) -> Any:
    """The driver's own connection behind a SQLAlchemy adapter (asyncio dialects wrap it)."""
    return getattr(connection, "driver_connection", connection)


def _running_loop() -> asyncio.AbstractEventLoop | None:
    try:
        return asyncio.get_running_loop()
    except RuntimeError:
        return None


class ServerSession(Protocol):
    """A driver connection's server process."""

    pid: int

    def closed(self) -> bool: ...

    def idle(self) -> bool:
        """Outside any transaction."""
        ...

    def publish_statistics(self) -> None:
        """Have the server process publish its pending statistics now, uncounted."""
        ...

    def roll_back(self) -> None: ...


class _PsycopgState:
    """What psycopg's connections, blocking and asyncio, say of their server process."""

    _connection: weakref.ref[Any]

    def closed(self) -> bool:
        connection = self._connection()
        return connection is None or bool(connection.closed)

    def idle(self) -> bool:
        # a closed one (a worker's, closed when the workers changed) holds no transaction
        connection = self._connection()
        return (
            connection is None
            or bool(connection.closed)
            or connection.info.transaction_status == psycopg.pq.TransactionStatus.IDLE
        )


class _PsycopgSession(_PsycopgState):
    def __init__(self, connection: psycopg.Connection[Any]) -> None:
        self.pid = connection.info.backend_pid
        self._connection = weakref.ref(connection)

    def publish_statistics(self) -> None:
        # in autocommit, on a plain cursor (not the observed cursor class): no count sees it
        connection = self._connection()
        assert connection is not None
        autocommit = connection.autocommit
        connection.autocommit = True
        try:
            with psycopg.Cursor(connection) as cursor:
                cursor.execute(FLUSH_STATISTICS)
        finally:
            connection.autocommit = autocommit

    def roll_back(self) -> None:
        connection = self._connection()
        if connection is not None:
            connection.rollback()


class _AsyncSession:
    """A connection of an asyncio driver: its work runs on the loop it was opened on (which is
    not running between the executions, when the harness reads statistics or checks)."""

    def __init__(self, connection: Any, loop: asyncio.AbstractEventLoop | None) -> None:
        self._connection = weakref.ref(connection)
        self._loop = loop

    def _run(self, work: Any) -> None:
        if self._loop is None:
            work.close()
            raise RuntimeError("an asyncio connection was registered outside its event loop")
        self._loop.run_until_complete(work)

    def loop_closed(self) -> bool:
        """Its loop is gone (the variant closed it): nothing can run on the connection, and
        its server process is on its way out."""
        return self._loop is not None and self._loop.is_closed()


class _PsycopgAsyncSession(_PsycopgState, _AsyncSession):
    def __init__(self, connection: psycopg.AsyncConnection[Any], loop: Any) -> None:
        super().__init__(connection, loop)
        self.pid = connection.info.backend_pid

    def closed(self) -> bool:
        return self.loop_closed() or super().closed()

    def publish_statistics(self) -> None:
        connection = self._connection()
        assert connection is not None

        async def publish() -> None:
            autocommit = connection.autocommit
            await connection.set_autocommit(True)
            try:
                async with psycopg.AsyncCursor(connection) as cursor:
                    await cursor.execute(FLUSH_STATISTICS)
            finally:
                await connection.set_autocommit(autocommit)

        self._run(publish())

    def roll_back(self) -> None:
        connection = self._connection()
        if connection is not None:
            self._run(connection.rollback())


class _AsyncpgSession(_AsyncSession):
    def __init__(self, connection: asyncpg.Connection, loop: Any) -> None:
        super().__init__(connection, loop)
        self.pid = connection.get_server_pid()

    def closed(self) -> bool:
        connection = self._connection()
        return self.loop_closed() or connection is None or connection.is_closed()

    def idle(self) -> bool:
        connection = self._connection()
        return connection is None or not connection.is_in_transaction()

    def publish_statistics(self) -> None:
        connection = self._connection()
        assert connection is not None
        # the base class's method: the observed subclass would report the call
        self._run(asyncpg.Connection.execute(connection, FLUSH_STATISTICS))

    def roll_back(self) -> None:
        connection = self._connection()
        if connection is not None:
            self._run(asyncpg.Connection.execute(connection, "ROLLBACK"))


def session_of(connection: Any) -> ServerSession:
    """The server process of a driver connection (or of the SQLAlchemy adapter around one);
    an asyncio driver's is bound to the running loop, where it is opened."""
    raw = driver_connection_of(connection)
    if isinstance(raw, asyncpg.Connection):
        return _AsyncpgSession(raw, _running_loop())
    if isinstance(raw, psycopg.AsyncConnection):
        return _PsycopgAsyncSession(raw, _running_loop())
    return _PsycopgSession(raw)


def asyncpg_arguments(url: URL, plain: bool = False) -> dict[str, Any]:
    """asyncpg's ``connect()`` arguments for a ``postgresql`` URL: the URL as a DSN, which
    asyncpg reads as libpq does (``sslmode``, ``sslrootcert``, ``target_session_attrs``, ...;
    what it does not know, ``options`` among them, goes to the server as a startup setting, as
    libpq sends ``options``), but for ``connect_timeout``, which is asyncpg's ``timeout``;
    ``plain`` turns encryption off (a wire observer cannot read it)."""
    query = dict(url.query)
    timeout = query.pop("connect_timeout", None)
    dsn = url.set(drivername="postgresql", query=query)
    arguments: dict[str, Any] = {"dsn": dsn.render_as_string(hide_password=False)}
    if timeout is not None:
        arguments["timeout"] = float(timeout[-1] if isinstance(timeout, tuple) else timeout)
    if plain:
        arguments["ssl"] = False
    return arguments


def observed_asyncpg_connection(observer: Observer) -> type[asyncpg.Connection]:
    """An asyncpg connection class whose query calls report to ``observer``. The ``BEGIN`` and
    ``COMMIT`` its ``transaction()`` sends through the same calls are the driver's own
    transaction control, as psycopg's ``BEGIN`` is, and are not reported."""

    def report(query: Any, arguments: Any, executemany: bool) -> None:
        # the caller's caller: asyncpg's own transaction module, or the variant
        if sys._getframe(2).f_globals.get("__name__") != "asyncpg.transaction":
            observer.client_call(query_text(query), arguments, executemany)

    class ObservedAsyncpgConnection(asyncpg.Connection):  # type: ignore[misc]
        async def execute(self, query: str, *args: Any, **options: Any) -> Any:
            report(query, args or None, False)
            return await super().execute(query, *args, **options)

        async def executemany(self, command: str, args: Any, **options: Any) -> Any:
            parameter_sets = list(args)
            report(command, parameter_sets, True)
            return await super().executemany(command, parameter_sets, **options)

        async def fetch(self, query: str, *args: Any, **options: Any) -> Any:
            report(query, args or None, False)
            return await super().fetch(query, *args, **options)

        async def fetchrow(self, query: str, *args: Any, **options: Any) -> Any:
            report(query, args or None, False)
            return await super().fetchrow(query, *args, **options)

        async def fetchval(self, query: str, *args: Any, **options: Any) -> Any:
            report(query, args or None, False)
            return await super().fetchval(query, *args, **options)

        async def fetchmany(self, query: str, args: Any, **options: Any) -> Any:
            parameter_sets = list(args)
            report(query, parameter_sets, True)
            return await super().fetchmany(query, parameter_sets, **options)

        async def copy_records_to_table(
            self, table_name: str, *, records: Any, **options: Any
        ) -> Any:
            rows = list(records)
            columns = options.get("columns")
            target = f"{table_name} ({', '.join(columns)})" if columns else table_name
            report(f"COPY {target} FROM STDIN (FORMAT binary)", rows, True)
            return await super().copy_records_to_table(table_name, records=rows, **options)

    return ObservedAsyncpgConnection


async def connect_psycopg_async(
    conninfo: str, observer: Observer | None, **options: Any
) -> psycopg.AsyncConnection[Any]:
    """A psycopg ``AsyncConnection``; observed, its cursors report each call to ``observer``
    and it hands its protocol trace back before it closes."""
    if observer is None:
        return await psycopg.AsyncConnection.connect(conninfo, **options)
    reporter = observer

    class ObservedAsyncCursor(psycopg.AsyncCursor[Any]):
        async def execute(self, query: Any, params: Any = None, **options: Any) -> Any:
            reporter.client_call(query_text(query), params, executemany=False)
            return await super().execute(query, params, **options)

        async def executemany(self, query: Any, params_seq: Any, **options: Any) -> None:
            parameter_sets = list(params_seq)
            reporter.client_call(query_text(query), parameter_sets, executemany=True)
            await super().executemany(query, parameter_sets, **options)

        @asynccontextmanager
        async def copy(
            self, statement: Any, params: Any = None, **options: Any
        ) -> AsyncIterator[Any]:
            # one call, as the synchronous cursor's: its rows are its parameter sets
            rows: list[Any] = []
            async with super().copy(statement, params, **options) as copy:
                write_row = copy.write_row

                async def write_counted_row(row: Any) -> None:
                    rows.append(row)
                    await write_row(row)

                copy.write_row = write_counted_row  # type: ignore[method-assign]
                yield copy
            reporter.client_call(query_text(statement), rows, executemany=True)

    class ObservedAsyncConnection(psycopg.AsyncConnection[Any]):
        async def close(self) -> None:
            reporter.detach(self)
            await super().close()

    return await ObservedAsyncConnection.connect(
        conninfo, cursor_factory=ObservedAsyncCursor, **options
    )
