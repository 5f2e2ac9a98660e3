"""MariaDB: where the server comes from, exact counts of small cases, the counting's own
cross-check, and a reset that runs DDL only when a round inserted rows.

As for PostgreSQL, the testcontainers path needs a Docker engine that neither this machine nor
CI has: its fall-through is tested (in test_server_backends.py), starting a real container
is not.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pymysql
import pytest
from sqlalchemy import URL

from bench.backends.mariadb.backend import MARIADB, MariadbBackend, parse_mariadb_url
from bench.backends.mariadb.database import connect_arguments
from bench.backends.mariadb.observer import CountMismatch, MariadbObserver
from bench.backends.mariadb.servers import LocalServerProvider
from bench.backends.servers import Server
from bench.measure.cells import Cell, Harness
from bench.measure.counting import Observation
from bench.measure.workloads import WORKLOADS

from helpers import bench, one_error_line, processes_under, server_tmpdir


def count(harness: Harness, workload: str, variant: str, size: int) -> Observation:
    return harness.count(Cell(workload, variant, "mariadb", size), WORKLOADS[workload].case(size))


# --- URLs (what every server backend shares: tests/test_server_backends.py) ------------------


def test_raw_connections_are_made_as_sqlalchemy_makes_them() -> None:
    arguments = connect_arguments(parse_mariadb_url("mariadb://bench:pw@db.example:3307/app"))
    assert (arguments["host"], arguments["port"], arguments["database"]) == (
        "db.example",
        3307,
        "app",
    )
    # SQLAlchemy's client flags (FOUND_ROWS) apply to the raw variants' connections too
    assert arguments["client_flag"] & pymysql.constants.CLIENT.FOUND_ROWS


# --- where the server comes from ------------------------------------------------------------


def test_without_server_binaries_the_local_provider_says_so(tmp_path: Path) -> None:
    provider = LocalServerProvider(search_path=str(tmp_path))
    assert provider.find() is None
    assert "no MariaDB server binaries" in str(provider.unavailable_reason())


def test_without_any_server_mariadb_is_skipped_with_the_reason(tmp_path: Path) -> None:
    from helpers import bench_patched

    result = bench_patched(
        "import bench.backends.mariadb.servers as m\n"
        "from bench.backends.mariadb.backend import MARIADB\n"
        "MARIADB.providers = (m.TestcontainersProvider(), "
        "m.LocalServerProvider(search_path='/nonexistent'))",
        "statements",
        "--workload",
        "crud_read",
        "--backend",
        "mariadb",
        cwd=tmp_path,
        env={"DOCKER_HOST": "unix:///nonexistent/docker.sock", "BENCH_MARIADB_URL": ""},
    )
    assert result.returncode == 2
    line = one_error_line(result)
    assert line.startswith("bench: error: no MariaDB server (testcontainers: no Docker daemon")
    assert "apt-get install mariadb-server" in line


@pytest.fixture
def own_tmpdir() -> Iterator[Path]:
    """A temporary folder under /tmp (which the server's user can reach) for the servers one
    test starts, so that they, and only they, can be found by it."""
    with server_tmpdir(
        LocalServerProvider().unavailable_reason(), MARIADB.require_env, "bench-mariadb-test-"
    ) as folder:
        yield folder


@pytest.mark.mariadb
def test_a_quick_run_on_a_throwaway_server_leaves_nothing_running(
    tmp_path: Path, own_tmpdir: Path
) -> None:
    env = {"TMPDIR": str(own_tmpdir), "BENCH_MARIADB_URL": ""}
    result = bench(
        "run",
        "--backend",
        "mariadb",
        "--quick",
        "--workload",
        "crud_create",
        "--variant",
        "core",
        "dbapi",
        "--out",
        "out",
        cwd=tmp_path,
        env=env,
    )
    assert result.returncode == 0, result.stderr
    assert "throwaway server from local binaries" in result.stderr
    report = (tmp_path / "out" / "REPORT.md").read_text()
    assert "## MariaDB" in report
    assert processes_under(own_tmpdir) == []
    assert list(own_tmpdir.iterdir()) == []  # the server's folder went with it


# --- exact counts ---------------------------------------------------------------------------

# One-row create on MariaDB. PyMySQL runs with autocommit off, so the server begins the
# transaction with the first statement and no BEGIN is sent. Every style sends one
# INSERT ... RETURNING id and a COMMIT, each one round trip. SQLAlchemy's pool then resets the
# connection it gets back with a ROLLBACK, which PyMySQL sends even after a COMMIT: one more
# statement and round trip for orm, orm_bulk and core. (On PostgreSQL psycopg knows the
# transaction is over and sends nothing; on SQLite likewise.)
MARIADB_ONE_ROW_CREATE = {
    "orm": (1, 3, 3),
    "orm_bulk": (1, 3, 3),
    "core": (1, 3, 3),
    "dbapi": (1, 2, 2),
}

# parent_child_insert, 2 users x 5 posts. MariaDB has RETURNING, and SQLAlchemy trusts its
# auto-increment ids to rise in VALUES order, so the users are one multi-row
# INSERT ... RETURNING (insertmanyvalues) for every style.
#   orm:      the unit of work wants the posts' ids too: a second multi-row INSERT ... RETURNING;
#             2 calls, + COMMIT + the pool's ROLLBACK = 4 statements, 4 round trips
#   orm_bulk: the posts need no ids: one executemany, which PyMySQL writes as one multi-row
#             INSERT; the same 2 calls and 4 statements
#   core:     the same as orm_bulk
#   dbapi:    one INSERT ... VALUES (...), (...) RETURNING id written by hand, one executemany
#             of the posts (one statement), COMMIT: 3 statements, 3 round trips
MARIADB_PARENT_CHILD = {
    "orm": (2, 4, 4),
    "orm_bulk": (2, 4, 4),
    "core": (2, 4, 4),
    "dbapi": (2, 3, 3),
}


@pytest.mark.mariadb
@pytest.mark.parametrize("variant", list(MARIADB_ONE_ROW_CREATE))
def test_one_row_create_counts_on_mariadb(mariadb_harness: Harness, variant: str) -> None:
    observation = count(mariadb_harness, "crud_create", variant, 1)
    kinds = [s.split()[0].upper() for s in observation.server_statements]
    assert kinds == ["INSERT", "COMMIT"] + (["ROLLBACK"] if variant != "dbapi" else [])
    assert "RETURNING" in observation.server_statements[0]
    assert (
        observation.cursor_calls,
        observation.db_statements,
        observation.round_trips,
    ) == MARIADB_ONE_ROW_CREATE[variant]
    assert observation.round_trips_source == "PyMySQL's socket writes and reads"


@pytest.mark.mariadb
@pytest.mark.parametrize("variant", list(MARIADB_PARENT_CHILD))
def test_parent_child_insert_counts_on_mariadb(mariadb_harness: Harness, variant: str) -> None:
    observation = count(mariadb_harness, "parent_child_insert", variant, 2)
    assert (
        observation.cursor_calls,
        observation.db_statements,
        observation.round_trips,
    ) == MARIADB_PARENT_CHILD[variant]
    assert observation.bytes_sent and observation.bytes_received


@pytest.mark.mariadb
def test_a_statement_count_the_wire_does_not_confirm_fails_the_cell(
    mariadb_harness: Harness, monkeypatch: pytest.MonkeyPatch
) -> None:
    original = MariadbObserver._collect

    def one_more(observer: MariadbObserver, session: Any) -> None:
        original(observer, session)
        observer._server_count += 1  # as if the server had run a statement the wire never carried

    monkeypatch.setattr(MariadbObserver, "_collect", one_more)
    with pytest.raises(CountMismatch, match="MariaDB counted"):
        count(mariadb_harness, "crud_read", "core", 1)


# --- the reset --------------------------------------------------------------------------------


def _table_ids(backend: MariadbBackend) -> list[tuple[object, ...]]:
    """InnoDB's ids of the run's tables: TRUNCATE (DDL) gives a table a new one."""
    return backend._execute(
        "SELECT NAME, TABLE_ID FROM information_schema.INNODB_SYS_TABLES "
        "WHERE NAME LIKE %s ORDER BY NAME",
        (f"{backend.database}/%",),
    )


@pytest.mark.mariadb
def test_the_reset_runs_ddl_only_after_a_round_that_inserted(
    mariadb_harness: Harness, mariadb_backend: MariadbBackend
) -> None:
    read = WORKLOADS["crud_read"].case(5)
    mariadb_backend.load_seed(read.seed)
    before = _table_ids(mariadb_backend)
    for _ in range(3):
        mariadb_harness.verify(Cell("crud_read", "dbapi", "mariadb", 5), read)
        mariadb_backend.reset(read.seed)
    assert _table_ids(mariadb_backend) == before  # DELETE and re-insert only

    create = WORKLOADS["crud_create"].case(5)
    mariadb_backend.load_seed(create.seed)
    before = _table_ids(mariadb_backend)
    for _ in range(2):
        # the new rows' ids restart where the workload expects them, round after round
        mariadb_harness.verify(Cell("crud_create", "dbapi", "mariadb", 5), create)
    assert _table_ids(mariadb_backend) != before  # the counters needed TRUNCATE


@pytest.mark.mariadb
def test_a_user_who_cannot_create_a_database_is_told_so(
    mariadb_server: Server, mariadb_backend: MariadbBackend
) -> None:
    password = "reader-" + os.urandom(4).hex()
    mariadb_backend._execute(f"CREATE USER 'bench_reader'@'%' IDENTIFIED BY '{password}'")
    try:
        # no privileges at all: it may connect (to no database) and do nothing
        server = mariadb_server.address
        reader = URL.create(server.drivername, "bench_reader", password, server.host, server.port)
        result = bench(
            "run",
            "--backend",
            "mariadb",
            "--mariadb-url",
            reader.render_as_string(hide_password=False),
        )
        assert result.returncode == 2
        line = one_error_line(result)
        assert line.startswith("bench: error: --mariadb-url: cannot create the run's database at")
        assert "Access denied" in line and password not in line
    finally:
        mariadb_backend._execute("DROP USER 'bench_reader'@'%'")
