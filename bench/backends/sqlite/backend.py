"""SQLite: a database file in a temporary folder, the embedded default.

Counting: ``sqlite3.Connection.set_trace_callback`` is called for every statement SQLite runs
(each row of an executemany, BEGIN and COMMIT included). SQLite has no network, so its round
trips are its statements.
"""

from __future__ import annotations

import os
import shutil
import sqlite3
import tempfile
from collections.abc import Iterator
from contextlib import closing, contextmanager, suppress
from datetime import datetime
from typing import Any, ClassVar

import sqlalchemy
from sqlalchemy import URL
from sqlalchemy.dialects import sqlite as sqlite_dialect

from bench.backends.base import (
    SNAPSHOT_POSTS,
    SNAPSHOT_USERS,
    Backend,
    BackendType,
    StoredRow,
)
from bench.backends.durability import COMMIT_PROBE_TABLE, CommitProbe
from bench.backends.servers import Note, Server
from bench.measure.counting import Observer
from bench.measure.workloads import DbState

#: per-connection SQLite settings, applied identically to SQLAlchemy's and the raw connections:
#: enforce the foreign key (ON DELETE CASCADE), commit without waiting for the disk (WAL), and
#: leave checkpoints to the harness (SQLite would run one inside whichever commit takes the log
#: past 1000 pages, timed or not)
SQLITE_CONNECTION_PRAGMAS = (
    "PRAGMA foreign_keys = ON",
    "PRAGMA synchronous = NORMAL",
    "PRAGMA wal_autocheckpoint = 0",
)
#: what makes a connection's commits durable: SQLite syncs the write-ahead log at every commit
#: (with NORMAL, a commit survives the application's crash but not the machine's)
DURABLE_PRAGMAS = ("PRAGMA synchronous = FULL",)
#: the scratch database of the commits' measurement, beside the run's own (same file system)
COMMIT_PROBE_FILE = "commit-probe.sqlite3"
#: the size of the write-ahead log past which the harness checkpoints it between passes
SQLITE_WAL_LIMIT = 16 << 20
PROVISIONED_BY = "a database file in a temporary folder"
#: the statements on which SQLite starts a trigger sub-program (the posts' ON DELETE CASCADE)
_CASCADING_DELETE = "DELETE FROM user_account"
#: SQLite's primary result codes for "database is locked" (another connection holds the lock)
#: and "database table is locked"; extended codes (SQLITE_BUSY_SNAPSHOT, ...) carry them in
#: their low byte
_LOCKED_CODES = (5, 6)


class SqliteType(BackendType):
    name: ClassVar[str] = "sqlite"
    title: ClassVar[str] = "SQLite"
    networked: ClassVar[bool] = False
    provisioning: ClassVar[str] = "a database file in a temporary folder; always available"
    needs_server: ClassVar[bool] = False
    driver_errors: ClassVar[tuple[type[Exception], ...]] = (sqlite3.Error, OSError)
    count_notes: ClassVar[tuple[str, ...]] = (
        "each row of an executemany is one statement; the driver begins a transaction only "
        "before a write, so reads run no BEGIN or COMMIT; no network, so every statement is "
        "counted as a round trip",
    )
    single_writer: ClassVar[str | None] = (
        "SQLite lets one connection write at a time (one lock for the whole database, which "
        "every request takes with BEGIN IMMEDIATE), and a connection that finds it taken "
        "waits in SQLite's busy handler, which sleeps between tries (1, 2, 5, 10, ... up to "
        "100 ms)"
    )
    server_work_notes: ClassVar[tuple[str, ...]] = (
        "n/a: SQLite is a library inside the application's process, with no server to "
        "account for the work: it keeps no count of rows read or written, and the page-cache "
        "counters of its C API (`sqlite3_db_status`) are not reachable from Python's `sqlite3` "
        "module",
    )

    @contextmanager
    def provide(self, url: str | None, note: Note) -> Iterator[Server]:
        yield Server(None, PROVISIONED_BY, sqlite3.sqlite_version)

    @contextmanager
    def open(self, server: Server) -> Iterator[SqliteBackend]:
        folder = tempfile.mkdtemp(prefix="bench-sqlite-")
        try:
            backend = SqliteBackend(os.path.join(folder, "bench.sqlite3"))
            try:
                yield backend
            finally:
                backend.close()
        finally:
            shutil.rmtree(folder, ignore_errors=True)

    def driver_versions(self) -> dict[str, str]:
        return {"sqlite": sqlite3.sqlite_version}


SQLITE = SqliteType()


