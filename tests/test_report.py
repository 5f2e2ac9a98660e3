"""The report: its tables say what the JSON says, its charts are written, and bad input is
refused without touching what is there."""

from __future__ import annotations

import dataclasses
import json
import shutil
import subprocess
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from bench.measure.sizes import QUICK_SIZES
from bench.report import chart_looks
from bench.report.text import noise_lines
from bench.report.throughput import concurrency_findings, concurrency_section
from bench.results.catalog import Catalog
from bench.results.model import (
    CellResult,
    Concurrency,
    Results,
    format_seconds,
)

from helpers import bench, benchmarks, one_error_line
from synthetic import synthetic_run

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def workload_tables(report: str, backend_heading: str) -> dict[str, list[list[str]]]:
    """Each workload's table in a backend's details: rows of cells, the header included (its
    first cell names the workload: "`crud_read` size")."""
    section = report.split(f"### {backend_heading} in detail", 1)[1].split("\n### ", 1)[0]
    found: dict[str, list[list[str]]] = {}
    current: list[list[str]] = []
    for line in [*section.splitlines(), ""]:
        if line.startswith("| ---"):
            continue
        if line.startswith("| "):
            current.append([cell.strip() for cell in line.strip().strip("|").split("|")])
            continue
        if current and current[0][0].endswith("` size"):
            found[current[0][0].split("`")[1]] = current
        current = []
    return found


def test_the_tables_say_what_the_json_says(
    quick_run: tuple[Path, subprocess.CompletedProcess[str]],
) -> None:
    out, result = quick_run
    assert result.returncode == 0, result.stderr
    report = (out / "REPORT.md").read_text()
    tables = workload_tables(report, "SQLite")
    assert sorted(tables) == ["crud_create", "parent_child_read"]
    checked = 0
    for entry in benchmarks(out):
        info = entry["extra_info"]
        timing = tables[info["workload"]]
        column = timing[0].index(f"`{info['variant']}`")
        row = next(r for r in timing[1:] if r[0] == str(info["size"]))
        median, *ratio, counts = row[column].split("<br>")
        assert median.rstrip("‡") == format_seconds(entry["stats"]["median"])
        assert median.endswith("‡") == (entry["stats"]["iqr"] > 0.25 * entry["stats"]["median"])
        if info["variant"] == "dbapi":
            assert ratio == []
        else:
            low, high = info["ratio_to_dbapi_ci95"]
            expected = f"{info['ratio_to_dbapi']:.2f}× [{low:.2f}–{high:.2f}]"
            sql_mark = " =SQL" if info["sql_vs_dbapi"] == "same SQL" else " ≠SQL"
            assert ratio == [expected + (" ≈" if low <= 1 <= high else "") + sql_mark]
        assert counts == f"{info['cursor_calls']} / {info['db_statements']} / {info['round_trips']}"
        checked += 1
    assert checked == len(benchmarks(out)) == 10
    # the variants that do not implement a workload: said once, in how to read the tables
    assert (
        "Not applicable: a variant absent from a workload's table does not implement it: " in report
    )
    assert "`orm_lazy`: only `parent_child_read`." in report


def test_the_summary_is_computed_from_the_results(
    quick_run: tuple[Path, subprocess.CompletedProcess[str]],
) -> None:
    out, _ = quick_run
    report = (out / "REPORT.md").read_text()
    # the first screen's bulk insert is crud_create at the run's reference size: the largest
    # of a quick run; its sentence quotes the ORM's ratio to dbapi as the JSON has it
    largest = max(QUICK_SIZES)
    orm = next(
        e["extra_info"]
        for e in benchmarks(out)
        if (e["extra_info"]["workload"], e["extra_info"]["variant"], e["extra_info"]["size"])
        == ("crud_create", "orm", largest)
    )
    low, high = orm["ratio_to_dbapi_ci95"]
    said = [line for line in report.splitlines() if line.startswith("- Bulk insert ")]
    assert len(said) == 1
    assert said[0].startswith(
        f"- Bulk insert (`crud_create` at size {largest}): `orm` takes "
        f"{orm['ratio_to_dbapi']:.2f}× [{low:.2f}–{high:.2f}] `dbapi`'s time here"
    )
    assert "python -m bench run --backend sqlite --workload crud_create parent_child_read" in report
    assert "Machine noise: load average" in report


def test_every_chart_is_written_non_empty_and_embedded(
    quick_run: tuple[Path, subprocess.CompletedProcess[str]],
) -> None:
    out, _ = quick_run
    report = (out / "REPORT.md").read_text()
    names = sorted(path.name for path in (out / "charts").iterdir())
    # no projection for SQLite: without a network it would repeat the median times
    assert names == [
        "sqlite-layers.png",
        "sqlite-median-time.png",
        "sqlite-scaling.png",
        "sqlite-statements.png",
    ]
    for name in names:
        content = (out / "charts" / name).read_bytes()
        assert content.startswith(PNG_SIGNATURE) and len(content) > 10_000
        assert f"](charts/{name})" in report


