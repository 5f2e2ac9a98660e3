"""The report's "what the server did" section: its tables and ratios say what the JSON says,
the styles that make the server read more rows are named with how they do it, and a backend
without an account of the work is n/a with the reason."""

from __future__ import annotations

import json
from pathlib import Path

from bench.backends import backend_type
from bench.report.document import render_report
from bench.report.server_cost import PLAN_NOTE
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
    backend = report.split(f"### {title} in detail", 1)[1].split("\n### ", 1)[0]
    return backend.split("#### What the server did", 1)[1].split("\n#### ", 1)[0]


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
    # each entry: rows read / written / blocks / WAL bytes, under it the two billing models'
    # ratios to dbapi
    rows = table_rows(text, "read smaller differences as noise.")
    assert rows["workload"] == ["`orm`", "`core`", "`dbapi`"]
    # per row: (80 + 20) / (20 + 20); per page: 259 / 290
    assert rows["`parent_child_append`"] == [
        "80 / 20 / 259 / 8664<br>2.50× / 0.89×",
        "20 / 20 / 270 / 8664<br>1.00× / 0.93×",
        "20 / 20 / 290 / 8664<br>1.00× / 1.00×",
    ]
    assert [entry.split("<br>")[1] for entry in rows["`crud_create`"]] == ["1.00× / 1.00×"] * 3
    differences = text.split("differently:", 1)[1]
    assert (
        "`parent_child_append` at size 100, rows read: 20 by `core` and `dbapi`; 80 by `orm`. "
        "Why: `orm`: load the users with their posts." in differences
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


def test_styles_that_send_the_same_sql_differ_by_the_plan_at_their_own_size(
    tmp_path: Path,
) -> None:
    medians = {
        ("connect_read_one", 1): {"orm": 2e-3, "core": 1.5e-3, "dbapi": 1e-3},
        ("crud_create", 100): {"orm": 2e-3, "core": 1.5e-3, "dbapi": 1e-3},
    }
    path = synthetic_run(tmp_path, medians, seed=4)
    document = json.loads(path.read_text())
    read = {"orm": 1, "core": 10, "dbapi": 10}  # the ORM's Session.get found its row by index
    for entry in document["benchmarks"]:
        info = entry["extra_info"]
        info["backend"] = "postgres"
        rows = read[info["variant"]] if info["workload"] == "connect_read_one" else 0
        info.update(server_rows_read=rows, server_rows_written=0, server_blocks=1, wal_bytes=0)
        if info["variant"] != "dbapi":
            info["sql_vs_dbapi"] = "same SQL"
    document["harness"]["networked"] = {"postgres": True}
    path.write_text(json.dumps(document))
    report = render_report(load_results(tmp_path), [])
    # connect_read_one runs at size 1 whatever the reference size (100 here) is
    assert (
        "- `connect_read_one` at size 1, rows read: 1 by `orm`; 10 by `core` and `dbapi`. Why: "
        "the same SQL as `dbapi`, planned otherwise by the server." in section(report, "PostgreSQL")
    )
    # why the plan shows in rows read: once, in how to read the tables
    assert report.count(PLAN_NOTE) == 1
