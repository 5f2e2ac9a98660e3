"""Stopping: a second signal inside the stop handler, two signals at once as a terminal and
tox send them, a stop at once while pytest captures the output, a stop swallowed by a
finalizer inside a group of rounds or in ``statements``, a harness killed outright, and what a
killed run left, removed by the next one."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path

import psycopg
import pymysql
import pytest

from bench.backends.mariadb.backend import MariadbBackend
from bench.backends.postgres.backend import PostgresBackend
from bench.backends.postgres.conninfo import conninfo_for
from bench.backends.servers import Server

from helpers import (
    TESTS_DIR,
    bench,
    processes_under,
    shared_memory_segments,
    throwaway_postgres_env,
)

#: a run long enough to be interrupted while it measures
POSTGRES_RUN = ("run", "--backend", "postgres", "--quick", "--workload", "crud_read", "--out", "o")


def _python(program: str, timeout: float = 30) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", program],
        capture_output=True,
        text=True,
        timeout=timeout,
        env={**os.environ, "PYTHONPATH": os.pathsep.join([str(TESTS_DIR), *sys.path])},
    )


# --- the handler --------------------------------------------------------------------------------

#: installs the handlers, then makes a second SIGINT land inside the first one's handling
SECOND_SIGNAL_INSIDE_THE_HANDLER = """
import os, signal, sys, time
from bench.safety import stopping
stopping.install()
stopping.announce()
stopping.SAME_REQUEST_SECONDS = {same_request}
stopping.at_once(lambda: "the planted action ran")
said = stopping.say
signalled = []
def say_after_a_second_signal(line):
    if not signalled:
        signalled.append(True)
        os.kill(os.getpid(), signal.SIGINT)  # delivered at the handler's next instruction
        for _ in range(1000):
            pass
    said(line)
stopping.say = say_after_a_second_signal
try:
    os.kill(os.getpid(), signal.SIGINT)
    time.sleep(10)
    print("not interrupted")
except KeyboardInterrupt:
    print(f"unwound, stop requested: {{stopping.requested()}}")
"""


def test_a_second_signal_inside_the_handler_is_the_same_request() -> None:
    # the fault: the handler took the stop event's lock and the second one waited on it
    # forever; now a second signal within a second is the same request, and nothing waits
    result = _python(SECOND_SIGNAL_INSIDE_THE_HANDLER.format(same_request=1.0))
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "unwound, stop requested: True"
    assert "Traceback" not in result.stderr


def test_a_later_second_signal_inside_the_handler_stops_at_once_without_waiting() -> None:
    result = _python(SECOND_SIGNAL_INSIDE_THE_HANDLER.format(same_request=0.0))
    assert result.returncode == 130, result.stderr
    assert result.stdout == ""
    assert result.stderr.splitlines()[-1] == "bench: stopped at once; the planted action ran"


def test_what_is_said_while_pytest_captures_the_output_reaches_the_terminal(
    tmp_path: Path,
) -> None:
    (tmp_path / "test_say.py").write_text(
        "from bench.safety import stopping\n\n"
        "def test_say():\n"
        "    stopping.say('said past the capture')\n"
        "    print('printed, captured', file=__import__('sys').stderr)\n"
    )
    arguments = [str(tmp_path / "test_say.py"), "-q", "-p", "no:cacheprovider"]
    result = _python(
        "import sys, pytest\nfrom bench.safety import stopping\nstopping.install()\n"
        f"sys.exit(pytest.main({arguments!r}))"
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "said past the capture" in result.stderr
    assert "printed, captured" not in result.stderr


def test_what_asyncio_says_of_tasks_a_stop_cut_short_is_not_printed() -> None:
    program = """
import asyncio, gc
from bench.safety import stopping
stopping.install()
async def failing():
    raise RuntimeError("cut short by the stop")
