"""The statistics that say how far a comparison of timings can be trusted.

A comparison of two variants is the ratio of their medians, with a 95 % interval from a block
bootstrap over time (:func:`ratio_interval`): the passes are cut into blocks that each hold a
round of both variants, blocks are resampled with replacement, and the medians are taken over
the rounds of the chosen blocks. Resampling whole blocks keeps a drift that hit both variants
together from widening the interval, and a drift that hit one of them from narrowing it.
"""

from __future__ import annotations

import statistics
from collections.abc import Sequence
from dataclasses import dataclass
from functools import cache

import numpy as np
import numpy.typing as npt

#: bootstrap resamples per interval; the seed is fixed so a report can be made again exactly
RESAMPLES = 2000
SEED = 20240517
#: a cell whose interquartile range exceeds this share of its median is flagged as noisy
NOISY_IQR = 0.25


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
    numerator_blocks, denominator_blocks, blocks = _shared_blocks(
        numerator, denominator, pass_count
    )
    if blocks < 2:
        ratio = numerator.median / denominator.median
        return ratio, ratio
    weights = _block_weights(blocks)
    ratios = _weighted_medians(numerator, numerator_blocks, weights) / _weighted_medians(
        denominator, denominator_blocks, weights
    )
    return _percentile_interval(ratios, confidence)


def ratio_less_overhead(
    numerator: Sample, denominator: Sample, overhead: float, pass_count: int
) -> tuple[float, tuple[float, float]]:
    """median(numerator) less a fixed ``overhead`` per round, over median(denominator), and
    its 95 % interval from the rounds each less the overhead: an asyncio variant against its
    synchronous form, the event loop's own cost of an execution (no style's work) taken out.
    Computed by the run for the record and by the report for results that lack it."""
    ratio = (numerator.median - overhead) / denominator.median
    less = Sample([max(d - overhead, 1e-9) for d in numerator.durations], numerator.passes)
    return ratio, ratio_interval(less, denominator, pass_count)


def shifted_ratio_intervals(
    numerator: Sample,
    denominator: Sample,
    pass_count: int,
    shifts: Sequence[tuple[float, float]],
    confidence: float = 0.95,
) -> list[tuple[float, float]]:
    """For each ``(a, b)`` of ``shifts``, a ``confidence`` interval for
    (median(numerator) + a) / (median(denominator) + b): the ratio of two projections, a fixed
    time (round trips x RTT) added to every round of each. Adding a time to every round moves
    each resampled median by that time, so one bootstrap (:func:`ratio_interval`'s, the same
    resamples) serves every shift; at ``(0, 0)`` it is :func:`ratio_interval`'s interval."""
    numerator_blocks, denominator_blocks, blocks = _shared_blocks(
        numerator, denominator, pass_count
    )
    if blocks < 2:
        return [((numerator.median + a) / (denominator.median + b),) * 2 for a, b in shifts]
    weights = _block_weights(blocks)
    tops = _weighted_medians(numerator, numerator_blocks, weights)
    bottoms = _weighted_medians(denominator, denominator_blocks, weights)
    return [_percentile_interval((tops + a) / (bottoms + b), confidence) for a, b in shifts]


def median_interval(
    sample: Sample, pass_count: int, confidence: float = 0.95
) -> tuple[float, float]:
    """A ``confidence`` interval for one sample's median (block bootstrap over its passes)."""
    sample_blocks, _, blocks = _shared_blocks(sample, sample, pass_count)
    if blocks < 2:
        return sample.median, sample.median
    medians = _weighted_medians(sample, sample_blocks, _block_weights(blocks))
    return _percentile_interval(medians, confidence)


@cache
def _block_weights(blocks: int) -> npt.NDArray[np.int64]:
    """How often each block is drawn, one row per bootstrap resample (fixed seed, so the same
    for every interval over as many blocks: made once, and read-only)."""
    rng = np.random.default_rng(SEED)
    weights: npt.NDArray[np.int64] = rng.multinomial(
        blocks, np.full(blocks, 1 / blocks), size=RESAMPLES
    )
    weights.flags.writeable = False
    return weights


def _percentile_interval(
    statistics_: npt.NDArray[np.float64], confidence: float
) -> tuple[float, float]:
    tail = (1 - confidence) / 2 * 100
    low, high = np.percentile(statistics_, [tail, 100 - tail])
    return float(low), float(high)


def _shared_blocks(
    first: Sample, second: Sample, pass_count: int
) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.int64], int]:
    """Cut the passes into consecutive blocks that each hold at least one round of both
    samples: a block closes at the first pass by which both have had a round in it; what is
    left at the end joins the last block. The block of each round of each sample, and how
    many blocks there are."""
    for sample in (first, second):
        if min(sample.passes) < 0 or max(sample.passes) >= pass_count:
            raise ValueError(f"pass indices must lie in 0..{pass_count - 1}")
    seen_first = np.bincount(np.asarray(first.passes), minlength=pass_count)
    seen_second = np.bincount(np.asarray(second.passes), minlength=pass_count)
    block_of_pass = np.zeros(pass_count, dtype=np.int64)
    block, has_first, has_second = 0, False, False
    for index in range(pass_count):
        block_of_pass[index] = block
        has_first = has_first or bool(seen_first[index])
        has_second = has_second or bool(seen_second[index])
        if has_first and has_second:
            block, has_first, has_second = block + 1, False, False
    if has_first or has_second:  # a tail without both: part of the last whole block
        block_of_pass[block_of_pass == block] = block - 1
    else:
        block -= 1
    count = block + 1
    return (
        block_of_pass[np.asarray(first.passes)],
        block_of_pass[np.asarray(second.passes)],
        count,
    )


def _weighted_medians(
    sample: Sample, blocks: npt.NDArray[np.int64], weights: npt.NDArray[np.int64]
) -> npt.NDArray[np.float64]:
    """For each row of block weights, the median of the sample's rounds, each round counted
    as often as its block was drawn (every block holds a round of the sample, so no row
    weighs nothing)."""
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
