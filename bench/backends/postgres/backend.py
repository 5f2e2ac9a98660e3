"""PostgreSQL, the backend type: what the harness and the report know of it (its prose on
counts and server figures, where its server comes from, its drivers), the check that a server
can be worked on (its version), and how many more connections it takes.

The server comes from the URL given (``--postgres-url`` or ``BENCH_POSTGRES_URL``), else from
:mod:`bench.backends.postgres.servers` (testcontainers, then local server binaries). The rest of
the backend lives beside this module, one job each: the database's lifecycle
(:mod:`bench.backends.postgres.database`), the server's own account of the work
(:mod:`bench.backends.postgres.statistics`), and the counting
(:mod:`bench.backends.postgres.observer`).
"""

from __future__ import annotations

import secrets
from collections.abc import Mapping
from dataclasses import dataclass
from typing import ClassVar

import asyncpg
import psycopg
from psycopg.rows import class_row
from sqlalchemy import URL

from bench.backends.base import BackendType, ConnectionRoom, ServerBackendType
from bench.backends.postgres.conninfo import conninfo_for
from bench.backends.postgres.database import PostgresDatabase
from bench.backends.postgres.servers import LocalClusterProvider, TestcontainersProvider
from bench.backends.servers import Server, ServerError, mask
from bench.messages import first_line

URL_ENV = "BENCH_POSTGRES_URL"
HOW_TO_ENABLE = (
    f"pass --postgres-url or set {URL_ENV}, start a Docker daemon, "
    "or install the PostgreSQL server binaries (initdb, pg_ctl)"
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

    def _database(
        self, server_url: URL, name: str, provisioned_by: str, started_here: bool
    ) -> PostgresBackend:
        return PostgresBackend(server_url, name, provisioned_by, started_here=started_here)

    def driver_versions(self) -> dict[str, str]:
        libpq = psycopg.pq.version()
        return {
            "psycopg": psycopg.__version__,
            "libpq": f"{libpq // 10000}.{libpq % 10000}",
            "psycopg implementation": psycopg.pq.__impl__,
            "asyncpg": asyncpg.__version__,
        }


POSTGRES = PostgresType()


class PostgresBackend(PostgresDatabase):
    """The run's schema on a PostgreSQL server (:class:`PostgresDatabase`), as this type's
    backend."""

    type: ClassVar[BackendType] = POSTGRES


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
