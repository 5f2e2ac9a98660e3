"""REPORT.html as a file: a run and a report write it, it holds everything it shows (no address
to fetch anything from, a Content-Security-Policy that allows nothing else), and its figures
are the report's own. What it does in a browser: tests/test_report_html.py."""

from __future__ import annotations

import json
import re
import subprocess
from pathlib import Path
from typing import Any

import pytest

from bench.report.page import RTT_STOPS_MS, page_data, render_page
from bench.results.load import load_results
from bench.results.model import Results, compare_cells
from bench.results.output_folder import MANIFEST, REPORT_PAGE
from bench.results.statistics import Sample, ratio_interval, shifted_ratio_intervals

ROOT = Path(__file__).parent.parent
REFERENCE = ROOT / "results" / "reference"
VENDOR = ROOT / "bench" / "report" / "vendor"


@pytest.fixture(scope="module")
def reference() -> Results:
    return load_results(REFERENCE)


@pytest.fixture(scope="module")
def reference_page(reference: Results) -> str:
    return render_page(reference)


def embedded(page: str) -> dict[str, Any]:
    match = re.search(r'<script id="bench-data" type="application/json">(.*?)</script>', page)
    assert match is not None
    data: dict[str, Any] = json.loads(match.group(1))
    return data


def test_a_run_writes_the_page_beside_the_markdown(
    quick_run: tuple[Path, subprocess.CompletedProcess[str]],
) -> None:
    folder, result = quick_run
    assert result.returncode == 0, result.stderr
    page = (folder / REPORT_PAGE).read_text()
    assert REPORT_PAGE in (folder / MANIFEST).read_text().splitlines()
    cells = embedded(page)["cells"]
    assert {cell["workload"] for cell in cells} == {"crud_create", "parent_child_read"}
    # the SQL of every cell, as the run recorded it
    orm = next(
        c
        for c in cells
        if (c["workload"], c["variant"], c["size"]) == ("parent_child_read", "orm", 50)
    )
    assert [s["sql"].split()[0] for s in orm["sql"]["statements"]] == ["SELECT", "SELECT"]


def test_the_page_needs_nothing_from_outside(reference_page: str) -> None:
    page = reference_page
    policy = re.search(r'<meta http-equiv="Content-Security-Policy" content="([^"]+)">', page)
    assert policy is not None
    directives = dict(d.strip().split(" ", 1) for d in policy.group(1).split(";"))
    assert directives["default-src"] == "'none'"
    # the inline scripts and style by their hashes: nothing else may run or be styled
    assert re.fullmatch(r"('sha256-[A-Za-z0-9+/=]+' ?){2}", directives["script-src"])
    assert re.fullmatch(r"'sha256-[A-Za-z0-9+/=]+'", directives["style-src"])
    # nothing to fetch: no element names an address, no script or style file, no source map
    assert not re.search(r"""\b(?:src|href)\s*=\s*["']?(?:https?:)?//""", page)
    assert not re.search(r"<script[^>]*\bsrc=|<link\b|@import|sourceMappingURL", page)
    assert len(re.findall(r"<script\b", page)) == 3
    # the charting library, inlined as vendored
    library = (VENDOR / "chart.umd.js").read_text()
    assert library.split("//# sourceMappingURL")[0].strip() in page
    assert "MIT" in (VENDOR / "LICENSE.md").read_text()


def test_the_page_stays_small(reference_page: str) -> None:
    # the library (about 205 kB) and the reference run's figures (about 0.5 MB without the
    # SQL, which a full run adds some 0.3 kB a cell of): under one and a half megabytes
    assert len(reference_page.encode()) < 1_500_000


def test_the_figures_are_the_reports(reference: Results) -> None:
    data = page_data(reference)
    assert data["rtt_stops_ms"] == list(RTT_STOPS_MS)
    cells = {(c["backend"], c["workload"], c["variant"], c["size"]): c for c in data["cells"]}
    orm = reference.lookup("parent_child_read", "orm", "postgres", 100)
    dbapi = reference.lookup("parent_child_read", "dbapi", "postgres", 100)
    assert orm is not None and dbapi is not None
    entry = cells[orm.backend, orm.workload, orm.variant, orm.size]
    assert entry["round_trips"] == orm.round_trips and entry["cursor_calls"] == orm.cursor_calls
    # at 0 ms the ratio and interval the Markdown report quotes
    at_zero = compare_cells(orm, dbapi)
    assert entry["ratios"][0] == pytest.approx([at_zero.ratio, at_zero.low, at_zero.high], 1e-4)
    # at 1 ms the projection's: (median + round trips x 1 ms) over dbapi's
    one = data["rtt_stops_ms"].index(1.0)
    projected = (orm.median + orm.round_trips / 1e3) / (dbapi.median + dbapi.round_trips / 1e3)
    ratio, low, high = entry["ratios"][one]
    assert ratio == pytest.approx(projected, 1e-4)
    assert low < ratio < high
    # the median's interval holds the median
    assert entry["ci"][0] <= entry["median"] <= entry["ci"][1]
    # SQLite has no network: its ratios are at 0 ms only; dbapi is the baseline itself
    sqlite = cells["sqlite", "parent_child_read", "orm", 100]
    assert len(sqlite["ratios"]) == 1
    assert cells["postgres", "parent_child_read", "dbapi", 100]["ratios"] is None
    # the SQL as recorded (the reference run may predate it: then none)
    assert entry["sql"] == orm.sql_sent


def test_a_projections_interval_at_0_ms_is_the_ratios() -> None:
    numerator = Sample([1.0, 1.2, 1.1, 1.3, 0.9, 1.05, 1.15, 1.25], [0, 0, 1, 1, 2, 2, 3, 3])
    denominator = Sample([0.5, 0.6, 0.55, 0.52, 0.58, 0.51, 0.57, 0.6], [0, 0, 1, 1, 2, 2, 3, 3])
    at_zero, shifted = shifted_ratio_intervals(numerator, denominator, 4, [(0, 0), (4e-3, 1e-3)])
    assert at_zero == ratio_interval(numerator, denominator, 4)
    # adding 4 ms to every round above and 1 ms below is the same as timing them so
    moved = ratio_interval(
        Sample([d + 4e-3 for d in numerator.durations], numerator.passes),
        Sample([d + 1e-3 for d in denominator.durations], denominator.passes),
        4,
    )
    assert shifted == pytest.approx(moved, 1e-12)