loop = asyncio.new_event_loop()
def leave_a_failed_task():
    task = loop.create_task(failing())
    loop.run_until_complete(asyncio.sleep(0.01))  # it fails; nobody retrieves it
{stop}
leave_a_failed_task()
gc.collect()
"""
    stopped = _python(program.format(stop="stopping.request()"))
    assert stopped.returncode == 0, stopped.stderr
    assert stopped.stderr == ""
    running = _python(program.format(stop=""))  # without a stop, asyncio still says it
    assert "Task exception was never retrieved" in running.stderr


# --- whole runs ---------------------------------------------------------------------------------


def _segment_of(folder: Path) -> tuple[str, str] | None:
    """The shared memory segment of the PostgreSQL server running in ``folder``."""
    for pid_file in folder.glob("bench-postgres-*/data/postmaster.pid"):
        lines = pid_file.read_text().splitlines()
        if len(lines) > 6 and len(lines[6].split()) == 2:
            key, segment = lines[6].split()
            return key, segment
    return None


def _start_measuring(
    tmp_path: Path, own_tmpdir: Path, setup: str = ""
) -> tuple[subprocess.Popen[str], list[str], tuple[str, str]]:
    """A PostgreSQL run started with its own server, once it measures: the process, its
    stdout lines so far (still read by a thread) and the server's shared memory segment."""
    program = f"import sys\n{setup}\nfrom bench.cli import main\nsys.exit(main(sys.argv[1:]))"
    env = throwaway_postgres_env(own_tmpdir)
    env["PYTHONPATH"] = os.pathsep.join([str(TESTS_DIR), *sys.path])
    env["PYTHONUNBUFFERED"] = "1"  # each cell's line as it is printed
    process = subprocess.Popen(
        [sys.executable, "-c", program, *POSTGRES_RUN],
        cwd=tmp_path,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    lines: list[str] = []
    assert process.stdout is not None
    reader = threading.Thread(target=lambda: lines.extend(process.stdout or ()), daemon=True)
    reader.start()
    deadline = time.monotonic() + 120
    while not any(line.startswith("[") for line in lines):
        assert process.poll() is None, process.communicate()
        assert time.monotonic() < deadline, "the run never measured a cell"
        time.sleep(0.02)
    segment = _segment_of(own_tmpdir)
    assert segment is not None and segment in shared_memory_segments()
    return process, lines, segment


def _until(condition: Callable[[], bool], seconds: float = 10) -> bool:
    deadline = time.monotonic() + seconds
    while not condition():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.05)
    return True


def _stderr_at_the_end(process: subprocess.Popen[str], timeout: float = 60) -> str:
    """Wait for the process (its stdout is read by a thread) and return its stderr."""
    process.wait(timeout=timeout)
    assert process.stderr is not None
    return process.stderr.read()


def _nothing_left(own_tmpdir: Path, tmp_path: Path, segment: tuple[str, str]) -> None:
    assert _until(lambda: not processes_under(own_tmpdir)), processes_under(own_tmpdir)
    assert _until(lambda: segment not in shared_memory_segments()), (
        "the server's shared memory stayed"
    )
    assert _until(lambda: not list(own_tmpdir.iterdir())), list(own_tmpdir.iterdir())
    assert not (tmp_path / "o").exists()


@pytest.mark.postgres
def test_two_signals_at_once_as_tox_sends_them_stop_in_order(
    tmp_path: Path, own_tmpdir: Path
) -> None:
    # the terminal sends Ctrl-C to tox and the harness; tox passes it on: two SIGINTs
    process, _, segment = _start_measuring(tmp_path, own_tmpdir)
    process.send_signal(signal.SIGINT)
    time.sleep(0.05)
    process.send_signal(signal.SIGINT)
    stderr = _stderr_at_the_end(process)
    assert process.returncode == 130, stderr
    assert "stopped at once" not in stderr
    assert stderr.count("bench: stopping; a second Ctrl-C stops at once") == 1
    assert stderr.splitlines()[-1] == "bench: interrupted; no results were written"
    assert "Traceback" not in stderr
    _nothing_left(own_tmpdir, tmp_path, segment)


#: a server whose orderly shutdown takes seconds, for a second Ctrl-C to cut short
SLOW_SHUTDOWN = """
import time
from bench.backends import local_servers
removing = local_servers.ServerFolder.remove
def slowly(self):
    time.sleep(20)
    removing(self)
local_servers.ServerFolder.remove = slowly
"""


