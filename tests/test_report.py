"""The report: its tables say what the JSON says, its charts are written, and bad input is
refused without touching what is there."""

from __future__ import annotations

import json
import shutil
import subprocess
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from bench.measure.sizes import QUICK_SIZES
from bench.report import chart_looks, charts
from bench.report.text import plural
from bench.results.catalog import Catalog
from bench.results.load import load_results
from bench.results.model import CellResult, Heading, format_seconds, variants_of

from helpers import bench, one_error_line
from synthetic import synthetic_run

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def workload_tables(report: str, backend_heading: str) -> dict[str, list[list[list[str]]]]:
    """Each workload's tables in a backend's section: rows of cells, headers included."""
    section = report.split(f"## {backend_heading}", 1)[1].split("\n## ", 1)[0]
    found = {}
    for part in section.split("#### `")[1:]:
        workload, body = part.split("`", 1)
        tables: list[list[list[str]]] = []
        current: list[list[str]] = []
        for line in body.splitlines():
            if line.startswith("| ---"):
                continue
            if line.startswith("| "):
                current.append([cell.strip() for cell in line.strip().strip("|").split("|")])
            elif current:
                tables.append(current)
                current = []
        if current:
            tables.append(current)
        found[workload] = tables
    return found


def benchmarks(folder: Path) -> list[dict[str, Any]]:
    document = json.loads((folder / "benchmarks.json").read_text())
    entries: list[dict[str, Any]] = document["benchmarks"]
    return entries


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
        timing, counts = tables[info["workload"]]
        column = timing[0].index(f"`{info['variant']}`")
        assert counts[0].index(f"`{info['variant']}`") == column
        timing_row = next(r for r in timing[1:] if r[0] == str(info["size"]))
        count_row = next(r for r in counts[1:] if r[0] == str(info["size"]))
        median, _, ratio = timing_row[column].partition("<br>")
        assert median.rstrip("‡") == format_seconds(entry["stats"]["median"])
        assert median.endswith("‡") == (entry["stats"]["iqr"] > 0.25 * entry["stats"]["median"])
        if info["variant"] == "dbapi":
            assert ratio == ""
        else:
            low, high = info["ratio_to_dbapi_ci95"]
            expected = f"{info['ratio_to_dbapi']:.2f}× [{low:.2f}–{high:.2f}]"
            sql_mark = " =SQL" if info["sql_vs_dbapi"] == "same SQL" else " ≠SQL"
            assert ratio == expected + (" ≈" if low <= 1 <= high else "") + sql_mark
        assert count_row[column] == (
            f"{info['cursor_calls']} / {info['db_statements']} / {info['round_trips']}"
        )
        checked += 1
    assert checked == len(benchmarks(out)) == 10
    # the variants that do not implement a workload: one line under its tables
    assert "Not applicable: `orm_lazy`." in report.split("#### `crud_create`")[1]


def test_the_summary_is_computed_from_the_results(
    quick_run: tuple[Path, subprocess.CompletedProcess[str]],
) -> None:
    out, _ = quick_run
    report = (out / "REPORT.md").read_text()
    # the summary quotes the largest size of a quick run
    largest = max(QUICK_SIZES)
    at_largest = [e for e in benchmarks(out) if e["extra_info"]["size"] == largest]
    for workload in ("crud_create", "parent_child_read"):
        cells = [e for e in at_largest if e["extra_info"]["workload"] == workload]
        fastest = min(cells, key=lambda e: e["stats"]["median"])
        said = [
            line
            for line in report.splitlines()
            if line.startswith(f"- `{workload}` at size {largest}: ") and "fastest" in line
        ]
        assert len(said) == 1
        median = format_seconds(fastest["stats"]["median"])
        assert f"`{fastest['extra_info']['variant']}` ({median}" in said[0]
    assert "python -m bench run --backend sqlite --workload crud_create parent_child_read" in report
    assert "Machine noise: load average" in report


def test_every_chart_is_written_non_empty_and_embedded(
    quick_run: tuple[Path, subprocess.CompletedProcess[str]],
) -> None:
    out, _ = quick_run
    report = (out / "REPORT.md").read_text()
    names = sorted(path.name for path in (out / "charts").iterdir())
    # no projection for SQLite: without a network it would repeat the median times
    assert names == ["sqlite-median-time.png", "sqlite-scaling.png", "sqlite-statements.png"]
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
    assert len(list((copy / "charts").iterdir())) == 3
    assert sorted(p.name for p in copy.iterdir()) == [
        ".bench-files",
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
    timing = workload_tables(report, "SQLite")["crud_read"][0]
    header, row = timing[0], timing[1]
    assert row[-1] in (
        "`dbapi` ≈ `core` < `orm_bulk` < `orm`",
        "`core` ≈ `dbapi` < `orm_bulk` < `orm`",
    )
    assert row[header.index("`core`")].endswith(" ≈")  # its ratio's interval holds 1
    assert not row[header.index("`orm`")].endswith(" ≈")
    assert "`crud_read` at size 100: no single fastest style on this machine" in report
    assert "are indistinguishable" in report


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
    section = report.split("## Across backends", 1)[1].split("\n## ", 1)[0]
    assert "| workload | variant | PostgreSQL | MariaDB |" in section
    assert "| `crud_create` | `dbapi` | 102 / 4 | 2 / 2 |" in section
    assert "`orm`" not in section.split("Why they differ")[0]  # the same on both
    assert "- MariaDB: PyMySQL begins transactions without a BEGIN statement." in section
    assert report.index("## Across backends") < report.index("## SQLite")


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
        "Left out of the default sizes: `orm_lazy` above size 100 (ask with `--sizes`)." in report
    )
    timing = workload_tables(report, "SQLite")["parent_child_read"][0]
    assert timing[2][timing[0].index("`orm_lazy`")] == "—"


