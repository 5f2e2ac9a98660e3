"""A cell's record is declared once (bench/results/record.py): what a run writes is checked
against it, results are loaded through it, and the documentation's table is generated from it."""

from __future__ import annotations

import copy
import json
import subprocess
from pathlib import Path
from typing import Any

import pytest

from bench.measure.counting import ClientCall, Observation
from bench.results.load import load_results
from bench.results.model import ReportError
from bench.results.record import (
    DECLARED,
    FIELDS,
    NAME,
    REQUIRED_FIELDS,
    TEXT,
    Field,
    RecordError,
    check_record,
    markdown_table,
)

ROOT = Path(__file__).parent.parent
REFERENCE = ROOT / "results" / "reference" / "benchmarks.json"
MEASURES_DOC = ROOT / "docs" / "measures.md"


def _cells(path: Path) -> list[dict[str, Any]]:
    return [entry["extra_info"] for entry in json.loads(path.read_text())["benchmarks"]]


def test_what_a_run_writes_is_the_declared_record(
    quick_run: tuple[Path, subprocess.CompletedProcess[str]],
) -> None:
    folder, result = quick_run
    assert result.returncode == 0, result.stderr
    cells = _cells(folder / "benchmarks.json")
    for info in cells:
        check_record(info)
    written = {name for info in cells for name in info}
    # the quick run covers the cell, counts, comparison and timing families
    assert {"steady_loop", "ratio_to_dbapi_ci95", "sql_vs_dbapi", "round_passes"} <= written
    assert all("sql_sent" in info for info in cells)


def test_the_published_reference_is_the_declared_record() -> None:
    cells = _cells(REFERENCE)
    for info in cells:
        check_record(info)
    written = {name for info in cells for name in info}
    # every family but the newest fields has a cell in the reference run
    assert {"units_per_second", "ratio_to_sync", "wal_bytes", "protocol_messages"} <= written


def test_an_undeclared_field_is_refused_by_the_writer() -> None:
    info = copy.deepcopy(_cells(REFERENCE)[0])
    info["a_new_measure"] = 3
    with pytest.raises(RecordError, match="'a_new_measure' is not declared"):
        check_record(info)


@pytest.mark.parametrize("name", REQUIRED_FIELDS)
def test_a_required_field_missing_is_refused_by_the_writer(name: str) -> None:
    info = copy.deepcopy(_cells(REFERENCE)[0])
    del info[name]
    with pytest.raises(RecordError, match=f"lacks the required field '{name}'"):
        check_record(info)


def _wrong_value(declared: Field) -> Any:
    """A value of the wrong type for the field (a string is right for text and wrong for
    every other kind; a name must not hold spaces or capitals)."""
    return 3 if declared.kind is TEXT else "Not a name!"


@pytest.mark.parametrize("declared", FIELDS, ids=lambda f: f.name)
def test_each_field_s_declaration_checks_what_is_written(declared: Field) -> None:
    info = copy.deepcopy(_cells(REFERENCE)[0])
    info[declared.name] = _wrong_value(declared)
    with pytest.raises(RecordError, match=f"field '{declared.name}' holds"):
        check_record(info)


@pytest.mark.parametrize("declared", FIELDS, ids=lambda f: f.name)
def test_each_field_is_loaded_through_its_declaration(declared: Field, tmp_path: Path) -> None:
    """A value of the wrong type in any declared field is refused in one line that names it."""
    document = json.loads(REFERENCE.read_text())
    document["benchmarks"] = document["benchmarks"][:3]
    document["benchmarks"][0]["extra_info"][declared.name] = _wrong_value(declared)
    (tmp_path / "benchmarks.json").write_text(json.dumps(document))
    with pytest.raises(ReportError) as caught:
        load_results(tmp_path)
    message = str(caught.value)
    assert f"has a malformed {declared.quoted}" in message
    assert "\n" not in message


def test_the_names_are_checked_as_names() -> None:
    assert all(DECLARED[name].kind is NAME for name in ("workload", "variant", "backend"))


def test_the_documented_table_is_the_declaration() -> None:
    text = MEASURES_DOC.read_text()
    start = text.index("<!-- generated from bench/results/record.py")
    start = text.index("\n", start) + 1
    end = text.index("<!-- end of the generated table -->")
    assert text[start:end] == markdown_table(), (
        "docs/measures.md's table of fields differs from bench/results/record.py: "
        "paste the output of `python -m bench.results.record` between its markers"
    )
    # one row per meaning, each field in exactly one row
    rows = markdown_table().splitlines()[2:]
    named = [name.strip(" `") for row in rows for name in row.split(" | ")[1].split(",")]
    assert sorted(named) == sorted(DECLARED)


def test_the_sql_sent_is_its_distinct_statements_in_order_with_their_calls() -> None:
    insert = "INSERT INTO t (a, b) VALUES (?, ?)"
    calls = [
        ClientCall("SELECT a\n  FROM t WHERE id = ?", 1, 1, False),
        ClientCall(insert, 3, 2, True),
        ClientCall("SELECT a FROM t WHERE id = ?", 1, 1, False),
        ClientCall(insert, 2, 2, True),
        ClientCall(insert, 1, 2, False),
        *(ClientCall(f"UPDATE t SET a = ? WHERE id = {n}", 1, 1, False) for n in range(3)),
    ]
    sent = Observation(client_calls=calls).sql_sent(kept=4)
    assert sent == {
        "statements": [
            # one line, as `python -m bench statements` prints it; no parameter values
            {"sql": "SELECT a FROM t WHERE id = ?", "calls": 2, "executemany": False},
            {"sql": insert, "calls": 2, "executemany": True, "parameter_sets": 5},
            {"sql": insert, "calls": 1, "executemany": False},
            {"sql": "UPDATE t SET a = ? WHERE id = 0", "calls": 1, "executemany": False},
        ],
        "left_out": 2,
        "left_out_calls": 2,
    }
    check_record({**_cells(REFERENCE)[0], "sql_sent": sent})
    assert Observation(client_calls=calls).measures()["sql_sent"]["left_out"] == 0
