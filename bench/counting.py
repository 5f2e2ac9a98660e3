"""Counting what one execution costs: the statements the client sent, the statements the
database executed, the network round trips, and the bytes on the wire.

An :class:`Observer` is attached to the engines and driver connections of a separate, counting
instance of a variant; timed instances never carry it. It records only between
:meth:`Observer.start` and :meth:`Observer.stop`.

- client side: the driver's own cursor and connection classes, subclassed so that every
  DB-API ``execute`` or ``executemany`` reports itself, whoever calls it: the variant, the raw
  driver, SQLAlchemy (each insertmanyvalues batch is one call) or its dialect when it first
  connects. This is what ``echo=True`` lists;
- SQLite: ``sqlite3.Connection.set_trace_callback``, called for every statement SQLite runs
  (each row of an executemany, BEGIN and COMMIT included). SQLite has no network, so its
  round trips are its statements;
- PostgreSQL: libpq's protocol trace of each psycopg connection (``pgconn.trace``): ``Query``
  and ``Execute`` messages are statements; a run of client messages followed by server
  messages is one round trip; message sizes give the bytes.
"""

from __future__ import annotations

import re
import sqlite3
import tempfile
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import IO, Any

import psycopg
from sqlalchemy import Engine, event

ROUND_TRIPS_FROM_TRACE = "libpq protocol trace"
ROUND_TRIPS_FROM_STATEMENTS = "= db_statements (no network)"
#: the statements on which SQLite starts a trigger sub-program (the posts' ON DELETE CASCADE)
_CASCADING_DELETE = "DELETE FROM user_account"


@dataclass(frozen=True)
class ClientCall:
    """One DB-API execute/executemany call."""

    sql: str
    parameter_sets: int
    parameters: int
    executemany: bool


@dataclass
class Observation:
    """What one observed execution cost."""

    client_calls: list[ClientCall] = field(default_factory=list)
    server_statements: list[str] = field(default_factory=list)
    round_trips: int = 0
    bytes_sent: int | None = None
    bytes_received: int | None = None
    connections_opened: int = 0
    round_trips_source: str = ROUND_TRIPS_FROM_STATEMENTS

    @property
    def cursor_calls(self) -> int:
        return len(self.client_calls)

    @property
    def db_statements(self) -> int:
        return len(self.server_statements)

    def measures(self) -> dict[str, Any]:
        values: dict[str, Any] = {
            "cursor_calls": self.cursor_calls,
            "db_statements": self.db_statements,
            "round_trips": self.round_trips,
            "round_trips_source": self.round_trips_source,
            "connections_opened": self.connections_opened,
        }
        if self.bytes_sent is not None:
            values["bytes_sent"] = self.bytes_sent
            values["bytes_received"] = self.bytes_received
        return values


def _parameter_count(parameters: Any) -> int:
    if parameters is None:
        return 0
    if isinstance(parameters, dict):
        return len(parameters)
    if isinstance(parameters, (list, tuple)):
        return len(parameters)
    return 1


