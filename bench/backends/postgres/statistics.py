"""The PostgreSQL server's own account: the settings that change timings, and the cumulative
statistics of the run's own tables.

:class:`ServerStatistics` reads ``pg_stat_all_tables``, ``pg_statio_all_tables`` and
``pg_statio_all_sequences`` of the run's schema and the WAL insert position, before and after
the counted execution, once every backend the harness ever connected has published its pending
statistics.
"""

from __future__ import annotations

import time
import weakref
from typing import Any

import psycopg

from bench.backends.postgres.drivers import ServerSession, driver_connection_of, session_of
from bench.measure.counting import ServerWork

TIMING_SETTINGS = ("fsync", "synchronous_commit", "full_page_writes", "shared_buffers")


def server_settings(connection: psycopg.Connection[Any]) -> dict[str, str]:
    """The server's version and the settings that change timings."""
    with connection.transaction():
        values = {"version": str(connection.execute("SHOW server_version").fetchone()[0])}  # type: ignore[index]
        for setting in TIMING_SETTINGS:
            values[setting] = str(connection.execute(f"SHOW {setting}").fetchone()[0])  # type: ignore[index]
    return values


# --- the server's cumulative statistics ---------------------------------------------------------

#: the run's own tables, their indexes, TOAST and sequences, summed: (rows read, rows written,
#: blocks); the figures each is made of are listed in docs/measures.md
_STATISTICS = """
SELECT
  (SELECT coalesce(sum(seq_tup_read + coalesce(idx_tup_fetch, 0)), 0)
     FROM pg_stat_all_tables WHERE schemaname = %(schema)s)::bigint,
  (SELECT coalesce(sum(n_tup_ins + n_tup_upd + n_tup_del), 0)
     FROM pg_stat_all_tables WHERE schemaname = %(schema)s)::bigint,
  (SELECT coalesce(sum(heap_blks_hit + heap_blks_read
                       + coalesce(idx_blks_hit, 0) + coalesce(idx_blks_read, 0)
                       + coalesce(toast_blks_hit, 0) + coalesce(toast_blks_read, 0)
                       + coalesce(tidx_blks_hit, 0) + coalesce(tidx_blks_read, 0)), 0)
     FROM pg_statio_all_tables WHERE schemaname = %(schema)s)::bigint
  + (SELECT coalesce(sum(blks_hit + blks_read), 0)
     FROM pg_statio_all_sequences WHERE schemaname = %(schema)s)::bigint,
  pg_wal_lsn_diff(pg_current_wal_insert_lsn(), '0/0')::bigint
"""
#: pg_stat_force_next_flush() came with the shared-memory statistics of PostgreSQL 15
STATISTICS_SINCE = 150000
#: how long a closed connection's server process may take to exit (and publish its statistics)
EXIT_WAIT_SECONDS = 10.0


class ServerStatistics:
    """The server's cumulative statistics of the run's schema, read on the harness's own
    connection, exact at the moment of reading.

    A server process publishes the statistics of its work at the end of a transaction, but at
    most once a second: the rest stays pending in its memory until later. So before each read,
    every server process the harness has connected publishes what it holds:

    - each open connection the backend ever made, timed instances' included, runs
      ``SELECT pg_stat_force_next_flush()`` in autocommit: its process publishes everything
      pending before it answers (outside any protocol trace, so no count sees it);
    - each closed one: its process publishes at exit, before it leaves ``pg_stat_activity``,
      so the reader waits until it has left;
    - the reading connection itself, the same way (the reset ran on it).

    The statistics snapshot is cleared before the figures are read (``pg_stat_clear_snapshot()``),
    so they are not a cached earlier view.
    """

    def __init__(self, connection: psycopg.Connection[Any], schema: str) -> None:
        self._connection = connection
        self._schema = schema
        self.available = connection.info.server_version >= STATISTICS_SINCE
        #: server process id -> the connection it serves
        self._sessions: dict[int, ServerSession] = {}
        self._by_connection: weakref.WeakKeyDictionary[Any, ServerSession] = (
            weakref.WeakKeyDictionary()
        )

    def register(self, connection: Any) -> None:
        """A new driver connection (of any of the drivers, or a SQLAlchemy adapter of one)."""
        session = session_of(connection)
        self._sessions[session.pid] = session
        self._by_connection[driver_connection_of(connection)] = session

    def session(self, connection: Any) -> ServerSession:
        """The server process of a connection registered before (or of one now)."""
        found = self._by_connection.get(driver_connection_of(connection))
        return found if found is not None else session_of(connection)

    def read(self) -> ServerWork | None:
        """The counters now, as totals (rows read, rows written, blocks, WAL position); None
        where the server keeps no statistics that can be made exact (before PostgreSQL 15)."""
        if not self.available:
            return None
        self._publish_pending()
        cursor = self._connection.cursor()
        cursor.execute("SELECT pg_stat_force_next_flush()")
        cursor.execute("SELECT pg_stat_clear_snapshot()")
        row = cursor.execute(_STATISTICS, {"schema": self._schema}).fetchone()
        assert row is not None
        rows_read, rows_written, blocks, wal = (int(value) for value in row)
        return ServerWork(rows_read, rows_written, blocks, wal)

    def _publish_pending(self) -> None:
        exited: list[int] = []
        for pid, session in list(self._sessions.items()):
            if session.closed():
                exited.append(pid)
            elif session.idle():
                session.publish_statistics()
            # a connection inside a transaction publishes at its end; the harness fails a
            # variant that leaves one open
        self._wait_for_exit(exited)
        for pid in exited:
            del self._sessions[pid]

    def _wait_for_exit(self, pids: list[int]) -> None:
        deadline = time.monotonic() + EXIT_WAIT_SECONDS
        while pids:
            row = self._connection.execute(
                "SELECT count(*) FROM pg_stat_activity WHERE pid = ANY(%s)", (pids,)
            ).fetchone()
            if row is None or row[0] == 0:
                return
            if time.monotonic() > deadline:
                raise RuntimeError(
                    f"{row[0]} closed connections' server processes have not exited after "
                    f"{EXIT_WAIT_SECONDS:g} s: the server's statistics cannot be read exactly"
                )
            time.sleep(0.005)