def _cells_for_charts(tmp_path: Path) -> list[CellResult]:
    """Cells of two workloads over two sizes, and of connect_read_one (one size only)."""
    path = synthetic_run(
        tmp_path,
        {
            ("crud_read", 1): {"orm": 1e-3, "core": 6e-4, "dbapi": 3e-4},
            ("crud_read", 100): {"orm": 5e-3, "core": 3e-3, "dbapi": 1e-3},
            ("parent_child_read", 100): {"orm_lazy": 9e-2, "orm": 2e-2, "dbapi": 1e-2},
            ("connect_read_one", 1): {"engine_per_use": 9e-3, "nullpool": 2e-3, "dbapi": 1e-4},
        },
        seed=11,
    )
    document = json.loads(path.read_text())
    for entry in document["benchmarks"]:
        info = entry["extra_info"]
        info["round_trips"] = {"orm_lazy": 103, "orm": 1}.get(info["variant"], 2)
    path.write_text(json.dumps(document))
    return load_results(tmp_path).cells


def _legend_labels(figure: Any) -> list[str]:
    return [text.get_text() for text in figure.legends[0].get_texts()]


def _panel_labels(axes: Any) -> list[str]:
    return [text.get_text() for text in axes.get_legend().get_texts()]


def test_a_legend_lists_only_the_variants_drawn(tmp_path: Path) -> None:
    cells = _cells_for_charts(tmp_path)
    colors = chart_looks.variant_colors(variants_of(cells), Catalog.from_code())
    heading = Heading("postgres", "PostgreSQL", networked=True)
    # connect_read_one runs at one size: no line in the scaling chart, so not in its legend
    figure = charts.scaling(cells, colors, heading)
    assert figure is not None
    assert _legend_labels(figure) == ["orm", "core", "dbapi"]
    projected = charts.projection(cells, colors, heading)
    assert projected is not None
    # connect_read_one is not projected: its variants stay out of that legend too
    assert _legend_labels(projected) == ["orm", "orm_lazy", "core", "dbapi"]


def test_labels_count_one_round_trip_in_the_singular(tmp_path: Path) -> None:
    assert plural(1, "round trip") == "1 round trip"
    assert plural(2, "round trip") == "2 round trips"
    cells = _cells_for_charts(tmp_path)
    figure = charts.projection(
        cells,
        chart_looks.variant_colors(variants_of(cells), Catalog.from_code()),
        Heading("p", "P", networked=True),
    )
    assert figure is not None
    labels = [label for axes in figure.axes for label in _panel_labels(axes)]
    assert "orm: 1 round trip" in labels and "dbapi: 2 round trips" in labels
    assert not any(label.endswith(" 1 round trips") for label in labels)


def test_many_round_trips_get_a_panel_of_their_own(tmp_path: Path) -> None:
    cells = _cells_for_charts(tmp_path)
    figure = charts.projection(
        cells,
        chart_looks.variant_colors(variants_of(cells), Catalog.from_code()),
        Heading("p", "P", networked=True),
    )
    assert figure is not None
    panels = {axes.get_title(): axes for axes in figure.axes}
    main = _panel_labels(panels["parent_child_read"])
    assert main == ["orm: 1 round trip", "dbapi: 2 round trips"]  # orm_lazy left out
    own = _panel_labels(panels["parent_child_read: many round trips"])
    assert "orm_lazy: 103 round trips" in own
    assert "crud_read: many round trips" not in panels


def test_without_a_network_there_is_no_projection_and_no_round_trip_panel(tmp_path: Path) -> None:
    cells = _cells_for_charts(tmp_path)
    colors = chart_looks.variant_colors(variants_of(cells), Catalog.from_code())
    heading = Heading("sqlite", "SQLite", networked=False)
    assert charts.projection(cells, colors, heading) is None
    figure = charts.statements(cells, colors, heading)
    assert figure is not None
    assert [axes.get_ylabel().split("\n")[0] for axes in figure.axes] == [
        "cursor calls (client side)",
        "statements the database ran",
    ]


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
