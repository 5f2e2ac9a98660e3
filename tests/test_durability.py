"""What a commit costs, as the server is set up and durable, measured before any cell: both
figures on the servers the harness starts, whose settings are durable only while the durable
units run and are put back after a failure or Ctrl-C in the middle of them; a server given by
URL is never changed (its role may not, or may but must not), and gets the first figure and a
note, or both where it is durable already; no table or row is left behind.

Real throwaway servers, no stand-ins. Timings are only checked to be figures: which is larger is
a claim for the report, not for a test.
"""

from __future__ import annotations

import os
import re
import sqlite3
import time
from collections.abc import Iterator
from contextlib import closing
from pathlib import Path
from typing import Any

import psycopg
import pymysql
import pytest
from sqlalchemy import URL

from bench.backends import Backend
from bench.backends.durability import COMMIT_PROBE_TABLE, LEAST_UNITS, CommitCosts
from bench.backends.mariadb.backend import MARIADB, MariadbBackend
from bench.backends.mariadb.database import connect_arguments
from bench.backends.postgres.backend import POSTGRES, PostgresBackend
from bench.backends.postgres.conninfo import conninfo_for
from bench.backends.servers import Server
from bench.backends.sqlite.backend import SqliteBackend
from bench.plugin.backends import BACKEND_DESCRIPTIONS

FIGURE = re.compile(r"\d+\.\d{3}")


class Planted(Exception):
    """A failure planted in the middle of the durable units."""


def _figures_are_figures(costs: CommitCosts, durable: bool = True) -> None:
    assert costs.commit_ms > 0
    record = costs.record()
    assert FIGURE.fullmatch(record["commit_ms"])
    if durable:
        assert costs.durable_commit_ms is not None and costs.durable_commit_ms > 0
        assert FIGURE.fullmatch(record["durable_commit_ms"])
        assert "durable_commit_note" not in record
    else:
        assert costs.durable_commit_ms is None and "durable_commit_ms" not in record
        assert record["durable_commit_note"] == costs.durable_note


# --- PostgreSQL ---------------------------------------------------------------------------------


@pytest.fixture
def pg_admin(postgres_server: Server) -> Iterator[psycopg.Connection[Any]]:
    """A superuser's connection to the server, beside the harness's, for its roles. (What the
    tests read of the server's settings they read on new connections: a session idle while the
    server reloads its configuration runs its next statement with the old one.)"""
    with psycopg.connect(conninfo_for(postgres_server.address), autocommit=True) as connection:
        yield connection


@pytest.fixture
def started_postgres(postgres_backend: PostgresBackend) -> PostgresBackend:
    if not postgres_backend.started_here:
        pytest.skip(
            "the PostgreSQL server was given by URL: its settings are not the tests' to change"
        )
    return postgres_backend


def _pg_state(server: Server) -> dict[str, object]:
    """What the measurement must leave as it found it, read on a new session: the settings that
    make commits durable, the configuration files' entries, and when the server last loaded
    its configuration."""
    with psycopg.connect(conninfo_for(server.address)) as fresh:
        row = fresh.execute(
            "SELECT current_setting('fsync'), current_setting('synchronous_commit'), "
            "pg_conf_load_time()"
        ).fetchone()
        assert row is not None
        entries = fresh.execute(
            "SELECT sourcefile, name, setting FROM pg_file_settings ORDER BY sourcefile, name"
        ).fetchall()
    fsync, synchronous_commit, loaded = row
    return {
        "fsync": fsync,
        "synchronous_commit": synchronous_commit,
        "loaded": loaded,
        "entries": entries,
    }


def _pg_leftovers(admin: psycopg.Connection[Any], backend: PostgresBackend) -> list[Any]:
    return admin.execute(
        "SELECT table_name FROM information_schema.tables WHERE table_schema = %s"
        " AND table_name NOT IN ('user_account', 'user_blog_post')",
        (backend.schema,),
    ).fetchall()


def _wal_syncs(admin: psycopg.Connection[Any]) -> int:
    return int(admin.execute("SELECT wal_sync FROM pg_stat_wal").fetchone()[0])  # type: ignore[index]


