"""The asyncio variants on PostgreSQL: counts pinned from the protocol each driver speaks, the
wire observer agreeing exactly with libpq's trace where both can see, and the event loop's
own cost measured apart."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path

import pytest

from bench.backends import Backend
from bench.backends.postgres.observer import PostgresObserver
from bench.backends.postgres.protocol import ProtocolSummary, WireReader
from bench.backends.servers import Server
from bench.measure.cells import Cell, Harness, runs_on
from bench.measure.counting import Observation
from bench.measure.sizes import sizes_for
from bench.measure.timing import event_loop_seconds
from bench.measure.wire import WireObserver
from bench.measure.workloads import WORKLOADS
from bench.report.async_styles import async_pairs
from bench.results.load import load_results
from implementations.registry import VARIANTS, load_variant

from helpers import bench, benchmarks, one_error_line

ASYNC_VARIANTS = ["orm_async", "orm_asyncpg", "core_async", "dbapi_async", "asyncpg"]
WIRE = "protocol messages on the wire"
TRACE = "libpq protocol trace"


def count(harness: Harness, workload: str, variant: str, size: int) -> Observation:
    cell = Cell(workload, variant, harness.backend.name, size)
    return harness.count(cell, WORKLOADS[workload].case(size))


def messages(*counts: int) -> dict[str, int]:
    return dict(zip(("Parse", "Bind", "Execute", "Sync", "Query"), counts, strict=True))


def test_the_five_asyncio_variants_are_registered_for_postgres_only() -> None:
    for name in ASYNC_VARIANTS:
        assert name in VARIANTS
        assert runs_on(name, "postgres")
        assert not runs_on(name, "sqlite") and not runs_on(name, "mariadb")
        assert load_variant(name).sync_counterpart in ("orm", "core", "dbapi")


# crud_create, one user, counted after a warm-up execution on the same connection.
#   asyncpg: transaction() sends "BEGIN;" as a simple Query; fetchmany() binds the INSERT
#     prepared (Parse) in the warm-up, so only Bind, Execute, Sync: one round trip; "COMMIT;"
#     a Query: 1 call, 3 statements, 3 round trips, no Parse.
#   dbapi_async: BEGIN a Query (1 round trip); the multi-row INSERT ... RETURNING, one Parse,
#     Bind, Execute and Sync (1); COMMIT a Query (1): 3 statements, 3 round trips, as the
#     blocking dbapi's (psycopg prepares nothing: prepare_threshold=None when counting).
CRUD_CREATE_ONE = {
    "asyncpg": ((1, 3, 3), messages(0, 1, 1, 1, 2), WIRE),
    "dbapi_async": ((1, 3, 3), messages(1, 1, 1, 1, 2), TRACE),
}
# parent_child_insert, 2 users with 5 posts each.
#   asyncpg: BEGIN; the users' INSERT ... RETURNING for both in one pipeline (2 Bind/Execute,
#     1 Sync); the 10 posts in one binary COPY: a Query followed by the rows and CopyDone
#     without waiting for the server's go-ahead, one round trip; COMMIT: 2 calls, BEGIN + 2 +
#     COPY + COMMIT = 5 statements, 4 round trips, no Parse.
#   dbapi_async: as dbapi (see test_counts): BEGIN (1); both users in one multi-row INSERT
#     (1); the 10 posts by COPY, a Query whose rows psycopg sends after the server's go-ahead
#     (2); COMMIT (1): 2 calls, 4 statements (1 Execute and 3 Queries), 5 round trips.
PARENT_CHILD_TWO = {
    "asyncpg": ((2, 5, 4), messages(0, 2, 2, 1, 3), WIRE),
    "dbapi_async": ((2, 4, 5), messages(1, 1, 1, 1, 3), TRACE),
}


@pytest.mark.postgres
@pytest.mark.parametrize(
    ("workload", "size", "expected"),
    [("crud_create", 1, CRUD_CREATE_ONE), ("parent_child_insert", 2, PARENT_CHILD_TWO)],
    ids=["crud_create-1", "parent_child_insert-2"],
)
@pytest.mark.parametrize("variant", ["asyncpg", "dbapi_async"])
def test_pinned_counts(
    postgres_harness: Harness,
    workload: str,
    size: int,
    expected: dict[str, tuple[tuple[int, int, int], dict[str, int], str]],
    variant: str,
) -> None:
    observation = count(postgres_harness, workload, variant, size)
    counts, protocol_messages, source = expected[variant]
    assert (
        observation.cursor_calls,
        observation.db_statements,
        observation.round_trips,
    ) == counts
    assert observation.protocol_messages == protocol_messages
    assert observation.round_trips_source == source
    kinds = [s.split()[0].rstrip(";").upper() for s in observation.server_statements]
    assert kinds[0] == "BEGIN" and kinds[-1] == "COMMIT"
    assert "?" not in kinds  # every Execute's text was found
    assert observation.bytes_sent and observation.bytes_received
    assert observation.server_work is not None
    assert observation.server_work.rows_written == WORKLOADS[workload].case(size).rows


@pytest.mark.postgres
@pytest.mark.parametrize(
    ("workload", "size"),
    # 4000 users' 20000 posts are over 4 MB, which asyncpg sends in chunks of 512 KiB while
    # it encodes them, for longer than the hold: the server's go-ahead comes back meanwhile
    [("parent_child_append", 3), ("parent_child_insert", 40), ("parent_child_insert", 4000)],
)
def test_a_copy_is_one_round_trip_every_time(
    postgres_harness: Harness, workload: str, size: int
) -> None:
    """asyncpg sends a COPY's rows without waiting for the server's go-ahead, which comes back
    meanwhile: the wire observer holds the server's bytes, so the rows still count as sent
    before it, whatever the timing and however many chunks the rows take (BEGIN, [the users'
    pipeline,] COPY, COMMIT)."""
    expected = {"parent_child_append": 3, "parent_child_insert": 4}[workload]
    for _ in range(5):
        assert count(postgres_harness, workload, "asyncpg", size).round_trips == expected


@pytest.fixture(scope="module")
def wire_harness(postgres_backend: Backend) -> Iterator[tuple[Harness, WireObserver[WireReader]]]:
    """A harness whose variants connect through a wire observer of the test's own, so that
    psycopg's connections are counted both ways at once."""
    target = postgres_backend.tcp_address()
    assert target is not None
    with WireObserver(target, WireReader) as wire:
        assert wire.address is not None
        harness = Harness(postgres_backend.routed_to(*wire.address))
        try:
            yield harness, wire
        finally:
            harness.close()


