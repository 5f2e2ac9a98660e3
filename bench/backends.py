"""The databases the workloads run on, and the untimed work around each execution: creating
the schema, resetting to a seed state, and reading back what a variant left behind.

Engines and driver connections are made here, the same way for every variant, so a setting
(SQLite pragmas, the PostgreSQL search path) can never differ between styles.
"""

from __future__ import annotations

import os
import secrets
import shutil
import sqlite3
import tempfile
from abc import ABC, abstractmethod
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime
from typing import Any, ClassVar

import psycopg
import sqlalchemy
from sqlalchemy import URL, Engine, event
from sqlalchemy.dialects import sqlite as sqlite_dialect

from bench.counting import Observer
from bench.messages import first_line
from bench.workloads import DbState
from implementations.contract import DBAPIConnection
from implementations.schema import metadata

#: per-connection SQLite settings, applied identically to SQLAlchemy's and the raw connections:
#: enforce the foreign key (ON DELETE CASCADE), commit without waiting for the disk (WAL), and
#: leave checkpoints to the harness (SQLite would run one inside whichever commit takes the log
#: past 1000 pages, timed or not)
SQLITE_CONNECTION_PRAGMAS = (
    "PRAGMA foreign_keys = ON",
    "PRAGMA synchronous = NORMAL",
    "PRAGMA wal_autocheckpoint = 0",
)
#: the size of the write-ahead log past which the harness checkpoints it between passes
SQLITE_WAL_LIMIT = 16 << 20

StoredRow = tuple[Any, ...]
#: what a backend could not clean up on a server, one line each, for the command line to say
LEFT_BEHIND: list[str] = []


class Backend(ABC):
    """One database with the schema created; the harness's own connection for setup."""

    name: ClassVar[str]
    #: True when timings include a network hop (even over loopback)
    networked: ClassVar[bool]

    @property
    @abstractmethod
    def url(self) -> URL:
        """SQLAlchemy URL of the database."""

    @abstractmethod
    def _driver_connect(self, observer: Observer | None) -> Any:
        """A new raw driver connection, before any per-connection setup; observed by
        ``observer`` when one is given."""

    @abstractmethod
    def _prepare_connection(self, driver_connection: Any) -> None:
        """Per-connection setup, the same for raw connections and SQLAlchemy's."""

    @abstractmethod
    def reset(self, seed: DbState) -> None:
        """Empty both tables, restart the ids at 1 and insert the seed rows in order, leaving
        nothing for the next statement to pay for: no DDL, no statistics change."""

    def load_seed(self, seed: DbState) -> None:
        """Reset to a seed before the rounds of a group begin: once per group, untimed, and
        followed by warm-up rounds, so it may also do what a reset must not (statistics)."""
        self.reset(seed)

    def maintain(self, seed: DbState) -> bool:
        """Between passes of timed rounds: clean up what repeated resets leave behind, when it
        has grown large. True when something was done that the next statements would pay for
        (the variants then get an untimed round each before timing goes on)."""
        return False

    @abstractmethod
    def snapshot(self) -> tuple[tuple[StoredRow, ...], tuple[StoredRow, ...]]:
        """Every row of both tables as stored, ordered by id."""

    @abstractmethod
    def stored_timestamp(self, value: datetime) -> Any:
        """How the database stores a timestamp, to compare snapshots exactly."""

    @abstractmethod
    def describe(self) -> dict[str, str]:
        """Version and settings that change timings, for the report."""

    @abstractmethod
    def close(self) -> None: ...

    # --- shared -------------------------------------------------------------------------------

    def create_engine(self, observer: Observer | None = None, **options: Any) -> Engine:
        if observer is not None:
            options["connect_args"] = {
                **options.get("connect_args", {}),
                **observer.driver_options(),
            }
        engine = sqlalchemy.create_engine(self.url, **options)
        self._configure_engine(engine)
        if observer is not None:
            observer.instrument_engine(engine)
        return engine

    def _configure_engine(self, engine: Engine) -> None:
        @event.listens_for(engine, "connect")
        def _prepare(driver_connection: Any, record: Any) -> None:
            self._prepare_connection(driver_connection)

    def connect_dbapi(self, observer: Observer | None = None) -> DBAPIConnection:
        connection = self._driver_connect(observer)
        if observer is not None:
            # observed from the start, per-connection setup included, as SQLAlchemy's are
            observer.attach(connection)
        self._prepare_connection(connection)
        return connection  # type: ignore[no-any-return]

    def _create_tables(self) -> None:
        engine = self.create_engine()
        try:
            metadata.create_all(engine)
        finally:
            engine.dispose()

    def expected_snapshot(
        self, state: DbState
    ) -> tuple[tuple[StoredRow, ...], tuple[StoredRow, ...]]:
        stored = self.stored_timestamp
        return (
            tuple((u.id, u.username, u.email, stored(u.created_at)) for u in state.users),
            tuple((p.id, p.user_id, p.title, p.body, stored(p.created_at)) for p in state.posts),
        )