class Observer:
    """Records the client calls and server activity of everything instrumented with it."""

    def __init__(self, backend: str) -> None:
        self.backend = backend
        self.active = False
        self.observation = Observation()
        self._protocol_traces: dict[int, _ProtocolTrace] = {}
        self._driver_options: dict[str, Any] | None = None
        self._psycopg_connection: type[psycopg.Connection[Any]] | None = None

    # --- recording ----------------------------------------------------------------------------

    def start(self) -> None:
        self.observation = Observation(
            round_trips_source=(
                ROUND_TRIPS_FROM_TRACE
                if self.backend == "postgres"
                else ROUND_TRIPS_FROM_STATEMENTS
            ),
            bytes_sent=0 if self.backend == "postgres" else None,
            bytes_received=0 if self.backend == "postgres" else None,
        )
        self.active = True
        for trace in self._protocol_traces.values():
            trace.start()

    def stop(self) -> Observation:
        for trace in self._protocol_traces.values():
            self._collect(trace)
        self.active = False
        if self.backend != "postgres":
            self.observation.round_trips = self.observation.db_statements
        return self.observation

    @contextmanager
    def observing(self) -> Iterator[Observation]:
        """Record the block; the observation is complete when the block ends."""
        self.start()
        try:
            yield self.observation
        finally:
            self.stop()

    def client_call(self, sql: str, parameters: Any, executemany: bool) -> None:
        if not self.active:
            return
        if executemany:
            parameter_sets = list(parameters)
            call = ClientCall(
                sql,
                len(parameter_sets),
                _parameter_count(parameter_sets[0]) if parameter_sets else 0,
                True,
            )
        else:
            call = ClientCall(sql, 1, _parameter_count(parameters), False)
        self.observation.client_calls.append(call)

    # --- attaching to driver connections ------------------------------------------------------

    def attach(self, driver_connection: Any) -> None:
        """Observe a raw driver connection from now until :meth:`detach` or its close."""
        if self.active:
            self.observation.connections_opened += 1
        if self.backend == "sqlite":
            driver_connection.set_trace_callback(self._sqlite_statement)
        else:
            trace = _ProtocolTrace(driver_connection.pgconn)
            self._protocol_traces[id(driver_connection)] = trace
            if self.active:
                trace.start()

    def detach(self, driver_connection: Any) -> None:
        """Call before the driver connection closes (libpq flushes its trace only then)."""
        trace = self._protocol_traces.pop(id(driver_connection), None)
        if trace is not None:
            self._collect(trace)

    def _sqlite_statement(self, sql: str) -> None:
        if not self.active:
            return
        statements = self.observation.server_statements
        # SQLite calls back again, with the same text, at the start of each trigger sub-program:
        # for a DELETE from user_account, the foreign key's ON DELETE CASCADE, once per deleted
        # row. That is part of the statement already counted, not another one.
        if statements and statements[-1] == sql and sql.startswith(_CASCADING_DELETE):
            return
        statements.append(sql)

    def _collect(self, trace: _ProtocolTrace) -> None:
        if not trace.running:
            return
        summary = summarize_protocol_trace(trace.stop())
        observation = self.observation
        observation.server_statements.extend(summary.statements)
        observation.round_trips += summary.round_trips
        observation.bytes_sent = (observation.bytes_sent or 0) + summary.bytes_sent
        observation.bytes_received = (observation.bytes_received or 0) + summary.bytes_received

    # --- instrumenting --------------------------------------------------------------------------

    def driver_options(self) -> dict[str, Any]:
        """Arguments for the driver's ``connect()`` that make its cursors report to this
        observer (SQLAlchemy passes them on as ``connect_args``).

        On PostgreSQL they also turn off psycopg's automatic prepared statements, whose
        one-off extra round trip would land in whichever execution reached the threshold.
        """
        if self._driver_options is None:
            self._driver_options = (
                {"factory": _observed_sqlite_connection(self)}
                if self.backend == "sqlite"
                else {"cursor_factory": _observed_psycopg_cursor(self), "prepare_threshold": None}
            )
        return self._driver_options

    def connect_psycopg(self, conninfo: str, **options: Any) -> Any:
        """A raw psycopg connection that reports its cursors' calls, and detaches its protocol
        trace when it is closed."""
        if self._psycopg_connection is None:
            self._psycopg_connection = _observed_psycopg_connection(self)
        return self._psycopg_connection.connect(conninfo, **options, **self.driver_options())

    def instrument_engine(self, engine: Engine) -> None:
        """Observe each driver connection the engine opens, until it is closed."""

        # first in line, so the dialect's first-connect queries and any per-connection setup
        # are observed too: they are part of what connecting costs
        @event.listens_for(engine, "connect", insert=True)
        def _connect(driver_connection: Any, record: Any) -> None:
            self.attach(driver_connection)

        @event.listens_for(engine, "close")
        def _close(driver_connection: Any, record: Any) -> None:
            self.detach(driver_connection)

        @event.listens_for(engine, "close_detached")
        def _close_detached(driver_connection: Any) -> None:
            self.detach(driver_connection)


def _observed_sqlite_connection(observer: Observer) -> type[sqlite3.Connection]:
    """A sqlite3 connection class whose cursors report each call to ``observer``."""

    class ObservedCursor(sqlite3.Cursor):
        def execute(self, sql: str, parameters: Any = (), /) -> ObservedCursor:
            observer.client_call(sql, parameters, executemany=False)
            return super().execute(sql, parameters)

        def executemany(self, sql: str, parameters: Any, /) -> ObservedCursor:
            parameter_sets = list(parameters)
            observer.client_call(sql, parameter_sets, executemany=True)
            return super().executemany(sql, parameter_sets)

    class ObservedConnection(sqlite3.Connection):
        def cursor(self, factory: Any = ObservedCursor) -> Any:
            return super().cursor(factory)

        # the connection's shortcuts run on a cursor of their own, not through cursor()
        def execute(self, sql: str, parameters: Any = (), /) -> Any:
            return self.cursor().execute(sql, parameters)

        def executemany(self, sql: str, parameters: Any, /) -> Any:
            return self.cursor().executemany(sql, parameters)

    return ObservedConnection


