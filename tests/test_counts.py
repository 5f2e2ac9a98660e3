"""Exact counts for small cases, each derived from the SQL the style must send (the comments
say how), and cross-checks of the client-side count against the database's own."""

from __future__ import annotations

import sqlite3
from dataclasses import replace

import psycopg
import pymysql
import pytest

from bench.backends import Backend
from bench.backends.sqlite.backend import SqliteBackend, SqliteObserver
from bench.measure.cells import Cell, Harness
from bench.measure.counting import Observation
from bench.measure.sizes import sizes_for
from bench.measure.workloads import WORKLOADS
from implementations.registry import VARIANTS, load_variant

from helpers import per_backend


def count(harness: Harness, workload: str, variant: str, size: int) -> Observation:
    cell = Cell(workload, variant, harness.backend.name, size)
    return harness.count(cell, WORKLOADS[workload].case(size))


@pytest.mark.parametrize("variant", ["orm", "orm_bulk", "core", "dbapi"])
def test_one_row_create_on_sqlite_is_begin_insert_commit(
    sqlite_harness: Harness, variant: str
) -> None:
    observation = count(sqlite_harness, "crud_create", variant, 1)
    assert [s.split()[0] for s in observation.server_statements] == ["BEGIN", "INSERT", "COMMIT"]
    assert (observation.cursor_calls, observation.db_statements, observation.round_trips) == (
        1,
        3,
        3,
    )


# parent_child_insert, 2 users x 5 posts, on SQLite. SQLite does not promise RETURNING rows in
# VALUES order, so an insert that must hand back ids in order runs one row per statement: the
# 2 users are 2 INSERTs for every style. The database runs BEGIN, 2 + 10 INSERTs, COMMIT = 14.
#   orm:      the unit of work also wants each post's id: 2 + 10 single-row INSERTs = 12 calls
#   orm_bulk: 2 user INSERTs + 1 executemany of the 10 posts = 3 calls
#   core:     the same 3 calls
#   dbapi:    2 INSERTs reading lastrowid + 1 executemany = 3 calls
SQLITE_PARENT_CHILD = {"orm": (12, 14), "orm_bulk": (3, 14), "core": (3, 14), "dbapi": (3, 14)}

# The same on PostgreSQL, where RETURNING with an ORDER BY sentinel keeps the order, so
# SQLAlchemy sends one multi-row INSERT per table ("insertmanyvalues"); psycopg sends BEGIN as
# its own round trip before the first statement of a transaction, COMMIT as another.
#   orm:      INSERT users, INSERT posts (both RETURNING): 2 calls; BEGIN + 2 + COMMIT = 4
#             statements, one round trip each = 4
#   orm_bulk: INSERT users RETURNING (1 call), posts need no ids: executemany (1 call) which
#             psycopg runs as 10 Executes in one pipeline: BEGIN + 1 + 10 + COMMIT = 13
#             statements in 4 round trips
#   core:     the same as orm_bulk
#   dbapi:    both users in one multi-row INSERT ... RETURNING (1 Execute), the 10 posts by
#             COPY (one Query): BEGIN + 1 + 1 + COMMIT = 4 statements; the COPY waits for the
#             server's go-ahead before its rows: 1 + 1 + 2 + 1 = 5 round trips
POSTGRES_PARENT_CHILD = {
    "orm": (2, 4, 4),
    "orm_bulk": (2, 13, 4),
    "core": (2, 13, 4),
    "dbapi": (2, 4, 5),
}


@pytest.mark.parametrize("variant", list(SQLITE_PARENT_CHILD))
def test_parent_child_insert_counts_on_sqlite(sqlite_harness: Harness, variant: str) -> None:
    observation = count(sqlite_harness, "parent_child_insert", variant, 2)
    assert (observation.cursor_calls, observation.db_statements) == SQLITE_PARENT_CHILD[variant]
    assert observation.round_trips == observation.db_statements


@pytest.mark.postgres
@pytest.mark.parametrize("variant", list(POSTGRES_PARENT_CHILD))
def test_parent_child_insert_counts_on_postgres(postgres_harness: Harness, variant: str) -> None:
    observation = count(postgres_harness, "parent_child_insert", variant, 2)
    assert (
        observation.cursor_calls,
        observation.db_statements,
        observation.round_trips,
    ) == POSTGRES_PARENT_CHILD[variant]
    assert observation.bytes_sent and observation.bytes_received