_SNAPSHOT_USERS = "SELECT id, username, email, created_at FROM user_account ORDER BY id"
_SNAPSHOT_POSTS = "SELECT id, user_id, title, body, created_at FROM user_blog_post ORDER BY id"


class SqliteBackend(Backend):
    """A SQLite database file (the caller owns the folder it is in)."""

    name: ClassVar[str] = "sqlite"
    networked: ClassVar[bool] = False

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

    def _driver_connect(self, observer: Observer | None) -> sqlite3.Connection:
        options = observer.driver_options() if observer else {}
        connection: sqlite3.Connection = sqlite3.connect(self.path, **options)
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
            users = tuple(self._admin.execute(_SNAPSHOT_USERS))
            posts = tuple(self._admin.execute(_SNAPSHOT_POSTS))
        return users, posts

    def describe(self) -> dict[str, str]:
        journal_mode = self._admin.execute("PRAGMA journal_mode").fetchone()[0]
        return {
            "version": sqlite3.sqlite_version,
            "journal_mode": journal_mode,
            "synchronous": "NORMAL",
            "foreign_keys": "ON",
            "provisioned_by": "a database file in a temporary folder",
        }

    def close(self) -> None:
        self._admin.close()


class PostgresBackend(Backend):
    """A schema of its own on a PostgreSQL server, created here and dropped by :meth:`close`."""

    name: ClassVar[str] = "postgres"
    networked: ClassVar[bool] = True

    def __init__(self, server_url: URL, schema: str, provisioned_by: str) -> None:
        from bench.postgres import mask

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
                self._vacuumed_size = 0
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
        """Nothing to run: the search path travels in the connection's startup options."""

    def _driver_connect(self, observer: Observer | None) -> psycopg.Connection[Any]:
        if observer is not None:
            return observer.connect_psycopg(self._conninfo)  # type: ignore[no-any-return]
        return psycopg.connect(self._conninfo)

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
        self._vacuumed_size = self._table_size()

    def maintain(self, seed: DbState) -> bool:
        # every reset leaves the deleted rows behind; vacuum once they outgrow the live ones,
        # so the tables do not swell round after round
        if self._table_size() < max(2 * self._vacuumed_size, self._vacuumed_size + (4 << 20)):
            return False
        self.reset(seed)
        self._admin.execute("VACUUM user_account, user_blog_post")
        self._vacuumed_size = self._table_size()
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
            users = tuple(self._admin.execute(_SNAPSHOT_USERS).fetchall())
            posts = tuple(self._admin.execute(_SNAPSHOT_POSTS).fetchall())
        return users, posts

    def describe(self) -> dict[str, str]:
        return {**server_settings(self._admin), "provisioned_by": self.provisioned_by}

    def close(self) -> None:
        try:
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


TIMING_SETTINGS = ("fsync", "synchronous_commit", "full_page_writes", "shared_buffers")


def server_settings(connection: psycopg.Connection[Any]) -> dict[str, str]:
    """The server's version and the settings that change timings."""
    with connection.transaction():
        values = {"version": str(connection.execute("SHOW server_version").fetchone()[0])}  # type: ignore[index]
        for setting in TIMING_SETTINGS:
            values[setting] = str(connection.execute(f"SHOW {setting}").fetchone()[0])  # type: ignore[index]
    return values


def conninfo_for(url: URL, **extra: Any) -> str:
    """A libpq connection string for a SQLAlchemy URL, its query parameters (``sslmode``,
    ``options``, ...) included, as SQLAlchemy's engines pass them; ``extra`` overrides them,
    but for ``options``, which is appended."""
    parameters: dict[str, Any] = {
        key: value[-1] if isinstance(value, tuple) else value for key, value in url.query.items()
    }
    for key, value in (
        ("host", url.host),
        ("port", url.port),
        ("user", url.username),
        ("password", url.password),
        ("dbname", url.database),
    ):
        if value is not None:
            parameters[key] = value
    if "options" in extra:
        extra = {**extra, "options": join_options(parameters.get("options"), extra["options"])}
    return psycopg.conninfo.make_conninfo("", **{**parameters, **extra})


def join_options(given: Any, ours: str) -> str:
    """A server options string with ours after the user's, so ours win where they clash."""
    given_text = given[-1] if isinstance(given, tuple) else given
    return f"{given_text} {ours}" if given_text else ours


@contextmanager
def open_sqlite() -> Iterator[SqliteBackend]:
    """A SQLite backend in a temporary folder, removed afterwards."""
    folder = tempfile.mkdtemp(prefix="bench-sqlite-")
    try:
        backend = SqliteBackend(os.path.join(folder, "bench.sqlite3"))
        try:
            yield backend
        finally:
            backend.close()
    finally:
        shutil.rmtree(folder, ignore_errors=True)


@contextmanager
def open_postgres(server_url: URL, provisioned_by: str) -> Iterator[PostgresBackend]:
    """A PostgreSQL backend in a schema of its own on the server, dropped afterwards."""
    backend = PostgresBackend(server_url, f"bench_{secrets.token_hex(6)}", provisioned_by)
    try:
        yield backend
    finally:
        backend.close()
