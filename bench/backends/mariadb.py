"""MariaDB: a database of the run's own on a server, reached with PyMySQL.

The server comes from the URL given (``--mariadb-url`` or ``BENCH_MARIADB_URL``), else from
:mod:`bench.backends.mariadb_servers` (testcontainers, then local server binaries).

PyMySQL is the driver: pure Python, so it installs from a wheel everywhere, and SQLAlchemy
documents it (``mariadb+pymysql://``). mysqlclient is faster but needs a compiler and the
client headers.

Counting:

- statements: the server's own ``Questions`` counter of each observed session, read before and
  after (the reading statement itself taken off), and cross-checked against the ``COM_QUERY``
  packets PyMySQL wrote, whose texts are the statements listed;
- round trips: on the wire, PyMySQL's own socket writes and reads: a write followed by a read
  is one turn;
- bytes: what those writes and reads carried.

Counting starts once the driver has connected, as on PostgreSQL: the handshake and PyMySQL's
``SET AUTOCOMMIT = 0`` on connect are part of connecting.

The server's own account of the work (:class:`~bench.measure.counting.ServerWork`): rows read and
written from each observed session's status counters (``Rows_read``; ``Handler_write``,
``Handler_update``, ``Handler_delete``), read in the same statement as ``Questions``; buffer
pool pages and redo log bytes from InnoDB's counters, which exist only server-wide
(``Innodb_buffer_pool_read_requests``, ``Innodb_lsn_current``), read on the harness's own
connection once InnoDB's background purge has caught up.
"""

from __future__ import annotations

import contextlib
import copy
import secrets
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, ClassVar

import pymysql
import pymysql.cursors
from pymysql.constants import COMMAND, SERVER_STATUS
from sqlalchemy import URL, DateTime, Engine, event
from sqlalchemy.ext.compiler import compiles

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
from bench.backends.mariadb_servers import LocalServerProvider, TestcontainersProvider
from bench.backends.servers import Server, ServerError, mask
from bench.measure.counting import Observer, ServerWork, query_text
from bench.measure.workloads import DbState
from bench.messages import first_line

#: another transaction's lock in the way: ER_LOCK_WAIT_TIMEOUT, ER_LOCK_DEADLOCK
LOCK_ERROR_CODES = (1205, 1213)

URL_ENV = "BENCH_MARIADB_URL"
HOW_TO_ENABLE = (
    f"pass --mariadb-url or set {URL_ENV}, start a Docker daemon, "
    "or install the MariaDB server binaries (Debian: apt-get install mariadb-server)"
)
ROUND_TRIPS_FROM_WIRE = "PyMySQL's socket writes and reads"
TIMING_SETTINGS = (
    "innodb_flush_log_at_trx_commit",
    "innodb_doublewrite",
    "innodb_buffer_pool_size",
)
_TABLES = ("user_account", "user_blog_post")
#: transactions' undo logs waiting for purge past which the harness waits for it between passes
PURGE_BACKLOG_LIMIT = 1000


@compiles(DateTime, "mariadb")
def _datetime_with_microseconds(type_: Any, compiler: Any, **kw: Any) -> str:
    """MariaDB's DATETIME drops fractions of a second unless asked: the schema's timestamps
    keep their microseconds, as on the other backends."""
    return "DATETIME(6)"


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

    def _database(self, server_url: URL, name: str, provisioned_by: str) -> MariadbBackend:
        return MariadbBackend(server_url, name, provisioned_by)

    def driver_versions(self) -> dict[str, str]:
        return {"pymysql": pymysql.__version__}


MARIADB = MariadbType()


def parse_mariadb_url(raw: str) -> URL:
    """A user's URL as a ``mariadb+pymysql`` SQLAlchemy URL."""
    return MARIADB.parse_url(raw)


def connect_arguments(url: URL) -> dict[str, Any]:
    """PyMySQL's ``connect()`` arguments for a URL, exactly as SQLAlchemy's dialect makes
    them (its client flags included), so raw connections and the engine's are alike."""
    dialect_class: Any = url.get_dialect()  # a MySQL dialect takes the DB-API module
    dialect = dialect_class(dbapi=dialect_class.import_dbapi())
    _, arguments = dialect.create_connect_args(url)
    return dict(arguments)


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


