"""PostgreSQL: a schema of the run's own on a server, reached with psycopg 3.

The server comes from the URL given (``--postgres-url`` or ``BENCH_POSTGRES_URL``), else from
:mod:`bench.backends.postgres_servers` (testcontainers, then local server binaries).

Counting: libpq's protocol trace of each psycopg connection (``pgconn.trace``). ``Query`` and
``Execute`` messages are statements; a run of client messages followed by server messages is
one round trip; message sizes give the bytes.

The server's own account of the work (:class:`ServerStatistics`): the cumulative statistics of
the run's own tables (``pg_stat_all_tables``, ``pg_statio_all_tables``,
``pg_statio_all_sequences``) and the WAL insert position, read before and after the counted
execution, once every backend the harness ever connected has published its pending statistics.
"""

from __future__ import annotations

import contextlib
import copy
import re
import secrets
import tempfile
import time
import weakref
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from typing import IO, Any, ClassVar

import asyncpg
import psycopg
import sqlalchemy.ext.asyncio
from psycopg.rows import class_row
from sqlalchemy import URL
from sqlalchemy.ext.asyncio import AsyncEngine

from bench.backends.base import (
    LEFT_BEHIND,
    SNAPSHOT_POSTS,
    SNAPSHOT_USERS,
    Backend,
    BackendType,
    ConnectionRoom,
    ServerBackendType,
    StoredRow,
)
from bench.backends.pgwire import COUNTED_MESSAGES, ProtocolSummary, ProtocolTally, WireReader
from bench.backends.postgres_async import (
    ServerSession,
    asyncpg_arguments,
    connect_psycopg_async,
    driver_connection_of,
    observed_asyncpg_connection,
    session_of,
)
from bench.backends.postgres_conninfo import (
    conninfo_for,
    join_options,
)
from bench.backends.postgres_servers import LocalClusterProvider, TestcontainersProvider
from bench.backends.servers import (
    Server,
    ServerError,
    mask,
)
from bench.measure.counting import Observer, ServerWork, query_text
from bench.measure.wire import WireObserver
from bench.measure.workloads import DbState
from bench.messages import first_line

URL_ENV = "BENCH_POSTGRES_URL"
HOW_TO_ENABLE = (
    f"pass --postgres-url or set {URL_ENV}, start a Docker daemon, "
    "or install the PostgreSQL server binaries (initdb, pg_ctl)"
)
ROUND_TRIPS_FROM_TRACE = "libpq protocol trace"
ROUND_TRIPS_FROM_WIRE = "protocol messages on the wire"
#: another transaction's lock in the way: a deadlock, a serialization failure, a lock timeout
LOCK_ERRORS = (
    psycopg.errors.DeadlockDetected,
    psycopg.errors.SerializationFailure,
    psycopg.errors.LockNotAvailable,
)