class SqliteBackend(Backend):
    """A SQLite database file (the caller owns the folder it is in)."""

    type: ClassVar[BackendType] = SQLITE

    def __init__(self, path: str) -> None:
        self.path = path
        self._url = URL.create("sqlite", database=path)
        dialect = sqlite_dialect.dialect()
        self._timestamp_format = sqlalchemy.DateTime().dialect_impl(dialect).bind_processor(dialect)
        self._admin = sqlite3.connect(path)
        self._prepare_connection(self._admin)
        self._admin.execute("PRAGMA journal_mode = WAL")  # persistent, stored in the file
        self._create_tables()

    @property
    def url(self) -> URL:
        return self._url

    def new_observer(self) -> SqliteObserver:
        return SqliteObserver()

    def in_transaction(self, driver_connection: Any) -> bool:
        return bool(driver_connection.in_transaction)

    def _is_lock_error(self, driver_error: BaseException) -> bool:
        code = getattr(driver_error, "sqlite_errorcode", None)
        return isinstance(driver_error, sqlite3.OperationalError) and (
            code is not None and code & 0xFF in _LOCKED_CODES
        )

    def _driver_connect(self, observer: Observer | None) -> sqlite3.Connection:
        options = observer.driver_options() if observer else {}
        # a connection may be made in one thread and used in another (a worker's, in the
        # concurrent workload), never in two at once, as SQLAlchemy's pool does for a file
        # database, for which it sets this too
        connection: sqlite3.Connection = sqlite3.connect(
            self.path, check_same_thread=False, **options
        )
        return connection

    def _prepare_connection(self, driver_connection: Any) -> None:
        cursor = driver_connection.cursor()
        for pragma in SQLITE_CONNECTION_PRAGMAS:
            cursor.execute(pragma)
        cursor.close()

    def stored_timestamp(self, value: datetime) -> Any:
        assert self._timestamp_format is not None
        return self._timestamp_format(value)

    def reset(self, seed: DbState) -> None:
        admin = self._admin
        stored = self.stored_timestamp
        with admin:  # one transaction, committed at the end of the block
            admin.execute("DELETE FROM user_blog_post")
            admin.execute("DELETE FROM user_account")
            admin.executemany(
                "INSERT INTO user_account (username, email, created_at) VALUES (?, ?, ?)",
                [(u.username, u.email, stored(u.created_at)) for u in seed.users],
            )
            admin.executemany(
                "INSERT INTO user_blog_post (user_id, title, body, created_at) VALUES (?, ?, ?, ?)",
                [(p.user_id, p.title, p.body, stored(p.created_at)) for p in seed.posts],
            )

    def load_seed(self, seed: DbState) -> None:
        self.reset(seed)
        self.checkpoint()

    def maintain(self, seed: DbState) -> bool:
        if self.wal_size() < SQLITE_WAL_LIMIT:
            return False
        self.reset(seed)
        self.checkpoint()
        return True

    def checkpoint(self) -> None:
        """Write the log back into the database file and empty it. The next write after a
        checkpoint starts the log afresh, which costs a sync: the caller follows this with
        untimed rounds."""
        busy, _, _ = self._admin.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchone()
        if busy:
            raise RuntimeError(
                "the SQLite write-ahead log could not be checkpointed: a connection still "
                "holds a read transaction"
            )

    def wal_size(self) -> int:
        try:
            return os.path.getsize(f"{self.path}-wal")
        except FileNotFoundError:
            return 0

    def snapshot(self) -> tuple[tuple[StoredRow, ...], tuple[StoredRow, ...]]:
        with self._admin:
            users = tuple(self._admin.execute(SNAPSHOT_USERS))
            posts = tuple(self._admin.execute(SNAPSHOT_POSTS))
        return users, posts

    def describe(self) -> dict[str, str]:
        journal_mode = self._admin.execute("PRAGMA journal_mode").fetchone()[0]
        return {
            "version": sqlite3.sqlite_version,
            "journal_mode": journal_mode,
            "synchronous": "NORMAL",
            "foreign_keys": "ON",
            "provisioned_by": PROVISIONED_BY,
        }

    def close(self) -> None:
        self._admin.close()

    # --- what a commit costs --------------------------------------------------------------------

    @contextmanager
    def _commit_probe(self) -> Iterator[CommitProbe]:
        """A scratch database file beside the run's own, in the same folder (so on the same file
        system, where a sync costs the same), set up as the run's: WAL, the harness's pragmas.
        The run's own file is left alone: no table made and dropped in it, no log grown."""
        path = os.path.join(os.path.dirname(self.path), COMMIT_PROBE_FILE)

        def connect() -> sqlite3.Connection:
            connection = sqlite3.connect(path)
            self._prepare_connection(connection)
            return connection

        try:
            with closing(connect()) as connection:
                connection.execute("PRAGMA journal_mode = WAL")
                connection.execute(f"CREATE TABLE {COMMIT_PROBE_TABLE} (n integer NOT NULL)")
            yield CommitProbe(connect, f"INSERT INTO {COMMIT_PROBE_TABLE} (n) VALUES (?)")
        finally:
            for suffix in ("", "-wal", "-shm"):
                with suppress(FileNotFoundError):
                    os.remove(path + suffix)

    @contextmanager
    def durable_commits(self) -> Iterator[tuple[str, ...]]:
        """A connection's own setting: nothing outside it changes."""
        yield DURABLE_PRAGMAS


class SqliteObserver(Observer):
    """SQLite's own statement trace; round trips are its statements."""

    def __init__(self) -> None:
        super().__init__()
        self._connection_class: type[sqlite3.Connection] | None = None

    def driver_options(self) -> dict[str, Any]:
        if self._connection_class is None:
            self._connection_class = _observed_sqlite_connection(self)
        return {"factory": self._connection_class}

    def attach(self, driver_connection: Any) -> None:
        self.connection_opened()
        driver_connection.set_trace_callback(self._statement)

    def _statement(self, sql: str) -> None:
        if not self.active:
            return
        statements = self.observation.server_statements
        # SQLite calls back again, with the same text, at the start of each trigger sub-program:
        # for a DELETE from user_account, the foreign key's ON DELETE CASCADE, once per deleted
        # row. That is part of the statement already counted, not another one.
        if statements and statements[-1] == sql and sql.startswith(_CASCADING_DELETE):
            return
        statements.append(sql)


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