def test_the_report_can_be_made_again_from_the_json(
    quick_run: tuple[Path, subprocess.CompletedProcess[str]], tmp_path: Path
) -> None:
    out, _ = quick_run
    copy = tmp_path / "copy"
    copy.mkdir()
    shutil.copy(out / "benchmarks.json", copy / "benchmarks.json")
    result = bench("report", str(copy))
    assert result.returncode == 0, result.stderr
    assert (copy / "REPORT.md").read_text() == (out / "REPORT.md").read_text()
    assert len(list((copy / "charts").iterdir())) == 4
    assert (copy / "REPORT.html").read_text() == (out / "REPORT.html").read_text()
    assert sorted(p.name for p in copy.iterdir()) == [
        ".bench-files",
        "REPORT.html",
        "REPORT.md",
        "benchmarks.json",
        "charts",
    ]


def _without_fields(document: dict[str, Any]) -> dict[str, Any]:
    for entry in document["benchmarks"]:
        entry["extra_info"].pop("round_trips")
    return document


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (None, "has no benchmarks.json; run `python -m bench run --out"),
        ("{not json", "benchmarks.json is not JSON"),
        ('{"rows": []}', "is not pytest-benchmark JSON"),
        ("harness-less", "lacks the harness's fields (round_trips)"),
    ],
)
def test_bad_results_are_one_line_and_leave_the_folder_as_it_was(
    quick_run: tuple[Path, subprocess.CompletedProcess[str]],
    tmp_path: Path,
    content: str | None,
    message: str,
) -> None:
    out, _ = quick_run
    (tmp_path / "REPORT.md").write_text("an earlier report")
    if content == "harness-less":
        document = _without_fields(json.loads((out / "benchmarks.json").read_text()))
        (tmp_path / "benchmarks.json").write_text(json.dumps(document))
    elif content is not None:
        (tmp_path / "benchmarks.json").write_text(content)
    before = sorted(p.name for p in tmp_path.iterdir())
    result = bench("report", str(tmp_path))
    assert result.returncode == 2
    assert message in one_error_line(result)
    assert sorted(p.name for p in tmp_path.iterdir()) == before
    assert (tmp_path / "REPORT.md").read_text() == "an earlier report"


def _set(path: tuple[Any, ...], value: Any) -> Callable[[dict[str, Any]], dict[str, Any]]:
    def change(document: dict[str, Any]) -> dict[str, Any]:
        target: Any = document
        for key in path[:-1]:
            target = target[key]
        target[path[-1]] = value
        return document

    return change


def _duplicate_first(document: dict[str, Any]) -> dict[str, Any]:
    document["benchmarks"].append(document["benchmarks"][0])
    return document


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (_set(("harness",), "text"), "the harness section is not an object"),
        (_set(("harness", "not_applicable"), [1, 2]), "'not_applicable' is malformed"),
        (_set(("harness", "versions"), ["x"]), "'versions' is malformed"),
        (_set(("benchmarks", 0, "stats", "median"), -1.0), "has a malformed median"),
        (_set(("benchmarks", 0, "stats", "q3"), 1e-9), "has a malformed quartiles"),
        (_set(("benchmarks", 0, "extra_info", "size"), True), "has a malformed size"),
        (_set(("benchmarks", 0, "extra_info", "backend"), "../x"), "has a malformed backend"),
        (_set(("benchmarks", 0, "extra_info", "round_trips"), "3"), "malformed round_trips"),
        (_duplicate_first, "appears twice"),
    ],
)
def test_odd_results_are_refused_in_one_line(
    quick_run: tuple[Path, subprocess.CompletedProcess[str]],
    tmp_path: Path,
    change: Callable[[dict[str, Any]], dict[str, Any]],
    message: str,
) -> None:
    out, _ = quick_run
    document = change(json.loads((out / "benchmarks.json").read_text()))
    (tmp_path / "benchmarks.json").write_text(json.dumps(document))
    result = bench("report", str(tmp_path))
    assert result.returncode == 2
    assert message in one_error_line(result)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["benchmarks.json"]


def test_deeply_nested_json_is_refused(tmp_path: Path) -> None:
    (tmp_path / "benchmarks.json").write_text("[" * 100_000 + "]" * 100_000)
    result = bench("report", str(tmp_path))
    assert result.returncode == 2
    assert "is not JSON" in one_error_line(result)


