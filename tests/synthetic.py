"""Runs made up for the tests: pytest-benchmark JSON as ``python -m bench run`` writes it, with
rounds drawn from known distributions, so a test can plant a change and know the truth."""

from __future__ import annotations

import json
import random
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from pytest_benchmark.stats import Stats

from bench.measure.timing import interleave
from bench.results.statistics import Sample, ratio_interval

#: (workload, size) -> variant -> the cell's true median in seconds
Medians = Mapping[tuple[str, int], Mapping[str, float]]


def synthetic_run(
    folder: Path, medians: Medians, seed: int, rounds: int = 40, spread: float = 0.08
) -> Path:
    """Write ``folder/benchmarks.json``: every variant of a group timed ``rounds`` times in
    alternation, each round its median times a log-normal factor of width ``spread``."""
    rng = random.Random(seed)
    entries = []
    for (workload, size), variants in medians.items():
        plan = interleave(dict.fromkeys(variants, rounds))
        samples: dict[str, tuple[list[float], list[int]]] = {v: ([], []) for v in variants}
        for index, members in enumerate(plan):
            for variant in members:
                samples[variant][0].append(variants[variant] * rng.lognormvariate(0, spread))
                samples[variant][1].append(index)
        for variant, (durations, passes) in samples.items():
            entries.append(
                _entry(workload, size, variant, durations, passes, len(plan), samples["dbapi"])
            )
    document = {
        "machine_info": {"node": "test", "python_version": "3"},
        "commit_info": {},
        "benchmarks": entries,
        "datetime": "2026-01-01T00:00:00",
        "version": "5.1.0",
        "harness": {"profile": "default", "networked": {"sqlite": False}},
    }
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "benchmarks.json"
    path.write_text(json.dumps(document))
    return path


def _entry(
    workload: str,
    size: int,
    variant: str,
    durations: list[float],
    passes: list[int],
    pass_count: int,
    baseline: tuple[list[float], list[int]],
) -> dict[str, Any]:
    stats = Stats()  # type: ignore[no-untyped-call]
    for duration in durations:
        stats.update(duration)  # type: ignore[no-untyped-call]
    info: dict[str, Any] = {
        "workload": workload,
        "variant": variant,
        "backend": "sqlite",
        "size": size,
        "rows": size,
        "cursor_calls": 1,
        "db_statements": 3,
        "round_trips": 3,
        "pass_count": pass_count,
        "round_passes": passes,
    }
    if variant != "dbapi":
        sample, reference = Sample(durations, passes), Sample(*baseline)
        info["ratio_to_dbapi"] = sample.median / reference.median
        info["ratio_to_dbapi_ci95"] = list(ratio_interval(sample, reference, pass_count))
    return {
        "group": workload,
        "name": f"test_{workload}[{variant}-sqlite-{size}]",
        "extra_info": info,
        "stats": {**stats.as_dict(), "data": durations},  # type: ignore[no-untyped-call]
    }
