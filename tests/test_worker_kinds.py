"""The concurrent workloads' kinds of worker and requests on a schedule: worker processes pass
the same verification as threads (a lost update is caught there too), leave no process behind
when the run is stopped or killed; an open loop counts latency from each request's scheduled
start, so a style slower than the arrivals shows its queue in p99 where a closed loop does not;
the sweep stops a style past the latency budget; the options and the record."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from bench.backends import Backend
from bench.measure.cells import PROFILES, Cell, Harness, case_for
from bench.measure.concurrency import (
    Arrivals,
    ConcurrentExecution,
    WorkerPool,
    concurrency_measures,
    workers_at_rate,
)
from bench.measure.groups import GroupRunner, Skipped, Timed
from bench.measure.sizes import MAX_RATE, parse_rates
from bench.measure.worker_processes import ANSWER_SECONDS, ProcessExecution, WorkerFailed
from bench.measure.worker_tasks import TaskExecution
from bench.measure.workloads import WORKLOADS, concurrent_requests, requests_at_rate_count
from bench.plugin.selection import Selection
from bench.results.model import workers_named
from implementations.contract import UserRecord, UserRequest
from implementations.registry import VARIANTS, load_variant

from helpers import TESTS_DIR, bench, check_lost_updates_caught, one_error_line
from slow_variants import SERVICE_SECONDS

PROCESSES = "concurrent_processes"
AT_RATE = "requests_at_rate"


# --- which styles run with which workers ------------------------------------------------------


def test_each_concurrent_workload_runs_the_styles_its_workers_can() -> None:
    selection = Selection(backends=("postgres",))
    kinds = {
        workload: sorted({c.variant for c in selection.cells(workload)})
        for workload in ("concurrent_requests", PROCESSES, "concurrent_tasks")
    }
    synchronous = ["core", "dbapi", "engine_per_use", "orm", "orm_scoped"]
    assert kinds["concurrent_requests"] == synchronous
    assert kinds[PROCESSES] == synchronous
    assert kinds["concurrent_tasks"] == sorted(
        ["orm_async", "orm_asyncpg", "core_async", "dbapi_async", "asyncpg"]
    )
    assert not selection.cells(AT_RATE)  # only with --rate
    assert {c.size for c in selection.cells(PROCESSES)} == {1, 2, 4}
    quick = Selection(backends=("postgres",), profile=PROFILES["quick"])
    assert {c.size for c in quick.cells(PROCESSES)} == {1, 2}
    assert {c.size for c in quick.cells("concurrent_tasks")} == {1, 4}
    at_rate = Selection(backends=("postgres",), rates=(200, 400))
    rates: dict[str, set[int]] = {}
    for cell in at_rate.cells(AT_RATE):
        rates.setdefault(cell.variant, set()).add(cell.size)
    # every style at every rate: an asyncio style's largest default size (100) is a batch's
    assert {"orm", "dbapi", "asyncpg", "orm_async"} <= set(rates)
    assert all(sizes == {200, 400} for sizes in rates.values()), rates
    workload = WORKLOADS[AT_RATE]
    assert workload.workers_kind(load_variant("orm")) == "process"
    assert workload.workers_kind(load_variant("asyncpg")) == "task"
    assert workers_at_rate("process") == 2 * (os.cpu_count() or 1)


def test_rates_parse_into_a_sweep() -> None:
    assert parse_rates("200") == (200,)
    assert parse_rates("200,400,...") == tuple(200 * 2**n for n in range(7))  # to 12800
    assert parse_rates("100,300,...")[:4] == (100, 300, 900, 2700)
    assert parse_rates("100,...")[-1] <= MAX_RATE
    for wrong, words in [
        ("fast", "not a comma-separated list of rates"),
        ("0", "not a comma-separated list of rates"),
        ("400,200", "the rates must rise"),
        ("50000", "higher than the highest rate supported"),
    ]:
        with pytest.raises(ValueError, match=words):
            parse_rates(wrong)
    # as many requests as a second at the rate fills, in whole blocks, at least the closed loop's
    assert requests_at_rate_count(200) == 208
    assert requests_at_rate_count(50) == 160
    case = WORKLOADS[AT_RATE].case(1000)
    assert len(case.argument) == 1008 and len(case.seed.users) == 504


@pytest.mark.parametrize(
    ("arguments", "words"),
    [
        (["--rate", "fast"], "argument --rate: 'fast' is not a comma-separated list of rates"),
        (["--rate", "200", "--workload", "crud_read"], "--rate: the selected workloads do not"),
        (["--latency-budget-ms", "50"], "--latency-budget-ms applies to the rates of --rate"),
        (["--rate", "200", "--latency-budget-ms", "-1"], "'-1' is not a positive number"),
    ],
)
def test_bad_rate_options_get_one_line(tmp_path: Path, arguments: list[str], words: str) -> None:
    result = bench("run", "--backend", "sqlite", *arguments, "--out", "out", cwd=tmp_path)
    assert result.returncode == 2
    assert words in one_error_line(result)
    assert not (tmp_path / "out").exists()


# --- worker processes: the same verification as threads ---------------------------------------


@pytest.mark.parametrize("variant", ["orm", "core", "dbapi"])
def test_processes_do_every_request_once(harness: Harness, backend: Backend, variant: str) -> None:
    harness.close_workers()  # those other tests of the shared harness left running
    cell = Cell(PROCESSES, variant, backend.name, 4)
    case = case_for(cell)
    run = harness.execution(cell)
    assert isinstance(run, ProcessExecution) and run.workers == 4
    try:
        harness.verify(cell, case)  # the records read and the rows, as for threads
        pids = harness.worker_pids
        assert len(pids) == 4 and os.getpid() not in pids
        backend.reset(case.seed)
        assert run(case.argument) == case.expected_result
        assert len(run.last.latencies) == len(case.argument)
        # the CPU is the worker processes' (this process only waits for them)
        assert run.last.client_cpu_seconds > 0
    finally:
        harness.close_workers()
    assert not harness.worker_pids
    assert all(not _alive(pid) for pid in pids)


@pytest.mark.parametrize("workers", [1, 16])
def test_a_lost_update_fails_verification_in_processes(
    harness: Harness, backend: Backend, monkeypatch: pytest.MonkeyPatch, workers: int
) -> None:
    """The planted style that reads without locking: right alone, caught when processes run
    requests for the same user at once (the worker processes are forked with it registered)."""
    monkeypatch.setitem(VARIANTS, "broken_lost_update", "broken_variants:ReadsWithoutLocking")
    try:
        check_lost_updates_caught(
            harness, backend, Cell(PROCESSES, "broken_lost_update", backend.name, workers)
        )
    finally:
        harness.close_workers()


def test_an_error_in_a_worker_process_reaches_the_run(
    sqlite_harness: Harness, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(VARIANTS, "broken_raises", "broken_variants:RaisesInRequest")
    cell = Cell(PROCESSES, "broken_raises", "sqlite", 2)
    try:
        with pytest.raises(RuntimeError, match="planted failure in request"):
            sqlite_harness.verify(cell, case_for(cell))
        # the workers are still there, and the next execution runs from the start
        assert len(sqlite_harness.worker_pids) == 2
    finally:
        sqlite_harness.close_workers()


def test_a_worker_process_that_ended_is_replaced_for_the_next_execution(
    sqlite_harness: Harness,
) -> None:
    """A worker that ends between executions fails the next one at once (not after a
    timeout), and the one after runs on new workers, from the start."""
    cell = Cell(PROCESSES, "dbapi", "sqlite", 2)
    case = case_for(cell)
    try:
        sqlite_harness.verify(cell, case)
        first = sqlite_harness.worker_pids
        os.kill(first[0], signal.SIGKILL)
        while _alive(first[0]):
            time.sleep(0.01)
        started = time.monotonic()
        with pytest.raises(WorkerFailed, match="worker process 0 ended"):
            sqlite_harness.verify(cell, case)
        assert time.monotonic() - started < ANSWER_SECONDS / 2
        sqlite_harness.verify(cell, case)
        renewed = sqlite_harness.worker_pids
        assert len(renewed) == 2 and not set(renewed) & set(first)
    finally:
        sqlite_harness.close_workers()
    assert not any(_alive(pid) for pid in [*first, *renewed])


# --- requests on a schedule -------------------------------------------------------------------


def _sleeping_unit(request: UserRequest) -> UserRecord:
    time.sleep(SERVICE_SECONDS)
    return UserRecord(request.user_id, "", "", None)  # type: ignore[arg-type]


def test_an_open_loop_counts_the_queue_a_closed_loop_leaves_out() -> None:
    """Two threads, each request 5 ms off the CPU: at most 400 a second. Closed, p99 is the
    service time; arriving at 100 a second, about the same; at 1600 a second the requests
    queue, and their latency from the schedule shows it, as does the backlog."""
    requests = concurrent_requests(320)
    pool = WorkerPool(2)
    try:
        runs = {
            name: ConcurrentExecution(pool, _sleeping_unit, lambda error: False, arrivals=arrivals)
            for name, arrivals in [
                ("closed", None),
                ("under", Arrivals(100)),
                ("over", Arrivals(1600)),
            ]
        }
        p99 = {}
        for name, run in runs.items():
            run(requests)
            p99[name] = concurrency_measures(
                2, "thread", len(requests), [run.last.wall_seconds], [run.last], run.arrivals
            )
        for name in ("under", "over"):
            assert p99[name]["target_rate"] == runs[name].arrivals.rate  # type: ignore[union-attr]
    finally:
        pool.close()
    closed, under, over = (p99[name]["p99_ms"] for name in ("closed", "under", "over"))
    assert closed < 10 * SERVICE_SECONDS * 1000
    # the overloaded schedule: 320 requests in 0.2 s, served in 0.8 s: most wait
    assert over > 20 * closed and over > 20 * under
    assert p99["over"]["backlog"] > 100 and p99["under"]["backlog"] == 0
    assert p99["over"]["achieved_rate"] < 500 < p99["under"]["achieved_rate"] * 10
    assert p99["under"]["achieved_rate"] == pytest.approx(100, rel=0.1)


def test_tasks_on_a_schedule_count_from_it_too() -> None:
    async def sleeping(request: UserRequest) -> UserRecord:
        await asyncio.sleep(SERVICE_SECONDS)
        return UserRecord(request.user_id, "", "", None)  # type: ignore[arg-type]

    loop = asyncio.new_event_loop()
    try:
        requests = concurrent_requests(160)
        closed = TaskExecution(loop, 2, sleeping, lambda error: False)
        over = TaskExecution(loop, 2, sleeping, lambda error: False, arrivals=Arrivals(1600))
        assert [r.id for r in closed(requests)] == sorted(r.user_id for r in requests)
        over(requests)
    finally:
        loop.close()
    assert max(over.last.latencies) > 20 * max(closed.last.latencies[:10])
    assert over.last.backlog > 0 and closed.last.backlog == 0


def test_a_sweep_stops_a_style_past_the_budget(
    sqlite_harness: Harness, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The planted slow style on worker processes (each request 5 ms, so about 800 a second
    from 4 processes): within 50 ms p99 at 200 a second, far past it at 1600, and not run at
    3200; its closed loop's p99 stays near the service time."""
    monkeypatch.setitem(VARIANTS, "slow_requests", "slow_variants:SlowRequests")
    rates = (200, 1600, 3200)
    cells = [Cell(AT_RATE, "slow_requests", "sqlite", rate) for rate in rates]
    closed = Cell(PROCESSES, "slow_requests", "sqlite", workers_at_rate("process"))
    runner = GroupRunner(PROFILES["quick"], [*cells, closed], latency_budget_ms=50)
    try:
        outcomes = {cell.size: runner.outcome(sqlite_harness, cell) for cell in cells}
        closed_outcome = runner.outcome(sqlite_harness, closed)
    finally:
        sqlite_harness.close_workers()
    timed = {rate: o for rate, o in outcomes.items() if isinstance(o, Timed)}
    assert set(timed) == {200, 1600}, outcomes
    assert isinstance(outcomes[3200], Skipped) and "at 1600/s" in outcomes[3200].reason
    assert isinstance(closed_outcome, Timed)
    at_200, at_1600 = timed[200].extra, timed[1600].extra
    assert at_200["workers_kind"] == "process" and at_200["target_rate"] == 200
    assert at_200["p99_ms"] <= 50 < at_1600["p99_ms"]
    assert at_1600["p99_ms"] > 10 * closed_outcome.extra["p99_ms"]
    assert at_1600["backlog"] > 0 and at_200["backlog"] == 0
    assert at_1600["units"] == requests_at_rate_count(1600)


