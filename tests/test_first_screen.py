"""The report's first screen: per backend a decision table whose cells say what the JSON says
(the median, the time at 1 ms per round trip, projected or measured through the delay proxy and
marked which, the ratio to dbapi with its interval, the round trips), the glossary after it with
every variant and workload of the run, the durability caveat from the run's servers entry, and
the published reference report's length and layout."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest

from bench.report.document import render_report
from bench.report.markdown import markdown_text
from bench.results.load import load_results

from helpers import REFERENCE, reference_run
from synthetic import synthetic_run

#: a decision table's entry: [variant] median · [time at 1 ms and its mark] · [ratio] · rt
ENTRY = re.compile(
    r"(?:`(?P<variant>\w+)` )?(?P<ms>[\d.]+) ms"
    r"(?: · (?P<at_rtt>[\d.]+) ms@1ms(?P<mark>[*†]))?"
    r"(?: · (?P<ratio>[\d.]+)× \[(?P<low>[\d.]+)–(?P<high>[\d.]+)\](?P<alike> ≈)?)?"
    r" · (?P<rt>\d+) rt"
)
#: a row's label ends with its workload and size
LABEL = re.compile(r"\(`(?P<workload>\w+)`, (?P<size>\d+)\)$")


def cells(line: str) -> list[str]:
    return [cell.strip() for cell in line.strip().strip("|").split("|")]


def decision_tables(report: str) -> dict[str, tuple[int, list[list[str]]]]:
    """Each first-screen backend's table (before the glossary): the line its header is on,
    and its rows, the header first."""
    lines = report.split("\n")
    found: dict[str, tuple[int, list[list[str]]]] = {}
    title = None
    for index, line in enumerate(lines):
        if line == "## Glossary":
            break
        if line.startswith("## "):
            title = line[3:]
        elif title and line.startswith("| question") and title not in found:
            rows = [cells(line)]
            for row in lines[index + 2 :]:
                if not row.startswith("| "):
                    break
                rows.append(cells(row))
            found[title] = (index, rows)
    return found


def direct_entries(document: dict[str, Any]) -> dict[tuple[str, str, str, int], dict[str, Any]]:
    return {
        (info["workload"], info["variant"], info["backend"], info["size"]): entry
        for entry in document["benchmarks"]
        if not (info := entry["extra_info"]).get("proxied")
    }


def column_variant(header: str, entry: re.Match[str]) -> str:
    """The variant an entry shows: named in it, else in its column's header."""
    if entry["variant"]:
        return entry["variant"]
    named = re.search(r"`(\w+)`", header)
    assert named is not None, header
    return named[1]


def test_the_decision_tables_say_what_the_json_says(tmp_path: Path) -> None:
    run = reference_run(tmp_path)
    report = render_report(load_results(run), [])
    document = json.loads((run / "benchmarks.json").read_text())
    entries = direct_entries(document)
    catalog = document["harness"]["catalog"]
    backends = {facts["title"]: name for name, facts in catalog["backends"].items()}
    tables = decision_tables(report)
    # the backends with a network first: PostgreSQL, MariaDB, then SQLite
    assert list(tables) == ["PostgreSQL", "MariaDB", "SQLite"]
    checked = 0
    for title, (_, rows) in tables.items():
        backend = backends[title]
        networked = document["harness"]["networked"][backend]
        header = rows[0]
        for row in rows[1:]:
            label = LABEL.search(row[0])
            assert label is not None, row[0]
            workload, size = label["workload"], int(label["size"])
            for column, text in zip(header[1:], row[1:], strict=True):
                entry = ENTRY.fullmatch(text)
                assert entry is not None, text
                variant = column_variant(column, entry)
                cell = entries[(workload, variant, backend, size)]
                median, info = cell["stats"]["median"], cell["extra_info"]
                assert float(entry["ms"]) == pytest.approx(median * 1e3, rel=5e-3)
                assert int(entry["rt"]) == info["round_trips"]
                if networked:
                    # no cell of the reference ran through the proxy: every one is projected
                    assert entry["mark"] == "*"
                    projected = median + info["round_trips"] * 1e-3
                    assert float(entry["at_rtt"]) == pytest.approx(projected * 1e3, rel=5e-3)
                else:
                    assert entry["at_rtt"] is None
                if variant == "dbapi":
                    assert entry["ratio"] is None
                else:
                    low, high = info["ratio_to_dbapi_ci95"]
                    assert entry["ratio"] == f"{info['ratio_to_dbapi']:.2f}"
                    assert (entry["low"], entry["high"]) == (f"{low:.2f}", f"{high:.2f}")
                    assert bool(entry["alike"]) == (low <= 1 <= high)
                checked += 1
    # PostgreSQL's six styles, MariaDB's and SQLite's four, five questions each
    assert checked == 5 * (6 + 4 + 4)
    # a style a backend lacks is left out of its table
    assert "`asyncpg`" in tables["PostgreSQL"][1][0]
    assert "`asyncpg`" not in tables["MariaDB"][1][0]


