"""A cell's outcome handed to pytest-benchmark: its timed rounds as pytest-benchmark's own
statistics, and its record (every field declared in :mod:`bench.results.record`), filled and
checked, as ``extra_info``."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import pytest

from bench.measure.cells import Cell
from bench.measure.groups import Failed, Outcome, Skipped
from bench.measure.workloads import WORKLOADS
from bench.results.record import check_record
from bench.results.statistics import NOISY_IQR, dispersion
from implementations.differences import sql_marker
from implementations.registry import BASELINE_VARIANT, load_variant


def record_rounds(benchmark: Any, durations: Sequence[float]) -> None:
    """Give pytest-benchmark a cell's timed rounds: it computes the statistics and writes them
    to its JSON. The rounds were run by :func:`measure_group`, in alternation with the group's
    other variants, which pytest-benchmark's own loop (one test at a time) cannot do; this is
    the one place that reaches into its fixture."""
    stats = benchmark._make_stats(1)
    benchmark._mode = "benchmark.pedantic(...)"  # used once, as pedantic() would mark it
    for duration in durations:
        stats.update(duration)


def sql_against_baseline(cell: Cell) -> dict[str, str]:
    """Whether the cell's variant sends the same SQL as the baseline's, or why it does not
    (declared in implementations/differences.py, checked by tests/test_fairness.py); nothing
    for the baseline itself."""
    if cell.variant == BASELINE_VARIANT:
        return {}
    return {"sql_vs_dbapi": sql_marker(cell.variant, cell.workload, cell.backend)}


def publish(benchmark: Any, outcome: Outcome) -> None:
    """A cell's test: raise its failure, or hand its rounds and measures to pytest-benchmark."""
    if isinstance(outcome, Failed):
        benchmark.has_error = True
        raise outcome.error
    if isinstance(outcome, Skipped):
        pytest.skip(f"not run: {outcome.reason}")
    cell = outcome.cell
    record_rounds(benchmark, outcome.durations)
    stats = benchmark.stats.stats
    spread = dispersion(stats.q1, stats.median, stats.q3)
    variant_class = load_variant(cell.variant)
    record = {
        "workload": cell.workload,
        "variant": cell.variant,
        "backend": cell.backend,
        "size": cell.size,
        # the delay the proxy added (0 also for cells without the proxy, which "proxied"
        # tells apart from those through it at 0 ms)
        "rtt_ms": cell.rtt_ms or 0,
        "proxied": cell.rtt_ms is not None,
        "rows": outcome.rows,
        **outcome.observation.measures(),
        "label": variant_class.label(),
        "how": WORKLOADS[cell.workload].describe(variant_class),
        **sql_against_baseline(cell),
        "verified": True,
        "dispersion": spread,
        "noisy": spread > NOISY_IQR,
        **outcome.extra,
        "round_passes": list(outcome.passes),
    }
    # what is written is the declared record, or the cell fails: a new field is declared first
    check_record(record)
    # mutated in place: pytest-benchmark's statistics object holds this very dict
    benchmark.extra_info.update(record)
