"""The PostgreSQL database's lifecycle: a schema of the run's own on a server, reached with
psycopg 3 (and, for the asyncio variants, psycopg's asyncio connections or asyncpg), created,
reset to a seed, vacuumed, read back, and dropped at the end with the sessions still holding it.

:class:`PostgresDatabase` is bound to its type (``POSTGRES``) by
:class:`bench.backends.postgres.backend.PostgresBackend`, which the type opens.
"""

from __future__ import annotations

import contextlib
import copy
import time
from collections.abc import Iterator
from datetime import datetime
from typing import Any

import asyncpg
import psycopg
import sqlalchemy.ext.asyncio
from sqlalchemy import URL
from sqlalchemy.ext.asyncio import AsyncEngine

from bench.backends.base import LEFT_BEHIND, SNAPSHOT_POSTS, SNAPSHOT_USERS, Backend, StoredRow
from bench.backends.durability import COMMIT_PROBE_TABLE, CommitProbe, DurabilityUnavailable
from bench.backends.postgres.conninfo import conninfo_for, join_options
from bench.backends.postgres.drivers import (
    asyncpg_arguments,
    connect_psycopg_async,
    observed_asyncpg_connection,
)
from bench.backends.postgres.observer import PostgresObserver
from bench.backends.postgres.statistics import ServerStatistics, server_settings
from bench.backends.servers import ServerError, mask
from bench.measure.counting import Observer
from bench.measure.workloads import DbState
from bench.messages import first_line

#: another transaction's lock in the way: a deadlock, a serialization failure, a lock timeout,
#: as psycopg and asyncpg raise them
LOCK_ERRORS = (
    psycopg.errors.DeadlockDetected,
    psycopg.errors.SerializationFailure,
    psycopg.errors.LockNotAvailable,
    asyncpg.exceptions.DeadlockDetectedError,
    asyncpg.exceptions.SerializationError,
    asyncpg.exceptions.LockNotAvailableError,
)
#: their SQLSTATEs (deadlock_detected, serialization_failure, lock_not_available)
LOCK_SQLSTATES = frozenset({"40P01", "40001", "55P03"})
#: what makes one session's commits wait for the disk, once the server flushes its WAL at all
#: (``fsync``, a server-wide setting): ``synchronous_commit``, which a session sets for itself
DURABLE_SESSION = ("SET synchronous_commit = on",)
#: where ALTER SYSTEM keeps what it sets, in the data directory: the harness's own clusters are
#: given their settings there too
AUTO_CONF = "postgresql.auto.conf"
#: how long the server's processes may take to read a reloaded configuration
RELOAD_WAIT_SECONDS = 5.0


