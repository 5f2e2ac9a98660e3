"""Adding a workload fails loudly where it is not wired in: pytest collects a workload's cells
from its own benchmark module, and a workload without one would never run, silently."""

from __future__ import annotations

import importlib

from bench.cli.run import BENCHMARKS_DIR
from bench.measure.workloads import WORKLOADS
from implementations.contract import Variant


def test_every_workload_has_a_benchmark_module_and_every_module_a_workload() -> None:
    modules = {path.stem.removeprefix("bench_") for path in BENCHMARKS_DIR.glob("bench_*.py")}
    assert sorted(set(WORKLOADS) - modules) == [], "workloads without bench/benchmarks/bench_X.py"
    assert sorted(modules - set(WORKLOADS)) == [], "benchmark modules of no workload"


def test_each_benchmark_module_runs_its_own_workload() -> None:
    for name in WORKLOADS:
        module = importlib.import_module(f"bench.benchmarks.bench_{name}")
        test = getattr(module, f"test_{name}", None)
        assert test is not None, f"bench_{name}.py defines no test_{name}"
        marks = [mark.kwargs.get("group") for mark in getattr(test, "pytestmark", [])]
        assert marks == [name], f"test_{name} is grouped as {marks}"


def test_every_workload_has_its_method_in_the_variant_contract() -> None:
    """Without one, a run would end in an AttributeError traceback, not a line that says why."""
    missing = [name for name in WORKLOADS if not callable(getattr(Variant, name, None))]
    assert missing == [], (
        "workloads without a method in implementations/contract.py's Variant (one raising "
        f"NotApplicable, for the variants that do not implement it): {missing}"
    )