#: a clean-up inside pytest (the run's schema dropped as the session ends) that takes
#: seconds: the second Ctrl-C lands while pytest captures the output
SLOW_TEARDOWN = """
import time
from bench.backends.postgres import backend as postgres
closing = postgres.PostgresBackend.close
def slowly(self):
    time.sleep(20)
    closing(self)
postgres.PostgresBackend.close = slowly
"""


@pytest.mark.postgres
@pytest.mark.parametrize("slow", [SLOW_SHUTDOWN, SLOW_TEARDOWN], ids=["server", "in-pytest"])
def test_a_second_ctrl_c_a_moment_later_stops_at_once_and_leaves_nothing(
    tmp_path: Path, own_tmpdir: Path, slow: str
) -> None:
    process, _, segment = _start_measuring(tmp_path, own_tmpdir, setup=slow)
    process.send_signal(signal.SIGINT)
    time.sleep(1.5)
    signalled = time.monotonic()
    process.send_signal(signal.SIGINT)
    stderr = _stderr_at_the_end(process)
    assert time.monotonic() - signalled < 3, stderr  # a deadline: the shutdown takes 20 s
    assert process.returncode == 130
    assert "bench: stopping; a second Ctrl-C stops at once" in stderr
    assert stderr.splitlines()[-1] == (
        "bench: stopped at once; the servers it had started were killed"
    )
    assert "Traceback" not in stderr
    _nothing_left(own_tmpdir, tmp_path, segment)


