"""The reset between rounds leaves nothing for a timed round to pay for: no DDL and no new
statistics on PostgreSQL, no checkpoint left to SQLite's commits; the clean-up that repeated
resets need runs only between passes."""

from __future__ import annotations

from typing import Any

import pytest

import bench.backends.sqlite.backend
from bench.backends.postgres.backend import PostgresBackend
from bench.backends.sqlite.backend import SqliteBackend
from bench.measure.cells import Harness
from bench.measure.workloads import WORKLOADS


def _pragma(connection: Any, name: str) -> Any:
    cursor = connection.cursor()
    cursor.execute(f"PRAGMA {name}")
    value = cursor.fetchone()[0]
    cursor.close()
    return value


def test_sqlite_connections_leave_checkpoints_to_the_harness(sqlite_harness: Harness) -> None:
    connections = sqlite_harness.variant("dbapi").connections
    with connections.engine.connect() as connection:
        assert _pragma(connection.connection.dbapi_connection, "wal_autocheckpoint") == 0
    assert _pragma(connections.dbapi_connection, "wal_autocheckpoint") == 0


def test_loading_a_seed_empties_the_write_ahead_log(sqlite_backend: SqliteBackend) -> None:
    seed = WORKLOADS["parent_child_read"].case(50).seed
    sqlite_backend.reset(seed)
    assert sqlite_backend.wal_size() > 0  # the reset's own writes
    sqlite_backend.load_seed(seed)
    assert sqlite_backend.wal_size() == 0
    assert len(sqlite_backend.snapshot()[1]) == len(seed.posts)


def test_sqlite_checkpoints_between_passes_only_once_the_log_is_long(
    sqlite_backend: SqliteBackend, monkeypatch: pytest.MonkeyPatch
) -> None:
    seed = WORKLOADS["crud_update"].case(20).seed
    sqlite_backend.load_seed(seed)
    sqlite_backend.reset(seed)
    assert not sqlite_backend.maintain(seed)
    assert sqlite_backend.wal_size() > 0
    monkeypatch.setattr(
        bench.backends.sqlite.backend, "SQLITE_WAL_LIMIT", sqlite_backend.wal_size()
    )
    assert sqlite_backend.maintain(seed)
    assert sqlite_backend.wal_size() == 0


def _files_and_statistics(backend: PostgresBackend) -> list[tuple[Any, ...]]:
    return backend._admin.execute(
        "SELECT relname, relfilenode, reltuples, relpages FROM pg_class "
        "WHERE relnamespace = current_schema()::regnamespace ORDER BY relname"
    ).fetchall()


@pytest.mark.postgres
def test_the_postgres_reset_runs_no_ddl_and_changes_no_statistics(
    postgres_backend: PostgresBackend,
) -> None:
    small, large = (WORKLOADS["crud_read"].case(size).seed for size in (10, 40))
    postgres_backend.load_seed(small)
    before = _files_and_statistics(postgres_backend)
    assert ("user_account", 20.0) in {(row[0], row[2]) for row in before}
    for _ in range(3):
        postgres_backend.reset(large)
    # the same files (no TRUNCATE) and the statistics of the seed first loaded (no ANALYZE)
    assert _files_and_statistics(postgres_backend) == before
    users, _ = postgres_backend.snapshot()
    assert [user[0] for user in users] == list(range(1, 81))  # ids restarted by setval()


@pytest.mark.postgres
def test_autovacuum_stays_out_of_the_timed_rounds(postgres_backend: PostgresBackend) -> None:
    options = postgres_backend._admin.execute(
        "SELECT relname, reloptions FROM pg_class WHERE relnamespace = "
        "current_schema()::regnamespace AND relkind = 'r' ORDER BY relname"
    ).fetchall()
    assert options == [
        ("user_account", ["autovacuum_enabled=off"]),
        ("user_blog_post", ["autovacuum_enabled=off"]),
    ]


@pytest.mark.postgres
def test_postgres_vacuums_between_passes_only_once_dead_rows_pile_up(
    postgres_backend: PostgresBackend,
) -> None:
    seed = WORKLOADS["parent_child_append"].case(200).seed
    postgres_backend.load_seed(seed)
    assert not postgres_backend.maintain(seed)
    resets = 0
    while not postgres_backend.maintain(seed):
        postgres_backend.reset(seed)
        resets += 1
        assert resets < 200, "the tables grew without a vacuum"
    assert resets > 1
    assert not postgres_backend.maintain(seed)  # vacuumed: nothing to do right after
    users, posts = postgres_backend.snapshot()
    assert (len(users), len(posts)) == (len(seed.users), len(seed.posts))
