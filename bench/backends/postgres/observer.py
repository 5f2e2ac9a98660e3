"""The PostgreSQL observer: what one execution's connections sent and received, counted.

psycopg's connections (blocking and asyncio) are counted from libpq's protocol trace
(:mod:`bench.backends.postgres.protocol_trace`): ``Query`` and ``Execute`` messages are
statements; a run of client messages followed by server messages is one round trip; message
sizes give the bytes. asyncpg's connections, which do not use libpq, are counted on the wire
through a relay (:mod:`bench.measure.wire`, :mod:`bench.backends.postgres.protocol`). The
server's own account of the work comes from the reader the observer is given
(:meth:`bench.backends.postgres.statistics.ServerStatistics.read`), read before and after.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import psycopg

from bench.backends.postgres.drivers import driver_connection_of
from bench.backends.postgres.protocol import COUNTED_MESSAGES, ProtocolSummary, WireReader
from bench.backends.postgres.protocol_trace import ProtocolTrace, summarize_protocol_trace
from bench.measure.counting import Observer, ServerWork, query_text
from bench.measure.wire import WireObserver

ROUND_TRIPS_FROM_TRACE = "libpq protocol trace"
ROUND_TRIPS_FROM_WIRE = "protocol messages on the wire"


class PostgresObserver(Observer):
    """libpq's protocol trace of each observed psycopg connection, the bytes on the wire of
    each observed asyncpg connection (which has no trace), and the server's statistics of the
    run's tables before and after."""

    round_trips_source = ROUND_TRIPS_FROM_TRACE
    counts_bytes = True

    def __init__(self, read_statistics: Callable[[], ServerWork | None] | None = None) -> None:
        super().__init__()
        self._read_statistics = read_statistics
        self._statistics_at_start: ServerWork | None = None
        self._protocol_traces: dict[int, ProtocolTrace] = {}
        self._driver_options: dict[str, Any] | None = None
        self._connection_class: type[psycopg.Connection[Any]] | None = None
        self._wire: WireObserver[WireReader] | None = None
        #: where this observation's counts came from (the trace, the wire or both)
        self._sources: set[str] = set()

    def driver_options(self) -> dict[str, Any]:
        """Also turns off psycopg's automatic prepared statements, whose one-off extra round
        trip would land in whichever execution reached the threshold."""
        if self._driver_options is None:
            self._driver_options = {
                "cursor_factory": _observed_psycopg_cursor(self),
                "prepare_threshold": None,
            }
        return self._driver_options

    def connect(self, conninfo: str) -> psycopg.Connection[Any]:
        """A raw psycopg connection that reports its cursors' calls, and detaches its protocol
        trace when it is closed."""
        if self._connection_class is None:
            self._connection_class = _observed_psycopg_connection(self)
        return self._connection_class.connect(conninfo, **self.driver_options())

    def wire_address(self, target: tuple[str, int]) -> tuple[str, int]:
        """Where a connection to be read on the wire connects: the observer's relay to the
        server (started on first use)."""
        if self._wire is None:
            # a connection opened while recording (connecting is part of the work) is counted
            # from its first message, its authentication exchange included
            wire = WireObserver(target, lambda: WireReader(recording=self.active))
            wire.hold = self.active
            wire.start()
            self._wire = wire
        assert self._wire.address is not None
        return self._wire.address

    def attach(self, driver_connection: Any) -> None:
        self.connection_opened()
        raw = driver_connection_of(driver_connection)
        if not hasattr(raw, "pgconn"):
            return  # not libpq's: read on the wire
        trace = ProtocolTrace(raw.pgconn)
        self._protocol_traces[id(driver_connection)] = trace
        if self.active:
            trace.start()

    def detach(self, driver_connection: Any) -> None:
        """libpq flushes its trace only when the connection closes: collect it before."""
        trace = self._protocol_traces.pop(id(driver_connection), None)
        if trace is not None:
            self._collect(trace)

    def _started(self) -> None:
        self._sources = set()
        # read before any trace starts, so that nothing of the reading is counted
        if self._read_statistics is not None:
            self._statistics_at_start = self._read_statistics()
        for trace in self._protocol_traces.values():
            trace.start()
        if self._wire is not None:
            self._wire.hold = True
            self._wire.settle()
            for reader in self._wire.readers:
                reader.take()
                reader.recording(True)

    def _stopping(self) -> None:
        for trace in self._protocol_traces.values():
            self._collect(trace)
        if self._wire is not None:
            self._wire.settle()
            for reader in self._wire.readers:
                reader.recording(False)
                self._add(reader.take(), ROUND_TRIPS_FROM_WIRE)
            self._wire.hold = False
        if self._sources:
            self.observation.round_trips_source = " + ".join(sorted(self._sources))
        if self._read_statistics is not None and self._statistics_at_start is not None:
            after = self._read_statistics()
            if after is not None:
                self.observation.server_work = after.since(self._statistics_at_start)

    def _collect(self, trace: ProtocolTrace) -> None:
        if trace.running:
            self._add(summarize_protocol_trace(trace.stop()), ROUND_TRIPS_FROM_TRACE)

    def _add(self, summary: ProtocolSummary, source: str) -> None:
        if not summary.messages and not summary.bytes_received:
            return
        observation = self.observation
        observation.server_statements.extend(summary.statements)
        observation.round_trips += summary.round_trips
        observation.bytes_sent = (observation.bytes_sent or 0) + summary.bytes_sent
        observation.bytes_received = (observation.bytes_received or 0) + summary.bytes_received
        messages = observation.protocol_messages
        if messages is None:
            messages = observation.protocol_messages = dict.fromkeys(COUNTED_MESSAGES, 0)
        for name in COUNTED_MESSAGES:
            messages[name] += summary.messages[name]
        self._sources.add(source)

    def close(self) -> None:
        if self._wire is not None:
            self._wire.stop()
            self._wire = None


def _observed_psycopg_cursor(observer: Observer) -> type[psycopg.Cursor[Any]]:
    """A psycopg cursor class that reports each call to ``observer``."""

    class ObservedCursor(psycopg.Cursor[Any]):
        def execute(self, query: Any, params: Any = None, **options: Any) -> Any:
            observer.client_call(query_text(query), params, executemany=False)
            return super().execute(query, params, **options)

        def executemany(self, query: Any, params_seq: Any, **options: Any) -> None:
            parameter_sets = list(params_seq)
            observer.client_call(query_text(query), parameter_sets, executemany=True)
            super().executemany(query, parameter_sets, **options)

        @contextmanager
        def copy(self, statement: Any, params: Any = None, **options: Any) -> Iterator[Any]:
            # one call, as asyncpg's copy_records_to_table is: its rows are its parameter sets
            rows: list[Any] = []
            with super().copy(statement, params, **options) as loading:
                write_row = loading.write_row

                def write_counted_row(row: Any) -> None:
                    rows.append(row)
                    write_row(row)

                loading.write_row = write_counted_row  # type: ignore[method-assign]
                yield loading
            observer.client_call(query_text(statement), rows, executemany=True)

    return ObservedCursor


def _observed_psycopg_connection(observer: Observer) -> type[psycopg.Connection[Any]]:
    """A psycopg connection class that hands its protocol trace back to ``observer`` before
    it closes."""

    class ObservedConnection(psycopg.Connection[Any]):
        def close(self) -> None:
            observer.detach(self)
            super().close()

    return ObservedConnection