@pytest.mark.postgres
def test_a_killed_harness_leaves_no_server_running(tmp_path: Path, own_tmpdir: Path) -> None:
    process, _, segment = _start_measuring(tmp_path, own_tmpdir)
    process.kill()
    _stderr_at_the_end(process)
    # the watchdog sees the harness's pipe close and ends the server
    assert _until(lambda: not processes_under(own_tmpdir), 15), processes_under(own_tmpdir)
    assert _until(lambda: segment not in shared_memory_segments()), (
        "the server's shared memory stayed"
    )
    assert _until(lambda: not list(own_tmpdir.glob("bench-postgres-*")))
    # the rest stays until the next run, which removes it and says so
    left = sorted(p.name for p in own_tmpdir.iterdir())
    assert [name.split("-")[1] for name in left] == ["storage"], left
    assert any(p.name.startswith(".run-") for p in (tmp_path / "o").iterdir())
    result = bench(
        "run", "--backend", "sqlite", "--quick", "--workload", "crud_read", "--variant",
        "dbapi", "--out", "o", cwd=tmp_path, env={"TMPDIR": str(own_tmpdir)},
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    removed = [line for line in result.stderr.splitlines() if "left by a run that" in line]
    assert len(removed) == 2, result.stderr  # the staging folder and pytest-benchmark's
    assert not [p for p in (tmp_path / "o").iterdir() if p.name.startswith(".run-")]
    assert list(own_tmpdir.iterdir()) == []


# --- a stop swallowed by a finalizer ------------------------------------------------------------

#: the third timed round sends SIGINT and swallows the KeyboardInterrupt, as Python does when
#: it lands in a finalizer; every round after it is counted on stderr
SWALLOWED_IN_A_GROUP = """
import os, signal, sys
from bench.measure import groups
timed_round = groups._Runner.timed_round
calls = [0]
def counted(self, check_rows):
    calls[0] += 1
    if calls[0] == 3:
        try:
            os.kill(os.getpid(), signal.SIGINT)
            for _ in range(1000):
                pass
        except KeyboardInterrupt:
            pass  # lost, as in a finalizer
    elif calls[0] > 3:
        os.write(2, b"a round after the stop\\n")
    return timed_round(self, check_rows)
groups._Runner.timed_round = counted
"""


def test_a_stop_lost_in_a_finalizer_is_seen_at_the_next_round(tmp_path: Path) -> None:
    program = f"import sys\n{SWALLOWED_IN_A_GROUP}\nfrom bench.cli import main\n"
    program += "sys.exit(main(sys.argv[1:]))"
    result = subprocess.run(
        [sys.executable, "-c", program, "run", "--backend", "sqlite", "--workload",
         "parent_child_insert", "--variant", "orm", "core", "dbapi", "--sizes", "100",
         "--out", "o"],
        cwd=tmp_path, capture_output=True, text=True, timeout=600,
        env={**os.environ, "PYTHONPATH": os.pathsep.join([str(TESTS_DIR), *sys.path])},
    )  # fmt: skip
    assert result.returncode == 130, result.stderr
    assert "a round after the stop" not in result.stderr
    assert result.stderr.splitlines()[-1] == "bench: interrupted; no results were written"


#: a KeyboardInterrupt raised inside a finalizer while the first variant's statements are
#: being collected: Python prints "Exception ignored" and goes on
SWALLOWED_IN_STATEMENTS = """
import os, signal
from bench.measure import cells
count = cells.Harness.count
class Finalized:
    def __del__(self):
        os.kill(os.getpid(), signal.SIGINT)
        for _ in range(1000):
            pass
def counted(self, *args, **kwargs):
    observation = count(self, *args, **kwargs)
    Finalized()
    return observation
cells.Harness.count = counted
"""


def test_statements_interrupted_in_a_finalizer_stop_without_a_traceback(tmp_path: Path) -> None:
    program = f"import sys\n{SWALLOWED_IN_STATEMENTS}\nfrom bench.cli import main\n"
    program += "sys.exit(main(sys.argv[1:]))"
    result = subprocess.run(
        [sys.executable, "-c", program, "statements", "--workload", "crud_read",
         "--variant", "orm", "core", "dbapi"],
        cwd=tmp_path, capture_output=True, text=True, timeout=120,
        env={**os.environ, "PYTHONPATH": os.pathsep.join([str(TESTS_DIR), *sys.path])},
    )  # fmt: skip
    assert result.returncode == 130, result.stdout + result.stderr
    assert "Exception ignored" not in result.stderr and "Traceback" not in result.stderr
    assert "dbapi:" not in result.stdout  # it stopped after the first variant
    assert result.stderr.strip().splitlines()[-1] == "bench: interrupted"


# --- an interrupted transaction does not hold up the clean-up -----------------------------------


@pytest.mark.postgres
def test_the_schema_is_dropped_at_once_past_a_transaction_left_open(
    postgres_server: Server,
) -> None:
    backend = PostgresBackend(postgres_server.address, "bench_left_open", "a test")
    holder = psycopg.connect(conninfo_for(postgres_server.address))
    holder.execute('LOCK TABLE "bench_left_open".user_account IN ROW EXCLUSIVE MODE')
    started = time.monotonic()
    backend.close()
    assert time.monotonic() - started < 5  # a deadline: the lock timeout is 10 s
    with psycopg.connect(conninfo_for(postgres_server.address)) as check:
        assert check.execute(
            "SELECT count(*) FROM pg_namespace WHERE nspname = 'bench_left_open'"
        ).fetchone() == (0,)
    with pytest.raises(psycopg.OperationalError):
        holder.execute("SELECT 1")  # its session was ended
    holder.close()


@pytest.mark.mariadb
def test_the_database_is_dropped_at_once_past_a_transaction_left_open(
    mariadb_server: Server,
) -> None:
    backend = MariadbBackend(mariadb_server.address, "bench_left_open", "a test")
    url = mariadb_server.address
    holder = pymysql.connect(
        host=url.host, port=url.port or 3306, user=url.username, password=url.password or "",
        database="bench_left_open",
    )  # fmt: skip
    with holder.cursor() as cursor:
        cursor.execute("START TRANSACTION")
        cursor.execute("SELECT * FROM user_account FOR UPDATE")
    started = time.monotonic()
    backend.close()
    assert time.monotonic() - started < 5  # a deadline: the lock wait timeout is 10 s
    with pytest.raises(pymysql.MySQLError), holder.cursor() as cursor:
        cursor.execute("SELECT 1")  # its connection was ended