class PostgresType(ServerBackendType["PostgresBackend"]):
    name: ClassVar[str] = "postgres"
    title: ClassVar[str] = "PostgreSQL"
    networked: ClassVar[bool] = True
    provisioning: ClassVar[str] = (
        "--postgres-url / $BENCH_POSTGRES_URL, else a testcontainers PostgresContainer, "
        "else a throwaway cluster from local server binaries"
    )
    url_env: ClassVar[str | None] = URL_ENV
    driver_errors: ClassVar[tuple[type[Exception], ...]] = (psycopg.Error,)
    count_notes: ClassVar[tuple[str, ...]] = (
        "psycopg sends BEGIN before a transaction's first statement (one round trip of its own)",
        "psycopg runs an executemany as one Execute per row in a pipeline: many statements in "
        "few round trips",
        "SQLAlchemy sends inserts that must return ids as multi-row INSERT ... RETURNING "
        "(insertmanyvalues)",
    )
    counts_server_work: ClassVar[bool] = True
    server_work_notes: ClassVar[tuple[str, ...]] = (
        "rows read: `seq_tup_read + idx_tup_fetch` of the run's tables (`pg_stat_all_tables`): "
        "live rows returned by sequential scans and fetched from the table by index scans, the "
        "foreign key's checks and the cascade's lookups included",
        "rows written: `n_tup_ins + n_tup_upd + n_tup_del` of the run's tables, cascaded "
        "deletes included",
        "blocks: shared buffer blocks hit plus read of the run's tables, their indexes and "
        "TOAST (`pg_statio_all_tables`) and sequences (`pg_statio_all_sequences`)",
        "WAL bytes: the advance of `pg_current_wal_insert_lsn()`, server-wide",
    )

    how_to_enable: ClassVar[str] = HOW_TO_ENABLE
    url_schemes: ClassVar[tuple[str, ...]] = ("postgresql", "postgres")
    drivername: ClassVar[str] = "postgresql+psycopg"
    async_drivers: ClassVar[Mapping[str, str]] = {
        "psycopg": "postgresql+psycopg",
        "asyncpg": "postgresql+asyncpg",
    }

    def __init__(self) -> None:
        super().__init__((TestcontainersProvider(), LocalClusterProvider()))

    def server_version(self, url: URL) -> str:
        return server_version(url)

    def connection_room(self, server: Server) -> ConnectionRoom | None:
        return connection_room(server.address)

    def _database(self, server_url: URL, name: str, provisioned_by: str) -> PostgresBackend:
        return PostgresBackend(server_url, name, provisioned_by)

    def driver_versions(self) -> dict[str, str]:
        libpq = psycopg.pq.version()
        return {
            "psycopg": psycopg.__version__,
            "libpq": f"{libpq // 10000}.{libpq % 10000}",
            "psycopg implementation": psycopg.pq.__impl__,
            "asyncpg": asyncpg.__version__,
        }


POSTGRES = PostgresType()


def parse_postgres_url(raw: str) -> URL:
    """A user's URL as a ``postgresql+psycopg`` SQLAlchemy URL."""
    return POSTGRES.parse_url(raw)


def server_version(url: URL) -> str:
    """Connect once and check that the harness can work there: the server's version, or a
    one-line ServerError naming the masked URL."""
    try:
        # a bad connection parameter (an unknown one in the URL's query) fails here too
        connection = psycopg.connect(conninfo_for(url), connect_timeout=10)
    except psycopg.Error as exc:
        raise ServerError(
            f"cannot connect to PostgreSQL at {mask(url)}: {first_line(exc)}"
        ) from None
    try:
        with connection:
            version = str(connection.execute("SHOW server_version").fetchone()[0])  # type: ignore[index]
            # the run works in a schema of its own: try making one (rolled back), under a
            # name of its own too, so that nothing left on the server can be in the way
            connection.execute(f"CREATE SCHEMA bench_preflight_{secrets.token_hex(6)}")
            connection.rollback()
            return version
    except psycopg.Error as exc:
        raise ServerError(
            f"cannot create the run's schema at {mask(url)}: {first_line(exc)}"
        ) from None


