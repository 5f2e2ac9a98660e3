"""``REPORT.html``: one self-contained page to explore a run's results, beside ``REPORT.md``.

Filters for the backend, the workload, the size, the round-trip time (0 to 10 ms: projected as
median + round trips x RTT, or measured where ``run --rtt`` ran through the delay proxy, and
marked which) and the variants shown; charts that follow them; every figure with its 95 %
interval and its counts; the SQL each style sent, side by side, one click from its row.

The page opens from the file system with no network: the results are embedded as JSON, the
page's script and style and the charting library (Chart.js, vendored in ``vendor/`` with its
licence; why it: ``docs/measures.md``) are inlined, and a Content-Security-Policy allows
nothing else (``default-src 'none'``, the inline script and style by their hashes). The
figures are computed here, in Python, with the report's own statistics; the script only
chooses and draws them.
"""

from __future__ import annotations

import base64
import hashlib
import json
import math
import re
from collections.abc import Sequence
from importlib import resources
from pathlib import Path
from string import Template
from typing import Any

from bench.report.chart_looks import variant_colors
from bench.results.model import (
    CellResult,
    Results,
    compare_cells,
    reference_size,
    units_per_second_interval,
    variants_of,
    workloads_of,
)
from bench.results.output_folder import REPORT_FILE, REPORT_PAGE
from bench.results.statistics import median_interval, shifted_ratio_intervals

#: the round-trip times the page offers (ms), besides those the run measured
RTT_STOPS_MS = (0.0, 0.1, 0.2, 0.5, 1.0, 2.0, 5.0, 10.0)
#: the RTT the page opens at on a networked backend (ms): a server in the same zone
OPENING_RTT_MS = 1.0
#: the backend the page opens on, where the run has it
OPENING_BACKEND = "postgres"
#: significant digits the embedded figures keep (the page shows three)
_DIGITS = 5
_SOURCE_MAP = re.compile(r"\n//# sourceMappingURL=\S+\s*$")


def _resource(name: str) -> str:
    return resources.files("bench.report").joinpath(name).read_text(encoding="utf-8")


def _round(value: float) -> float:
    return float(f"{value:.{_DIGITS}g}") if math.isfinite(value) else value


def _interval(bounds: tuple[float, float] | None) -> list[float] | None:
    if bounds is None or not all(map(math.isfinite, bounds)):
        return None
    return [_round(bounds[0]), _round(bounds[1])]


#: a ratio and the low and high ends of its 95 % interval (None where it has none)
Ratio = list[float | None]


def _ratio(value: float, low: float, high: float) -> Ratio:
    interval: Sequence[float | None] = _interval((low, high)) or (None, None)
    return [_round(value), *interval]


def _median_ci(cell: CellResult) -> list[float] | None:
    sample = cell.sample
    return None if sample is None else _interval(median_interval(sample, cell.pass_count))


def rtt_stops(results: Results) -> list[float]:
    """The page's round-trip times (ms): the fixed ones and every one the run measured."""
    measured = {cell.rtt_ms for cell in results.delayed if cell.rtt_ms}
    return sorted({*RTT_STOPS_MS, *measured})


def _ratios(
    cell: CellResult, baseline: CellResult | None, stops: Sequence[float], projected: bool
) -> list[Ratio] | None:
    """The cell over the baseline's at each stop (projected when ``projected``, else only at
    0 ms): ``[ratio, low, high]`` with the low and high ends of the 95 % interval."""
    if baseline is None or baseline is cell:
        return None
    at_zero = compare_cells(cell, baseline)
    zero = _ratio(at_zero.ratio, at_zero.low, at_zero.high)
    if not projected:
        return [zero]
    shifts = [(cell.round_trips * rtt / 1e3, baseline.round_trips * rtt / 1e3) for rtt in stops]
    ratios = [
        (cell.median + a) / (baseline.median + b) if baseline.median + b > 0 else math.nan
        for a, b in shifts
    ]
    samples = cell.sample, baseline.sample
    if samples[0] is None or samples[1] is None or cell.pass_count != baseline.pass_count:
        intervals = [(math.nan, math.nan)] * len(stops)
    else:
        intervals = shifted_ratio_intervals(samples[0], samples[1], cell.pass_count, shifts)
    # at 0 ms the record's own ratio and interval, as the Markdown report quotes them
    return [
        zero,
        *(
            _ratio(ratio, *interval)
            for ratio, interval in list(zip(ratios, intervals, strict=True))[1:]
        ),
    ]


def _measured(
    cell: CellResult, delayed: dict[tuple[str, str, str, int, float], CellResult], baseline: str
) -> dict[str, Any]:
    """The cell measured through the delay proxy, by RTT (ms, as text): its median, its
    interval, and its ratio to the baseline measured at the same RTT."""
    found: dict[str, Any] = {}
    for (workload, variant, backend, size, rtt), measured in delayed.items():
        if (workload, variant, backend, size) != cell.key or not rtt:
            continue
        entry: dict[str, Any] = {
            "median": _round(measured.median),
            "ci": _median_ci(measured),
            "rounds": measured.rounds,
        }
        other = delayed.get((workload, baseline, backend, size, rtt))
        if other is not None and other is not measured:
            comparison = compare_cells(measured, other)
            entry["ratio"] = _ratio(comparison.ratio, comparison.low, comparison.high)
        found[f"{rtt:g}"] = entry
    return found