def test_the_reference_report_decides_on_its_first_screen() -> None:
    lines = (REFERENCE / "REPORT.md").read_text().splitlines()
    # half of the 1022 it had before its first screen, and since then, in its details, where
    # the time goes (about 20 lines a backend) and the kinds of worker side by side (about 10)
    assert len(lines) <= 600
    headings = [line for line in lines if line.startswith("## ")]
    assert headings[0] == "## PostgreSQL"
    start = lines.index("## PostgreSQL")
    table = [i for i in range(start, len(lines)) if lines[i].startswith("| ")]
    end = next(i for i in range(table[0], len(lines)) if not lines[i].startswith("| "))
    assert end <= 40  # the whole table, with its five questions, in the first 40 lines
    assert end - table[0] == 2 + 5
    assert all(re.search(r"\d× \[[\d.]+–[\d.]+\]", lines[i]) for i in range(table[0] + 2, end))
    assert 40 <= lines.index("## Glossary") < 80


def test_the_glossary_names_every_variant_and_workload_of_the_run(tmp_path: Path) -> None:
    run = reference_run(tmp_path)
    results = load_results(run)
    report = render_report(results, [])
    glossary = report.split("## Glossary\n", 1)[1].split("\n## ", 1)[0]
    rows = {
        cells(line)[0]: cells(line)[1]
        for line in glossary.split("\n")
        if line.startswith("| ") and not line.startswith(("| term", "| ---"))
    }
    document = json.loads((run / "benchmarks.json").read_text())
    catalog = document["harness"]["catalog"]
    variants = {entry["extra_info"]["variant"] for entry in document["benchmarks"]}
    workloads = {entry["extra_info"]["workload"] for entry in document["benchmarks"]}
    for variant in variants:
        label = markdown_text(catalog["variants"][variant]["label"])
        assert rows[f"`{variant}`"] == f"variant: {label}"
    for workload in workloads:
        description = markdown_text(catalog["workloads"][workload]["description"])
        assert rows[f"`{workload}`"] == f"workload: {description}"
    for term in ("size", "round trip (rt)", "N+1", "lazy loading", "AsyncSession"):
        assert term in rows
    assert "`connect_read_one`" in rows["size"].split("always 1")[1]
    assert "`concurrent_requests`" in rows["size"].split("K, the workers")[1]
    assert len(rows) == len(variants) + len(workloads) + 5


# --- a run on a networked backend, some of it measured through the delay proxy ---------------

MEDIANS = {("crud_create", 100): {"orm": 4e-3, "core": 2e-3, "dbapi": 1e-3}}
#: what the delay added to every round of the cells measured at 1 ms
DELAY_S = 5e-3


def networked_run(folder: Path, measured: tuple[str, ...], servers: dict[str, Any]) -> Path:
    """A synthetic PostgreSQL run of ``crud_create`` at size 100; the variants ``measured`` ran
    again through the delay proxy at 1 ms, each round :data:`DELAY_S` slower."""
    path = synthetic_run(folder, MEDIANS, seed=9)
    document = json.loads(path.read_text())
    copies = []
    for entry in document["benchmarks"]:
        entry["extra_info"]["backend"] = "postgres"
        entry["name"] = entry["name"].replace("-sqlite-", "-postgres-")
        if entry["extra_info"]["variant"] not in measured:
            continue
        copy = json.loads(json.dumps(entry))
        copy["name"] += "+1ms"
        copy["extra_info"].update(proxied=True, rtt_ms=1)
        # compared with each other, not with the direct cells
        for key in ("ratio_to_dbapi", "ratio_to_dbapi_ci95"):
            copy["extra_info"].pop(key, None)
        stats = copy["stats"]
        stats["data"] = [value + DELAY_S for value in stats["data"]]
        for key in ("median", "q1", "q3", "min", "max", "mean"):
            stats[key] += DELAY_S
        copies.append(copy)
    document["benchmarks"] += copies
    document["harness"].update(networked={"postgres": True}, servers={"postgres": servers})
    path.write_text(json.dumps(document))
    return folder


