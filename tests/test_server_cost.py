"""The report's "what the server did" section: its tables and ratios say what the JSON says,
the styles that make the server read more rows are named with how they do it, and a backend
without an account of the work is n/a with the reason."""

from __future__ import annotations

import json
from pathlib import Path

from bench.backends import backend_type
from bench.report.document import render_report
from bench.results.load import load_results

from synthetic import synthetic_run

#: made-up server figures: (rows read, rows written, blocks, WAL bytes) and the variant's words
FIGURES = {
    ("parent_child_append", "orm"): ((80, 20, 259, 8664), "load the users with their posts"),
    ("parent_child_append", "core"): ((20, 20, 270, 8664), "one executemany"),
    ("parent_child_append", "dbapi"): ((20, 20, 290, 8664), "one executemany"),
    ("crud_create", "orm"): ((0, 10, 60, 2544), "Session.add_all"),
    ("crud_create", "core"): ((0, 10, 60, 2544), "insert()"),
    ("crud_create", "dbapi"): ((0, 10, 60, 2544), "executemany"),
}


def section(report: str, title: str) -> str:
    backend = report.split(f"## {title}", 1)[1].split("\n## ", 1)[0]
    return backend.split("### What the server did", 1)[1].split("\n### ", 1)[0]


def table_rows(text: str, after: str) -> dict[str, list[str]]:
    """The rows of the first table after ``after``, by their first cell."""
    rows = {}
    for line in text.split(after, 1)[1].strip().splitlines():
        if not line.startswith("|"):
            break
        cells = [cell.strip() for cell in line.strip().strip("|").split("|")]
        rows[cells[0]] = cells[1:]
    return rows


def made_up_run(folder: Path, backend: str) -> Path:
    medians = {
        (workload, 100): {"orm": 2e-3, "core": 1.5e-3, "dbapi": 1e-3}
        for workload in ("crud_create", "parent_child_append")
    }
    path = synthetic_run(folder, medians, seed=3)
    document = json.loads(path.read_text())
    for entry in document["benchmarks"]:
        info = entry["extra_info"]
        info["backend"] = backend
        (read, written, blocks, wal), how = FIGURES[(info["workload"], info["variant"])]
        if backend_type(backend).counts_server_work:
            info.update(server_rows_read=read, server_rows_written=written, server_blocks=blocks)
            info["wal_bytes"] = wal
        info["how"] = how
    document["harness"]["networked"] = {backend: backend_type(backend).networked}
    path.write_text(json.dumps(document))
    return folder


def test_the_server_section_says_what_the_json_says(tmp_path: Path) -> None:
    report = render_report(load_results(made_up_run(tmp_path, "postgres")), [])
    text = section(report, "PostgreSQL")
    figures = table_rows(text, "WAL) bytes.")
    assert figures["workload"] == ["`orm`", "`core`", "`dbapi`"]
    assert figures["`parent_child_append`"] == [
        "80 / 20 / 259 / 8664",
        "20 / 20 / 270 / 8664",
        "20 / 20 / 290 / 8664",
    ]
    ratios = table_rows(text, "read smaller differences as noise.")
    # per row: (80 + 20) / (20 + 20); per page: 259 / 290
    assert ratios["`parent_child_append`"] == ["2.50× / 0.89×", "1.00× / 0.93×", "1.00× / 1.00×"]
    assert ratios["`crud_create`"] == ["1.00× / 1.00×"] * 3
    differences = text.split("differently:", 1)[1]
    assert (
        "`parent_child_append` at size 100: `orm` reads 80 rows (4.0×), where `core` and "
        "`dbapi` read 20. How: `orm`: load the users with their posts." in differences
    )
    assert "crud_create" not in differences  # every style reads and writes the same rows
    for note in backend_type("postgres").server_work_notes:
        assert note in text


def test_a_backend_without_an_account_of_the_work_is_na_with_the_reason(tmp_path: Path) -> None:
    report = render_report(load_results(made_up_run(tmp_path, "sqlite")), [])
    text = section(report, "SQLite")
    reason = backend_type("sqlite").server_work_notes[0]
    assert text.strip() == reason + "."
    assert reason.startswith("n/a: ")
