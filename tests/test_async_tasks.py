"""The asyncio variants' concurrent requests, run as asyncio tasks on each variant's own event
loop against a real PostgreSQL: K tasks share the workload's requests and every request is
committed exactly once; the pool ``prepare_workers`` makes holds K open connections, is
replaced by the next K and released by 0 and by ``close()`` (counted by the server); a request
refused with a lock error has rolled back and raises what ``is_lock_error`` recognises, through
each driver and SQLAlchemy's wrapping of it."""

from __future__ import annotations

import asyncio
import itertools
import time
from collections.abc import Callable, Iterator, Sequence
from typing import Any

import asyncpg
import pytest
import sqlalchemy.exc
from sqlalchemy import text
from sqlalchemy.dialects.postgresql.asyncpg import AsyncAdapt_asyncpg_dbapi

from bench.backends import Backend
from bench.measure.cells import Cell, Harness, HarnessConnections, check_state
from bench.measure.fairness import statements_built_during
from bench.measure.workloads import WORKLOADS, concurrent_requests, request_record_order
from implementations._async import AsyncVariant
from implementations.contract import UserRecord, UserRequest
from implementations.registry import VARIANTS, load_variant

from helpers import check_lost_updates_caught

pytestmark = pytest.mark.postgres

ASYNC_VARIANTS = ["orm_async", "orm_asyncpg", "core_async", "dbapi_async", "asyncpg"]
WORKLOAD = "concurrent_requests"
TASKS = 4


@pytest.fixture(params=ASYNC_VARIANTS)
def variant(request: pytest.FixtureRequest, postgres_backend: Backend) -> Iterator[AsyncVariant]:
    """A new instance of the variant, of the test's own (not the session harness's)."""
    connections = HarnessConnections(postgres_backend)
    instance = load_variant(request.param)(connections)
    assert isinstance(instance, AsyncVariant)
    try:
        yield instance
    finally:
        if not instance.loop.is_closed():
            instance.close()
        connections.close()


def run_as_tasks(
    variant: AsyncVariant, requests: Sequence[UserRequest], tasks: int
) -> tuple[list[UserRecord], int]:
    """The requests shared by ``tasks`` tasks on the variant's loop, each taking the next one
    when it is free: the records read in the workload's order, and the most requests that were
    in flight at once."""
    pending = iter(requests)
    in_flight = most = 0

    async def request(next_request: UserRequest) -> UserRecord:
        nonlocal in_flight, most
        in_flight += 1
        most = max(most, in_flight)
        try:
            return await variant.concurrent_requests_async(next_request)
        finally:
            in_flight -= 1

    async def task() -> list[UserRecord]:
        return [await request(next_request) for next_request in pending]

    async def all_tasks() -> list[list[UserRecord]]:
        return await asyncio.gather(*(task() for _ in range(tasks)))

    per_task = variant.loop.run_until_complete(all_tasks())
    assert all(per_task), "a task served no request"
    return sorted(itertools.chain.from_iterable(per_task), key=request_record_order), most


def test_k_tasks_commit_every_request_exactly_once(
    variant: AsyncVariant, postgres_backend: Backend
) -> None:
    case = WORKLOADS[WORKLOAD].case(TASKS)
    assert len(case.argument) == len(concurrent_requests()) == 160
    cell = Cell(WORKLOAD, variant.name, postgres_backend.name, TASKS)
    variant.prepare_workers(TASKS)
    for _ in range(2):  # and again on the same pool
        postgres_backend.reset(case.seed)
        records, most_in_flight = run_as_tasks(variant, case.argument, TASKS)
        assert records == case.expected_result
        check_state(cell, postgres_backend, case)
        # each request awaited its I/O, so the other tasks' ran meanwhile
        assert most_in_flight == TASKS
    variant.prepare_workers(0)


def test_a_request_builds_no_statement(variant: AsyncVariant, postgres_backend: Backend) -> None:
    """Its statements are built once (tests/test_fairness.py's check, on the coroutine)."""
    case = WORKLOADS[WORKLOAD].case(1, units=1)
    variant.prepare_workers(1)
    built = statements_built_during(
        lambda: variant.loop.run_until_complete(
            variant.concurrent_requests_async(case.argument[0])
        ),
        lambda: postgres_backend.reset(case.seed),
    )
    assert not built, "; ".join(map(str, built))
    variant.prepare_workers(0)


def test_a_request_before_prepare_workers_is_refused(variant: AsyncVariant) -> None:
    with pytest.raises(AssertionError, match="prepare_workers"):
        variant.loop.run_until_complete(variant.concurrent_requests_async(UserRequest(1)))


# --- the pool's connections, counted by the server --------------------------------------------


