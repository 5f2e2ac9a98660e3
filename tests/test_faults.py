"""Faults met when the harness is pushed: a full disk, two runs in one folder, interruptions
while a server is being set up, and the smaller ways a PostgreSQL run can go wrong. Each ends
with one line on stderr, keeps what was there, and leaves nothing running."""

from __future__ import annotations

import fcntl
import os
import re
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import psycopg
import pytest

from bench.backends.postgres.conninfo import conninfo_for
from bench.backends.postgres.servers import LocalClusterProvider
from bench.backends.servers import Server, mask

from helpers import (
    bench,
    bench_patched,
    one_error_line,
    processes_under,
    shared_memory_segments,
    throwaway_postgres_env,
)

QUICK_SQLITE = ("run", "--backend", "sqlite", "--quick", "--workload", "crud_read")
#: one small PostgreSQL run, into the folder "o"
QUICK_POSTGRES = (
    "run",
    "--backend",
    "postgres",
    "--quick",
    "--workload",
    "crud_read",
    "--variant",
    "dbapi",
    "--out",
    "o",
)
FULL_DISK = (
    "import errno\n"
    "def full(*args, **kwargs):\n"
    "    raise OSError(errno.ENOSPC, 'No space left on device')\n"
)


def _previous_run(out: Path) -> dict[str, bytes]:
    """A folder holding an earlier run's results: its files and their contents."""
    (out / "charts").mkdir(parents=True)
    (out / "benchmarks.json").write_text('{"previous": "good results"}')
    (out / "REPORT.md").write_text("the previous report")
    (out / "REPORT.html").write_text("the previous page")
    # a chart of a backend the new runs do not draw: it goes with the old run
    (out / "charts" / "postgres-scaling.png").write_bytes(b"old chart")
    return _contents(out)


def _contents(folder: Path) -> dict[str, bytes]:
    return {
        str(path.relative_to(folder)): path.read_bytes()
        for path in sorted(folder.rglob("*"))
        if path.is_file() and not path.name.startswith(".")
    }


def _hidden(folder: Path) -> list[str]:
    """What a run left behind besides the results (and the list of the files it wrote)."""
    return sorted(
        p.name for p in folder.iterdir() if p.name.startswith(".") and p.name != ".bench-files"
    )


# --- 1. a full disk ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "where",
    [
        # pytest-benchmark saving its JSON
        "import pytest_benchmark.session\n"
        "pytest_benchmark.session.BenchmarkSession.save_json = full",
        # the report's charts being drawn, after the JSON was saved
        "import matplotlib.figure\nmatplotlib.figure.Figure.savefig = full",
    ],
    ids=["results", "report"],
)
def test_a_full_disk_is_one_line_and_keeps_the_previous_run_whole(
    tmp_path: Path, where: str
) -> None:
    out = tmp_path / "out"
    before = _previous_run(out)
    result = bench_patched(
        FULL_DISK + where, *QUICK_SQLITE, "--variant", "dbapi", "--out", str(out), cwd=tmp_path
    )
    assert result.returncode == 2, result.stderr
    assert _last_line(result.stderr) == (
        f"bench: error: the results could not be written to {out}: No space left on device; "
        "the previous results were kept"
    )
    assert "Traceback" not in result.stdout + result.stderr
    # neither the JSON nor the report replaced the old ones without the other
    assert _contents(out) == before
    assert _hidden(out) == []


def _last_line(text: str) -> str:
    lines = [line for line in text.splitlines() if line.strip()]
    return lines[-1] if lines else ""


# --- 3. two runs in one folder -------------------------------------------------------------------