@pytest.mark.postgres
def test_postgres_commits_are_durable_only_while_the_durable_units_run(
    started_postgres: PostgresBackend,
    postgres_server: Server,
    pg_admin: psycopg.Connection[Any],
) -> None:
    before = _pg_state(postgres_server)
    assert before["fsync"] == "off" and before["synchronous_commit"] == "off"
    rows_before = started_postgres.snapshot()
    syncs_before = _wal_syncs(pg_admin)
    during: list[object] = []

    costs = started_postgres.commit_costs(
        while_durable=lambda: during.append(_pg_state(postgres_server)["fsync"])
    )

    assert costs is not None
    _figures_are_figures(costs)
    assert during == ["on"]
    after = _pg_state(postgres_server)
    assert {key: after[key] for key in ("fsync", "synchronous_commit", "entries")} == {
        key: before[key] for key in ("fsync", "synchronous_commit", "entries")
    }
    # the durable units synced the WAL, each (the server publishes its counts a moment after
    # the measuring session has gone)
    deadline = time.monotonic() + 10
    while _wal_syncs(pg_admin) < syncs_before + LEAST_UNITS and time.monotonic() < deadline:
        time.sleep(0.05)
    assert _wal_syncs(pg_admin) >= syncs_before + LEAST_UNITS
    assert _pg_leftovers(pg_admin, started_postgres) == []
    assert started_postgres.snapshot() == rows_before


@pytest.mark.postgres
@pytest.mark.parametrize("failure", [Planted, KeyboardInterrupt])
def test_postgres_settings_are_put_back_after_a_failure_midway(
    started_postgres: PostgresBackend,
    postgres_server: Server,
    pg_admin: psycopg.Connection[Any],
    failure: type[BaseException],
) -> None:
    before = _pg_state(postgres_server)
    assert before["fsync"] == "off"
    during: list[object] = []

    def fail() -> None:
        during.append(_pg_state(postgres_server)["fsync"])
        raise failure("planted")

    with pytest.raises(failure):
        started_postgres.commit_costs(while_durable=fail)

    assert during == ["on"]  # it failed with the server durable
    after = _pg_state(postgres_server)
    assert after["fsync"] == "off"
    assert after["entries"] == before["entries"]
    assert _pg_leftovers(pg_admin, started_postgres) == []
    # the harness's own connection is still usable: the cells would run
    assert started_postgres.describe()["fsync"] == "off"


@pytest.fixture
def pg_role(postgres_server: Server, pg_admin: psycopg.Connection[Any]) -> Iterator[URL]:
    """The URL of a role that may make the run's schema and nothing more: no superuser, so no
    ALTER SYSTEM and no reload."""
    database = postgres_server.address.database
    pg_admin.execute("DROP ROLE IF EXISTS bench_durability")
    pg_admin.execute("CREATE ROLE bench_durability LOGIN PASSWORD 'durability-secret'")
    pg_admin.execute(f'GRANT CREATE ON DATABASE "{database}" TO bench_durability')
    try:
        yield postgres_server.address.set(username="bench_durability", password="durability-secret")
    finally:
        pg_admin.execute("DROP OWNED BY bench_durability")
        pg_admin.execute("DROP ROLE bench_durability")


@pytest.mark.postgres
@pytest.mark.parametrize("role", ["unprivileged", "superuser"])
def test_a_given_postgres_server_is_not_changed_and_gets_a_note(
    role: str,
    postgres_server: Server,
    pg_admin: psycopg.Connection[Any],
    request: pytest.FixtureRequest,
) -> None:
    """A role that cannot change the server's settings, and one that could but must not: a
    server given by URL is the user's."""
    url = request.getfixturevalue("pg_role") if role == "unprivileged" else postgres_server.address
    before = _pg_state(postgres_server)
    if before["fsync"] != "off":
        pytest.skip("the server given to the tests syncs its WAL: nothing would need changing")
    with POSTGRES.open(Server(url, "the URL given")) as given:
        costs = given.commit_costs()
        leftovers = _pg_leftovers(pg_admin, given)
    assert costs is not None
    _figures_are_figures(costs, durable=False)
    assert costs.durable_note == (
        "fsync is off on this server, and the harness changes no setting of a server it did "
        "not start"
    )
    assert _pg_state(postgres_server) == before  # not even a reload
    assert leftovers == []


@pytest.mark.postgres
def test_a_given_postgres_server_that_syncs_is_measured_durable_with_the_session_alone(
    started_postgres: PostgresBackend, postgres_server: Server, pg_role: URL
) -> None:
    """Where the server syncs its WAL (as here while the throwaway server's durable settings
    are in force), a session's own synchronous_commit is all it takes: nothing server-wide."""
    # the given server's database opened after the reload: a session idle through it would
    # read the old fsync once more
    with (
        started_postgres.durable_commits(),
        POSTGRES.open(Server(pg_role, "the URL given")) as given,
    ):
        before = _pg_state(postgres_server)
        assert before["fsync"] == "on"
        costs = given.commit_costs()
        assert _pg_state(postgres_server) == before
    assert costs is not None
    _figures_are_figures(costs)