def _observed_psycopg_cursor(observer: Observer) -> type[psycopg.Cursor[Any]]:
    """A psycopg cursor class that reports each call to ``observer``."""

    class ObservedCursor(psycopg.Cursor[Any]):
        def execute(self, query: Any, params: Any = None, **options: Any) -> Any:
            observer.client_call(_query_text(query), params, executemany=False)
            return super().execute(query, params, **options)

        def executemany(self, query: Any, params_seq: Any, **options: Any) -> None:
            parameter_sets = list(params_seq)
            observer.client_call(_query_text(query), parameter_sets, executemany=True)
            super().executemany(query, parameter_sets, **options)

    return ObservedCursor


def _observed_psycopg_connection(observer: Observer) -> type[psycopg.Connection[Any]]:
    """A psycopg connection class that hands its protocol trace back to ``observer`` before
    it closes (libpq flushes the trace only then)."""

    class ObservedConnection(psycopg.Connection[Any]):
        def close(self) -> None:
            observer.detach(self)
            super().close()

    return ObservedConnection


def _query_text(query: Any) -> str:
    return query.decode() if isinstance(query, bytes) else str(query)


# --- the libpq protocol trace -----------------------------------------------------------------


class _ProtocolTrace:
    """libpq's trace of one connection, into a temporary file, between start() and stop()."""

    def __init__(self, pgconn: Any) -> None:
        self._pgconn = pgconn
        self._file: IO[bytes] | None = None

    @property
    def running(self) -> bool:
        return self._file is not None

    def start(self) -> None:
        from psycopg import pq

        self._file = tempfile.TemporaryFile()  # noqa: SIM115 (closed by stop())
        self._pgconn.trace(self._file.fileno())
        self._pgconn.set_trace_flags(pq.Trace.SUPPRESS_TIMESTAMPS | pq.Trace.REGRESS_MODE)

    def stop(self) -> list[str]:
        assert self._file is not None
        file, self._file = self._file, None
        self._pgconn.untrace()  # flushes libpq's buffered stream
        file.seek(0)
        lines = file.read().decode("utf-8", "replace").splitlines()
        file.close()
        return lines


@dataclass
class ProtocolSummary:
    statements: list[str]
    round_trips: int
    bytes_sent: int
    bytes_received: int


_MESSAGE_START = re.compile(r"^[FB]\t\d+\t")
_PARSE = re.compile(r'^ "(?P<name>[^"]*)" "(?P<sql>.*)" \d+', re.DOTALL)
_BIND = re.compile(r'^ "(?P<portal>[^"]*)" "(?P<name>[^"]*)"')
_EXECUTE = re.compile(r'^ "(?P<portal>[^"]*)"')
_QUERY = re.compile(r'^ "(?P<sql>.*)"$', re.DOTALL)


def _messages(lines: Sequence[str]) -> list[str]:
    """Trace lines joined into messages: libpq writes a statement's newlines as they are, so
    a multi-line SQL text continues on lines of its own."""
    messages: list[str] = []
    for line in lines:
        if _MESSAGE_START.match(line) or not messages:
            messages.append(line)
        else:
            messages[-1] += "\n" + line
    return messages


def summarize_protocol_trace(lines: Sequence[str]) -> ProtocolSummary:
    """Statements, round trips and bytes from libpq trace lines
    (``F|B <tab> length <tab> message <tab> arguments``, timestamps suppressed)."""
    statements: list[str] = []
    round_trips = 0
    sent = received = 0
    previous_direction = ""
    parsed: dict[str, str] = {}
    portals: dict[str, str] = {}
    for message_line in _messages(lines):
        parts = message_line.split("\t", 3)
        if len(parts) < 3 or parts[0] not in ("F", "B"):
            continue
        direction, length, message = parts[0], int(parts[1]), parts[2]
        arguments = parts[3] if len(parts) > 3 else ""
        # the length field counts itself but not the one-byte message type
        if direction == "F":
            sent += length + 1
        else:
            received += length + 1
            if previous_direction == "F":
                round_trips += 1
        previous_direction = direction
        if direction != "F":
            continue
        if message == "Query" and (match := _QUERY.match(arguments)):
            statements.append(match["sql"])
        elif message == "Parse" and (match := _PARSE.match(arguments)):
            parsed[match["name"]] = match["sql"]
        elif message == "Bind" and (match := _BIND.match(arguments)):
            portals[match["portal"]] = parsed.get(match["name"], "?")
        elif message == "Execute":
            match = _EXECUTE.match(arguments)
            statements.append(portals.get(match["portal"], "?") if match else "?")
    return ProtocolSummary(statements, round_trips, sent, received)
