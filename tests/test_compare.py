"""``python -m bench compare``: a planted slowdown is marked, unchanged cells are not, and bad
input is one line."""

from __future__ import annotations

from pathlib import Path

from helpers import bench, one_error_line
from synthetic import synthetic_run

MEDIANS = {
    ("crud_read", 1): {"orm": 400e-6, "core": 200e-6, "dbapi": 20e-6},
    ("crud_read", 100): {"orm": 1.1e-3, "core": 800e-6, "dbapi": 300e-6},
    ("crud_create", 100): {"orm": 7e-3, "core": 1.6e-3, "dbapi": 230e-6},
}


def _rows(output: str) -> dict[tuple[str, str, str], list[str]]:
    rows = {}
    for line in output.splitlines():
        if line.startswith("| sqlite "):
            cells = [cell.strip() for cell in line.strip("|").split("|")]
            rows[(cells[1], cells[2], cells[3])] = cells[4:]
    return rows


def test_a_planted_slowdown_is_marked_and_nothing_else(tmp_path: Path) -> None:
    slower = {group: dict(variants) for group, variants in MEDIANS.items()}
    slower[("crud_read", 100)]["orm"] *= 2
    synthetic_run(tmp_path / "a", MEDIANS, seed=1)
    synthetic_run(tmp_path / "b", slower, seed=2)  # other draws: every cell has new noise
    result = bench("compare", str(tmp_path / "a"), str(tmp_path / "b"))
    assert result.returncode == 0, result.stderr
    rows = _rows(result.stdout)
    assert len(rows) == 9
    planted = rows[("crud_read", "100", "orm")]
    median_change, ratio_change = planted[2], planted[5]
    assert median_change.endswith("▲ slower") and ratio_change.endswith("▲ slower")
    assert 0.8 < float(median_change.split("%")[0]) / 100 < 1.2
    for key, row in rows.items():
        if key != ("crud_read", "100", "orm"):
            assert "▲" not in row[2] + row[5] and "▼" not in row[2] + row[5], (key, row)
    assert "1 of 9 medians and 1 of 6 ratios to dbapi changed" in result.stdout


def test_a_run_compared_with_itself_has_no_change(tmp_path: Path) -> None:
    synthetic_run(tmp_path / "a", MEDIANS, seed=3)
    result = bench("compare", str(tmp_path / "a"), str(tmp_path / "a"))
    assert result.returncode == 0, result.stderr
    assert "0 of 9 medians and 0 of 6 ratios to dbapi changed" in result.stdout
    assert all(row[2] == "+0%" for row in _rows(result.stdout).values())


def test_cells_in_one_run_only_are_listed(tmp_path: Path) -> None:
    synthetic_run(tmp_path / "a", MEDIANS, seed=4)
    fewer = {("crud_read", 1): MEDIANS[("crud_read", 1)]}
    synthetic_run(tmp_path / "b", fewer, seed=5)
    result = bench("compare", str(tmp_path / "a"), str(tmp_path / "b"))
    assert result.returncode == 0, result.stderr
    assert len(_rows(result.stdout)) == 3
    assert "Only in " + str(tmp_path / "a") + ": crud_read orm sqlite 100" in result.stdout


def test_a_folder_without_results_is_one_line(tmp_path: Path) -> None:
    synthetic_run(tmp_path / "a", MEDIANS, seed=6)
    (tmp_path / "empty").mkdir()
    result = bench("compare", str(tmp_path / "a"), str(tmp_path / "empty"))
    assert result.returncode == 2
    assert "has no benchmarks.json" in one_error_line(result)
    result = bench("compare", str(tmp_path / "a"))
    assert result.returncode == 2
    assert "RUN_B" in one_error_line(result)


def test_order_changes_are_listed_with_what_each_run_said(tmp_path: Path) -> None:
    before = {("crud_read", 1): {"orm": 400e-6, "orm_bulk": 300e-6, "core": 200e-6, "dbapi": 20e-6}}
    # core and orm swap places; orm_bulk and core tie in the second run
    after = {("crud_read", 1): {"orm": 200e-6, "orm_bulk": 300e-6, "core": 300e-6, "dbapi": 20e-6}}
    synthetic_run(tmp_path / "a", before, seed=8)
    synthetic_run(tmp_path / "b", after, seed=9)
    result = bench("compare", str(tmp_path / "a"), str(tmp_path / "b"))
    assert result.returncode == 0, result.stderr
    lines = [line for line in result.stdout.splitlines() if line.startswith("- sqlite crud_read")]
    said = {line.split(": ", 1)[1] for line in lines}
    assert "`orm` and `core` (told apart in both)" in said
    assert "`orm` and `orm_bulk` (told apart in both)" in said
    # a pair the second run cannot order may or may not swap; when it does, it says why
    tied = [line for line in lines if "`orm_bulk` and `core`" in line]
    assert all(f"(indistinguishable in {tmp_path / 'b'})" in line for line in tied)
    assert f"{len(lines)} pairs of variants changed order between the runs" in result.stdout


def test_runs_without_rounds_mark_no_change(tmp_path: Path) -> None:
    """Older JSON holds no rounds: no interval can be drawn, so no change is claimed."""
    import json

    slower = {group: dict(variants) for group, variants in MEDIANS.items()}
    slower[("crud_read", 100)]["orm"] *= 2
    for name, medians, seed in (("a", MEDIANS, 10), ("b", slower, 11)):
        path = synthetic_run(tmp_path / name, medians, seed=seed)
        document = json.loads(path.read_text())
        for entry in document["benchmarks"]:
            entry["extra_info"].pop("round_passes")
            entry["extra_info"].pop("ratio_to_dbapi", None)
            entry["extra_info"].pop("ratio_to_dbapi_ci95", None)
        path.write_text(json.dumps(document))
    result = bench("compare", str(tmp_path / "a"), str(tmp_path / "b"))
    assert result.returncode == 0, result.stderr
    assert "0 of 9 medians and 0 of 0 ratios to dbapi changed" in result.stdout
