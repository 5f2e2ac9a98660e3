"""Adding a workload fails loudly where it is not wired in: pytest collects a workload's cells
from its own benchmark module, and a workload without one would never run, silently."""

from __future__ import annotations

import importlib

from bench.cli.run import BENCHMARKS_DIR
from bench.measure.workloads import WORKER_METHODS, WORKLOADS
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
    """A concurrent workload's methods are its kinds of worker's (WORKER_METHODS). Without
    one, a run would end in an AttributeError traceback, not a line that says why."""
    methods = {
        name: {WORKER_METHODS[kind] for kind in workload.workers_kinds} or {workload.name}
        for name, workload in WORKLOADS.items()
    }
    missing = [
        name
        for name, names in methods.items()
        if any(not callable(getattr(Variant, method, None)) for method in names)
    ]
    assert missing == [], (
        "workloads without a method in implementations/contract.py's Variant (one raising "
        f"NotApplicable, for the variants that do not implement it): {missing}"
    )