class PostgresDatabase(Backend):
    """A schema of its own on a PostgreSQL server, created here and dropped by :meth:`close`."""

    def __init__(
        self, server_url: URL, schema: str, provisioned_by: str, started_here: bool = False
    ) -> None:
        self.schema = schema
        self.provisioned_by = provisioned_by
        #: whether the harness started the server (its settings may be changed for a moment)
        self.started_here = started_here
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
        # SQLAlchemy's asyncpg dialect raises DB-API exceptions of its own in place of
        # asyncpg's (AsyncAdapt_asyncpg_dbapi.Error, for these three its plain Error): they
        # carry the asyncpg error's SQLSTATE, and the asyncpg error as their orig (SQLAlchemy
        # 2.1) or __cause__ (2.0)
        return (
            isinstance(driver_error, LOCK_ERRORS)
            or getattr(driver_error, "sqlstate", None) in LOCK_SQLSTATES
        )

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

    # --- what a commit costs --------------------------------------------------------------------

    @contextlib.contextmanager
    def _commit_probe(self) -> Iterator[CommitProbe]:
        self._admin.execute(f"CREATE TABLE {COMMIT_PROBE_TABLE} (n integer NOT NULL)")
        try:
            yield CommitProbe(
                self.connect_dbapi, f"INSERT INTO {COMMIT_PROBE_TABLE} (n) VALUES (%s)"
            )
        finally:
            self._admin.execute(f"DROP TABLE IF EXISTS {COMMIT_PROBE_TABLE}")

    @contextlib.contextmanager
    def durable_commits(self) -> Iterator[tuple[str, ...]]:
        """A commit is durable when the server flushes its WAL to disk (``fsync``, server-wide,
        changed by a reload) and the commit waits for that (``synchronous_commit``, the
        session's own). Where ``fsync`` is on, the session's setting is all it takes, on any
        server; where it is off, it is turned on only on a server the harness started, with
        ALTER SYSTEM and a reload, and put back the same way."""
        row = self._admin.execute(
            "SELECT setting, source FROM pg_settings WHERE name = 'fsync'"
        ).fetchone()
        assert row is not None
        fsync, source = row
        if fsync == "on":
            yield DURABLE_SESSION
            return
        if not self.started_here:
            raise DurabilityUnavailable(
                "fsync is off on this server, and the harness changes no setting of a server "
                "it did not start"
            )
        if source == "command line":
            raise DurabilityUnavailable(
                "fsync is off on the server's command line, which no reload can change"
            )
        with self._server_setting("fsync", "on"):
            yield DURABLE_SESSION

    @contextlib.contextmanager
    def _server_setting(self, name: str, value: str) -> Iterator[None]:
        """A reload-time setting set server-wide (ALTER SYSTEM, then a reload) while the context
        lasts, and put back on exiting, whatever happened inside: the entry the data
        directory's postgresql.auto.conf had for it (``ALTER SYSTEM RESET`` alone would remove
        the harness's own ``fsync = 'off'`` there, leaving the server's default, on), or none."""
        admin = self._admin
        before = self._show(name)
        entry: str | None = None
        altered = False
        try:
            try:
                row = admin.execute(
                    "SELECT setting FROM pg_file_settings WHERE name = %s"
                    " AND sourcefile = current_setting('data_directory') || %s"
                    " ORDER BY seqno DESC LIMIT 1",
                    (name, f"/{AUTO_CONF}"),
                ).fetchone()
                entry = None if row is None else str(row[0])
                altered = True  # before: an interruption may come after the server wrote it
                admin.execute(f"ALTER SYSTEM SET {name} = {_literal(value)}")
            except psycopg.Error as exc:
                altered = False  # refused: nothing was written
                raise DurabilityUnavailable(
                    f"{name} cannot be changed on this server: {first_line(exc)}"
                ) from None
            if not self._reload_until(name, value):
                raise DurabilityUnavailable(
                    f"{name} still reads {self._show(name)} after a reload: the server takes it "
                    "from elsewhere than postgresql.auto.conf"
                )
            yield
        finally:
            if altered:
                self._put_back(name, entry, before)

    def _put_back(self, name: str, entry: str | None, value: str) -> None:
        """The setting's entry in postgresql.auto.conf as it was (none: removed), reloaded
        until the setting reads ``value`` again; RuntimeError when it does not."""
        if entry is None:
            self._admin.execute(f"ALTER SYSTEM RESET {name}")
        else:
            self._admin.execute(f"ALTER SYSTEM SET {name} = {_literal(entry)}")
        if not self._reload_until(name, value):
            raise RuntimeError(
                f"PostgreSQL's {name} reads {self._show(name)} after it was put back to "
                f"{value}: the cells would not run as the server was set up"
            )

    def _reload_until(self, name: str, value: str) -> bool:
        """Reload the server's configuration and wait until this session reads ``value`` for
        the setting (the server's processes read it when the server tells them, a moment
        after); False when it does not within :data:`RELOAD_WAIT_SECONDS`. A new connection
        made afterwards reads it too: the server reloads before telling its sessions."""
        self._admin.execute("SELECT pg_reload_conf()")
        deadline = time.monotonic() + RELOAD_WAIT_SECONDS
        while self._show(name) != value:
            if time.monotonic() > deadline:
                return False
            time.sleep(0.01)
        return True

    def _show(self, name: str) -> str:
        row = self._admin.execute(f"SHOW {name}").fetchone()
        assert row is not None
        return str(row[0])

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

    def routed_to(self, host: str, port: int) -> PostgresDatabase:
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


def _literal(value: str) -> str:
    """A setting's value as a quoted SQL literal."""
    return "'" + value.replace("'", "''") + "'"