def _cell(
    cell: CellResult,
    baseline: CellResult | None,
    stops: Sequence[float],
    projected: bool,
    delayed: dict[tuple[str, str, str, int, float], CellResult],
    baseline_name: str,
) -> dict[str, Any]:
    entry: dict[str, Any] = {
        "backend": cell.backend,
        "workload": cell.workload,
        "variant": cell.variant,
        "size": cell.size,
        "median": _round(cell.median),
        "ci": _median_ci(cell),
        "rounds": cell.rounds,
        "noisy": cell.noisy,
        "cursor_calls": cell.cursor_calls,
        "db_statements": cell.db_statements,
        "round_trips": cell.round_trips,
        "rows": cell.rows,
        "sql_vs_dbapi": cell.sql_vs_dbapi,
        "ratios": _ratios(cell, baseline, stops, projected),
        "sql": cell.sql_sent,
    }
    measured = _measured(cell, delayed, baseline_name) if projected else {}
    if measured:
        entry["measured"] = measured
    if cell.concurrency is not None:
        throughput = cell.concurrency
        entry["concurrency"] = {
            "units_per_second": _round(throughput.units_per_second),
            "ci": _interval(units_per_second_interval(cell)),
            "p50_ms": _round(throughput.p50_ms),
            "p99_ms": _round(throughput.p99_ms),
            "units": throughput.units,
        }
    return entry


def page_data(results: Results) -> dict[str, Any]:
    """Everything the page shows, as the JSON it embeds."""
    catalog = results.catalog
    stops = rtt_stops(results)
    baseline_name = catalog.baseline_variant
    delayed = {(*c.key, c.rtt_ms): c for c in results.delayed if c.proxied}
    backends = results.backends
    cells = []
    for cell in results.cells:
        networked = results.heading(cell.backend).networked
        projected = networked and cell.is_projected
        baseline = results.lookup(cell.workload, baseline_name, cell.backend, cell.size)
        cells.append(_cell(cell, baseline, stops, projected, delayed, baseline_name))
    names = variants_of(results.cells)
    looks = variant_colors(names, catalog)
    how: dict[str, dict[str, str]] = {}
    for cell in results.cells:
        if cell.how:
            how.setdefault(cell.workload, {})[cell.variant] = cell.how
    harness = results.harness
    source = harness.get("source") if isinstance(harness.get("source"), dict) else {}
    assert isinstance(source, dict)
    return {
        "datetime": results.datetime,
        "command": harness.get("command"),
        "commit": source.get("commit"),
        "rtt_stops_ms": stops,
        "opening": {
            "backend": OPENING_BACKEND if OPENING_BACKEND in backends else backends[0],
            "rtt_ms": OPENING_RTT_MS,
        },
        "baseline": baseline_name,
        "backends": [
            {
                "name": name,
                "title": results.heading(name).title,
                "networked": results.heading(name).networked,
                "measured_rtts_ms": sorted(
                    {c.rtt_ms for c in results.delayed if c.backend == name and c.rtt_ms}
                ),
                "reference_size": reference_size(results.for_backend(name)),
            }
            for name in backends
        ],
        "workloads": [
            {
                "name": name,
                "description": catalog.workloads[name].description
                if name in catalog.workloads
                else "",
                "batch": catalog.is_batch(name),
                "concurrent": catalog.is_concurrent(name),
                "projected": name in catalog.projected_workloads(),
            }
            for name in workloads_of(results.cells)
        ],
        "variants": [
            {
                "name": name,
                "label": catalog.variants[name].label if name in catalog.variants else "",
                # the look the PNG charts give it (bench/report/chart_looks.py)
                "color": looks[name].get("color", "#777777"),
                "hatch": looks[name].get("hatch", ""),
                "hatch_color": looks[name].get("hatch_color", "#FFFFFF"),
                "linestyle": looks[name].get("linestyle", "-"),
                "marker": looks[name].get("marker", "o"),
                "sync_counterpart": catalog.sync_counterpart(name),
            }
            for name in names
        ],
        "how": how,
        "cells": cells,
    }


def _embedded_json(value: Any) -> str:
    """JSON safe inside a ``<script>`` element: no ``<`` (so no ``</script>``), no ``&``."""
    text = json.dumps(value, ensure_ascii=False, separators=(",", ":"), allow_nan=False)
    return text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")


def _inline_script(text: str) -> str:
    text = _SOURCE_MAP.sub("\n", text)
    if re.search(r"</script", text, re.IGNORECASE):
        raise ValueError("an inlined script holds </script")
    return text


def _csp_hash(text: str) -> str:
    digest = hashlib.sha256(text.encode("utf-8")).digest()
    return f"'sha256-{base64.b64encode(digest).decode('ascii')}'"


def _nulls(value: Any) -> Any:
    """NaN and infinities as null (JSON has neither)."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {key: _nulls(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_nulls(item) for item in value]
    return value


def render_page(results: Results) -> str:
    """REPORT.html for ``results``: the page, everything inlined."""
    scripts = [
        _inline_script(_resource("vendor/chart.umd.js")),
        _inline_script(_resource("page.js")),
    ]
    style = _resource("page.css")
    csp = "; ".join(
        [
            "default-src 'none'",
            f"script-src {' '.join(_csp_hash(script) for script in scripts)}",
            f"style-src {_csp_hash(style)}",
            "img-src data:",
            "base-uri 'none'",
            "form-action 'none'",
        ]
    )
    title = "Data-access benchmark: explore the results"
    return Template(_resource("page.html")).substitute(
        csp=csp,
        title=title,
        style=style,
        data=_embedded_json(_nulls(page_data(results))),
        chart_js=scripts[0],
        page_js=scripts[1],
        report_md=REPORT_FILE,
    )


def write_page(results: Results, into: Path) -> Path:
    """Write ``REPORT.html`` into the folder ``into``; its path."""
    path = into / REPORT_PAGE
    path.write_text(render_page(results), encoding="utf-8")
    return path