@dataclass(frozen=True)
class ConnectionLimits:
    """What limits a role's new connections on a PostgreSQL server, and what others hold."""

    max_connections: int
    superuser_reserved_connections: int
    #: PostgreSQL 16+: the slots kept for roles with pg_use_reserved_connections (0 before)
    reserved_connections: int
    role: str
    superuser: bool
    may_use_reserved: bool
    #: the role's and the database's CONNECTION LIMIT; -1 for none
    role_limit: int
    database: str
    database_limit: int
    #: client connections open now (the asking one not counted): all, the role's, the database's
    in_use: int
    in_use_by_role: int
    in_use_in_database: int

    def room(self) -> ConnectionRoom:
        """How many more the role may open: the server's slots less those reserved from it,
        and the role's and the database's limits (which bind no superuser), each less the
        connections that count against it; the limit that leaves the fewest."""
        reserved = 0
        if not self.superuser:
            reserved = self.superuser_reserved_connections
            reserved += 0 if self.may_use_reserved else self.reserved_connections
        rooms = [
            ConnectionRoom(
                self.max_connections - reserved - self.in_use,
                f"max_connections {self.max_connections}"
                + (f", {reserved} of them reserved" if reserved else "")
                + _in_use(self.in_use),
                "raise max_connections",
            )
        ]
        if not self.superuser and self.role_limit >= 0:
            rooms.append(
                ConnectionRoom(
                    self.role_limit - self.in_use_by_role,
                    f"role {self.role}'s CONNECTION LIMIT {self.role_limit}"
                    + _in_use(self.in_use_by_role),
                    f"raise role {self.role}'s CONNECTION LIMIT",
                )
            )
        if not self.superuser and self.database_limit >= 0:
            rooms.append(
                ConnectionRoom(
                    self.database_limit - self.in_use_in_database,
                    f"database {self.database}'s CONNECTION LIMIT {self.database_limit}"
                    + _in_use(self.in_use_in_database),
                    f"raise database {self.database}'s CONNECTION LIMIT",
                )
            )
        fewest = min(rooms, key=lambda room: room.free)
        return ConnectionRoom(max(fewest.free, 0), fewest.limit, fewest.remedy)


def _in_use(count: int) -> str:
    return f", {count} in use" if count else ""


_CONNECTION_LIMITS = """
SELECT
  current_setting('max_connections')::int AS max_connections,
  current_setting('superuser_reserved_connections')::int AS superuser_reserved_connections,
  coalesce(current_setting('reserved_connections', true)::int, 0) AS reserved_connections,
  r.rolname AS role,
  r.rolsuper AS superuser,
  EXISTS (SELECT FROM pg_roles p WHERE p.rolname = 'pg_use_reserved_connections'
          AND pg_has_role(r.oid, p.oid, 'USAGE')) AS may_use_reserved,
  r.rolconnlimit AS role_limit,
  d.datname AS database,
  d.datconnlimit AS database_limit,
  a.in_use, a.in_use_by_role, a.in_use_in_database
FROM pg_roles r, pg_database d, (
  SELECT count(*) AS in_use,
         count(*) FILTER (WHERE usename = current_user) AS in_use_by_role,
         count(*) FILTER (WHERE datname = current_database()) AS in_use_in_database
  FROM pg_stat_activity
  WHERE backend_type = 'client backend' AND pid <> pg_backend_pid()
) a
WHERE r.rolname = current_user AND d.datname = current_database()
"""


def connection_limits(url: URL) -> ConnectionLimits | None:
    """The limits on the URL's role's connections, read on a connection of its own (which
    closes, and is not counted in use); None where the server cannot tell them (a version
    without ``pg_stat_activity.backend_type``): the run goes on unchecked."""
    try:
        connection = psycopg.connect(conninfo_for(url), connect_timeout=10, autocommit=True)
    except psycopg.Error as exc:
        raise ServerError(
            f"cannot connect to PostgreSQL at {mask(url)}: {first_line(exc)}"
        ) from None
    with connection, connection.cursor(row_factory=class_row(ConnectionLimits)) as cursor:
        try:
            return cursor.execute(_CONNECTION_LIMITS).fetchone()
        except psycopg.Error:
            return None


def connection_room(url: URL) -> ConnectionRoom | None:
    """How many more connections the server takes from the URL's role now."""
    limits = connection_limits(url)
    return limits.room() if limits is not None else None