@pytest.fixture
def client_pids(postgres_backend: Backend) -> Iterator[Callable[[], set[int]]]:
    """The server processes of the database's client connections now (but the asker's)."""
    observer = postgres_backend.connect_dbapi()

    def pids() -> set[int]:
        cursor = observer.cursor()
        cursor.execute(
            "SELECT pid FROM pg_stat_activity WHERE datname = current_database() "
            "AND backend_type = 'client backend' AND pid <> pg_backend_pid()"
        )
        found = {row[0] for row in cursor.fetchall()}
        cursor.close()
        observer.commit()  # the next call reads the activity anew, not this snapshot
        return found

    try:
        yield pids
    finally:
        observer.close()


def settled(pids: Callable[[], set[int]], done: Callable[[set[int]], bool]) -> set[int]:
    """The pids once ``done`` holds of them: a closed connection's server process leaves
    ``pg_stat_activity`` when it has exited, shortly after the client closed it."""
    deadline = time.monotonic() + 10
    while not done(found := pids()) and time.monotonic() < deadline:
        time.sleep(0.02)
    return found


def test_the_pool_fits_k_and_is_replaced_and_released(
    variant: AsyncVariant, client_pids: Callable[[], set[int]]
) -> None:
    before = client_pids()  # the variant's own connection for the other workloads among them
    variant.prepare_workers(TASKS)
    four = client_pids() - before
    assert len(four) == TASKS  # every connection opened before any request
    variant.prepare_workers(2)
    two = settled(client_pids, lambda now: not now & four) - before
    assert len(two) == 2 and not two & four
    variant.prepare_workers(0)
    assert not settled(client_pids, lambda now: not now - before) - before
    variant.prepare_workers(3)
    assert len(client_pids() - before) == 3
    variant.close()  # releases the pool too, and the variant's own connection
    after = settled(client_pids, lambda now: now < before and len(before - now) == 1)
    assert after < before and len(before - after) == 1


# --- lock errors ------------------------------------------------------------------------------


async def _waiting_for_a_lock(postgres_backend: Backend, other_than: int) -> None:
    """Until a server process other than ``other_than`` waits for a lock."""
    watcher = await postgres_backend.connect_async("psycopg")
    try:
        await watcher.set_autocommit(True)
        for _ in range(500):
            cursor = await watcher.execute(
                "SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock' "
                "AND pid <> %s AND datname = current_database()",
                (other_than,),
            )
            row = await cursor.fetchone()
            if row[0]:
                return
            await asyncio.sleep(0.01)
        raise AssertionError("no request waited for the row's lock")
    finally:
        await watcher.close()


def test_a_deadlocked_request_rolled_back_and_raised_a_lock_error(
    variant: AsyncVariant, postgres_backend: Backend
) -> None:
    """A deadlock, made on purpose: another transaction holds user 1's row, the request waits
    for it (holding its lock on the table that its SELECT ... FOR UPDATE took), and the other
    then asks for the whole table. The server refuses the request (it waited first, so its
    check finds the cycle): the variant has rolled back, raises an error ``is_lock_error``
    recognises, and its connection serves the next request, which reads revision 0 still."""
    case = WORKLOADS[WORKLOAD].case(1, units=1)  # the first request alone: user 1
    assert case.argument == [UserRequest(1)]
    postgres_backend.reset(case.seed)
    variant.prepare_workers(1)

    async def deadlocked() -> BaseException:
        other = await postgres_backend.connect_async("psycopg")
        try:
            await other.execute("SELECT id FROM user_account WHERE id = 1 FOR UPDATE")
            pid = other.info.backend_pid
            refused = asyncio.ensure_future(variant.concurrent_requests_async(UserRequest(1)))
            await _waiting_for_a_lock(postgres_backend, other_than=pid)
            locking = asyncio.ensure_future(
                other.execute("LOCK TABLE user_account IN ACCESS EXCLUSIVE MODE")
            )
            with pytest.raises(Exception) as raised:
                await refused
            await locking  # the request's rollback let it through
            await other.rollback()
            return raised.value
        finally:
            await other.close()

    error = variant.loop.run_until_complete(deadlocked())
    assert postgres_backend.is_lock_error(error), repr(error)
    records, _ = run_as_tasks(variant, case.argument, 1)
    assert records == case.expected_result  # read revision 0: nothing was written before
    check_state(Cell(WORKLOAD, variant.name, postgres_backend.name, 1), postgres_backend, case)
    variant.prepare_workers(0)