class MariadbBackend(Backend):
    """A database of its own on a MariaDB server, created here and dropped by :meth:`close`."""

    type: ClassVar[BackendType] = MARIADB

    def __init__(self, server_url: URL, database: str, provisioned_by: str) -> None:
        self.database = database
        self.provisioned_by = provisioned_by
        self._masked_url = mask(server_url)
        self._url = server_url.set(drivername="mariadb+pymysql", database=database)
        self._arguments = connect_arguments(self._url)
        self._admin = pymysql.connect(**{**connect_arguments(server_url), "autocommit": True})
        try:
            # a variant that leaves its transaction open must fail the reset, not hang it
            self._execute("SET SESSION lock_wait_timeout = 10, innodb_lock_wait_timeout = 10")
            self._execute(f"CREATE DATABASE `{database}` CHARACTER SET utf8mb4")
            try:
                self._admin.select_db(database)
                self._create_tables()
                for table in _TABLES:
                    # statistics are taken when a seed is loaded, never recalculated by the
                    # server in the background inside timed rounds
                    self._execute(f"ALTER TABLE {table} STATS_AUTO_RECALC = 0")
                self._purge_waits = True
            except BaseException:
                self._execute(f"DROP DATABASE IF EXISTS `{database}`")
                raise
        except BaseException:
            self._admin.close()
            raise

    @property
    def url(self) -> URL:
        return self._url

    def _end_sessions_in_the_database(self) -> None:
        """End the connections still in the run's database: a variant interrupted inside its
        transaction, whose connection was never returned; DROP DATABASE would wait out the
        lock timeout on it. Only this run connects to its database."""
        with contextlib.suppress(pymysql.MySQLError):
            for (session,) in self._execute(
                "SELECT id FROM information_schema.PROCESSLIST"
                " WHERE db = %s AND id <> CONNECTION_ID()",
                (self.database,),
            ):
                with contextlib.suppress(pymysql.MySQLError):  # it may have gone meanwhile
                    self._execute(f"KILL CONNECTION {int(session)}")

    def _execute(self, sql: str, parameters: Any = None) -> list[Any]:
        with self._admin.cursor() as cursor:
            cursor.execute(sql, parameters)
            return list(cursor.fetchall())

    def new_observer(self) -> MariadbObserver:
        return MariadbObserver(self._server_wide_work)

    def _server_wide_work(self) -> ServerWork:
        """InnoDB's server-wide counters now, as totals: buffer pool pages asked for and the
        redo log's position. First InnoDB's purge of deleted rows and old row versions, which
        runs in the background, is waited for: the purge of the rows an execution deleted
        or updated is then in its own figures, always, never in the next one's."""
        if self._purge_waits:
            try:
                self._execute("SET GLOBAL innodb_max_purge_lag_wait = 0")
            except pymysql.MySQLError:
                self._purge_waits = False  # a user's server may not allow it
        values = dict(
            self._execute(
                "SHOW GLOBAL STATUS WHERE Variable_name IN "
                "('Innodb_buffer_pool_read_requests', 'Innodb_lsn_current')"
            )
        )
        return ServerWork(
            rows_read=None,
            rows_written=None,
            blocks=_int_or_none(values.get("Innodb_buffer_pool_read_requests")),
            wal_bytes=_int_or_none(values.get("Innodb_lsn_current")),
        )

    def in_transaction(self, driver_connection: Any) -> bool:
        return bool(driver_connection.server_status & SERVER_STATUS.SERVER_STATUS_IN_TRANS)

    def implicit_begin(self) -> bool:
        return True  # PyMySQL (autocommit off) starts a transaction with the first statement

    def _is_lock_error(self, driver_error: BaseException) -> bool:
        return (
            isinstance(driver_error, pymysql.err.OperationalError)
            and bool(driver_error.args)
            and driver_error.args[0] in LOCK_ERROR_CODES
        )

    def _prepare_connection(self, driver_connection: Any) -> None:
        """Nothing to run: the database is chosen when connecting."""

    def _driver_connect(self, observer: Observer | None) -> pymysql.Connection[Any]:
        if isinstance(observer, MariadbObserver):
            return observer.connect(self._arguments)
        return pymysql.connect(**self._arguments)

    def stored_timestamp(self, value: datetime) -> Any:
        return value

    def reset(self, seed: DbState, restart_counters: bool = False) -> None:
        # The ids must restart at the seed's end, and InnoDB restarts an AUTO_INCREMENT counter
        # only by DDL. So the DDL runs only when a round inserted rows: then TRUNCATE, which
        # costs the next statement less than ALTER TABLE ... AUTO_INCREMENT. Otherwise DELETE
        # and the seed rows with their own ids leave the counters where they were.
        if restart_counters or self._counters_moved(seed):
            self._execute("SET FOREIGN_KEY_CHECKS = 0")
            try:
                for table in reversed(_TABLES):
                    self._execute(f"TRUNCATE TABLE {table}")
            finally:
                self._execute("SET FOREIGN_KEY_CHECKS = 1")
        self._admin.begin()
        try:
            self._execute("DELETE FROM user_blog_post")
            self._execute("DELETE FROM user_account")
            with self._admin.cursor() as cursor:
                if seed.users:
                    cursor.executemany(
                        "INSERT INTO user_account (id, username, email, created_at) "
                        "VALUES (%s, %s, %s, %s)",
                        [(u.id, u.username, u.email, u.created_at) for u in seed.users],
                    )
                if seed.posts:
                    cursor.executemany(
                        "INSERT INTO user_blog_post (id, user_id, title, body, created_at) "
                        "VALUES (%s, %s, %s, %s, %s)",
                        [(p.id, p.user_id, p.title, p.body, p.created_at) for p in seed.posts],
                    )
            self._admin.commit()
        except BaseException:
            self._admin.rollback()
            raise

    def _counters_moved(self, seed: DbState) -> bool:
        rows = self._execute(
            "SELECT TABLE_NAME, AUTO_INCREMENT FROM information_schema.TABLES "
            "WHERE TABLE_SCHEMA = DATABASE()"
        )
        counters = {str(name): int(value or 1) for name, value in rows}
        return (
            counters.get("user_account", 1) > max((u.id for u in seed.users), default=0) + 1
            or counters.get("user_blog_post", 1) > max((p.id for p in seed.posts), default=0) + 1
        )

    def load_seed(self, seed: DbState) -> None:
        self.reset(seed, restart_counters=True)
        # statistics of this seed, as long-lived tables have them; then wait for the purge
        # of earlier groups' deleted rows, so it does not run inside timed rounds
        self._execute("ANALYZE TABLE user_account, user_blog_post")
        if self._purge_waits:
            try:
                self._execute("SET GLOBAL innodb_max_purge_lag_wait = 0")
            except pymysql.MySQLError:
                self._purge_waits = False  # a user's server may not allow it

    def maintain(self, seed: DbState) -> bool:
        # every reset leaves deleted rows for InnoDB's purge threads, which would run inside
        # timed rounds on a small machine: once their backlog is large, wait for them here
        if self._purge_waits and self._purge_backlog() > PURGE_BACKLOG_LIMIT:
            try:
                self._execute("SET GLOBAL innodb_max_purge_lag_wait = 0")
            except pymysql.MySQLError:
                self._purge_waits = False
        return False  # a purge invalidates nothing the next statements would rebuild

    def _purge_backlog(self) -> int:
        rows = self._execute("SHOW GLOBAL STATUS LIKE 'Innodb_history_list_length'")
        return int(rows[0][1]) if rows else 0

    def snapshot(self) -> tuple[tuple[StoredRow, ...], tuple[StoredRow, ...]]:
        users = tuple(tuple(row) for row in self._execute(SNAPSHOT_USERS))
        posts = tuple(tuple(row) for row in self._execute(SNAPSHOT_POSTS))
        return users, posts

    def tcp_address(self) -> tuple[str, int] | None:
        host = self._url.host
        if not host or "unix_socket" in self._url.query:
            return None
        return host, self._url.port or 3306

    def routed_to(self, host: str, port: int) -> MariadbBackend:
        routed = copy.copy(self)
        routed._url = self._url.set(host=host, port=port)
        routed._arguments = connect_arguments(routed._url)
        return routed

    def describe(self) -> dict[str, str]:
        values = {"version": str(self._execute("SELECT VERSION()")[0][0])}
        for setting in TIMING_SETTINGS:
            values[setting] = str(self._execute(f"SELECT @@{setting}")[0][0])
        return {**values, "provisioned_by": self.provisioned_by}

    def close(self) -> None:
        try:
            self._end_sessions_in_the_database()
            self._execute(f"DROP DATABASE IF EXISTS `{self.database}`")
        except pymysql.MySQLError as exc:
            LEFT_BEHIND.append(
                f"the run's database {self.database} is still on the server at "
                f"{self._masked_url} ({first_line(exc)}); drop it with: "
                f"DROP DATABASE `{self.database}`"
            )
        finally:
            self._admin.close()