def test_cells_with_no_rows_still_report(
    quick_run: tuple[Path, subprocess.CompletedProcess[str]], tmp_path: Path
) -> None:
    out, _ = quick_run
    document = json.loads((out / "benchmarks.json").read_text())
    for entry in document["benchmarks"]:
        entry["extra_info"]["rows"] = 0
    (tmp_path / "benchmarks.json").write_text(json.dumps(document))
    result = bench("report", str(tmp_path))
    assert result.returncode == 0, result.stderr


def test_a_missing_folder_is_refused(tmp_path: Path) -> None:
    result = bench("report", str(tmp_path / "nowhere"))
    assert result.returncode == 2
    assert "is not a folder" in one_error_line(result)


def test_styles_the_data_cannot_order_are_called_indistinguishable(tmp_path: Path) -> None:
    synthetic_run(
        tmp_path,
        {("crud_read", 100): {"orm": 1e-3, "orm_bulk": 6e-4, "core": 3e-4, "dbapi": 3e-4}},
        seed=7,
    )
    result = bench("report", str(tmp_path))
    assert result.returncode == 0, result.stderr
    report = (tmp_path / "REPORT.md").read_text()
    timing = workload_tables(report, "SQLite")["crud_read"]
    header, row = timing[0], timing[1]
    assert row[-1] in (
        "`dbapi` ≈ `core` < `orm_bulk` < `orm`",
        "`core` ≈ `dbapi` < `orm_bulk` < `orm`",
    )
    assert " ≈<br>" in row[header.index("`core`")]  # its ratio's interval holds 1
    assert " ≈" not in row[header.index("`orm`")]


def test_counts_that_differ_between_networked_backends_are_set_side_by_side(
    tmp_path: Path,
) -> None:
    path = synthetic_run(
        tmp_path, {("crud_create", 100): {"orm": 2e-3, "core": 1e-3, "dbapi": 5e-4}}, seed=3
    )
    document = json.loads(path.read_text())
    counts = {  # (backend, variant) -> (statements, round trips)
        ("postgres", "orm"): (3, 3),
        ("postgres", "core"): (3, 3),
        ("postgres", "dbapi"): (102, 4),
        ("mariadb", "orm"): (3, 3),
        ("mariadb", "core"): (3, 3),
        ("mariadb", "dbapi"): (2, 2),
    }
    entries = []
    for backend in ("postgres", "mariadb"):
        for entry in document["benchmarks"]:
            copy = json.loads(json.dumps(entry))
            info = copy["extra_info"]
            info["backend"] = backend
            info["db_statements"], info["round_trips"] = counts[(backend, info["variant"])]
            copy["name"] = copy["name"].replace("-sqlite-", f"-{backend}-")
            entries.append(copy)
    document["benchmarks"] += entries
    document["harness"]["networked"] = {"sqlite": False, "postgres": True, "mariadb": True}
    path.write_text(json.dumps(document))
    result = bench("report", str(tmp_path))
    assert result.returncode == 0, result.stderr
    report = (tmp_path / "REPORT.md").read_text()
    section = report.split("### Across backends", 1)[1].split("\n### ", 1)[0]
    assert "| workload | variant | PostgreSQL | MariaDB |" in section
    assert "| `crud_create` | `dbapi` | 102 / 4 | 2 / 2 |" in section
    assert "`orm`" not in section.split("Why they differ")[0]  # the same on both
    assert "- MariaDB: PyMySQL begins transactions without a BEGIN statement." in section
    assert report.index("## Details") < report.index("### Across backends")
    assert report.index("### Across backends") < report.index("### PostgreSQL in detail")


def test_sizes_left_out_of_the_default_run_are_said(tmp_path: Path) -> None:
    path = synthetic_run(
        tmp_path,
        {
            ("parent_child_read", 100): {"orm_lazy": 9e-3, "orm": 2e-3, "dbapi": 1e-3},
            ("parent_child_read", 1000): {"orm": 2e-2, "dbapi": 1e-2},
        },
        seed=5,
    )
    document = json.loads(path.read_text())
    document["harness"]["size_limits"] = {"orm_lazy": 100}
    path.write_text(json.dumps(document))
    result = bench("report", str(tmp_path))
    assert result.returncode == 0, result.stderr
    report = (tmp_path / "REPORT.md").read_text()
    assert (
        "Left out of the default sizes: `orm_lazy` above size 100 (ask with `--sizes`; — in the "
        "tables)." in report
    )
    assert report.count("Left out of the default sizes") == 1  # once for the report
    timing = workload_tables(report, "SQLite")["parent_child_read"]
    assert timing[2][timing[0].index("`orm_lazy`")] == "—"