def adapted(error: Exception) -> Exception:
    """The DB-API error SQLAlchemy's asyncpg dialect raises in place of asyncpg's ``error``
    (for these, its plain ``Error``: none of its subclasses is for them), as SQLAlchemy 2.1
    makes it, with the message and the driver's error."""
    made: Exception = AsyncAdapt_asyncpg_dbapi.Error(str(error), error)  # type: ignore[no-untyped-call]
    return made


@pytest.mark.parametrize(
    "error",
    [
        asyncpg.exceptions.DeadlockDetectedError("deadlock detected"),
        asyncpg.exceptions.SerializationError("could not serialize access"),
        asyncpg.exceptions.LockNotAvailableError("canceling statement due to lock timeout"),
    ],
    ids=lambda error: type(error).__name__,
)
def test_asyncpg_lock_errors_are_recognised_raw_and_wrapped_by_sqlalchemy(
    postgres_backend: Backend, error: Exception
) -> None:
    assert postgres_backend.is_lock_error(error)
    dialects = adapted(error)
    assert getattr(dialects, "sqlstate", None) == getattr(error, "sqlstate", "")
    assert postgres_backend.is_lock_error(dialects)
    # and as SQLAlchemy raises that in turn: wrapped in a sqlalchemy.exc.DBAPIError
    assert postgres_backend.is_lock_error(sqlalchemy.exc.DBAPIError("SELECT 1", None, dialects))


@pytest.mark.parametrize(
    "error",
    [
        asyncpg.exceptions.UniqueViolationError("duplicate key"),
        asyncpg.exceptions.QueryCanceledError("canceling statement due to user request"),
        asyncpg.exceptions.InterfaceError("connection is closed"),
    ],
    ids=lambda error: type(error).__name__,
)
def test_other_asyncpg_errors_are_not_lock_errors(
    postgres_backend: Backend, error: Exception
) -> None:
    assert not postgres_backend.is_lock_error(error)
    wrapped = sqlalchemy.exc.DBAPIError("SELECT 1", None, adapted(error))
    assert not postgres_backend.is_lock_error(wrapped)


def test_a_lock_timeout_through_asyncpg_raw_and_sqlalchemy_is_a_lock_error(
    postgres_backend: Backend,
) -> None:
    """A real refusal (lock_timeout, 55P03) as asyncpg raises it, and as SQLAlchemy's asyncpg
    dialect raises it: both are lock errors."""
    select = "SELECT id FROM user_account WHERE id = 1 FOR UPDATE"
    postgres_backend.reset(WORKLOADS[WORKLOAD].case(1, units=1).seed)

    async def refusals() -> list[BaseException]:
        holder = await postgres_backend.connect_async("psycopg")
        raw: Any = await postgres_backend.connect_async("asyncpg")
        engine = postgres_backend.create_async_engine("asyncpg")
        errors: list[BaseException] = []
        try:
            await holder.execute(select)  # holds the row until its rollback
            await raw.execute("SET lock_timeout = '20ms'")
            try:
                async with raw.transaction():
                    await raw.fetchrow(select)
            except Exception as exc:
                errors.append(exc)
            try:
                async with engine.begin() as connection:
                    await connection.execute(text("SET LOCAL lock_timeout = '20ms'"))
                    await connection.execute(text(select))
            except Exception as exc:
                errors.append(exc)
            await holder.rollback()
        finally:
            await engine.dispose()
            await raw.close()
            await holder.close()
        return errors

    loop = asyncio.new_event_loop()
    try:
        raw_error, wrapped = loop.run_until_complete(refusals())
    finally:
        loop.close()
    assert isinstance(raw_error, asyncpg.exceptions.LockNotAvailableError)
    assert isinstance(wrapped, sqlalchemy.exc.DBAPIError)
    assert isinstance(wrapped.orig, AsyncAdapt_asyncpg_dbapi.Error)
    assert wrapped.orig.sqlstate == "55P03"
    assert postgres_backend.is_lock_error(raw_error)
    assert postgres_backend.is_lock_error(wrapped)


@pytest.mark.parametrize("workers", [1, 16])
def test_a_lost_update_fails_verification_in_tasks(
    postgres_harness: Harness, postgres_backend: Backend, monkeypatch: pytest.MonkeyPatch,
    workers: int,
) -> None:  # fmt: skip
    """The planted asyncio style that reads without locking: right with one task, caught when
    tasks run requests for the same user at once, as threads and processes are."""
    monkeypatch.setitem(VARIANTS, "broken_tasks", "broken_variants:ReadsWithoutLockingOnTasks")
    cell = Cell("concurrent_tasks", "broken_tasks", "postgres", workers)
    try:
        check_lost_updates_caught(postgres_harness, postgres_backend, cell)
    finally:
        postgres_harness.release_workers("broken_tasks")