def _int_or_none(value: Any) -> int | None:
    return None if value is None else int(value)


# --- counting -------------------------------------------------------------------------------

#: each observed session's own counters, read in one statement (which counts itself in
#: Questions, and in none of the others: SHOW STATUS reads a temporary table, whose rows count
#: in Rows_tmp_read and Handler_tmp_write)
_SESSION_COUNTERS = (
    "Questions",
    "Rows_read",
    "Handler_write",
    "Handler_update",
    "Handler_delete",
)
_SHOW_SESSION_COUNTERS = "SHOW SESSION STATUS WHERE Variable_name IN ({})".format(
    ", ".join(f"'{name}'" for name in _SESSION_COUNTERS)
)


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
        self._session_totals = dict.fromkeys(_SESSION_COUNTERS, 0)
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
        for name in _SESSION_COUNTERS:
            self._session_totals[name] += now[name] - session.counters_at_start.get(name, 0)
        # the reading statement counts itself
        self._server_count += now["Questions"] - session.counters_at_start["Questions"] - 1

    def _counters(self, connection: Any) -> dict[str, int]:
        self._reading = True
        try:
            with pymysql.cursors.Cursor(connection) as cursor:
                cursor.execute(_SHOW_SESSION_COUNTERS)
                values = {str(name): int(value) for name, value in cursor.fetchall()}
        finally:
            self._reading = False
        missing = set(_SESSION_COUNTERS) - set(values)
        assert not missing, f"the server has no session counters {sorted(missing)}"
        return values

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
