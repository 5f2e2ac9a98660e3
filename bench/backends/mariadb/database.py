"""The MariaDB database's lifecycle: a database of the run's own on a server, reached with
PyMySQL, created, reset to a seed, analyzed, read back, and dropped at the end with the
sessions still in it; and PyMySQL's connection arguments, as SQLAlchemy's dialect makes them.

:class:`MariadbDatabase` is bound to its type (``MARIADB``) by
:class:`bench.backends.mariadb.backend.MariadbBackend`, which the type opens.
"""

from __future__ import annotations

import contextlib
import copy
from collections.abc import Iterator
from datetime import datetime
from typing import Any

import pymysql
from pymysql.constants import SERVER_STATUS
from sqlalchemy import URL, DateTime
from sqlalchemy.ext.compiler import compiles

from bench.backends.base import LEFT_BEHIND, SNAPSHOT_POSTS, SNAPSHOT_USERS, Backend, StoredRow
from bench.backends.durability import COMMIT_PROBE_TABLE, CommitProbe, DurabilityUnavailable
from bench.backends.mariadb.observer import MariadbObserver
from bench.backends.mariadb.statistics import innodb_counters, server_settings
from bench.backends.servers import mask
from bench.measure.counting import Observer, ServerWork
from bench.measure.workloads import DbState
from bench.messages import first_line

#: another transaction's lock in the way: ER_LOCK_WAIT_TIMEOUT, ER_LOCK_DEADLOCK
LOCK_ERROR_CODES = (1205, 1213)

_TABLES = ("user_account", "user_blog_post")
#: transactions' undo logs waiting for purge past which the harness waits for it between passes
PURGE_BACKLOG_LIMIT = 1000
#: what makes a commit durable on MariaDB, server-wide (neither has a session scope): InnoDB
#: writes and flushes its redo log at every commit, and so does the binary log where it is on
DURABLE_SETTINGS = {"innodb_flush_log_at_trx_commit": 1, "sync_binlog": 1}


@compiles(DateTime, "mariadb")
def _datetime_with_microseconds(type_: Any, compiler: Any, **kw: Any) -> str:
    """MariaDB's DATETIME drops fractions of a second unless asked: the schema's timestamps
    keep their microseconds, as on the other backends."""
    return "DATETIME(6)"


def connect_arguments(url: URL) -> dict[str, Any]:
    """PyMySQL's ``connect()`` arguments for a URL, exactly as SQLAlchemy's dialect makes
    them (its client flags included), so raw connections and the engine's are alike."""
    dialect_class: Any = url.get_dialect()  # a MySQL dialect takes the DB-API module
    dialect = dialect_class(dbapi=dialect_class.import_dbapi())
    _, arguments = dialect.create_connect_args(url)
    return dict(arguments)


class MariadbDatabase(Backend):
    """A database of its own on a MariaDB server, created here and dropped by :meth:`close`."""

    def __init__(
        self, server_url: URL, database: str, provisioned_by: str, started_here: bool = False
    ) -> None:
        self.database = database
        self.provisioned_by = provisioned_by
        #: whether the harness started the server (its settings may be changed for a moment)
        self.started_here = started_here
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
        return innodb_counters(self._execute)

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

    def routed_to(self, host: str, port: int) -> MariadbDatabase:
        routed = copy.copy(self)
        routed._url = self._url.set(host=host, port=port)
        routed._arguments = connect_arguments(routed._url)
        return routed

    def describe(self) -> dict[str, str]:
        return {**server_settings(self._execute), "provisioned_by": self.provisioned_by}

    # --- what a commit costs --------------------------------------------------------------------

    @contextlib.contextmanager
    def _commit_probe(self) -> Iterator[CommitProbe]:
        self._execute(f"CREATE TABLE {COMMIT_PROBE_TABLE} (n INT NOT NULL) ENGINE=InnoDB")
        try:
            yield CommitProbe(
                self.connect_dbapi, f"INSERT INTO {COMMIT_PROBE_TABLE} (n) VALUES (%s)"
            )
        finally:
            self._execute(f"DROP TABLE IF EXISTS {COMMIT_PROBE_TABLE}")

    @contextlib.contextmanager
    def durable_commits(self) -> Iterator[tuple[str, ...]]:
        """:data:`DURABLE_SETTINGS` (``sync_binlog`` only where the binary log is on), set
        with SET GLOBAL only on a server the harness started, and put back on exiting,
        whatever happened inside; a server already set so needs nothing."""
        flush, binary_log, sync_binlog = self._execute(
            "SELECT @@global.innodb_flush_log_at_trx_commit, @@global.log_bin, @@global.sync_binlog"
        )[0]
        now = {"innodb_flush_log_at_trx_commit": int(flush)}
        if int(binary_log):
            now["sync_binlog"] = int(sync_binlog)
        to_change = {name: value for name, value in now.items() if value != DURABLE_SETTINGS[name]}
        if not to_change:
            yield ()
            return
        if not self.started_here:
            raise DurabilityUnavailable(
                ", ".join(f"{name} is {value}" for name, value in to_change.items())
                + " on this server, and the harness changes no setting of a server it did not "
                "start"
            )
        changed: dict[str, int] = {}
        try:
            for name, value in to_change.items():
                changed[name] = value  # before: an interruption may come after the server set it
                try:
                    self._execute(f"SET GLOBAL {name} = %s", (DURABLE_SETTINGS[name],))
                except pymysql.MySQLError as exc:
                    del changed[name]  # refused: nothing was changed
                    raise DurabilityUnavailable(
                        f"{name} cannot be changed on this server: {first_line(exc)}"
                    ) from None
            yield ()
        finally:
            for name, value in changed.items():
                self._execute(f"SET GLOBAL {name} = %s", (value,))

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