def bulk_insert_row(report: str) -> dict[str, re.Match[str]]:
    (_, rows) = decision_tables(report)["PostgreSQL"]
    header, row = rows[0], next(r for r in rows[1:] if "`crud_create`" in r[0])
    found = {}
    for column, text in zip(header[1:], row[1:], strict=True):
        if text != "—":
            entry = ENTRY.fullmatch(text)
            assert entry is not None, text
            found[column_variant(column, entry)] = entry
    return found


def test_a_time_measured_through_the_delay_proxy_is_marked_measured(tmp_path: Path) -> None:
    results = load_results(networked_run(tmp_path, ("dbapi", "orm"), {"fsync": "off"}))
    report = render_report(results, [])
    row = bulk_insert_row(report)
    direct = {c.variant: c for c in results.cells}
    for variant in ("dbapi", "orm"):  # measured: the median through the proxy at 1 ms
        assert row[variant]["mark"] == "†"
        measured = direct[variant].median + DELAY_S
        assert float(row[variant]["at_rtt"]) == pytest.approx(measured * 1e3, rel=5e-3)
    # core was not measured: median + 3 round trips x 1 ms
    assert row["core"]["mark"] == "*"
    projected = direct["core"].median + direct["core"].round_trips * 1e-3
    assert float(row["core"]["at_rtt"]) == pytest.approx(projected * 1e3, rel=5e-3)
    assert "† measured through a delay proxy" in report
    assert "; this run did on PostgreSQL (†)." in report
    # the finding compares the two measurements where both ran through the proxy
    ratio = (direct["orm"].median + DELAY_S) / (direct["dbapi"].median + DELAY_S)
    finding = next(line for line in report.split("\n") if line.startswith("- Bulk insert"))
    assert f", {ratio:.2f}× [" in finding and "at 1 ms per round trip (measured)" in finding


def test_without_measurements_every_time_at_one_ms_is_projected(tmp_path: Path) -> None:
    results = load_results(networked_run(tmp_path, (), {"fsync": "off"}))
    report = render_report(results, [])
    assert {entry["mark"] for entry in bulk_insert_row(report).values()} == {"*"}
    assert "†" not in report
    finding = next(line for line in report.split("\n") if line.startswith("- Bulk insert"))
    assert "at 1 ms per round trip (projected)" in finding


def durability(report: str) -> str:
    return next(line for line in report.split("\n") if line.startswith("Caveat, durability"))


def test_the_durability_caveat_adds_what_a_durable_commit_costs(tmp_path: Path) -> None:
    servers = {
        "fsync": "off",
        "synchronous_commit": "off",
        "commit_ms": "0.050",
        "durable_commit_ms": "2.350",
    }
    caveat = durability(render_report(load_results(networked_run(tmp_path, (), servers)), []))
    assert caveat.startswith(
        "Caveat, durability: the server ran with `fsync` off, `synchronous_commit` off: a commit "
        "does not wait for the disk"
    )
    assert (
        "One small commit took 0.05 ms as the server ran and 2.35 ms with durable settings: add "
        "about 2.3 ms to every unit of work that writes (bulk insert)." in caveat
    )


def test_a_durable_cost_not_measured_is_said_so(tmp_path: Path) -> None:
    servers = {"fsync": "on", "synchronous_commit": "on"}
    caveat = durability(render_report(load_results(networked_run(tmp_path, (), servers)), []))
    assert caveat == (
        "Caveat, durability: the server ran with `fsync` on, `synchronous_commit` on. What a "
        "durable commit adds was not measured in this run."
    )


def test_a_run_without_the_n_plus_1_size_asks_at_the_next_size_it_has(tmp_path: Path) -> None:
    """`--quick` runs sizes 1 and 50: the N+1 question (a page of 10) is answered at 50, where
    the pattern still shows, rather than left out or read at 1, where it would not."""
    run = reference_run(tmp_path)
    document = json.loads((run / "benchmarks.json").read_text())
    document["benchmarks"] = [
        entry for entry in document["benchmarks"] if entry["extra_info"]["size"] != 10
    ]
    (run / "benchmarks.json").write_text(json.dumps(document))
    report = render_report(load_results(run), [])
    _, rows = decision_tables(report)["PostgreSQL"]
    sizes = {
        label["workload"] + ":" + row[0].split(" (")[0]: int(label["size"])
        for row in rows[1:]
        if (label := LABEL.search(row[0])) is not None
    }
    assert sizes["parent_child_read:N+1: a page of objects with children"] == 100
    assert sizes["parent_child_read:an object with its children"] == 1