# --- MariaDB ------------------------------------------------------------------------------------

#: the settings the measurement may change on a server the harness started
MARIADB_SETTINGS = ("innodb_flush_log_at_trx_commit", "sync_binlog", "log_bin")


@pytest.fixture
def maria_admin(mariadb_server: Server) -> Iterator[pymysql.Connection[Any]]:
    connection = pymysql.connect(
        **{**connect_arguments(mariadb_server.address), "autocommit": True}
    )
    with closing(connection):
        yield connection


@pytest.fixture
def started_mariadb(mariadb_backend: MariadbBackend) -> MariadbBackend:
    if not mariadb_backend.started_here:
        pytest.skip(
            "the MariaDB server was given by URL: its settings are not the tests' to change"
        )
    return mariadb_backend


def _maria(admin: pymysql.Connection[Any], sql: str, *parameters: object) -> list[Any]:
    with admin.cursor() as cursor:
        cursor.execute(sql, parameters or None)
        return list(cursor.fetchall())


def _maria_settings(admin: pymysql.Connection[Any]) -> dict[str, int]:
    row = _maria(admin, "SELECT " + ", ".join(f"@@global.{name}" for name in MARIADB_SETTINGS))[0]
    return dict(zip(MARIADB_SETTINGS, (int(value) for value in row), strict=True))


def _maria_leftovers(admin: pymysql.Connection[Any], database: str) -> list[Any]:
    return _maria(
        admin,
        "SELECT table_name FROM information_schema.TABLES WHERE table_schema = %s"
        " AND table_name NOT IN ('user_account', 'user_blog_post')",
        database,
    )


def _log_fsyncs(admin: pymysql.Connection[Any]) -> int:
    return int(_maria(admin, "SHOW GLOBAL STATUS LIKE 'Innodb_data_fsyncs'")[0][1])


@pytest.mark.mariadb
def test_mariadb_commits_are_durable_only_while_the_durable_units_run(
    started_mariadb: MariadbBackend, maria_admin: pymysql.Connection[Any]
) -> None:
    before = _maria_settings(maria_admin)
    assert before["innodb_flush_log_at_trx_commit"] == 0
    rows_before = started_mariadb.snapshot()
    during: list[dict[str, int]] = []
    fsyncs: list[int] = []

    def look() -> None:
        during.append(_maria_settings(maria_admin))
        fsyncs.append(_log_fsyncs(maria_admin))

    costs = started_mariadb.commit_costs(while_durable=look)

    assert costs is not None
    _figures_are_figures(costs)
    assert during[0]["innodb_flush_log_at_trx_commit"] == 1
    if before["log_bin"]:
        assert during[0]["sync_binlog"] == 1
    assert _maria_settings(maria_admin) == before
    # each durable unit flushed InnoDB's log to disk
    assert _log_fsyncs(maria_admin) >= fsyncs[0] + LEAST_UNITS
    assert _maria_leftovers(maria_admin, started_mariadb.database) == []
    assert started_mariadb.snapshot() == rows_before


@pytest.mark.mariadb
@pytest.mark.parametrize("failure", [Planted, KeyboardInterrupt])
def test_mariadb_settings_are_put_back_after_a_failure_midway(
    started_mariadb: MariadbBackend,
    maria_admin: pymysql.Connection[Any],
    failure: type[BaseException],
) -> None:
    before = _maria_settings(maria_admin)
    assert before["innodb_flush_log_at_trx_commit"] == 0
    during: list[dict[str, int]] = []

    def fail() -> None:
        during.append(_maria_settings(maria_admin))
        raise failure("planted")

    with pytest.raises(failure):
        started_mariadb.commit_costs(while_durable=fail)

    assert during[0]["innodb_flush_log_at_trx_commit"] == 1
    assert _maria_settings(maria_admin) == before
    assert _maria_leftovers(maria_admin, started_mariadb.database) == []