def test_a_second_run_into_the_same_folder_fails_at_once_naming_the_holder(
    tmp_path: Path,
) -> None:
    out = tmp_path / "out"
    before = _previous_run(out)
    first = subprocess.Popen(
        [sys.executable, "-m", "bench", *QUICK_SQLITE, "--sizes", "1000", "--out", str(out)],
        cwd=tmp_path,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert first.stderr is not None
        assert first.stderr.readline().startswith("sqlite: ")  # it holds the folder now
        started = time.monotonic()
        second = bench(*QUICK_SQLITE, "--out", str(out), cwd=tmp_path)
        assert time.monotonic() - started < 30
        assert second.returncode == 2
        assert re.fullmatch(
            rf"bench: error: {re.escape(str(out))} is in use by another run \(pid {first.pid}, "
            r"started \d{4}-\d\d-\d\d \d\d:\d\d:\d\d UTC\); wait for it or choose another --out",
            one_error_line(second),
        )
        assert _contents(out) == before  # the second run changed nothing
    finally:
        first.send_signal(signal.SIGINT)
        first.communicate(timeout=120)
    # once the first run has ended, the folder is free again, and says nothing of it
    descriptor = os.open(out, os.O_RDONLY | os.O_DIRECTORY)
    try:
        fcntl.flock(descriptor, fcntl.LOCK_EX | fcntl.LOCK_NB)
    finally:
        os.close(descriptor)
    assert _hidden(out) == []


def test_results_report_and_charts_are_replaced_together(tmp_path: Path) -> None:
    out = tmp_path / "out"
    _previous_run(out)
    result = bench(*QUICK_SQLITE, "--variant", "dbapi", "--out", str(out), cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert sorted(p.name for p in out.iterdir() if not p.name.startswith(".")) == [
        "REPORT.html",
        "REPORT.md",
        "benchmarks.json",
        "charts",
    ]
    assert "postgres-scaling.png" not in os.listdir(out / "charts")  # went with the old run
    assert "crud_read" in (out / "REPORT.md").read_text()
    assert "crud_read" in (out / "REPORT.html").read_text()
    assert _hidden(out) == []


def test_a_failed_replacement_restores_the_previous_run(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from bench.results.output_folder import publish

    out, staging = tmp_path / "out", tmp_path / "out" / ".run-x"
    before = _previous_run(out)
    staging.mkdir()
    (staging / "benchmarks.json").write_text("new")
    (staging / "REPORT.md").write_text("new report")
    original = Path.rename
    moved_in = []

    def failing(self: Path, target: Path) -> Path:
        if self.parent == staging:
            moved_in.append(self.name)
            if self.name == "REPORT.md":  # the JSON has already been replaced
                raise OSError(28, "No space left on device")
        return original(self, target)

    monkeypatch.setattr(Path, "rename", failing)
    with pytest.raises(OSError, match="No space left"):
        publish(staging, out, ["benchmarks.json", "REPORT.md"])
    monkeypatch.undo()
    assert moved_in == ["benchmarks.json", "REPORT.md"]
    assert _contents(out) == before | {
        ".run-x/benchmarks.json": b"new",
        ".run-x/REPORT.md": b"new report",
    }
    assert sorted(p.name for p in out.iterdir()) == [
        ".run-x",
        "REPORT.html",
        "REPORT.md",
        "benchmarks.json",
        "charts",
    ]


# --- 2. interruptions ---------------------------------------------------------------------------


def _start_postgres_run(tmp_path: Path, own_tmpdir: Path) -> subprocess.Popen[str]:
    env = throwaway_postgres_env(own_tmpdir)
    process = subprocess.Popen(
        [sys.executable, "-m", "bench", "run", "--backend", "postgres", "--quick", "--out", "o"],
        cwd=tmp_path,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    deadline = time.monotonic() + 60
    while not processes_under(own_tmpdir, b"initdb"):
        assert time.monotonic() < deadline, "initdb never started"
        assert process.poll() is None, process.communicate()
        time.sleep(0.01)
    return process


@pytest.mark.postgres
@pytest.mark.parametrize(("signal_number", "status"), [(signal.SIGINT, 130), (signal.SIGTERM, 143)])
def test_a_signal_while_initdb_runs_ends_the_run_within_two_seconds(
    tmp_path: Path, own_tmpdir: Path, signal_number: int, status: int
) -> None:
    segments = shared_memory_segments()
    process = _start_postgres_run(tmp_path, own_tmpdir)
    signalled = time.monotonic()
    process.send_signal(signal_number)
    _, stderr = process.communicate(timeout=60)
    # a deadline, not a performance figure: the fault took 11 s
    assert time.monotonic() - signalled < 4, stderr
    assert process.returncode == status
    assert "Traceback" not in stderr
    assert _last_line(stderr) == "bench: interrupted; no results were written"
    assert processes_under(own_tmpdir) == []
    assert list(own_tmpdir.iterdir()) == []  # the cluster's folder was removed
    assert not (tmp_path / "o").exists()
    # nor the segment of the server initdb runs to bootstrap the cluster
    assert shared_memory_segments() - segments == set()


@pytest.mark.postgres
def test_two_ctrl_c_while_initdb_runs_are_one_request(tmp_path: Path, own_tmpdir: Path) -> None:
    # a terminal and tox each send one: the second, a moment later, is the same request
    segments = shared_memory_segments()
    process = _start_postgres_run(tmp_path, own_tmpdir)
    process.send_signal(signal.SIGINT)
    time.sleep(0.05)
    signalled = time.monotonic()
    process.send_signal(signal.SIGINT)
    _, stderr = process.communicate(timeout=60)
    assert time.monotonic() - signalled < 4, stderr
    assert process.returncode == 130
    assert "stopped at once" not in stderr and "Traceback" not in stderr
    assert _last_line(stderr) == "bench: interrupted; no results were written"
    assert processes_under(own_tmpdir) == []
    assert list(own_tmpdir.iterdir()) == []
    assert shared_memory_segments() - segments == set()


@pytest.mark.parametrize("delay", [0.1, 0.25, 0.5])
def test_ctrl_c_while_the_harness_is_still_importing_is_no_traceback(
    tmp_path: Path, delay: float
) -> None:
    process = subprocess.Popen(
        [sys.executable, "-m", "bench", "list"],
        cwd=tmp_path,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    time.sleep(delay)
    process.send_signal(signal.SIGINT)
    _, stderr = process.communicate(timeout=60)
    if process.returncode == 0:
        pytest.skip("the command had finished before the signal came")
    assert process.returncode == 130, stderr
    assert "Traceback" not in stderr and "KeyboardInterrupt" not in stderr
    assert stderr.strip() in ("", "bench: interrupted")


# --- 4. smaller faults on PostgreSQL ------------------------------------------------------------


@pytest.mark.postgres
def test_a_leftover_preflight_schema_does_not_block_a_run(
    postgres_server: Server, tmp_path: Path
) -> None:
    with psycopg.connect(conninfo_for(postgres_server.address), autocommit=True) as connection:
        connection.execute("CREATE SCHEMA IF NOT EXISTS bench_preflight")
        try:
            result = bench(
                *QUICK_POSTGRES,
                "--postgres-url",
                postgres_server.address.render_as_string(hide_password=False),
                cwd=tmp_path,
            )
        finally:
            connection.execute("DROP SCHEMA bench_preflight")
    assert result.returncode == 0, result.stderr


@pytest.mark.postgres
def test_an_unknown_url_parameter_is_a_connection_error(
    postgres_server: Server, tmp_path: Path
) -> None:
    url = postgres_server.address.update_query_dict({"foo": "bar"})
    result = bench(
        "run",
        "--backend",
        "postgres",
        "--postgres-url",
        url.render_as_string(hide_password=False),
        cwd=tmp_path,
    )
    assert result.returncode == 2
    line = one_error_line(result)
    assert line.startswith(
        f"bench: error: --postgres-url: cannot connect to PostgreSQL at {mask(url)}"
    )
    assert 'invalid connection option "foo"' in line
    assert "schema" not in line


@pytest.mark.postgres
def test_a_server_that_dies_mid_run_leaves_a_schema_the_message_names(
    tmp_path: Path, own_tmpdir: Path
) -> None:
    with LocalClusterProvider().start() as server:
        with psycopg.connect(conninfo_for(server.address)) as connection:
            row = connection.execute("SELECT current_setting('data_directory')").fetchone()
        assert row is not None
        pid_file = Path(row[0]) / "postmaster.pid"
        # the server is killed as the first group begins
        result = bench_patched(
            "import os, signal, bench.measure.groups\n"
            "measure = bench.measure.groups.measure_group\n"
            "def dying(*args, **kwargs):\n"
            f"    pid = int(open({str(pid_file)!r}).read().split()[0])\n"
            "    os.kill(pid, signal.SIGKILL)\n"
            "    return measure(*args, **kwargs)\n"
            "bench.measure.groups.measure_group = dying",
            *QUICK_POSTGRES,
            "--postgres-url",
            server.address.render_as_string(hide_password=False),
            cwd=tmp_path,
        )
    assert result.returncode == 1, result.stderr
    named = re.search(
        r"the run's schema (bench_[0-9a-f]{12}) is still on the server", result.stderr
    )
    assert named, result.stderr
    assert f'DROP SCHEMA "{named.group(1)}" CASCADE' in result.stderr
    assert str(server.address.password) not in result.stdout + result.stderr


@pytest.mark.postgres
@pytest.mark.parametrize("name", ["it's here", "x" * 90])
def test_a_temporary_folder_with_a_quote_or_a_long_path_still_starts_a_server(
    tmp_path: Path, own_tmpdir: Path, name: str
) -> None:
    base = own_tmpdir
    odd = base / name
    odd.mkdir(mode=0o755)
    env = throwaway_postgres_env(odd)
    try:
        result = bench(*QUICK_POSTGRES, cwd=tmp_path, env=env)
        assert result.returncode == 0, result.stderr
        assert list(odd.iterdir()) == []  # the cluster's folder was removed
    finally:
        shutil.rmtree(base, ignore_errors=True)


@pytest.mark.postgres
def test_a_server_that_will_not_start_says_why_from_its_log(
    tmp_path: Path, own_tmpdir: Path
) -> None:
    env = throwaway_postgres_env(own_tmpdir)
    result = bench_patched(
        "import bench.backends.postgres.servers as servers\n"
        "servers.THROWAWAY_SETTINGS['shared_buffers'] = 'plenty'",
        "run",
        "--backend",
        "postgres",
        "--out",
        "o",
        cwd=tmp_path,
        env=env,
    )
    assert result.returncode == 2
    line = one_error_line(result)
    assert "pg_ctl failed" in line
    assert 'invalid value for parameter "shared_buffers": "plenty"' in line
    assert processes_under(own_tmpdir) == []
