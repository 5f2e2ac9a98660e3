"""Counting what one execution costs: the statements the client sent, the statements the
database executed, the network round trips, and the bytes on the wire.

An :class:`Observer` is attached to the engines and driver connections of a separate, counting
instance of a variant; timed instances never carry it. It records only between
:meth:`Observer.start` and :meth:`Observer.stop`.

The client side is the same everywhere: the driver's own cursor class, subclassed so that
every DB-API ``execute`` or ``executemany`` reports itself, whoever calls it (the variant, the
raw driver, SQLAlchemy, each insertmanyvalues batch being one call, or its dialect when it
first connects). This is what ``echo=True`` lists. What the database executed, and how many
times the client waited for it, each backend observes its own way: its module subclasses
:class:`Observer` (see ``bench/backends/``). So does the server's own account of the work
(:class:`ServerWork`: rows read and written, buffer pages, log bytes), where it keeps one.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Engine, event
from sqlalchemy.engine.interfaces import ExecuteStyle

from bench.measure.sql_text import abbreviate_sql

ROUND_TRIPS_FROM_STATEMENTS = "= db_statements (no network)"
#: the distinct statements a cell's record lists of its SQL; the rest are only counted
SQL_STATEMENTS_KEPT = 20


@dataclass(frozen=True)
class ClientCall:
    """One DB-API execute/executemany call."""

    sql: str
    parameter_sets: int
    parameters: int
    executemany: bool


@dataclass(frozen=True)
class ServerWork:
    """The server's own account of one execution: before-and-after differences of its
    statistics counters. Which counters make up each figure is the backend's to say (its
    ``server_work_notes``); a figure the server cannot give is None."""

    rows_read: int | None
    rows_written: int | None
    blocks: int | None
    wal_bytes: int | None

    def measures(self) -> dict[str, int | None]:
        return {
            "server_rows_read": self.rows_read,
            "server_rows_written": self.rows_written,
            "server_blocks": self.blocks,
            "wal_bytes": self.wal_bytes,
        }

    def since(self, before: ServerWork) -> ServerWork:
        """The work between two readings of the same counters (this one the later)."""

        def difference(first: int | None, second: int | None) -> int | None:
            return None if first is None or second is None else second - first

        return ServerWork(
            difference(before.rows_read, self.rows_read),
            difference(before.rows_written, self.rows_written),
            difference(before.blocks, self.blocks),
            difference(before.wal_bytes, self.wal_bytes),
        )


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
    #: None where the backend keeps no such account (SQLite)
    server_work: ServerWork | None = None
    #: the client's protocol messages by kind (PostgreSQL: Parse, Bind, Execute, Sync, Query);
    #: None where the backend's observer does not see messages
    protocol_messages: dict[str, int] | None = None

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
        if self.server_work is not None:
            values.update(self.server_work.measures())
        if self.protocol_messages is not None:
            values["protocol_messages"] = dict(self.protocol_messages)
        values["sql_sent"] = self.sql_sent()
        return values

    def sql_sent(self, kept: int = SQL_STATEMENTS_KEPT) -> dict[str, Any]:
        """The SQL the client sent, for the record: its distinct statements (shortened as
        ``python -m bench statements`` prints them, with no parameter values) in the order
        first sent, each with how many calls sent it and, for an executemany, the parameter
        sets they batched; the first ``kept`` of them, and how many more there were."""
        distinct: dict[tuple[str, bool], dict[str, Any]] = {}
        for call in self.client_calls:
            key = (abbreviate_sql(call.sql), call.executemany)
            entry = distinct.get(key)
            if entry is None:
                entry = distinct[key] = {"sql": key[0], "calls": 0, "executemany": key[1]}
                if call.executemany:
                    entry["parameter_sets"] = 0
            entry["calls"] += 1
            if call.executemany:
                entry["parameter_sets"] += call.parameter_sets
        statements = list(distinct.values())
        left_out = statements[kept:]
        return {
            "statements": statements[:kept],
            "left_out": len(left_out),
            "left_out_calls": sum(entry["calls"] for entry in left_out),
        }


def parameter_count(parameters: Any) -> int:
    if parameters is None:
        return 0
    if isinstance(parameters, (dict, list, tuple)):
        return len(parameters)
    return 1


def query_text(query: Any) -> str:
    return query.decode() if isinstance(query, (bytes, bytearray)) else str(query)


class Observer(ABC):
    """Records the client calls and server activity of everything instrumented with it.

    A backend's subclass says how its driver's connections are made to report
    (:meth:`driver_options`), and how it observes what the database did on a connection
    between :meth:`attach` and :meth:`detach`.
    """

    #: where the round trips come from, for the report
    round_trips_source: str = ROUND_TRIPS_FROM_STATEMENTS
    #: whether the observer counts bytes on the wire
    counts_bytes: bool = False

    def __init__(self) -> None:
        self.active = False
        self.observation = Observation()

    # --- the backend's part ---------------------------------------------------------------

    @abstractmethod
    def driver_options(self) -> dict[str, Any]:
        """Arguments for the driver's ``connect()`` that make its cursors report to this
        observer (SQLAlchemy passes them on as ``connect_args``)."""

    @abstractmethod
    def attach(self, driver_connection: Any) -> None:
        """Observe a new raw driver connection from now until :meth:`detach` or its close."""

    def detach(self, driver_connection: Any) -> None:  # noqa: B027 (an optional hook)
        """Called before the driver connection closes: collect what it did."""

    def _started(self) -> None:  # noqa: B027 (an optional hook)
        """Recording starts: open the backend's own records."""

    def _stopping(self) -> None:  # noqa: B027 (an optional hook)
        """Recording stops: collect the backend's own records into the observation."""

    # --- recording ----------------------------------------------------------------------------

    def start(self) -> None:
        self.observation = Observation(
            round_trips_source=self.round_trips_source,
            bytes_sent=0 if self.counts_bytes else None,
            bytes_received=0 if self.counts_bytes else None,
        )
        self.active = True
        self._started()

    def stop(self) -> Observation:
        try:
            self._stopping()
        finally:
            self.active = False
        if self.round_trips_source == ROUND_TRIPS_FROM_STATEMENTS:
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
                parameter_count(parameter_sets[0]) if parameter_sets else 0,
                True,
            )
        else:
            call = ClientCall(sql, 1, parameter_count(parameters), False)
        self.observation.client_calls.append(call)

    def close(self) -> None:  # noqa: B027 (an optional hook)
        """Release what observing needed (a relay, ...), once the observed connections are
        closed."""

    def connection_opened(self) -> None:
        if self.active:
            self.observation.connections_opened += 1

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

    def count_engine_calls(self, engine: Engine) -> None:
        """Report each cursor call SQLAlchemy makes on the engine's connections: for drivers
        whose cursors are SQLAlchemy's own adapters (the asyncio ones), where the driver's
        cursor class cannot report them."""

        @event.listens_for(engine, "before_cursor_execute")
        def _call(
            connection: Any,
            cursor: Any,
            statement: str,
            parameters: Any,
            context: Any,
            executemany: bool,
        ) -> None:
            # SQLAlchemy passes executemany=True for each insertmanyvalues batch too, which is
            # one execute of one parameter set: its execution style tells them apart
            style = getattr(context, "execute_style", None)
            self.client_call(
                statement, parameters, executemany and style is ExecuteStyle.EXECUTEMANY
            )