@pytest.fixture
def maria_user(mariadb_server: Server, maria_admin: pymysql.Connection[Any]) -> Iterator[URL]:
    """The URL of an account that may make the run's database and nothing more: no SUPER, so
    no SET GLOBAL."""
    account = "'bench_durability'@'%'"
    _maria(maria_admin, f"DROP USER IF EXISTS {account}")
    _maria(maria_admin, f"CREATE USER {account} IDENTIFIED BY 'durability-secret'")
    _maria(maria_admin, f"GRANT ALL PRIVILEGES ON `bench\\_%`.* TO {account}")
    _maria(
        maria_admin, f"GRANT ALL PRIVILEGES ON `{mariadb_server.address.database}`.* TO {account}"
    )
    try:
        yield mariadb_server.address.set(username="bench_durability", password="durability-secret")
    finally:
        _maria(maria_admin, f"DROP USER {account}")


@pytest.mark.mariadb
@pytest.mark.parametrize("account", ["unprivileged", "privileged"])
def test_a_given_mariadb_server_is_not_changed_and_gets_a_note(
    account: str,
    mariadb_server: Server,
    maria_admin: pymysql.Connection[Any],
    request: pytest.FixtureRequest,
) -> None:
    url = (
        request.getfixturevalue("maria_user")
        if account == "unprivileged"
        else mariadb_server.address
    )
    before = _maria_settings(maria_admin)
    if before["innodb_flush_log_at_trx_commit"] == 1:
        pytest.skip("the server given to the tests flushes at every commit: nothing would change")
    with MARIADB.open(Server(url, "the URL given")) as given:
        costs = given.commit_costs()
        leftovers = _maria_leftovers(maria_admin, given.database)
    assert costs is not None
    _figures_are_figures(costs, durable=False)
    assert costs.durable_note.startswith(
        f"innodb_flush_log_at_trx_commit is {before['innodb_flush_log_at_trx_commit']}"
    )
    assert costs.durable_note.endswith(
        "on this server, and the harness changes no setting of a server it did not start"
    )
    assert _maria_settings(maria_admin) == before
    assert leftovers == []


@pytest.mark.mariadb
def test_a_given_mariadb_server_that_flushes_is_measured_durable_as_it_is(
    started_mariadb: MariadbBackend, maria_admin: pymysql.Connection[Any], maria_user: URL
) -> None:
    with (
        MARIADB.open(Server(maria_user, "the URL given")) as given,
        started_mariadb.durable_commits(),
    ):
        before = _maria_settings(maria_admin)
        assert before["innodb_flush_log_at_trx_commit"] == 1
        costs = given.commit_costs()
        assert _maria_settings(maria_admin) == before
    assert costs is not None
    _figures_are_figures(costs)


# --- SQLite -------------------------------------------------------------------------------------


def test_sqlite_measures_both_in_a_scratch_file_beside_the_database(tmp_path: Path) -> None:
    backend = SqliteBackend(str(tmp_path / "bench.sqlite3"))
    try:
        files = sorted(os.listdir(tmp_path))
        durable_pragma: list[int] = []

        def look() -> None:
            # the scratch file, with the harness's own pragmas, is there while it runs
            assert (tmp_path / "commit-probe.sqlite3").exists()
            durable_pragma.append(1)

        costs = backend.commit_costs(while_durable=look)
        assert costs is not None
        _figures_are_figures(costs)
        assert durable_pragma == [1]
        assert sorted(os.listdir(tmp_path)) == files
        with closing(sqlite3.connect(tmp_path / "bench.sqlite3")) as connection:
            tables = connection.execute("SELECT name FROM sqlite_master WHERE type = 'table'")
            assert COMMIT_PROBE_TABLE not in {name for (name,) in tables}
    finally:
        backend.close()


# --- the run's record ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    "name",
    [
        "sqlite",
        pytest.param("postgres", marks=pytest.mark.postgres),
        pytest.param("mariadb", marks=pytest.mark.mariadb),
    ],
)
def test_the_record_holds_both_figures_beside_the_settings(
    name: str, request: pytest.FixtureRequest
) -> None:
    backend: Backend = request.getfixturevalue(f"{name}_backend")
    description = request.config.stash[BACKEND_DESCRIPTIONS][name]
    assert FIGURE.fullmatch(description["commit_ms"])
    started_here = getattr(backend, "started_here", True)
    if started_here:
        assert FIGURE.fullmatch(description["durable_commit_ms"])
    else:
        assert "durable_commit_ms" in description or description["durable_commit_note"]
    if backend.networked:
        assert FIGURE.fullmatch(description["round_trip_ms"])
