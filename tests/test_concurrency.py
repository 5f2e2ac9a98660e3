"""The concurrent workload: M requests shared by K worker threads. Every variant commits each
request exactly once (the rows and the records read show a lost or doubled update), a request
refused with a lock error is retried and counted, one request's statements are counted
exactly, and the run and its report carry throughput, latency percentiles and lock errors."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from bench.backends import Backend
from bench.measure.cells import PROFILES, Cell, Harness, case_for
from bench.measure.concurrency import BatchStats, ConcurrentExecution, RetryPolicy, percentile
from bench.measure.workloads import (
    CONCURRENT_REQUESTS,
    SAME_USER_DISTANCE,
    WORKLOADS,
    concurrent_requests,
)
from bench.plugin.selection import Selection
from implementations.contract import revised_email
from implementations.registry import VARIANTS, load_variant

from helpers import bench, check_lost_updates_caught

WORKLOAD = "concurrent_requests"


def test_each_user_is_asked_for_twice_a_fixed_distance_apart() -> None:
    requests = concurrent_requests()
    assert len(requests) == CONCURRENT_REQUESTS
    for index, request in enumerate(requests):
        same = [i for i, r in enumerate(requests) if r.user_id == request.user_id]
        assert len(same) == 2 and same[1] - same[0] == SAME_USER_DISTANCE, (index, same)


def test_the_expected_state_revises_each_user_once_per_request() -> None:
    case = WORKLOADS[WORKLOAD].case(4)
    assert {user.email.split("@")[0].rsplit("+", 1)[-1] for user in case.expected_state.users} == {
        "r2"
    }
    # each revision before the last is read exactly once, by one of the two requests
    assert len(case.expected_result) == CONCURRENT_REQUESTS
    assert len(set(case.expected_result)) == CONCURRENT_REQUESTS
    assert revised_email("a+r9@b") == "a+r10@b"


def test_the_numbers_of_workers_by_profile_and_as_asked() -> None:
    def workers(**options: object) -> list[int]:
        selection = Selection(workloads=(WORKLOAD,), backends=("sqlite",), **options)  # type: ignore[arg-type]
        return sorted({cell.size for cell in selection.cells(WORKLOAD)})

    from bench.measure.cells import PROFILES

    assert workers() == [1, 4, 16]
    assert workers(profile=PROFILES["quick"]) == [1, 4]
    # --sizes selects K; more workers than MAX_WORKERS are left out
    assert workers(sizes=(2, 8, 100), sizes_given=True) == [2, 8]


@pytest.mark.parametrize("workers", [1, 16])
def test_a_lost_update_fails_verification(
    harness: Harness, backend: Backend, monkeypatch: pytest.MonkeyPatch, workers: int
) -> None:
    """A variant that reads without locking the row: alone (K=1) it is right; with requests
    for the same user running at once, two of them read the same revision, and both the
    records read and the rows say so."""
    monkeypatch.setitem(VARIANTS, "broken_lost_update", "broken_variants:ReadsWithoutLocking")
    try:
        check_lost_updates_caught(
            harness, backend, Cell(WORKLOAD, "broken_lost_update", backend.name, workers)
        )
    finally:
        harness.release_workers("broken_lost_update")


def test_a_request_refused_with_a_lock_error_is_retried_once_and_counted(
    sqlite_harness: Harness, monkeypatch: pytest.MonkeyPatch
) -> None:
    """On SQLite a deferred BEGIN lets two requests read before either writes; the second to
    write is refused ("database is locked"), rolled back and run again: every request is
    still committed exactly once, and the error and the retry are counted."""
    monkeypatch.setitem(VARIANTS, "deferred_begin", "broken_variants:DeferredBegin")
    cell = Cell(WORKLOAD, "deferred_begin", "sqlite", 2)
    case = case_for(cell)
    try:
        sqlite_harness.verify(cell, case)  # the rows and the records read are right
        run = sqlite_harness.execution(cell)
        assert isinstance(run, ConcurrentExecution)
        sqlite_harness.variant(cell.variant).prepare_workers(2)  # the two meet again
        sqlite_harness.backend.reset(case.seed)
        assert run(case.argument) == case.expected_result
        assert run.last.lock_errors >= 1
        assert run.last.retries == run.last.lock_errors
        assert run.last.retried_units >= 1
        assert len(run.last.latencies) == len(case.argument)
    finally:
        sqlite_harness.release_workers(cell.variant)


def test_retries_are_bounded(sqlite_harness: Harness, monkeypatch: pytest.MonkeyPatch) -> None:
    import sqlite3

    from bench.measure.concurrency import RetriesExhausted

    refused = 0

    def always_locked(request: object) -> object:
        nonlocal refused
        refused += 1
        error = sqlite3.OperationalError("database is locked")
        error.sqlite_errorcode = 5  # type: ignore[attr-defined]
        raise error

    from bench.measure.concurrency import WorkerPool

    pool = WorkerPool(1)
    try:
        run = ConcurrentExecution(
            pool,
            always_locked,  # type: ignore[arg-type]
            sqlite_harness.backend.is_lock_error,
            RetryPolicy(max_retries=3, first_wait_s=0.0001),
        )
        with pytest.raises(RetriesExhausted, match="refused with a lock error 4 times"):
            run(concurrent_requests()[:1])
        assert refused == 4
    finally:
        pool.close()


def test_percentiles_are_nearest_rank() -> None:
    values = [float(v) for v in range(1, 101)]
    assert percentile(values, 50) == 50.0
    assert percentile(values, 99) == 99.0
    assert percentile([3.0], 99) == 3.0
    assert BatchStats().lock_errors == 0


# one request alone, per backend: (cursor calls, database statements, round trips)
#   SQLite: BEGIN IMMEDIATE (the write lock before the read), SELECT, UPDATE, then COMMIT
#           from the driver's commit(): 3 calls, 4 statements, one "round trip" each
#   PostgreSQL: psycopg sends BEGIN itself; SELECT ... FOR UPDATE, UPDATE, COMMIT: 2 calls,
#           4 statements, 4 round trips
#   MariaDB: PyMySQL begins without a statement: SELECT ... FOR UPDATE, UPDATE, COMMIT (3);
#           SQLAlchemy's pool adds its ROLLBACK on return (4)
ONE_REQUEST = {
    "sqlite": {"orm": (3, 4, 4), "orm_scoped": (3, 4, 4), "core": (3, 4, 4), "dbapi": (3, 4, 4)},
    "postgres": {
        "orm": (2, 4, 4),
        "orm_scoped": (2, 4, 4),
        "core": (2, 4, 4),
        "dbapi": (2, 4, 4),
    },
    "mariadb": {
        "orm": (2, 4, 4),
        "orm_scoped": (2, 4, 4),
        "core": (2, 4, 4),
        "dbapi": (2, 3, 3),
    },
}


def test_one_request_is_counted_exactly(harness: Harness, backend: Backend) -> None:
    for variant, expected in ONE_REQUEST[backend.name].items():
        cell = Cell(WORKLOAD, variant, backend.name, 4)
        observation = harness.count(cell, case_for(cell))
        counts = (observation.cursor_calls, observation.db_statements, observation.round_trips)
        assert counts == expected, variant
        locked = [s for s in observation.server_statements if s.startswith("SELECT")]
        assert len(locked) == 1
        assert locked[0].endswith("FOR UPDATE") != (backend.name == "sqlite"), locked
        assert observation.connections_opened == 0
        harness.release_workers(variant)
    # a new Engine per request connects, and runs the dialect's first-connect queries
    cell = Cell(WORKLOAD, "engine_per_use", backend.name, 4)
    assert harness.count(cell, case_for(cell)).connections_opened == 1


@pytest.fixture(scope="module")
def concurrent_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("concurrent")
    result = bench(
        "run", "--backend", "sqlite", "--quick", "--workload", WORKLOAD, "--out", "out",
        cwd=folder,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    return folder / "out"


def test_a_run_records_throughput_latency_and_lock_errors(concurrent_run: Path) -> None:
    document = json.loads((concurrent_run / "benchmarks.json").read_text())
    cells = {
        (b["extra_info"]["variant"], b["extra_info"]["size"]): b for b in document["benchmarks"]
    }
    assert set(cells) == {
        (v, k) for v in ("orm", "orm_scoped", "core", "dbapi", "engine_per_use") for k in (1, 4)
    }
    for (variant, workers), entry in cells.items():
        info = entry["extra_info"]
        assert info["workers"] == workers
        # the quick profile runs 32 of the requests, engine_per_use 16 wherever it runs
        assert info["units"] == min(
            PROFILES["quick"].concurrent_units or CONCURRENT_REQUESTS,
            load_variant(variant).concurrent_units or CONCURRENT_REQUESTS,
        )
        assert info["units_per_second"] == pytest.approx(info["units"] / entry["stats"]["median"])
        assert 0 < info["p50_ms"] <= info["p99_ms"]
        assert info["lock_errors"] == info["retries"]
        assert entry["stats"]["rounds"] == 3


def test_the_report_shows_throughput_against_workers(concurrent_run: Path) -> None:
    report = (concurrent_run / "REPORT.md").read_text()
    assert "#### Concurrency: `concurrent_requests`" in report
    # a table of lock errors where there were some, else one sentence
    assert "Lock errors / retries" in report or "No unit was refused for a lock" in report
    section = report.split("#### Concurrency: `concurrent_requests`", 1)[1]
    assert "\n| 1 | " in section and "\n| 4 | " in section  # a row per K
    assert re.search(r"past K=\d|\(K=4\)", section)  # where each style stops growing, or not
    assert (concurrent_run / "charts" / "sqlite-concurrency.png").is_file()
    # the other charts and tables leave the concurrent workload out
    assert "| `concurrent_requests` size |" not in report
    assert not (concurrent_run / "charts" / "sqlite-median-time.png").exists()
