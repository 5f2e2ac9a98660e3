"""Timing the variants of one group (backend, workload, size) so that they meet the same
machine: the variants' rounds in alternation, the machine's own noise, the event loop's cost.

The machines this runs on drift: a fixed CPU loop's median moves by a quarter within seconds.
Timing one variant after another turns that drift into false differences between styles, so
the variants of a group run their rounds in alternation (:func:`interleave`): every variant's
rounds are spread evenly over the same passes, and the order inside a pass rotates. The
statistics over those rounds are :mod:`bench.results.statistics`.
"""

from __future__ import annotations

import asyncio
import statistics
import time
from collections.abc import Hashable, Mapping
from typing import TypeVar

K = TypeVar("K", bound=Hashable)


def interleave(rounds: Mapping[K, int]) -> list[list[K]]:
    """The passes of a group: each pass lists the keys that run one round in it.

    A key with ``n`` rounds appears in ``n`` of the ``max(rounds)`` passes, spread evenly over
    them, so a slow variant timed 5 times meets the machine at the same moments as a fast one
    timed 200 times. Inside a pass, the key that has gone first (before another) least often
    goes first, the others follow in rotating order, so no variant always runs first.
    """
    if not rounds:
        return []
    if any(n < 1 for n in rounds.values()):
        raise ValueError("every key needs at least one round")
    total = max(rounds.values())
    first_count = dict.fromkeys(rounds, 0)
    passes: list[list[K]] = []
    for index in range(total):
        members = [
            key for key, n in rounds.items() if (index + 1) * n // total > index * n // total
        ]
        shift = index % len(members)
        rotated = members[shift:] + members[:shift]
        leader = min(rotated, key=lambda key: first_count[key])  # first of the least often
        if len(members) > 1:  # alone in a pass is not going first
            first_count[leader] += 1
        passes.append([leader, *(key for key in rotated if key != leader)])
    return passes


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


#: how many empty executions measure the event loop's own cost
EVENT_LOOP_RUNS = 200


async def _no_work() -> None:
    """A unit of work that awaits nothing."""


def event_loop_seconds(loop: asyncio.AbstractEventLoop, runs: int = EVENT_LOOP_RUNS) -> float:
    """The event loop's own cost of one execution: the median time of ``run_until_complete``
    on a coroutine that awaits nothing (a task made, the loop started, one pass, stopped), the
    part of an asyncio variant's median that is no style's work."""
    durations = []
    for _ in range(runs):
        started = time.perf_counter()
        loop.run_until_complete(_no_work())
        durations.append(time.perf_counter() - started)
    return statistics.median(durations)