class PostgresBackend(Backend):
    """A schema of its own on a PostgreSQL server, created here and dropped by :meth:`close`."""

    type: ClassVar[BackendType] = POSTGRES

    def __init__(self, server_url: URL, schema: str, provisioned_by: str) -> None:
        self.schema = schema
        self.provisioned_by = provisioned_by
        self._masked_url = mask(server_url)
        options = f"-c search_path={schema}"
        self._url = server_url.set(
            drivername="postgresql+psycopg",
            query={
                **server_url.query,
                "options": join_options(server_url.query.get("options"), options),
            },
        )
        self._conninfo = conninfo_for(server_url, options=options)
        self._admin = psycopg.connect(conninfo_for(server_url), autocommit=True)
        self.statistics = ServerStatistics(self._admin, schema)
        try:
            self._admin.execute(f'CREATE SCHEMA "{schema}"')
            try:
                self._admin.execute(f'SET search_path = "{schema}"')
                # a variant that leaves its transaction open must fail the reset, not hang it
                self._admin.execute("SET lock_timeout = '10s'")
                self._create_tables()
                for table in ("user_account", "user_blog_post"):
                    # the harness vacuums at moments of its choosing (load_seed, maintain);
                    # autovacuum would vacuum and analyze inside timed rounds
                    self._admin.execute(f"ALTER TABLE {table} SET (autovacuum_enabled = off)")
                self._sequences = tuple(
                    str(
                        self._admin.execute(
                            "SELECT pg_get_serial_sequence(%s, 'id')", (table,)
                        ).fetchone()[0]  # type: ignore[index]
                    )
                    for table in ("user_account", "user_blog_post")
                )
                #: the tables' size after the last vacuum (a list: shared with routed copies)
                self._vacuumed_size = [0]
            except BaseException:
                self._admin.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')
                raise
        except BaseException:
            self._admin.close()
            raise

    @property
    def url(self) -> URL:
        return self._url

    def _prepare_connection(self, driver_connection: Any) -> None:
        """Nothing to run (the search path travels in the connection's startup options); the
        connection is known to the statistics reader, which makes it publish its statistics
        (an asyncio driver's is prepared on its loop, where its work must run)."""
        self.statistics.register(driver_connection)

    def new_observer(self) -> PostgresObserver:
        return PostgresObserver(self.statistics.read)

    def in_transaction(self, driver_connection: Any) -> bool:
        return not self.statistics.session(driver_connection).idle()

    def roll_back(self, driver_connection: Any) -> None:
        self.statistics.session(driver_connection).roll_back()

    def _is_lock_error(self, driver_error: BaseException) -> bool:
        return isinstance(driver_error, LOCK_ERRORS)

    def _driver_connect(self, observer: Observer | None) -> psycopg.Connection[Any]:
        if isinstance(observer, PostgresObserver):
            return observer.connect(self._conninfo)
        return psycopg.connect(self._conninfo)

    # --- the asyncio drivers --------------------------------------------------------------------

    def create_async_engine(
        self, driver: str, observer: Observer | None = None, **options: Any
    ) -> AsyncEngine:
        if driver == "asyncpg":
            # every connection argument goes to asyncpg.connect(): a URL's query would too,
            # where asyncpg takes no libpq parameter such as "options"
            url = URL.create(self.type.async_drivers[driver])
            connect_args = asyncpg_arguments(*self._asyncpg_route(observer))
        else:
            url = self._url.set(drivername=self.type.async_drivers[driver])
            connect_args = {"prepare_threshold": None} if observer is not None else {}
        options["connect_args"] = {**options.get("connect_args", {}), **connect_args}
        engine = sqlalchemy.ext.asyncio.create_async_engine(url, **options)
        self._configure_engine(engine.sync_engine)
        if observer is not None:
            observer.instrument_engine(engine.sync_engine)
            # the asyncio adapters' cursors are SQLAlchemy's: their calls are SQLAlchemy's
            observer.count_engine_calls(engine.sync_engine)
        return engine

    async def connect_async(self, driver: str, observer: Observer | None = None) -> Any:
        connection: Any
        if driver == "asyncpg":
            url, plain = self._asyncpg_route(observer)
            connection = await asyncpg.connect(
                **asyncpg_arguments(url, plain),
                **(
                    {"connection_class": observed_asyncpg_connection(observer)}
                    if observer is not None
                    else {}
                ),
            )
        elif driver == "psycopg":
            options = {"prepare_threshold": None} if observer is not None else {}
            connection = await connect_psycopg_async(self._conninfo, observer, **options)
        else:
            return await super().connect_async(driver, observer)
        if observer is not None:
            observer.attach(connection)
        self._prepare_connection(connection)
        return connection

    def _asyncpg_route(self, observer: Observer | None) -> tuple[URL, bool]:
        """Where asyncpg connects, and whether in plain text: an observed connection goes
        through the observer's wire relay (asyncpg has no protocol trace), unencrypted."""
        if not isinstance(observer, PostgresObserver):
            return self._url, False
        target = self.tcp_address()
        if target is None:
            raise ServerError(
                "asyncpg's statements and round trips are counted on the wire, which needs "
                "PostgreSQL reached over TCP (a host and port, not a Unix socket)"
            )
        host, port = observer.wire_address(target)
        return self._url.set(host=host, port=port), True

    def stored_timestamp(self, value: datetime) -> Any:
        return value

    def reset(self, seed: DbState) -> None:
        # DELETE, setval() and COPY: no DDL (TRUNCATE gives the tables new files and makes
        # every connection rebuild its caches and plans in its next, timed, statement) and
        # no ANALYZE (new statistics invalidate plans too)
        admin = self._admin
        with admin.transaction(), admin.cursor() as cursor:
            cursor.execute("DELETE FROM user_blog_post")
            cursor.execute("DELETE FROM user_account")
            cursor.execute("SELECT setval(%s, 1, false), setval(%s, 1, false)", self._sequences)
            if seed.users:
                with cursor.copy(
                    "COPY user_account (username, email, created_at) FROM STDIN"
                ) as copy:
                    for u in seed.users:
                        copy.write_row((u.username, u.email, u.created_at))
            if seed.posts:
                with cursor.copy(
                    "COPY user_blog_post (user_id, title, body, created_at) FROM STDIN"
                ) as copy:
                    for p in seed.posts:
                        copy.write_row((p.user_id, p.title, p.body, p.created_at))
        # read every row once the COPY has committed, so the seed's tuples carry their hint
        # bits, as a long-lived table's do, before a timed round reads them
        with admin.transaction():
            admin.execute("SELECT count(*) FROM user_account")
            admin.execute("SELECT count(*) FROM user_blog_post")

    def load_seed(self, seed: DbState) -> None:
        self.reset(seed)
        # the dead rows of earlier groups go, and the planner gets statistics of this seed,
        # as long-lived tables have them; warm-up rounds follow before anything is timed
        self._admin.execute("VACUUM ANALYZE user_account, user_blog_post")
        self._vacuumed_size[0] = self._table_size()

    def maintain(self, seed: DbState) -> bool:
        # every reset leaves the deleted rows behind; vacuum once they outgrow the live ones,
        # so the tables do not swell round after round. On tables this small a row is found by
        # a sequential scan: a style that writes row by row would pay for every dead row once
        # per statement, so the margin is small (it was 4 MB, and the ORM's rounds grew 3x)
        vacuumed = self._vacuumed_size[0]
        if self._table_size() < max(2 * vacuumed, vacuumed + (256 << 10)):
            return False
        self.reset(seed)
        self._admin.execute("VACUUM user_account, user_blog_post")
        self._vacuumed_size[0] = self._table_size()
        return True

    def _table_size(self) -> int:
        row = self._admin.execute(
            "SELECT pg_total_relation_size('user_account') "
            "+ pg_total_relation_size('user_blog_post')"
        ).fetchone()
        assert row is not None
        return int(row[0])

    def snapshot(self) -> tuple[tuple[StoredRow, ...], tuple[StoredRow, ...]]:
        with self._admin.transaction():
            users = tuple(self._admin.execute(SNAPSHOT_USERS).fetchall())
            posts = tuple(self._admin.execute(SNAPSHOT_POSTS).fetchall())
        return users, posts

    def describe(self) -> dict[str, str]:
        return {**server_settings(self._admin), "provisioned_by": self.provisioned_by}

    def tcp_address(self) -> tuple[str, int] | None:
        host = self._url.host
        if (
            not host
            or host.startswith("/")
            or {"host", "hostaddr", "service"} & set(self._url.query)
        ):
            # a Unix socket (libpq reads a host path as one), or an address libpq would take
            # from elsewhere than the host and port a proxy can stand in for
            return None
        return host, self._url.port or 5432

    def routed_to(self, host: str, port: int) -> PostgresBackend:
        routed = copy.copy(self)
        routed._url = self._url.set(host=host, port=port)
        routed._conninfo = conninfo_for(routed._url)
        return routed

    def close(self) -> None:
        try:
            self._end_sessions_holding_the_schema()
            self._admin.execute(f'DROP SCHEMA IF EXISTS "{self.schema}" CASCADE')
        except psycopg.Error as exc:
            # the server went away (or the connection did): say what is left where, and how
            # to remove it, rather than fail the run's clean-up
            LEFT_BEHIND.append(
                f"the run's schema {self.schema} is still on the server at {self._masked_url} "
                f'({first_line(exc)}); drop it with: DROP SCHEMA "{self.schema}" CASCADE'
            )
        finally:
            self._admin.close()

    def _end_sessions_holding_the_schema(self) -> None:
        """End the sessions that still hold locks on the run's tables: a variant interrupted
        inside its transaction, whose connection was never returned; DROP SCHEMA would wait
        out the lock timeout on it. Only this run's sessions touch its schema."""
        with contextlib.suppress(psycopg.Error):
            self._admin.execute(
                "SELECT pg_terminate_backend(pid) FROM (SELECT DISTINCT l.pid FROM pg_locks l"
                " JOIN pg_class c ON c.oid = l.relation"
                " JOIN pg_namespace n ON n.oid = c.relnamespace"
                " WHERE n.nspname = %s AND l.pid <> pg_backend_pid()) AS holders",
                (self.schema,),
            )


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
        self._protocol_traces: dict[int, _ProtocolTrace] = {}
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
        trace = _ProtocolTrace(raw.pgconn)
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

    def _collect(self, trace: _ProtocolTrace) -> None:
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
    """Statements, round trips, bytes and messages from libpq trace lines
    (``F|B <tab> length <tab> message <tab> arguments``, timestamps suppressed)."""
    tally = ProtocolTally()
    for message_line in _messages(lines):
        parts = message_line.split("\t", 3)
        if len(parts) < 3 or parts[0] not in ("F", "B"):
            continue
        direction, length, message = parts[0], int(parts[1]), parts[2]
        arguments = parts[3] if len(parts) > 3 else ""
        # the length field counts itself but not the one-byte message type
        if direction == "B":
            tally.server(length + 1)
        else:
            tally.client(message, length + 1, _trace_fields(message, arguments))
    return tally.take()


def _trace_fields(message: str, arguments: str) -> tuple[str, ...]:
    """The text fields the tally follows, as the trace prints them."""
    pattern, names = _TRACE_FIELDS.get(message, (None, ()))
    match = pattern.match(arguments) if pattern is not None else None
    return tuple(match[name] for name in names) if match else ()


_TRACE_FIELDS: dict[str, tuple[re.Pattern[str], tuple[str, ...]]] = {
    "Query": (_QUERY, ("sql",)),
    "Parse": (_PARSE, ("name", "sql")),
    "Bind": (_BIND, ("portal", "name")),
    "Execute": (_EXECUTE, ("portal",)),
}
