"""The command line as a user meets it: real ``python -m bench`` processes."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from bench.measure.sizes import QUICK_SIZES
from bench.measure.workloads import WORKLOADS
from implementations.registry import VARIANTS

from helpers import bench, bench_patched, one_error_line


def test_list_names_every_workload_variant_and_backend(tmp_path: Path) -> None:
    result = bench("list", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    for name in [*WORKLOADS, *VARIANTS, "sqlite", "postgres"]:
        assert f"  {name} " in result.stdout


def test_output_cut_short_by_its_reader_is_no_traceback(tmp_path: Path) -> None:
    """As `python -m bench list | head -1`, with the reader gone before the first write."""
    read_end, write_end = os.pipe()
    os.close(read_end)
    try:
        process = subprocess.Popen(
            [sys.executable, "-m", "bench", "list"],
            cwd=tmp_path,
            stdout=write_end,
            stderr=subprocess.PIPE,
            text=True,
        )
    finally:
        os.close(write_end)
    _, stderr = process.communicate(timeout=60)
    assert process.returncode == 1
    assert stderr == ""


def test_quick_run_writes_pytest_benchmark_json(
    quick_run: tuple[Path, subprocess.CompletedProcess[str]],
) -> None:
    out, result = quick_run
    assert result.returncode == 0, result.stdout + result.stderr
    document = json.loads((out / "benchmarks.json").read_text())
    assert {"machine_info", "commit_info", "benchmarks", "datetime", "version"} <= set(document)
    cells = {
        (b["extra_info"]["workload"], b["extra_info"]["variant"], b["extra_info"]["size"])
        for b in document["benchmarks"]
    }
    assert cells == {
        (workload, variant, size)
        for workload, variants in (
            ("crud_create", ("orm", "dbapi")),
            ("parent_child_read", ("orm", "orm_lazy", "dbapi")),
        )
        for variant in variants
        for size in QUICK_SIZES
    }
    for entry in document["benchmarks"]:
        info = entry["extra_info"]
        assert entry["group"] == info["workload"]
        assert info["backend"] == "sqlite" and info["verified"] is True
        for field in ("cursor_calls", "db_statements", "round_trips", "rows"):
            assert isinstance(info[field], int) and info[field] > 0
        assert info["round_trips"] == info["db_statements"]
        assert entry["stats"]["rounds"] >= 3
    assert {"workload": "crud_create", "variant": "orm_lazy"} in document["harness"][
        "not_applicable"
    ]
    assert "duration:" in result.stdout and "report:" in result.stdout
    assert not (out.parent / ".benchmarks").exists()  # pytest-benchmark's storage is not left
    # readable like any file the user's umask allows, not owner-only like a temporary file
    (out / "ordinary").touch()
    assert (out / "benchmarks.json").stat().st_mode == (out / "ordinary").stat().st_mode
    (out / "ordinary").unlink()


def test_quick_run_json_works_with_pytest_benchmark_compare(
    quick_run: tuple[Path, subprocess.CompletedProcess[str]],
) -> None:
    out, _ = quick_run
    compared = subprocess.run(
        [
            sys.executable,
            "-c",
            "import sys; from pytest_benchmark.cli import main; sys.exit(main())",
            "compare",
            str(out / "benchmarks.json"),
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert compared.returncode == 0, compared.stderr
    assert f"test_parent_child_read[orm_lazy-sqlite-{max(QUICK_SIZES)}]" in compared.stdout


def _existing_results(folder: Path) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    previous = folder / "benchmarks.json"
    previous.write_text('{"previous": "good results"}')
    return previous


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        (["run", "--workload", "nope"], "unknown workload 'nope'; choose from crud_create"),
        (["run", "--variant", "orm", "nope"], "unknown variant 'nope'; choose from orm"),
        (["run", "--backend", "oracle"], "invalid choice: 'oracle'"),
        (["run", "--sizes", "1,x"], "'1,x' is not a comma-separated list of positive whole"),
        (["run", "--sizes", "0,10"], "'0,10' is not a comma-separated list of positive whole"),
        (["run", "--workload", "crud_read", "--variant", "nullpool"], "no selected variant"),
        (["statements", "--workload", "nope"], "unknown workload 'nope'"),
        (["statements", "--workload", "crud_read", "--size", "2,3"], "not one positive whole"),
        (["statements", "--workload", "crud_read", "--variant", "nullpool"], "implements"),
        (["run", "--sizes", "10,200000"], "200000 is larger than the largest size supported"),
        ([], "required: command"),
    ],
)
def test_bad_input_is_one_line_and_exit_status_2(
    tmp_path: Path, arguments: list[str], message: str
) -> None:
    previous = _existing_results(tmp_path / "results" / "latest")
    result = bench(*arguments, cwd=tmp_path)
    assert result.returncode == 2
    assert message in one_error_line(result)
    assert previous.read_text() == '{"previous": "good results"}'


def test_an_output_folder_that_cannot_be_written_is_refused_before_running(
    tmp_path: Path,
) -> None:
    (tmp_path / "taken").write_text("not a folder")
    (tmp_path / "odd" / "benchmarks.json").mkdir(parents=True)
    for out, problem in (
        ("taken", "cannot write results to taken: taken is a file, not a folder"),
        ("taken/results", "cannot write results to taken/results: taken is a file"),
        ("odd", "cannot write results to odd: odd/benchmarks.json is a folder"),
        ("", "argument --out: an empty path is not a folder"),
    ):
        result = bench("run", "--backend", "sqlite", "--out", out, cwd=tmp_path)
        assert result.returncode == 2
        assert problem in one_error_line(result)
    assert (tmp_path / "taken").read_text() == "not a folder"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["odd", "taken"]


def test_a_refused_run_creates_no_output_folder(tmp_path: Path) -> None:
    result = bench(
        "run",
        "--workload",
        "connect_read_one",
        "--variant",
        "orm_lazy",
        "--out",
        "new",
        cwd=tmp_path,
    )
    assert result.returncode == 2
    assert "no selected variant implements" in one_error_line(result)
    assert not (tmp_path / "new").exists()


@pytest.mark.parametrize("signal_number", [signal.SIGINT, signal.SIGTERM])
def test_an_interrupted_run_stops_and_keeps_the_previous_results(
    tmp_path: Path, signal_number: int
) -> None:
    out = tmp_path / "out"
    previous = _existing_results(out)
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "bench",
            "run",
            "--backend",
            "sqlite",
            "--workload",
            "parent_child_insert",
            "--variant",
            "orm",
            "--sizes",
            "1000",
            "--out",
            str(out),
        ],
        cwd=tmp_path,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert process.stderr is not None
    assert process.stderr.readline().startswith("sqlite: ")  # the run has started
    time.sleep(1.5)  # into the cell's executions (one takes about a second)
    process.send_signal(signal_number)
    stdout, stderr = process.communicate(timeout=120)
    assert process.returncode == 128 + signal_number, stdout + stderr
    assert stderr.strip().splitlines()[-1] == (
        f"bench: interrupted; {out / 'benchmarks.json'} was left as it was"
    )
    assert previous.read_text() == '{"previous": "good results"}'
    assert sorted(p.name for p in out.iterdir()) == ["benchmarks.json"]
    assert not (tmp_path / ".benchmarks").exists()


def test_a_failing_cell_keeps_the_previous_results(tmp_path: Path) -> None:
    out = tmp_path / "out"
    previous = _existing_results(out)
    result = bench_patched(
        "from implementations.registry import VARIANTS\n"
        "VARIANTS['broken'] = 'broken_variants:SkipsLastChange'",
        "run",
        "--backend",
        "sqlite",
        "--quick",
        "--workload",
        "crud_update",
        "--variant",
        "broken",
        "--out",
        str(out),
        cwd=tmp_path,
    )
    assert result.returncode == 1
    assert (
        "FAILED: bench.measure.cells.VerificationError: crud_update[broken-sqlite-1]"
        in result.stdout
    )
    assert "some cells failed" in result.stderr and "left as it was" in result.stderr
    assert previous.read_text() == '{"previous": "good results"}'
    assert sorted(p.name for p in out.iterdir()) == ["benchmarks.json"]


def test_statements_shows_each_variants_sql_and_totals(tmp_path: Path) -> None:
    result = bench("statements", "--workload", "parent_child_insert", "--size", "2", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    out = result.stdout
    for variant in ("orm", "orm_bulk", "core", "dbapi"):
        assert f"\n{variant}: " in out
    assert "totals: cursor calls 12; database statements 14 (BEGIN 1, INSERT 12, COMMIT 1)" in out
    assert "executemany: 10 parameter sets of 4 parameters" in out
    assert "   1. INSERT INTO user_account (username, email, created_at) VALUES (?, ?, ?)" in out
    assert "n/a (these variants do not implement parent_child_insert on SQLite): orm_lazy" in out


POSTGRES_UNAVAILABLE = (
    "import bench.backends.postgres.servers as p\n"
    "from bench.backends.postgres.backend import POSTGRES\n"
    "POSTGRES.providers = (\n"
    "    p.TestcontainersProvider(), p.LocalClusterProvider(search_path='/nonexistent')\n"
    ")"
)
NO_DOCKER = {"DOCKER_HOST": "unix:///nonexistent/docker.sock", "BENCH_POSTGRES_URL": ""}


def test_a_garbage_url_in_the_environment_is_named(tmp_path: Path) -> None:
    result = bench("run", cwd=tmp_path, env={"BENCH_POSTGRES_URL": "garbage"})
    assert result.returncode == 2
    assert one_error_line(result) == (
        "bench: error: BENCH_POSTGRES_URL: not a database URL: expected "
        "postgresql://user:password@host:port/database"
    )


def test_all_backends_without_postgres_runs_sqlite_and_says_why(tmp_path: Path) -> None:
    result = bench_patched(
        POSTGRES_UNAVAILABLE,
        "run",
        "--quick",
        "--workload",
        "crud_read",
        "--variant",
        "dbapi",
        "--out",
        "out",
        cwd=tmp_path,
        env=NO_DOCKER,
    )
    assert result.returncode == 0, result.stderr
    assert any(line.startswith("sqlite: SQLite ") for line in result.stderr.splitlines())
    postgres_lines = [line for line in result.stderr.splitlines() if line.startswith("postgres")]
    assert len(postgres_lines) == 1 and "Traceback" not in result.stderr
    line = postgres_lines[0]
    assert line.startswith("postgres: skipped: no PostgreSQL server (testcontainers: no Docker")
    assert "to enable it, pass --postgres-url or set BENCH_POSTGRES_URL" in line
    document = json.loads((tmp_path / "out" / "benchmarks.json").read_text())
    measured = {b["extra_info"]["backend"] for b in document["benchmarks"]}
    assert "sqlite" in measured and "postgres" not in measured
    assert "PostgreSQL was skipped" in (tmp_path / "out" / "REPORT.md").read_text()


def test_postgres_asked_for_but_unavailable_is_an_error(tmp_path: Path) -> None:
    result = bench_patched(
        POSTGRES_UNAVAILABLE, "run", "--backend", "postgres", cwd=tmp_path, env=NO_DOCKER
    )
    assert result.returncode == 2
    line = one_error_line(result)
    assert line.startswith("bench: error: no PostgreSQL server (testcontainers: no Docker daemon")
    assert "local server binaries: no PostgreSQL server binaries" in line


def test_a_users_run_leaves_the_reference_untouched(tmp_path: Path) -> None:
    reference = tmp_path / "results" / "reference"
    reference.mkdir(parents=True)
    (reference / "REPORT.md").write_text("the published run\n")
    result = bench(
        "run",
        "--backend",
        "sqlite",
        "--quick",
        "--workload",
        "crud_read",
        "--variant",
        "dbapi",
        cwd=tmp_path,
    )
    assert result.returncode == 0, result.stderr
    assert (tmp_path / "results" / "latest" / "benchmarks.json").is_file()
    assert [p.name for p in reference.iterdir()] == ["REPORT.md"]
    assert (reference / "REPORT.md").read_text() == "the published run\n"


def test_git_ignores_a_users_run_and_keeps_the_reference() -> None:
    checkout = Path(__file__).resolve().parents[1]
    if not (checkout / ".git").exists():
        pytest.skip("not a git checkout of the harness: nothing to ignore")
    ignored = subprocess.run(
        ["git", "-C", str(checkout), "check-ignore", "-q", "results/latest/benchmarks.json"],
        check=False,
    )
    assert ignored.returncode == 0
    tracked = subprocess.run(
        ["git", "-C", str(checkout), "ls-files", "results/reference/REPORT.md"],
        capture_output=True,
        text=True,
        check=True,
    )
    assert tracked.stdout.strip() == "results/reference/REPORT.md"


def test_where_the_backends_came_from_is_said_after_the_tests(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(
        test_uses_sqlite="""
        def test_one(sqlite_backend):
            assert sqlite_backend.name == "sqlite"

        def test_two():
            pass
        """
    )
    result = pytester.runpytest_subprocess("-p", "bench.plugin.backends")
    result.assert_outcomes(passed=2)
    lines = result.stdout.lines
    progress = next(line for line in lines if line.startswith("test_uses_sqlite.py"))
    assert progress.startswith("test_uses_sqlite.py ..")  # one line, not broken up
    section = next(i for i, line in enumerate(lines) if "backends" in line and "---" in line)
    said = [line for line in lines[section + 1 :] if line.strip()]
    assert said[0].startswith("sqlite: version ")
    assert section > lines.index(progress)
