"""``python -m bench report DIR``: REPORT.md and its charts from ``DIR/benchmarks.json``, the
sections put together in their order, then written into the run's folder.

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
from bench.report.findings import findings
from bench.report.provenance import run_provenance, server_provenance
from bench.report.server_cost import server_section
from bench.report.tables import reading_guide, workload_tables
from bench.report.throughput import concurrency_section
from bench.results.load import load_results
from bench.results.model import ReportError, Results, workloads_of
from bench.results.output_folder import (
    CHARTS_DIR,
    REPORT_FILE,
    RESULTS_FILE,
    FolderRefused,
    files_made,
    publish,
    staging_folder,
)

#: the command line imports ReportError from here, with the functions that raise it
__all__ = ["ReportError", "render_report", "write_report"]


def render_report(results: Results, charts: Sequence[Path]) -> str:
    """REPORT.md: where the run comes from and how to read it, then each backend's sections
    and its charts (``charts``: the drawn files, named ``<backend>-<chart>.png``)."""
    lines = ["# Data-access benchmark report", "", *run_provenance(results)]
    lines += reading_guide(results)
    lines += across_backends(results)
    for backend in results.backends:
        lines += [f"## {results.heading(backend).title}", ""]
        lines += server_provenance(results, backend)
        found = findings(results, backend)
        if found:
            lines += ["### What the numbers say", "", *(f"- {line}" for line in found), ""]
        lines += server_section(results, backend)
        lines += async_section(results, backend)
        lines += ["### Results", ""]
        for workload in workloads_of(results.for_backend(backend)):
            if not results.catalog.is_concurrent(workload):
                lines += workload_tables(results, backend, workload)
        lines += concurrency_section(results, backend)
        lines += measured_against_projected(results, backend)
        backend_charts = [c for c in charts if c.name.startswith(f"{backend}-")]
        if backend_charts:
            lines += ["### Charts", ""]
            lines += [f"![{c.stem}]({CHARTS_DIR}/{c.name})" for c in backend_charts]
            lines.append("")
    return "\n".join(lines)


def draw_report(results: Results, into: Path) -> None:
    """REPORT.md and charts/ for ``results``, written straight into ``into``: a staging
    folder of the caller's, not yet seen by anyone."""
    (into / CHARTS_DIR).mkdir()
    charts = draw_charts(results, into / CHARTS_DIR)
    (into / REPORT_FILE).write_text(render_report(results, charts))


def write_report(folder: Path) -> Path:
    """Charts and REPORT.md for the results in ``folder``; the report's path.

    Everything is drawn in a staging folder first, then the charts and the report replace
    the ones the harness wrote before, together (:func:`bench.results.output_folder.publish`).
    """
    results = load_results(folder)
    try:
        with staging_folder(folder, prefix=".report-") as staging:
            draw_report(results, staging)
            publish(staging, folder, files_made(staging), keep=(RESULTS_FILE,))
    except (OSError, FolderRefused) as exc:
        reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
        raise ReportError(f"cannot write the report into {folder}: {reason}") from None
    return folder / REPORT_FILE
