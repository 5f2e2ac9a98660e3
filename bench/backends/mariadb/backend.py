"""MariaDB, the backend type: what the harness and the report know of it (its prose on counts
and server figures, where its server comes from, its driver), the check that a server can be
worked on (its version), and how many more connections it takes.

The server comes from the URL given (``--mariadb-url`` or ``BENCH_MARIADB_URL``), else from
:mod:`bench.backends.mariadb.servers` (testcontainers, then local server binaries).

PyMySQL is the driver: pure Python, so it installs from a wheel everywhere, and SQLAlchemy
documents it (``mariadb+pymysql://``). mysqlclient is faster but needs a compiler and the
client headers.

The rest of the backend lives beside this module, one job each: the database's lifecycle
(:mod:`bench.backends.mariadb.database`), the server's own account of the work
(:mod:`bench.backends.mariadb.statistics`), and the counting
(:mod:`bench.backends.mariadb.observer`).
"""

from __future__ import annotations

import secrets
from typing import Any, ClassVar

import pymysql
from sqlalchemy import URL

from bench.backends.base import BackendType, ConnectionRoom, ServerBackendType
from bench.backends.mariadb.database import MariadbDatabase, connect_arguments
from bench.backends.mariadb.servers import LocalServerProvider, TestcontainersProvider
from bench.backends.servers import Server, ServerError, mask
from bench.messages import first_line

URL_ENV = "BENCH_MARIADB_URL"
HOW_TO_ENABLE = (
    f"pass --mariadb-url or set {URL_ENV}, start a Docker daemon, "
    "or install the MariaDB server binaries (Debian: apt-get install mariadb-server)"
)


class MariadbType(ServerBackendType["MariadbBackend"]):
    name: ClassVar[str] = "mariadb"
    title: ClassVar[str] = "MariaDB"
    networked: ClassVar[bool] = True
    provisioning: ClassVar[str] = (
        "--mariadb-url / $BENCH_MARIADB_URL, else a testcontainers MySqlContainer with the "
        "MariaDB image, else a throwaway server from local binaries (mariadb-install-db, mariadbd)"
    )
    url_env: ClassVar[str | None] = URL_ENV
    driver_errors: ClassVar[tuple[type[Exception], ...]] = (pymysql.MySQLError,)
    count_notes: ClassVar[tuple[str, ...]] = (
        "PyMySQL begins transactions without a BEGIN statement",
        "SQLAlchemy's pool resets each connection it gets back with a ROLLBACK, which PyMySQL "
        "sends even after the COMMIT: one more statement and round trip per unit of work for "
        "orm, orm_bulk and core (psycopg knows the transaction is over and sends nothing)",
        "PyMySQL writes an executemany of an INSERT as one multi-row statement (split past 1 MB)",
        "PyMySQL runs any other executemany (UPDATE, DELETE) as one statement and one round "
        "trip per row: it has no pipeline",
        "RETURNING (MariaDB 10.5+) lets SQLAlchemy and the raw variant insert users and read "
        "their ids in one multi-row INSERT ... RETURNING",
    )
    counts_server_work: ClassVar[bool] = True
    server_work_notes: ClassVar[tuple[str, ...]] = (
        "rows read: the session counter `Rows_read` of each connection the style used: rows "
        "its statements read from tables (temporary tables not included); InnoDB's foreign "
        "key checks are made inside the storage engine and are not in it",
        "rows written: the session counters `Handler_write + Handler_update + Handler_delete`; "
        "rows InnoDB deletes for an `ON DELETE CASCADE` are not in them",
        "blocks: `Innodb_buffer_pool_read_requests`, pages asked of the buffer pool, "
        "server-wide only (the harness is the server's only client while it counts)",
        "WAL bytes: the advance of `Innodb_lsn_current`, the redo log, server-wide only, "
        "InnoDB's purge of what the execution deleted or updated included",
    )

    how_to_enable: ClassVar[str] = HOW_TO_ENABLE
    url_schemes: ClassVar[tuple[str, ...]] = ("mariadb", "mysql")
    drivername: ClassVar[str] = "mariadb+pymysql"

    def __init__(self) -> None:
        super().__init__((TestcontainersProvider(), LocalServerProvider()))

    def server_version(self, url: URL) -> str:
        return server_version(url)

    def connection_room(self, server: Server) -> ConnectionRoom | None:
        return connection_room(server.address)

    def _database(
        self, server_url: URL, name: str, provisioned_by: str, started_here: bool
    ) -> MariadbBackend:
        return MariadbBackend(server_url, name, provisioned_by, started_here=started_here)

    def driver_versions(self) -> dict[str, str]:
        return {"pymysql": pymysql.__version__}