def test_a_run_at_a_rate_records_and_reports_its_capacity(tmp_path: Path) -> None:
    result = bench(
        "run", "--backend", "sqlite", "--workload", AT_RATE, "--variant", "dbapi",
        "--rate", "200", "--quick", "--out", "out", cwd=tmp_path,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    workers = workers_named(workers_at_rate("process"), "process")
    assert f"({workers})" in result.stdout  # the progress line
    out = tmp_path / "out"
    (record,) = json.loads((out / "benchmarks.json").read_text())["benchmarks"]
    extra = record["extra_info"]
    assert (extra["workers_kind"], extra["target_rate"]) == ("process", 200)
    assert extra["units"] == requests_at_rate_count(200)
    assert extra["achieved_rate"] == pytest.approx(200, rel=0.1)
    assert extra["p50_ms"] <= extra["p99_ms"] <= extra["p999_ms"]
    assert isinstance(extra["backlog"], int)
    report = (out / "REPORT.md").read_text()
    assert "#### Capacity: requests arriving on a schedule (`requests_at_rate`)" in report
    assert f"| `dbapi` | {workers} | 200/s or more (every rate timed kept within it) |" in report
    assert (out / "charts" / "sqlite-capacity.png").stat().st_size > 0


# --- stopping -------------------------------------------------------------------------------


def _alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as stat:
            return stat.read().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


def _children(pid: int) -> list[int]:
    found = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/stat") as stat:
                    fields = stat.read().rsplit(")", 1)[1].split()
            except OSError:
                continue
            if int(fields[1]) == pid and fields[0] != "Z":
                found.append(int(entry))
    return found


def _start_slow_process_run(tmp_path: Path) -> tuple[subprocess.Popen[str], list[int]]:
    """A run of the slow style on 2 worker processes (each round about a second), and the
    worker processes once they are running."""
    setup = (
        "from implementations.registry import VARIANTS\n"
        "VARIANTS['slow_requests'] = 'slow_variants:SlowRequests'\n"
        "import slow_variants\nslow_variants.SERVICE_SECONDS = 0.02"
    )
    program = f"import sys\n{setup}\nfrom bench.cli import main\nsys.exit(main(sys.argv[1:]))"
    process = subprocess.Popen(
        [sys.executable, "-c", program, "run", "--backend", "sqlite", "--workload", PROCESSES,
         "--variant", "slow_requests", "--sizes", "2", "--out", "out"],
        cwd=tmp_path,
        env={**os.environ, "PYTHONPATH": str(TESTS_DIR)},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,  # a group of its own, as a terminal's foreground job
    )  # fmt: skip
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        workers = _children(process.pid)
        if len(workers) == 2:
            return process, workers
        time.sleep(0.1)
    process.kill()
    raise AssertionError(f"no worker processes: {process.communicate()}")


def test_ctrl_c_leaves_no_worker_process(tmp_path: Path) -> None:
    process, workers = _start_slow_process_run(tmp_path)
    time.sleep(0.5)  # into the rounds
    os.killpg(process.pid, signal.SIGINT)  # to the whole group, as Ctrl-C in a terminal
    stdout, stderr = process.communicate(timeout=60)
    assert process.returncode == 130, stdout + stderr
    assert stderr.strip().splitlines()[-1] == "bench: interrupted; no results were written"
    assert not [pid for pid in workers if _alive(pid)]
    assert not _children(process.pid)


def test_a_killed_run_takes_its_worker_processes_with_it(tmp_path: Path) -> None:
    process, workers = _start_slow_process_run(tmp_path)
    process.kill()  # nothing of the run's own clean-up runs
    process.communicate(timeout=30)
    deadline = time.monotonic() + 10
    while any(_alive(pid) for pid in workers) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not [pid for pid in workers if _alive(pid)]