@pytest.mark.parametrize("size", [1, 4, 9])
def test_lazy_loading_emits_one_select_per_user(harness: Harness, size: int) -> None:
    lazy = count(harness, "parent_child_read", "orm_lazy", size)
    selectin = count(harness, "parent_child_read", "orm", size)
    joined = count(harness, "parent_child_read", "orm_joined", size)
    assert lazy.cursor_calls == 1 + size  # the users, then each user's posts
    assert selectin.cursor_calls == 2  # the users, then all their posts with IN
    assert joined.cursor_calls == 1  # one LEFT OUTER JOIN


def test_orm_update_and_delete_load_the_objects_first(harness: Harness) -> None:
    for workload in ("crud_update", "crud_delete"):
        orm = count(harness, workload, "orm", 5)
        assert orm.client_calls[0].sql.lstrip().upper().startswith("SELECT")
        assert orm.client_calls[1].executemany and orm.client_calls[1].parameter_sets == 5
        bulk = count(harness, workload, "orm_bulk", 5)
        assert not any(c.sql.lstrip().upper().startswith("SELECT") for c in bulk.client_calls)


def _executions(observation: Observation, backend: Backend) -> int:
    """Statement executions the client asked for: each row of an executemany is one, but on
    MariaDB, where PyMySQL writes an executemany of an INSERT as one multi-row INSERT, and a
    COPY (asyncpg's copy_records_to_table), one statement for all its rows."""
    return sum(
        1
        if (
            backend.name == "mariadb"
            and call.executemany
            and call.sql.lstrip().upper().startswith("INSERT")
        )
        or call.sql.startswith("COPY ")
        else call.parameter_sets
        for call in observation.client_calls
    )


def _transaction_control(backend: Backend, workload: str, variant: str) -> list[str]:
    """The statements that begin and end a unit of work."""
    if backend.name == "mariadb":
        # PyMySQL begins a transaction with the first statement; SQLAlchemy's pool resets a
        # connection it gets back with a ROLLBACK, which PyMySQL sends even after the COMMIT
        return ["COMMIT"] if variant == "dbapi" else ["COMMIT", "ROLLBACK"]
    # SQLite's driver begins a transaction only for writes
    if backend.name == "sqlite" and not WORKLOADS[workload].mutates:
        return []
    return ["BEGIN", "COMMIT"]


BATCH_CELLS = [
    (workload, variant)
    for workload in WORKLOADS
    if WORKLOADS[workload].kind == "batch"
    for variant in VARIANTS
    if WORKLOADS[workload].implemented_by(load_variant(variant))
]


@pytest.mark.parametrize(
    ("backend", "workload", "variant"), per_backend(BATCH_CELLS), indirect=["backend"]
)
def test_database_statements_match_the_client_calls(
    harness: Harness, backend: Backend, workload: str, variant: str
) -> None:
    """What the database executed is what the client sent, plus the statements that begin and
    end the unit of work."""
    size = sizes_for(WORKLOADS[workload], (3,))[0]
    observation = count(harness, workload, variant, size)
    # asyncpg's transaction() ends its BEGIN and COMMIT with a semicolon
    kinds = [s.split()[0].rstrip(";").upper() for s in observation.server_statements]
    transaction = [kind for kind in kinds if kind in ("BEGIN", "COMMIT", "ROLLBACK")]
    assert transaction == _transaction_control(backend, workload, variant)
    assert observation.db_statements == _executions(observation, backend) + len(transaction)
    if backend.name == "sqlite":
        assert observation.round_trips == observation.db_statements
        assert observation.bytes_sent is None
    else:
        # psycopg's COPY is two turns: the command, then the rows after the server's go-ahead
        copies = kinds.count("COPY") if "asyncpg" not in variant else 0
        assert 0 < observation.round_trips <= observation.db_statements + copies