def count_both_ways(
    harness: Harness, wire: WireObserver[WireReader], cell: Cell
) -> tuple[Observation, ProtocolSummary]:
    """One counted execution: the libpq trace's observation, and what the wire saw in the same
    window (opened after the statistics are read at the start, closed before the end's)."""
    observer = harness.observer(cell.variant)
    assert isinstance(observer, PostgresObserver)
    started, stopping = observer._started, observer._stopping
    seen = ProtocolSummary()

    def start() -> None:
        started()
        wire.settle()
        for reader in wire.readers:
            reader.take()
            reader.recording(True)

    def stop() -> None:
        wire.settle()
        for reader in wire.readers:
            reader.recording(False)
            seen.add(reader.take())
        stopping()

    observer._started, observer._stopping = start, stop  # type: ignore[method-assign]
    try:
        observation = harness.count(cell, WORKLOADS[cell.workload].case(cell.size))
    finally:
        observer._started, observer._stopping = started, stopping  # type: ignore[method-assign]
    return observation, seen


PSYCOPG_CELLS = [
    (workload, variant, size)
    for workload in WORKLOADS
    if WORKLOADS[workload].kind == "batch"
    for variant in VARIANTS
    if WORKLOADS[workload].implemented_by(load_variant(variant))
    and load_variant(variant).async_driver in (None, "psycopg")
    for size in sizes_for(WORKLOADS[workload], (1, 2, 25))
]


@pytest.mark.postgres
@pytest.mark.parametrize(
    ("workload", "variant", "size"),
    PSYCOPG_CELLS,
    ids=[f"{w}-{v}-{s}" for w, v, s in PSYCOPG_CELLS],
)
def test_the_wire_and_the_libpq_trace_agree_exactly(
    wire_harness: tuple[Harness, WireObserver[WireReader]], workload: str, variant: str, size: int
) -> None:
    harness, wire = wire_harness
    cell = Cell(workload, variant, harness.backend.name, size)
    traced, seen = count_both_ways(harness, wire, cell)
    assert traced.round_trips_source == TRACE
    assert seen.statements == traced.server_statements
    assert seen.round_trips == traced.round_trips
    assert (seen.bytes_sent, seen.bytes_received) == (traced.bytes_sent, traced.bytes_received)
    assert traced.protocol_messages == {k: seen.messages[k] for k in traced.protocol_messages or {}}


def test_the_event_loops_own_cost_is_measured_apart() -> None:
    loop = asyncio.new_event_loop()
    try:
        seconds = event_loop_seconds(loop, runs=50)
    finally:
        loop.close()
    # a loop turn, not a unit of work: well under a millisecond on any machine
    assert 0 < seconds < 1e-3


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        (
            ("run", "--backend", "sqlite", "--variant", "asyncpg", "orm_async"),
            "the selected variants (asyncpg, orm_async) run only on PostgreSQL",
        ),
        (
            ("statements", "--workload", "crud_create", "--variant", "dbapi_async"),
            "the selected variants (dbapi_async) do not run on SQLite",
        ),
    ],
)
def test_an_asyncio_variant_asked_for_elsewhere_is_refused_in_one_line(
    tmp_path: Path, arguments: tuple[str, ...], message: str
) -> None:
    result = bench(*arguments, cwd=tmp_path)
    assert result.returncode == 2
    assert message in one_error_line(result)
    assert not list(tmp_path.iterdir())


@pytest.mark.postgres
def test_the_asyncio_comparison_is_computed_once_for_the_record_and_the_report(
    postgres_server: Server, tmp_path: Path
) -> None:
    """The run records an asyncio variant against its synchronous form (``ratio_to_sync``,
    the loop's cost taken out) with the function the report's section uses on the rounds:
    the two agree exactly."""
    url = postgres_server.address.render_as_string(hide_password=False)
    result = bench(
        "run", "--backend", "postgres", "--postgres-url", url, "--quick",
        "--workload", "crud_read", "--variant", "orm", "orm_async", "dbapi", "asyncpg",
        "--sizes", "1", "--out", str(tmp_path / "out"),
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    results = load_results(tmp_path / "out")
    info = {
        entry["extra_info"]["variant"]: entry["extra_info"]
        for entry in benchmarks(tmp_path / "out")
    }
    pairs = async_pairs(results, "postgres", 1)
    assert {pair.cell.variant for pair in pairs} == {"orm_async", "asyncpg"}
    for pair in pairs:
        recorded = info[pair.cell.variant]
        assert recorded["sync_counterpart"] == pair.sync.variant
        comparison = pair.comparison()
        assert recorded["ratio_to_sync"] == comparison.ratio
        assert recorded["ratio_to_sync_ci95"] == [comparison.low, comparison.high]
