"""pytest plugin: one progress line per cell as it ends, in place of pytest's dot: its place in
the run, the cell, and its median with the ratio to the raw driver and the counts, or why it
was skipped or failed.
"""

from __future__ import annotations

from collections.abc import Generator
from typing import Any

import pytest

from bench.measure.cells import Cell
from bench.plugin.cells import CELLS, cell_of
from bench.plugin.selection import SELECTION
from bench.results.model import workers_named

#: how many cells have ended so far
ENDED = pytest.StashKey[int]()


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(
    item: pytest.Item, call: pytest.CallInfo[None]
) -> Generator[None, pytest.TestReport, pytest.TestReport]:
    report = yield
    cell = cell_of(item)
    if cell is not None and (
        report.when == "call" or (report.when == "setup" and not report.passed)
    ):
        _progress(item, cell, report)
    return report


def _progress(item: pytest.Item, cell: Cell, report: pytest.TestReport) -> None:
    ended = item.config.stash.get(ENDED, 0) + 1
    item.config.stash[ENDED] = ended
    total = len(item.config.stash.get(CELLS, []))
    selection = item.config.stash[SELECTION]
    prefix = f"[{ended:>{len(str(total))}}/{total}] {cell.workload:<20} " + (
        f"{cell.variant:<15}{cell.where:<{14 if selection.rtts else 9}}{cell.size:>6}  "
    )
    if report.passed:
        benchmark = item.funcargs["benchmark"]  # type: ignore[attr-defined]
        info = benchmark.extra_info
        stats = benchmark.stats.stats
        ratio = info.get("ratio_to_dbapi")
        compared = (
            f"{ratio:6.2f}x dbapi [{info['ratio_to_dbapi_ci95'][0]:.2f}, "
            f"{info['ratio_to_dbapi_ci95'][1]:.2f}]"
            if ratio is not None
            else f"{'':<25}"
        )
        if "target_rate" in info:
            # an open loop: what a capacity planner reads, not the schedule's length
            line = (
                f"{prefix}{info['achieved_rate']:8.0f}/s achieved, p99 {info['p99_ms']:.1f} ms, "
                f"p99.9 {info['p999_ms']:.1f} ms, backlog {info['backlog']} "
                f"({workers_named(info['workers'], info['workers_kind'])})"
            )
        else:
            line = (
                f"{prefix}{stats.median * 1000:10.3f} ms median of {stats.rounds:>3}  "
                f"{compared}  "
                f"statements {info['db_statements']}, round trips {info['round_trips']}"
                + ("  (noisy)" if info.get("noisy") else "")
            )
            if "units_per_second" in info:
                line += f"  {info['units_per_second']:.0f}/s, p99 {info['p99_ms']:.1f} ms"
    elif report.skipped:
        reason = report.longrepr[2] if isinstance(report.longrepr, tuple) else "skipped"
        line = f"{prefix}skipped: {reason.removeprefix('Skipped: ')}"
    else:
        line = f"{prefix}FAILED: {_first_line(report)}"
    _write(item.config, line)


def pytest_report_teststatus(report: pytest.TestReport, config: pytest.Config) -> Any:
    # the progress line replaces pytest's dot (or s) for every cell that passed (or was
    # skipped as it ran: a style past the latency budget at a lower rate)
    if report.when == "call" and "benchmark" in report.keywords:
        if report.passed:
            return "passed", "", ""
        if report.skipped:
            return "skipped", "", ""
    return None


def _first_line(report: pytest.TestReport) -> str:
    crash = getattr(report.longrepr, "reprcrash", None)
    message = crash.message if crash is not None else str(report.longrepr)
    return message.strip().splitlines()[0] if message.strip() else "failed"


def _write(config: pytest.Config, line: str) -> None:
    reporter = config.pluginmanager.get_plugin("terminalreporter")
    if reporter is not None:
        reporter.ensure_newline()
        reporter.write_line(line)
