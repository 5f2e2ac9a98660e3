"""The output folder: the harness replaces only what it wrote, refuses a folder holding other
files unless told to write beside them, and refuses the root, the home folder and the
published reference run."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from bench.results.output_folder import MANIFEST, foreign_files, owned_files

from helpers import bench, one_error_line

#: the smallest run: one cell at the quick sizes, on SQLite
SMALL_RUN = ("run", "--backend", "sqlite", "--quick", "--workload", "crud_read", "--variant")


def _run(out: Path, *extra: str, variant: str = "dbapi") -> subprocess.CompletedProcess[str]:
    return bench(*SMALL_RUN, variant, "--out", str(out), *extra, cwd=out.parent)


def _users_folder(tmp_path: Path) -> Path:
    """The issue's folder: a chart of the user's own and a REPORT.md of theirs."""
    folder = tmp_path / "D"
    (folder / "charts").mkdir(parents=True)
    (folder / "charts" / "architecture.png").write_text("x")
    (folder / "REPORT.md").write_text("# mine")
    return folder


def test_a_folder_with_the_users_files_is_refused_and_left_as_it_was(tmp_path: Path) -> None:
    folder = _users_folder(tmp_path)
    result = _run(folder)
    assert result.returncode == 2
    assert one_error_line(result) == (
        f"bench: error: {folder} holds REPORT.md and 1 more, which no run of the harness "
        "wrote; choose an empty or new folder for --out, or pass --force to write beside them "
        "(they are never deleted)"
    )
    assert (folder / "charts" / "architecture.png").read_text() == "x"
    assert (folder / "REPORT.md").read_text() == "# mine"
    assert sorted(p.name for p in folder.iterdir()) == ["REPORT.md", "charts"]


def test_force_writes_beside_the_users_files_and_never_deletes_them(tmp_path: Path) -> None:
    folder = _users_folder(tmp_path)
    (folder / "notes.txt").write_text("my notes")
    result = _run(folder, "--force")
    assert result.returncode == 0, result.stderr
    assert (folder / "charts" / "architecture.png").read_text() == "x"
    assert (folder / "notes.txt").read_text() == "my notes"
    assert "crud_read" in (folder / "REPORT.md").read_text()  # the same name: replaced
    assert "architecture.png" not in (folder / MANIFEST).read_text()
    # the next run, with --force again, replaces its own files and still keeps theirs
    assert _run(folder, "--force", variant="core").returncode == 0
    assert (folder / "charts" / "architecture.png").read_text() == "x"
    assert (folder / "notes.txt").read_text() == "my notes"
    assert foreign_files(folder) == ["charts/architecture.png", "notes.txt"]


def test_a_new_run_replaces_the_previous_runs_files_and_only_those(tmp_path: Path) -> None:
    folder = tmp_path / "out"
    assert _run(folder).returncode == 0
    first = set(owned_files(folder))
    assert {"benchmarks.json", "REPORT.md"} <= first
    assert any(name.startswith("charts/") for name in first)
    # a run that draws fewer charts: the ones it does not draw go with the old run
    (folder / "charts" / "sqlite-concurrency.png").write_text("an old run's chart")
    (folder / MANIFEST).write_text(
        (folder / MANIFEST).read_text() + "charts/sqlite-concurrency.png\n"
    )
    assert _run(folder, variant="core").returncode == 0
    assert not (folder / "charts" / "sqlite-concurrency.png").exists()
    assert foreign_files(folder) == []
    # a file of the user's put there afterwards makes the folder theirs too
    (folder / "charts" / "mine.png").write_text("mine")
    refused = _run(folder)
    assert refused.returncode == 2
    assert "holds charts/mine.png, which no run of the harness wrote" in one_error_line(refused)


def test_a_folder_written_before_the_manifest_existed_is_a_previous_run(tmp_path: Path) -> None:
    folder = tmp_path / "old"
    (folder / "charts").mkdir(parents=True)
    (folder / "benchmarks.json").write_text("{}")
    (folder / "REPORT.md").write_text("an old report")
    (folder / "charts" / "postgres-median-time.png").write_text("an old chart")
    assert foreign_files(folder) == []
    result = _run(folder)
    assert result.returncode == 0, result.stderr
    assert not (folder / "charts" / "postgres-median-time.png").exists()
    assert foreign_files(folder) == []


def test_report_replaces_only_its_own_files(tmp_path: Path) -> None:
    folder = tmp_path / "out"
    assert _run(folder).returncode == 0
    results = (folder / "benchmarks.json").read_bytes()
    (folder / "charts" / "architecture.png").write_text("x")
    refused = bench("report", str(folder), cwd=tmp_path)
    assert refused.returncode == 2
    assert one_error_line(refused) == (
        f"bench: error: {folder} holds charts/architecture.png, which no run of the harness "
        "wrote; pass --force to write beside them (they are never deleted)"
    )
    result = bench("report", str(folder), "--force", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert (folder / "charts" / "architecture.png").read_text() == "x"
    assert (folder / "benchmarks.json").read_bytes() == results
    assert "benchmarks.json" in (folder / MANIFEST).read_text().splitlines()


@pytest.mark.parametrize("where", ["root", "home"])
def test_the_root_and_home_folders_are_refused_even_with_force(tmp_path: Path, where: str) -> None:
    home = tmp_path / "home"
    home.mkdir()
    out = "/" if where == "root" else str(home)
    result = bench(*SMALL_RUN, "dbapi", "--out", out, "--force", env={"HOME": str(home)})
    assert result.returncode == 2
    assert one_error_line(result) == (
        f"bench: error: --out {out}: refusing to write results into the {where} folder; "
        "choose a folder of their own, e.g. results/latest"
    )
    assert list(home.iterdir()) == []


def test_the_published_reference_run_is_written_only_by_its_tox_environment(
    tmp_path: Path,
) -> None:
    reference = tmp_path / "results" / "reference"
    refused = bench(*SMALL_RUN, "dbapi", "--out", "results/reference", cwd=tmp_path)
    assert refused.returncode == 2
    assert one_error_line(refused) == (
        "bench: error: --out results/reference: that is the published reference run; remake "
        "it with `tox -e reference` (which sets BENCH_WRITE_REFERENCE=1), or choose another "
        "folder"
    )
    assert not reference.exists()
    written = bench(
        *SMALL_RUN, "dbapi", "--out", "results/reference", cwd=tmp_path,
        env={"BENCH_WRITE_REFERENCE": "1"},
    )  # fmt: skip
    assert written.returncode == 0, written.stderr
    assert (reference / "benchmarks.json").is_file()
    assert bench("report", "results/reference", cwd=tmp_path).returncode == 2


def test_a_report_into_a_read_only_folder_is_one_line(tmp_path: Path) -> None:
    folder = tmp_path / "out"
    assert _run(folder).returncode == 0
    mounted = tmp_path / "read-only"
    mounted.mkdir()
    mount = subprocess.run(
        ["mount", "--bind", "-o", "ro", str(folder), str(mounted)], capture_output=True
    )
    if mount.returncode != 0:
        pytest.skip(f"cannot make a read-only mount here: {mount.stderr.decode().strip()}")
    try:
        result = bench("report", str(mounted), cwd=tmp_path)
    finally:
        subprocess.run(["umount", str(mounted)], check=True)
    assert result.returncode == 2
    assert one_error_line(result) == (
        f"bench: error: cannot write the report into {mounted}: {mounted} is not writable"
    )


def test_an_unwritable_home_leaves_no_matplotlib_warning_or_folder(tmp_path: Path) -> None:
    not_a_folder = tmp_path / "a-file"
    not_a_folder.write_text("")
    temporary = tmp_path / "tmp"
    temporary.mkdir()
    result = bench(
        *SMALL_RUN, "dbapi", "--out", str(tmp_path / "out"), cwd=tmp_path,
        env={"HOME": str(not_a_folder / "home"), "TMPDIR": str(temporary)},
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert "matplotlib" not in result.stderr.lower()
    assert list(temporary.iterdir()) == []
    assert (tmp_path / "out" / "charts").is_dir()


def test_sizes_no_selected_workload_can_run_are_refused_before_a_server_starts(
    tmp_path: Path,
) -> None:
    result = bench(
        "run", "--backend", "postgres", "--workload", "concurrent_requests", "--sizes", "64",
        "--out", "o", cwd=tmp_path,
    )  # fmt: skip
    assert result.returncode == 2
    assert one_error_line(result) == (
        "bench: error: --sizes 64: no size fits concurrent_requests (its sizes are numbers "
        "of workers, 1 to 32)"
    )
    assert not (tmp_path / "o").exists()