def test_connecting_per_use_is_counted(harness: Harness, backend: Backend) -> None:
    for variant in ("engine_per_use", "nullpool", "dbapi_per_use"):
        assert count(harness, "connect_read_one", variant, 1).connections_opened == 1
    for variant in ("orm", "core", "dbapi"):
        assert count(harness, "connect_read_one", variant, 1).connections_opened == 0
    # a new engine runs its dialect's first-connect queries, a NullPool engine only once
    assert (
        count(harness, "connect_read_one", "engine_per_use", 1).db_statements
        > count(harness, "connect_read_one", "nullpool", 1).db_statements
    )


def test_counting_is_repeatable(harness: Harness) -> None:
    first = count(harness, "parent_child_append", "orm_lazy", 6)
    second = count(harness, "parent_child_append", "orm_lazy", 6)
    assert replace(first, server_work=None) == replace(second, server_work=None)
    if first.server_work is not None and second.server_work is not None:
        # each count starts from the seed freshly loaded: the rows repeat exactly; pages and
        # log bytes within a tenth (the tables' files keep what earlier rounds grew them to)
        one, two = first.server_work, second.server_work
        assert (one.rows_read, one.rows_written) == (two.rows_read, two.rows_written)
        for a, b in ((one.blocks, two.blocks), (one.wal_bytes, two.wal_bytes)):
            assert a is not None and b is not None and abs(a - b) <= 0.1 * max(a, b)


def _driver_classes(harness: Harness, counting: bool) -> set[type]:
    """The classes of the driver connections and cursors a core and a dbapi instance use."""
    engine = harness.variant("core", counting).engine  # type: ignore[attr-defined]
    pooled = engine.raw_connection()
    try:
        driver = pooled.driver_connection
        classes = {type(driver), type(driver.cursor())}
    finally:
        pooled.close()
    raw = harness.variant("dbapi", counting).connection  # type: ignore[attr-defined]
    return classes | {type(raw), type(raw.cursor())}


def test_timed_instances_carry_no_instrumentation(harness: Harness, backend: Backend) -> None:
    plain = {
        "sqlite": {sqlite3.Connection, sqlite3.Cursor},
        "postgres": {psycopg.Connection, psycopg.Cursor},
        "mariadb": {pymysql.connections.Connection, pymysql.cursors.Cursor},
    }[backend.name]
    assert _driver_classes(harness, counting=False) == plain
    observed = _driver_classes(harness, counting=True) - plain
    assert observed and all(issubclass(c, tuple(plain)) for c in observed)
    engine = harness.variant("core").engine  # type: ignore[attr-defined]
    assert not engine.dispatch.before_cursor_execute
    assert not engine.dispatch.after_cursor_execute


def test_sqlite_counts_identical_statements_each_time(sqlite_backend: SqliteBackend) -> None:
    observer = SqliteObserver()
    connection = sqlite_backend.connect_dbapi(observer)
    try:
        sqlite_backend.reset(WORKLOADS["crud_update"].case(2).seed)
        with observer.observing() as observation:
            cursor = connection.cursor()
            cursor.executemany(
                "UPDATE user_account SET email = ? WHERE id = ?", [("same@x", 1), ("same@x", 1)]
            )
            connection.commit()
        assert observation.cursor_calls == 1
        assert [s.split()[0] for s in observation.server_statements] == [
            "BEGIN",
            "UPDATE",
            "UPDATE",
            "COMMIT",
        ]
    finally:
        connection.close()


def test_sqlite_counts_a_cascading_delete_once(sqlite_backend: SqliteBackend) -> None:
    observer = SqliteObserver()
    connection = sqlite_backend.connect_dbapi(observer)
    try:
        sqlite_backend.reset(WORKLOADS["parent_child_read"].case(2).seed)  # users with posts
        with observer.observing() as observation:
            cursor = connection.cursor()
            cursor.execute("DELETE FROM user_account WHERE id IN (?, ?)", (1, 2))
            connection.commit()
        # SQLite traces the DELETE again for each user's cascade; it is one statement
        assert observation.db_statements == 3
        users, posts = sqlite_backend.snapshot()
        assert [u[0] for u in users] == [3, 4] and {p[1] for p in posts} == {3, 4}
    finally:
        connection.close()
