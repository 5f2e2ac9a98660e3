"""The MariaDB observer: what one execution's connections sent and the server counted.

- statements: the server's own ``Questions`` counter of each observed session, read before and
  after (the reading statement itself taken off), and cross-checked against the ``COM_QUERY``
  packets PyMySQL wrote, whose texts are the statements listed;
- round trips: on the wire, PyMySQL's own socket writes and reads: a write followed by a read
  is one turn;
- bytes: what those writes and reads carried.

Counting starts once the driver has connected, as on PostgreSQL: the handshake and PyMySQL's
``SET AUTOCOMMIT = 0`` on connect are part of connecting. The server's own account of the work
is read through :mod:`bench.backends.mariadb.statistics`.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import pymysql
import pymysql.cursors
from pymysql.constants import COMMAND
from sqlalchemy import Engine, event

from bench.backends.mariadb.statistics import SESSION_COUNTERS, session_counters
from bench.measure.counting import Observer, ServerWork, query_text

ROUND_TRIPS_FROM_WIRE = "PyMySQL's socket writes and reads"


@dataclass
class _Session:
    """One observed connection: its counters when recording began, and which way its bytes
    last went."""

    connection: Any
    counters_at_start: dict[str, int] = field(default_factory=dict)
    last_direction: str = ""


class MariadbObserver(Observer):
    """The server's statement and row counters per session, InnoDB's server-wide counters,
    and PyMySQL's socket traffic."""

    round_trips_source = ROUND_TRIPS_FROM_WIRE
    counts_bytes = True

    def __init__(self, read_server_wide: Callable[[], ServerWork] | None = None) -> None:
        super().__init__()
        self._sessions: dict[int, _Session] = {}
        #: what the server counted, summed over the sessions (Questions less the readings)
        self._server_count = 0
        self._session_totals: dict[str, int] = {}
        self._read_server_wide = read_server_wide
        self._server_wide_at_start: ServerWork | None = None
        #: set while the observer reads a counter itself, so that its own statement is not seen
        self._reading = False
        self._cursor_class = _observed_cursor(self)
        self._connection_class = _observed_connection(self)

    def driver_options(self) -> dict[str, Any]:
        return {"cursorclass": self._cursor_class}

    def connect(self, arguments: dict[str, Any]) -> pymysql.Connection[Any]:
        return self._connection_class(**{**arguments, **self.driver_options()})

    def instrument_engine(self, engine: Engine) -> None:
        # the engine's connections are made of the observed class too: PyMySQL takes no
        # connection class argument, so the connection is made here
        @event.listens_for(engine, "do_connect")
        def _connect(dialect: Any, record: Any, cargs: Any, cparams: Any) -> Any:
            return self._connection_class(*cargs, **cparams)

        super().instrument_engine(engine)

    def attach(self, driver_connection: Any) -> None:
        self.connection_opened()
        session = _Session(driver_connection)
        self._sessions[id(driver_connection)] = session
        if self.active:
            session.counters_at_start = self._counters(driver_connection)

    def detach(self, driver_connection: Any) -> None:
        session = self._sessions.pop(id(driver_connection), None)
        if session is not None and self.active:
            self._collect(session)

    def _started(self) -> None:
        self._server_count = 0
        self._session_totals = dict.fromkeys(SESSION_COUNTERS, 0)
        if self._read_server_wide is not None:
            self._server_wide_at_start = self._read_server_wide()
        for session in self._sessions.values():
            session.counters_at_start = self._counters(session.connection)
            session.last_direction = ""

    def _stopping(self) -> None:
        for session in self._sessions.values():
            self._collect(session)
        totals = self._session_totals
        server_wide = ServerWork(None, None, None, None)
        if self._read_server_wide is not None and self._server_wide_at_start is not None:
            server_wide = self._read_server_wide().since(self._server_wide_at_start)
        self.observation.server_work = ServerWork(
            rows_read=totals["Rows_read"],
            rows_written=totals["Handler_write"]
            + totals["Handler_update"]
            + totals["Handler_delete"],
            blocks=server_wide.blocks,
            wal_bytes=server_wide.wal_bytes,
        )
        seen = len(self.observation.server_statements)
        if seen != self._server_count:
            raise CountMismatch(
                f"MariaDB counted {self._server_count} statements and the wire showed {seen}: "
                "the statement count cannot be trusted"
            )

    def _collect(self, session: _Session) -> None:
        now = self._counters(session.connection)
        for name in SESSION_COUNTERS:
            self._session_totals[name] += now[name] - session.counters_at_start.get(name, 0)
        # the reading statement counts itself
        self._server_count += now["Questions"] - session.counters_at_start["Questions"] - 1

    def _counters(self, connection: Any) -> dict[str, int]:
        self._reading = True
        try:
            return session_counters(connection)
        finally:
            self._reading = False

    # --- the wire, reported by the observed connection class ------------------------------

    def _session(self, connection: Any) -> _Session | None:
        if not self.active or self._reading:
            return None
        return self._sessions.get(id(connection))

    def wrote(self, connection: Any, data: bytes) -> None:
        session = self._session(connection)
        if session is not None:
            self.observation.bytes_sent = (self.observation.bytes_sent or 0) + len(data)
            session.last_direction = "sent"

    def read(self, connection: Any, data: bytes) -> None:
        session = self._session(connection)
        if session is not None:
            self.observation.bytes_received = (self.observation.bytes_received or 0) + len(data)
            if session.last_direction == "sent":
                self.observation.round_trips += 1
            session.last_direction = "received"

    def command(self, connection: Any, command: int, sql: Any) -> None:
        if command == COMMAND.COM_QUERY and self._session(connection) is not None:
            self.observation.server_statements.append(query_text(sql))


class CountMismatch(AssertionError):
    """The server's statement counter and the wire disagree."""


def _observed_cursor(observer: Observer) -> type[pymysql.cursors.Cursor]:
    """A PyMySQL cursor class that reports each call to ``observer``."""

    class ObservedCursor(pymysql.cursors.Cursor):
        _inside_executemany = False

        def execute(self, query: Any, args: Any = None) -> int:
            # PyMySQL runs an executemany it cannot batch as one execute per row: one call
            if not self._inside_executemany:
                observer.client_call(query_text(query), args, executemany=False)
            return int(super().execute(query, args))

        def executemany(self, query: Any, args: Any) -> int | None:
            parameter_sets = list(args)
            observer.client_call(query_text(query), parameter_sets, executemany=True)
            self._inside_executemany = True
            try:
                return super().executemany(query, parameter_sets)
            finally:
                self._inside_executemany = False

    return ObservedCursor


def _observed_connection(observer: MariadbObserver) -> type[pymysql.Connection[Any]]:
    """A PyMySQL connection class that reports its commands and socket traffic to
    ``observer``, and is detached before it closes."""

    # generic only in PyMySQL's published types, which leave out the methods overridden here
    base: Any = pymysql.Connection

    class ObservedConnection(base):  # type: ignore[misc]
        def _write_bytes(self, data: bytes) -> None:
            observer.wrote(self, data)
            super()._write_bytes(data)

        def _read_bytes(self, num_bytes: int) -> bytes:
            data: bytes = super()._read_bytes(num_bytes)
            observer.read(self, data)
            return data

        def _execute_command(self, command: int, sql: Any) -> None:
            observer.command(self, command, sql)
            super()._execute_command(command, sql)

        def close(self) -> None:
            try:
                observer.detach(self)
            finally:
                super().close()

    return ObservedConnection
