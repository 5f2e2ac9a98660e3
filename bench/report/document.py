"""``python -m bench report DIR``: REPORT.md and its charts from ``DIR/benchmarks.json``, the
sections put together in their order (the first screen that decides, the glossary, then the
details), then written into the run's folder.

Every figure in the report is computed from the JSON; nothing is written by hand. The files are
prepared in a staging folder and moved into place together
(:func:`bench.results.output_folder.publish`), so a failed report leaves the previous one whole.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from bench.report.across_backends import across_backends
from bench.report.async_styles import async_section
from bench.report.delays import measured_against_projected
from bench.report.drawing import draw_charts
from bench.report.findings import checks
from bench.report.first_screen import first_screen, first_screen_order
from bench.report.glossary import glossary
from bench.report.page import write_page
from bench.report.provenance import run_provenance, server_provenance
from bench.report.server_cost import server_section
from bench.report.tables import reading_guide, sql_differences, workload_table
from bench.report.throughput import concurrency_section
from bench.report.where_time_goes import time_section
from bench.results.load import load_results
from bench.results.model import ReportError, Results, workloads_of
from bench.results.output_folder import (
    CHARTS_DIR,
    REPORT_FILE,
    REPORT_SCREENSHOT,
    RESULTS_FILE,
    FolderRefused,
    files_made,
    owned_files,
    publish,
    staging_folder,
)

#: the command line imports ReportError from here, with the functions that raise it
__all__ = ["ReportError", "render_report", "write_report"]


def render_report(results: Results, charts: Sequence[Path]) -> str:
    """REPORT.md: the first screen (which style for each question a service asks, per
    backend), the glossary, then the details: how the run was made and how to read the
    tables, then each backend's tables, sections and charts (``charts``: the drawn files,
    named ``<backend>-<chart>.png``)."""
    lines = [*first_screen(results), *glossary(results)]
    lines += ["## Details", "", "### How the run was made", "", *run_provenance(results)]
    lines += reading_guide(results)
    lines += across_backends(results)
    for backend in first_screen_order(results):
        lines += backend_details(results, backend, charts)
    return "\n".join(lines)


def backend_details(results: Results, backend: str, charts: Sequence[Path]) -> list[str]:
    """One backend's details: its server, the checks no table holds, its workload tables and
    why their SQL differs, what the server did, the asyncio styles, where the time goes,
    concurrency, the cells measured through the delay proxy, and its charts."""
    lines = [f"### {results.heading(backend).title} in detail", ""]
    found = [*server_provenance(results, backend), *checks(results, backend)]
    if found:
        lines += [*(f"- {line}" for line in found), ""]
    for workload in workloads_of(results.for_backend(backend)):
        if not results.catalog.is_concurrent(workload):
            lines += workload_table(results, backend, workload)
    lines += sql_differences(results, backend)
    lines += server_section(results, backend)
    lines += async_section(results, backend)
    lines += time_section(results, backend)
    lines += concurrency_section(results, backend)
    lines += measured_against_projected(results, backend)
    drawn = [c for c in charts if c.name.startswith(f"{backend}-")]
    if drawn:
        lines += ["Charts: " + " ".join(f"![{c.stem}]({CHARTS_DIR}/{c.name})" for c in drawn), ""]
    return lines


def draw_report(results: Results, into: Path) -> None:
    """REPORT.md, charts/ and REPORT.html for ``results``, written straight into ``into``: a
    staging folder of the caller's, not yet seen by anyone."""
    (into / CHARTS_DIR).mkdir()
    charts = draw_charts(results, into / CHARTS_DIR)
    (into / REPORT_FILE).write_text(render_report(results, charts))
    # the page to explore them: REPORT.html, self-contained (bench/report/page.py)
    write_page(results, into)


def write_report(folder: Path) -> Path:
    """Charts and REPORT.md for the results in ``folder``; the report's path.

    Everything is drawn in a staging folder first, then the charts and the report replace
    the ones the harness wrote before, together (:func:`bench.results.output_folder.publish`).
    """
    results = load_results(folder)
    try:
        with staging_folder(folder, prefix=".report-") as staging:
            draw_report(results, staging)
            # the page's screenshot (python -m bench.report.screenshot) stays with the results
            shot = [REPORT_SCREENSHOT] if REPORT_SCREENSHOT in owned_files(folder) else []
            publish(staging, folder, files_made(staging), keep=(RESULTS_FILE, *shot))
    except (OSError, FolderRefused) as exc:
        reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
        raise ReportError(f"cannot write the report into {folder}: {reason}") from None
    return folder / REPORT_FILE
