"""Timing the variants of one group (backend, workload, size) so that they meet the same
machine, and the statistics that say how far a comparison can be trusted.

The machines this runs on drift: a fixed CPU loop's median moves by a quarter within seconds.
Timing one variant after another turns that drift into false differences between styles, so
the variants of a group run their rounds in alternation (:func:`interleave`): every variant's
rounds are spread evenly over the same passes, and the order inside a pass rotates.

A comparison of two variants is the ratio of their medians, with a 95 % interval from a block
bootstrap over time (:func:`ratio_interval`): the passes are cut into blocks that each hold a
round of both variants, blocks are resampled with replacement, and the medians are taken over
the rounds of the chosen blocks. Resampling whole blocks keeps a drift that hit both variants
together from widening the interval, and a drift that hit one of them from narrowing it.
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Hashable, Mapping, Sequence
from dataclasses import dataclass
from typing import TypeVar

import numpy as np
import numpy.typing as npt

K = TypeVar("K", bound=Hashable)

#: bootstrap resamples per interval; the seed is fixed so a report can be made again exactly
RESAMPLES = 2000
SEED = 20240517
#: a cell whose interquartile range exceeds this share of its median is flagged as noisy
NOISY_IQR = 0.25


def interleave(rounds: Mapping[K, int]) -> list[list[K]]:
    """The passes of a group: each pass lists the keys that run one round in it.

    A key with ``n`` rounds appears in ``n`` of the ``max(rounds)`` passes, spread evenly over
    them, so a slow variant timed 5 times meets the machine at the same moments as a fast one
    timed 200 times. The order inside a pass rotates, so no variant always runs first.
    """
    if not rounds:
        return []
    if any(n < 1 for n in rounds.values()):
        raise ValueError("every key needs at least one round")
    total = max(rounds.values())
    passes: list[list[K]] = []
    for index in range(total):
        members = [
            key for key, n in rounds.items() if (index + 1) * n // total > index * n // total
        ]
        shift = index % len(members)
        passes.append(members[shift:] + members[:shift])
    return passes


@dataclass(frozen=True)
class Sample:
    """One variant's timed rounds: durations in seconds, and the pass each ran in."""

    durations: Sequence[float]
    passes: Sequence[int]

    def __post_init__(self) -> None:
        if len(self.durations) != len(self.passes) or not self.durations:
            raise ValueError("a sample needs one pass index per duration, and one duration")

    @property
    def median(self) -> float:
        return statistics.median(self.durations)


def ratio_interval(
    numerator: Sample, denominator: Sample, pass_count: int, confidence: float = 0.95
) -> tuple[float, float]:
    """A ``confidence`` interval for median(numerator) / median(denominator), both timed in
    alternation over the same ``pass_count`` passes (block bootstrap over time)."""
    blocks = min(len(numerator.durations), len(denominator.durations), pass_count)
    if blocks < 2:
        ratio = numerator.median / denominator.median
        return ratio, ratio
    rng = np.random.default_rng(SEED)
    weights = rng.multinomial(blocks, np.full(blocks, 1 / blocks), size=RESAMPLES)
    medians = [
        _weighted_medians(sample, _blocks_of(sample, pass_count, blocks), weights)
        for sample in (numerator, denominator)
    ]
    ratios = medians[0] / medians[1]
    tail = (1 - confidence) / 2 * 100
    low, high = np.percentile(ratios, [tail, 100 - tail])
    return float(low), float(high)


def median_interval(
    sample: Sample, pass_count: int, confidence: float = 0.95
) -> tuple[float, float]:
    """A ``confidence`` interval for one sample's median (block bootstrap over its passes)."""
    blocks = min(len(sample.durations), pass_count)
    if blocks < 2:
        return sample.median, sample.median
    rng = np.random.default_rng(SEED)
    weights = rng.multinomial(blocks, np.full(blocks, 1 / blocks), size=RESAMPLES)
    medians = _weighted_medians(sample, _blocks_of(sample, pass_count, blocks), weights)
    tail = (1 - confidence) / 2 * 100
    low, high = np.percentile(medians, [tail, 100 - tail])
    return float(low), float(high)


def _blocks_of(sample: Sample, pass_count: int, blocks: int) -> npt.NDArray[np.int64]:
    """The block of each round: consecutive passes cut into ``blocks`` equal stretches."""
    passes = np.asarray(sample.passes, dtype=np.int64)
    if passes.min() < 0 or passes.max() >= pass_count:
        raise ValueError(f"pass indices must lie in 0..{pass_count - 1}")
    return passes * blocks // pass_count


def _weighted_medians(
    sample: Sample, blocks: npt.NDArray[np.int64], weights: npt.NDArray[np.int64]
) -> npt.NDArray[np.float64]:
    """For each row of block weights, the median of the sample's rounds, each round counted
    as often as its block was drawn."""
    values = np.asarray(sample.durations, dtype=np.float64)
    order = np.argsort(values, kind="stable")
    round_weights = weights[:, blocks[order]]
    cumulative = np.cumsum(round_weights, axis=1)
    total = cumulative[:, -1:]
    # the lower and upper middle rounds, averaged, as the ordinary median does
    lower = np.argmax(2 * cumulative >= total, axis=1)
    upper = np.argmax(2 * cumulative > total, axis=1)
    sorted_values = values[order]
    result: npt.NDArray[np.float64] = (sorted_values[lower] + sorted_values[upper]) / 2
    return result


def indistinguishable(interval: tuple[float, float]) -> bool:
    """True when the interval of a ratio holds 1: the data cannot order the two."""
    return interval[0] <= 1.0 <= interval[1]


def dispersion(q1: float, median: float, q3: float) -> float:
    """The interquartile range as a share of the median."""
    return (q3 - q1) / median if median > 0 else 0.0


# --- the machine's own noise ---------------------------------------------------------------------

CALIBRATION_REPEATS = 60


def _fixed_work() -> int:
    total = 0
    for number in range(20_000):
        total += number * number % 7
    return total


def calibrate(repeats: int = CALIBRATION_REPEATS) -> dict[str, float]:
    """A fixed CPU loop timed ``repeats`` times: its median and interquartile range in
    seconds. Timed before and after the cells, it shows how fast and how steady the machine
    was, and whether that changed during the run."""
    durations = []
    for _ in range(repeats):
        started = time.perf_counter()
        _fixed_work()
        durations.append(time.perf_counter() - started)
    q1, median, q3 = statistics.quantiles(durations, n=4, method="inclusive")
    return {"median_s": median, "iqr_s": q3 - q1, "repeats": float(repeats)}