MARIADB = MariadbType()


class MariadbBackend(MariadbDatabase):
    """The run's database on a MariaDB server (:class:`MariadbDatabase`), as this type's
    backend."""

    type: ClassVar[BackendType] = MARIADB


def parse_mariadb_url(raw: str) -> URL:
    """A user's URL as a ``mariadb+pymysql`` SQLAlchemy URL."""
    return MARIADB.parse_url(raw)


def _connect(url: URL) -> pymysql.Connection[Any]:
    """One connection to the server, or a one-line ServerError naming the masked URL."""
    try:
        return pymysql.connect(**{**connect_arguments(url), "connect_timeout": 10})
    except pymysql.MySQLError as exc:
        raise ServerError(f"cannot connect to MariaDB at {mask(url)}: {first_line(exc)}") from None


def server_version(url: URL) -> str:
    """Connect once and check that the harness can work there: the server's version, or a
    one-line ServerError naming the masked URL."""
    connection = _connect(url)
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT VERSION()")
            version = str(cursor.fetchone()[0])
            if "mariadb" not in version.lower():
                raise ServerError(f"the server at {mask(url)} is not MariaDB (version {version})")
        # the run works in a database of its own: make one (under a name of its own, so that
        # nothing left on the server is in the way) and drop it again
        trial = f"bench_preflight_{secrets.token_hex(6)}"
        try:
            with connection.cursor() as cursor:
                cursor.execute(f"CREATE DATABASE `{trial}`")
                cursor.execute(f"DROP DATABASE `{trial}`")
        except pymysql.MySQLError as exc:
            raise ServerError(
                f"cannot create the run's database at {mask(url)}: {first_line(exc)}"
            ) from None
        return version
    except pymysql.MySQLError as exc:
        raise ServerError(f"cannot use MariaDB at {mask(url)}: {first_line(exc)}") from None
    finally:
        connection.close()


#: the server's connection limit and the account's (the session value of max_user_connections
#: is the account's own MAX_USER_CONNECTIONS where it has one, else the server's; 0: none),
#: the connections open now, and those of the account (PROCESSLIST shows an account without
#: the PROCESS privilege its own), this one not counted
_CONNECTION_LIMITS = """
SELECT @@global.max_connections, @@global.max_user_connections, @@session.max_user_connections,
  (SELECT variable_value FROM information_schema.GLOBAL_STATUS
   WHERE variable_name = 'THREADS_CONNECTED'),
  (SELECT count(*) FROM information_schema.PROCESSLIST
   WHERE user = SUBSTRING_INDEX(CURRENT_USER(), '@', 1) AND id <> CONNECTION_ID()),
  CURRENT_USER()
"""


def connection_room(url: URL) -> ConnectionRoom | None:
    """How many more connections the server takes from the URL's account now (this connection,
    which closes, not counted): ``max_connections`` less the connections open, and the
    account's ``max_user_connections`` less its own; the limit that leaves the fewest. None
    where the server cannot tell."""
    connection = _connect(url)
    try:
        with connection.cursor() as cursor:
            cursor.execute(_CONNECTION_LIMITS)
            row = cursor.fetchone()
    except pymysql.MySQLError:
        return None  # a server that cannot tell: the run goes on unchecked
    finally:
        connection.close()
    max_connections, server_account_limit, account_limit, connected, of_the_account = (
        int(value) for value in row[:5]
    )
    account = str(row[5])
    everyone = connected - 1  # this one closes
    rooms = [
        ConnectionRoom(
            max_connections - everyone,
            f"max_connections {max_connections}" + (f", {everyone} in use" if everyone else ""),
            "raise max_connections",
        )
    ]
    if account_limit != 0:
        # the account's own limit where it differs from the server's; -1 allows it none
        setting = (
            "max_user_connections"
            if account_limit == server_account_limit
            else f"{account}'s MAX_USER_CONNECTIONS"
        )
        rooms.append(
            ConnectionRoom(
                max(account_limit, 0) - of_the_account,
                f"{setting} {account_limit}"
                + (f", {of_the_account} in use" if of_the_account else ""),
                f"raise {setting}",
            )
        )
    fewest = min(rooms, key=lambda room: room.free)
    return ConnectionRoom(max(fewest.free, 0), fewest.limit, fewest.remedy)