def test_every_registered_variant_has_a_look_of_its_own() -> None:
    from implementations.registry import VARIANTS, load_variant

    looks = chart_looks.variant_colors(list(VARIANTS), Catalog.from_code())
    synchronous = [v for v in VARIANTS if load_variant(v).sync_counterpart is None]
    assert len({looks[v]["color"] for v in synchronous}) == len(synchronous)
    for variant in VARIANTS:
        # an asyncio variant wears its synchronous form's colour, hatched
        counterpart = load_variant(variant).sync_counterpart
        if counterpart is not None:
            assert looks[variant]["color"] == looks[counterpart]["color"]
            assert looks[variant]["hatch"] != looks[counterpart]["hatch"]
    bars = {(look["color"], look["hatch"]) for look in looks.values()}
    lines = {(look["color"], look["linestyle"], look["marker"]) for look in looks.values()}
    assert len(bars) == len(lines) == len(VARIANTS)


def _concurrent(variant: str, workers: int, per_second: float, client_cores: float) -> CellResult:
    """A concurrent_requests cell on PostgreSQL whose 5 rounds all took about the same."""
    median = 160 / per_second
    return CellResult(
        workload="concurrent_requests", variant=variant, backend="postgres", size=workers,
        median=median, q1=median, q3=median, rounds=5, cursor_calls=2, db_statements=4,
        round_trips=4, rows=160, durations=tuple(median * (1 + (i - 2) / 100) for i in range(5)),
        passes=tuple(range(5)), pass_count=5,
        concurrency=Concurrency(workers, 160, per_second, 1.0, 2.0, 0, 0, client_cores, 1.2, 2),
    )  # fmt: skip


def test_a_client_at_about_one_core_is_said_to_be_capped_by_its_own_cpu() -> None:
    cells = [
        # throughput flat from K=1 to K=4; the client at 0.93 of a core at K=4
        _concurrent("orm", 1, 400, 0.70),
        _concurrent("orm", 4, 405, 0.93),
        # flat too, but the client well under one core and the machine not busy
        _concurrent("core", 1, 800, 0.80),
        _concurrent("core", 4, 805, 0.78),
    ]
    results = Results(cells, "2026-01-01", {}, {"networked": {"postgres": True}})
    found = concurrency_findings(results, "postgres", "concurrent_requests", cells)
    orm = next(line for line in found if line.startswith("`orm`"))
    assert "client 0.70 → 0.93 cores" in orm and "the GIL" in orm
    assert "waited on the database" not in orm
    core = next(line for line in found if line.startswith("`core`"))
    assert "waited on the database" in core
    # each reason once, with every style it holds for
    assert sum("neither the client nor the machine was saturated" in line for line in found) == 1


def test_threads_processes_and_tasks_share_one_table() -> None:
    """With more than one kind of worker, one row per style and kind, a column per K (a kind
    that did not run at a K has —), and what capped each kind said under it."""
    kinds = {"concurrent_requests": "thread", "concurrent_processes": "process"}
    cells = [
        dataclasses.replace(
            cell,
            workload=workload,
            concurrency=dataclasses.replace(_measured(cell), workers_kind=kind),
        )
        for workload, kind in kinds.items()
        for cell in (
            _concurrent("orm", 1, 400, 0.70),
            _concurrent("orm", 4, 405, 0.95),
            _concurrent("dbapi", 1, 800, 0.50),
            *([_concurrent("dbapi", 2, 1600, 0.90)] if kind == "process" else []),
        )
    ]
    results = Results(cells, "2026-01-01", {}, {"networked": {"postgres": True}})
    section = "\n".join(concurrency_section(results, "postgres"))
    assert section.startswith("#### Concurrency: threads, processes and tasks side by side")
    assert "#### Concurrency: `" not in section  # no table per workload beside it
    assert "| style | workers | K = 1 | K = 2 | K = 4 | one unit |" in section
    assert "\n| `orm` | threads | 400/s [" in section
    assert "\n| `dbapi` | threads | 800/s [" in section and "| — | — | 2 / 4 / 4 |" in section
    assert "\n| `dbapi` | processes | 800/s [" in section
    assert "- Threads (`concurrent_requests`): `orm` (no growth past K=1; " in section
    assert "- Processes (`concurrent_processes`): " in section
    assert section.count("No unit was refused for a lock") == 1


def _measured(cell: CellResult) -> Concurrency:
    assert cell.concurrency is not None
    return cell.concurrency


def test_the_calibration_figure_says_whether_it_is_a_worry() -> None:
    def harness(spread: float) -> dict[str, Any]:
        loop = {"median_s": 2e-3, "iqr_s": spread * 2e-3}
        state = {"load_average": [0.5, 0.5, 0.5], "calibration": loop}
        return {"noise": {"start": state, "end": state}}

    assert "(interquartile range 3% of it)" in noise_lines(harness(0.03))[0]
    assert "steady: a cell counts as noisy past 25%" in noise_lines(harness(0.03))[0]
    noisy = noise_lines(harness(0.79))[0]
    assert "(interquartile range 79% of it)" in noisy
    assert "noisy: past the 25% at which a cell counts as noisy" in noisy
