"""The interleaved schedule and the intervals: exact properties on made-up rounds."""

from __future__ import annotations

import random
import statistics
from pathlib import Path

import pytest

from bench.measure.timing import interleave
from bench.results.statistics import (
    Sample,
    _shared_blocks,
    indistinguishable,
    median_interval,
    ratio_interval,
)


def test_every_key_runs_its_rounds_spread_over_the_same_passes() -> None:
    plan = interleave({"orm": 5, "core": 20, "dbapi": 200})
    assert len(plan) == 200
    for key, rounds in (("orm", 5), ("core", 20), ("dbapi", 200)):
        where = [index for index, members in enumerate(plan) if key in members]
        assert len(where) == rounds
        # evenly spread: one round in each stretch of 200 / rounds passes
        assert [index * rounds // 200 for index in where] == list(range(rounds))


def test_no_key_always_runs_first() -> None:
    plan = interleave({"a": 6, "b": 6, "c": 6})
    assert [members[0] for members in plan] == ["a", "b", "c", "a", "b", "c"]
    assert all(sorted(members) == ["a", "b", "c"] for members in plan)


def test_a_sparse_key_does_not_always_run_first() -> None:
    plan = interleave({"dbapi": 200, "orm": 5})
    firsts = [members[0] for members in plan if "orm" in members]
    assert len(firsts) == 5 and firsts.count("orm") in (2, 3)
    plan = interleave({"a": 132, "b": 161, "c": 200})
    leads = {key: sum(members[0] == key for members in plan) for key in "abc"}
    assert leads["a"] > 30 and leads["b"] > 30


def test_every_block_of_a_comparison_holds_a_round_of_both() -> None:
    # three variants whose rounds are spread differently: a plain cut of the passes into
    # equal blocks leaves some blocks without a round of one of them
    plan = interleave({"a": 132, "b": 161, "c": 200})
    passes = {key: [i for i, members in enumerate(plan) if key in members] for key in "abc"}
    a = Sample([1e-3] * len(passes["a"]), passes["a"])
    b = Sample([2e-3] * len(passes["b"]), passes["b"])
    a_blocks, b_blocks, count = _shared_blocks(a, b, len(plan))
    assert set(a_blocks) == set(b_blocks) == set(range(count))
    assert count >= 100
    assert ratio_interval(b, a, len(plan)) == pytest.approx((2.0, 2.0))


def test_a_schedule_needs_a_round_per_key() -> None:
    assert interleave({}) == []
    with pytest.raises(ValueError, match="at least one round"):
        interleave({"a": 0})


def _alternated(
    medians: dict[str, float], rounds: int, drift: float, seed: int
) -> dict[str, Sample]:
    """Rounds of each key timed in alternation on a machine whose speed drifts by ``drift``
    (a factor from 1 to 1 + drift over the run) and jitters by 10 %."""
    rng = random.Random(seed)
    plan = interleave(dict.fromkeys(medians, rounds))
    durations: dict[str, list[float]] = {key: [] for key in medians}
    passes: dict[str, list[int]] = {key: [] for key in medians}
    for index, members in enumerate(plan):
        speed = 1 + drift * index / len(plan)
        for key in members:
            durations[key].append(medians[key] * speed * rng.lognormvariate(0, 0.1))
            passes[key].append(index)
    return {key: Sample(durations[key], passes[key]) for key in medians}


def test_the_same_style_is_indistinguishable_from_itself() -> None:
    samples = _alternated({"a": 1e-3, "b": 1e-3}, rounds=60, drift=0.0, seed=1)
    interval = ratio_interval(samples["a"], samples["b"], 60)
    assert indistinguishable(interval)
    assert interval[1] - interval[0] < 0.15


def test_a_real_difference_is_told_apart_and_its_size_caught() -> None:
    samples = _alternated({"a": 2e-3, "b": 1e-3}, rounds=60, drift=0.0, seed=2)
    low, high = ratio_interval(samples["a"], samples["b"], 60)
    assert 1.0 < low < 2.0 < high < 2.3


def test_a_drift_both_styles_met_does_not_hide_a_small_difference() -> None:
    # the machine slows by half during the run; b is 10 % slower than a throughout
    samples = _alternated({"a": 1e-3, "b": 1.1e-3}, rounds=100, drift=0.5, seed=3)
    low, high = ratio_interval(samples["b"], samples["a"], 100)
    assert 1.0 < low < 1.1 < high


def test_styles_with_different_round_counts_are_compared_by_time_blocks() -> None:
    plan = interleave({"slow": 5, "fast": 100})
    rng = random.Random(4)
    slow = Sample(
        [0.1 * rng.lognormvariate(0, 0.05) for _ in range(5)],
        [i for i, members in enumerate(plan) if "slow" in members],
    )
    fast = Sample(
        [0.01 * rng.lognormvariate(0, 0.05) for _ in range(100)],
        [i for i, members in enumerate(plan) if "fast" in members],
    )
    low, high = ratio_interval(slow, fast, len(plan))
    assert low < slow.median / fast.median < high
    assert low > 8 and high < 12


def test_a_median_interval_holds_the_median() -> None:
    samples = _alternated({"a": 1e-3}, rounds=30, drift=0.0, seed=5)
    low, high = median_interval(samples["a"], 30)
    assert low <= statistics.median(samples["a"].durations) <= high
    assert median_interval(Sample([1.0], [0]), 1) == (1.0, 1.0)


def test_passes_outside_the_group_are_refused() -> None:
    with pytest.raises(ValueError, match="pass indices"):
        ratio_interval(Sample([1.0, 1.0], [0, 5]), Sample([1.0, 1.0], [0, 1]), 2)
    with pytest.raises(ValueError, match="one pass index per duration"):
        Sample([1.0, 2.0], [0])


def test_pytest_benchmark_gets_exactly_the_rounds_given(pytester: pytest.Pytester) -> None:
    """bench.plugin.publishing.record_rounds reaches into pytest-benchmark's fixture; this pins what
    comes out in its JSON."""
    pytester.makepyfile(
        """
        from bench.plugin.publishing import record_rounds

        def test_cell(benchmark):
            record_rounds(benchmark, [0.004, 0.001, 0.003, 0.002, 0.005])
            benchmark.extra_info["workload"] = "x"
        """
    )
    result = pytester.runpytest_subprocess(
        "-p", "no:cacheprovider", "--benchmark-json=out.json", "-W", "error"
    )
    result.assert_outcomes(passed=1)
    import json

    entry = json.loads(Path(pytester.path, "out.json").read_text())["benchmarks"][0]
    assert entry["stats"]["data"] == [0.004, 0.001, 0.003, 0.002, 0.005]
    assert entry["stats"]["rounds"] == 5
    assert entry["stats"]["median"] == 0.003
    assert entry["stats"]["min"] == 0.001 and entry["stats"]["max"] == 0.005
    assert entry["extra_info"] == {"workload": "x"}
