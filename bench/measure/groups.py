"""Measuring one group of cells, the variants of one (backend, workload, size), together:

1. every cell is verified and counted (:class:`~bench.measure.cells.Harness`), untimed; a cell that
   fails drops out, the others go on;
2. the seed is loaded once for the group (:meth:`~bench.backends.Backend.load_seed`), and
   every variant runs its warm-up rounds, in alternation;
3. each variant's number of rounds is sized from its last warm-up round, and the rounds run in
   alternating passes (:func:`~bench.measure.timing.interleave`), with the seed restored, untimed,
   before every round of a workload that changes data. Every round's result is checked, and
   the table contents after each variant's last round;
4. untimed again, each cell's memory (one execution under tracemalloc,
   :mod:`bench.measure.memory`) and its time by layer (executions watched by a stack sampler,
   :mod:`bench.measure.layers`): instruments kept out of the timed rounds;
5. each variant's rounds go to pytest-benchmark, which computes the statistics and writes
   the JSON; the ratio to ``dbapi`` gets its interval from the interleaved rounds.
"""

from __future__ import annotations

import gc
import itertools
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any, cast

from bench.measure.cells import Cell, Harness, Profile, case_for, check_result, check_state
from bench.measure.concurrency import BatchStats, Execution, concurrency_measures
from bench.measure.counting import Observation
from bench.measure.layers import LayerSampling, SamplerUnavailable, sample_layers
from bench.measure.memory import trace_memory
from bench.measure.timing import event_loop_seconds, interleave
from bench.measure.workloads import WORKLOADS, Case, new_user
from bench.results.statistics import (
    Sample,
    ratio_interval,
    ratio_less_overhead,
)
from bench.safety import stopping
from implementations._async import AsyncVariant
from implementations.registry import BASELINE_VARIANT, load_variant

#: the cell whose reset is checked against a steady loop of the same call without one
FLOOR_CELL = ("crud_create", BASELINE_VARIANT, 1)
#: numbers of the users the steady loop inserts: far above any seed's
_STEADY_FIRST_USER = 50_000_000


@dataclass(frozen=True, order=True)
class Group:
    """The cells timed together: every variant of one (backend, workload, size), direct and
    through the delay proxy at each round-trip time, so that a measurement through the proxy
    and the direct one it is set beside meet the machine at the same moments."""

    backend: str
    workload: str
    size: int

    @classmethod
    def of(cls, cell: Cell) -> Group:
        return cls(cell.backend, cell.workload, cell.size)


#: the harness a cell runs on: its backend's, or one whose connections go through a proxy
HarnessFor = Callable[[Cell], Harness]


@dataclass
class Timed:
    """A cell that was verified, counted and timed."""

    cell: Cell
    observation: Observation
    rows: int
    durations: list[float] = field(default_factory=list)
    #: the CPU seconds of the thread that ran each timed round (read outside its timing)
    cpu_durations: list[float] = field(default_factory=list)
    passes: list[int] = field(default_factory=list)
    #: measures computed from the whole group (ratios, intervals)
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def sample(self) -> Sample:
        return Sample(self.durations, self.passes)

    @property
    def sample_per_row(self) -> Sample:
        """The rounds' seconds per row: what is compared between the variants of a group,
        which do the same rows (but for a concurrent workload's variant that runs fewer of
        its units)."""
        return Sample([duration / self.rows for duration in self.durations], self.passes)


@dataclass
class Failed:
    """A cell that failed verification, counting or a timed round."""

    cell: Cell
    error: BaseException


@dataclass
class Skipped:
    """A cell not run, and why (a style past the latency budget at a lower rate)."""

    cell: Cell
    reason: str


Outcome = Timed | Failed | Skipped

#: the p99 latency an open loop's rate must keep to, in ms, unless the run says otherwise
DEFAULT_LATENCY_BUDGET_MS = 50.0


def measure_group(
    harness: Harness | HarnessFor,
    cells: Sequence[Cell],
    profile: Profile,
    sampling: LayerSampling | None = None,
) -> dict[Cell, Outcome]:
    """Verify, count and time the cells of one group in alternation, then measure their memory
    and (with ``sampling``) their time by layer; ``harness`` is the backend's, or says which
    each cell runs on (all on the same database)."""
    harness_for: HarnessFor = (lambda cell: harness) if isinstance(harness, Harness) else harness
    first = cells[0]
    workload = WORKLOADS[first.workload]
    # the same seed for every cell; a concurrent workload's variant may run fewer units of it
    cases = {cell: case_for(cell, profile) for cell in cells}
    outcomes: dict[Cell, Outcome] = {}
    timed: dict[Cell, Timed] = {}
    for cell in cells:
        case = cases[cell]
        try:
            own = harness_for(cell)
            own.verify(cell, case)
            timed[cell] = Timed(cell, own.count(cell, case, reset=workload.mutates), case.rows)
        except Exception as exc:  # this cell fails; the others are still measured
            outcomes[cell] = Failed(cell, exc)
    if not timed:
        return outcomes

    runners = {
        cell: _Runner(harness_for(cell), cell, cases[cell], workload.mutates) for cell in timed
    }
    home = harness_for(first)
    try:
        home.backend.load_seed(cases[first].seed)
        with frozen_heap():
            _time_rounds(home, runners, outcomes, timed, profile)
            _instrument(runners, outcomes, timed, profile, sampling)
    finally:
        if workload.kind == "concurrent":
            for cell in cells:
                harness_for(cell).release_workers(cell.variant)
            for own in {id(h): h for h in map(harness_for, cells)}.values():
                own.close_workers()
    for cell, result in timed.items():
        concurrent = runners[cell].concurrent
        if concurrent is not None and runners[cell].batches:
            result.extra.update(
                concurrency_measures(
                    concurrent.workers,
                    concurrent.workers_kind,
                    result.rows,
                    result.durations,
                    runners[cell].batches,
                    concurrent.arrivals,
                )
            )
    outcomes.update(timed)
    return outcomes


#: a warm-up round this long needs no second one
LONG_ROUND_SECONDS = 0.1


@contextmanager
def frozen_heap() -> Iterator[None]:
    """Keep the harness's own objects (pytest's, the cases', the results') out of Python's
    cyclic garbage collector while the rounds run. A full collection scans every tracked
    object: with the harness's heap in it, one took about 100 ms, landing in whichever round
    happened to trigger it, whatever style's garbage had caused it. Frozen, a collection
    costs what the style's own objects cost, as in an application's process."""
    gc.collect()
    gc.freeze()
    try:
        yield
    finally:
        gc.unfreeze()


def _time_rounds(
    harness: Harness,
    runners: dict[Cell, _Runner],
    outcomes: dict[Cell, Outcome],
    timed: dict[Cell, Timed],
    profile: Profile,
) -> None:
    first = next(iter(runners))
    workload = WORKLOADS[first.workload]
    seed = runners[first].case.seed
    backend = harness.backend
    # at least one warm round: it sizes the timed ones. A round that takes long is warm after
    # one (its verified and counted executions came before it), so only short ones get more
    round_seconds = _untimed_pass(runners, outcomes, timed)
    for _ in range(profile.warmup_rounds - 1):
        short = [cell for cell in timed if round_seconds.get(cell, 0.0) < LONG_ROUND_SECONDS]
        if short:
            round_seconds.update(_untimed_pass(runners, outcomes, timed, short))
    plan = interleave(
        {
            cell: profile.concurrent_rounds
            if workload.kind == "concurrent"
            else profile.rounds_for(seconds)
            for cell, seconds in round_seconds.items()
        }
    )
    last_pass = {cell: index for index, members in enumerate(plan) for cell in members}
    for index, members in enumerate(plan):
        if workload.mutates and index and backend.maintain(seed):
            # what the maintenance invalidated is rebuilt in an untimed round, not a timed one
            _untimed_pass(runners, outcomes, timed)
        for cell in members:
            if cell not in timed:
                continue
            try:
                duration, cpu = runners[cell].timed_round(check_rows=index == last_pass[cell])
            except Exception as exc:
                outcomes[cell] = Failed(cell, exc)
                del timed[cell]
                continue
            timed[cell].durations.append(duration)
            timed[cell].cpu_durations.append(cpu)
            timed[cell].passes.append(index)

    _compare_with_baseline(timed, len(plan))
    for cell, result in timed.items():
        variant = runners[cell].harness.variant(cell.variant)
        if isinstance(variant, AsyncVariant):
            result.extra["event_loop_s"] = event_loop_seconds(variant.loop)
    _compare_with_sync(timed, len(plan))
    if (first.workload, BASELINE_VARIANT, first.size) == FLOOR_CELL and first.rtt_ms is None:
        baseline = timed.get(Cell(first.workload, BASELINE_VARIANT, first.backend, first.size))
        if baseline is not None:
            baseline.extra["steady_loop"] = steady_loop_check(
                harness, runners[baseline.cell], profile
            )


class _Runner:
    """One cell's rounds: the seed restored (untimed) when the workload changes data, then one
    timed execution whose result is checked."""

    def __init__(self, harness: Harness, cell: Cell, case: Case, mutates: bool) -> None:
        self.harness = harness
        self.cell = cell
        self.case = case
        self.mutates = mutates
        self.run: Callable[[Any], Any] = harness.execution(cell)
        #: a concurrent workload's execution, and its account of each timed round
        self.concurrent: Execution | None = (
            cast(Execution, self.run) if WORKLOADS[cell.workload].kind == "concurrent" else None
        )
        self.batches: list[BatchStats] = []

    def round(self) -> tuple[float, float, float]:
        """Seconds the reset took, seconds the execution took, and its CPU seconds."""
        # the Ctrl-C that a finalizer swallowed is seen here, not after the whole group
        stopping.raise_if_requested()
        reset_started = time.perf_counter()
        if self.mutates:
            self.harness.backend.reset(self.case.seed)
        # every round starts with no garbage left by the one before (which may be another
        # style's) or by the reset: a collection inside the round is one its own allocations
        # caused
        gc.collect()
        # the CPU clock is read outside the timed interval (a read takes a system call)
        cpu_started = time.thread_time()
        started = time.perf_counter()
        result = self.run(self.case.argument)
        duration = time.perf_counter() - started
        cpu = time.thread_time() - cpu_started
        if self.concurrent is not None:
            # from the workers' start to the last commit: not what handing the requests to
            # worker processes took before they started
            duration = self.concurrent.last.wall_seconds
        check_result(self.cell, self.case, result)
        return started - reset_started, duration, cpu

    def instrumented(
        self, result: Timed, profile: Profile, sampling: LayerSampling | None
    ) -> dict[str, Any]:
        """The cell's memory (``peak_bytes``, and ``bytes_per_row`` of a reading workload) and
        its time by layer (not of a concurrent workload, whose time is its worker threads'):
        its median round shared out between waiting and the CPU as its timed rounds were,
        and the CPU time between the layers as the samples of executions of its own fell."""
        stopping.raise_if_requested()
        workload = WORKLOADS[self.cell.workload]
        reset = self._reset if self.mutates else None
        if self.concurrent is not None and self.concurrent.workers_kind == "process":
            return {}  # its memory is the worker processes', which tracemalloc here cannot see
        peak = trace_memory(self.run, self.case.argument, reset, self._check)
        measures: dict[str, Any] = {"peak_bytes": peak}
        if workload.reads and self.case.rows:
            measures["bytes_per_row"] = peak / self.case.rows
        if sampling is None or workload.kind == "concurrent":
            return measures
        if sampling.unavailable is not None:
            return {**measures, "time_by_layer": None}
        try:
            samples = sample_layers(
                self.run, self.case.argument, profile.layer_seconds, reset, self._check
            )
            median = result.sample.median
            cpu_share = sum(result.cpu_durations) / sum(result.durations)
            measures["time_by_layer"] = samples.time_by_layer(median, median * cpu_share)
        except SamplerUnavailable as exc:
            sampling.unavailable = str(exc)
            return {**measures, "time_by_layer": None}
        measures["layer_samples"] = samples.sample_count
        measures["layer_executions"] = samples.executions
        return measures

    def _reset(self) -> None:
        self.harness.backend.reset(self.case.seed)

    def _check(self, result: Any) -> None:
        check_result(self.cell, self.case, result)

    def timed_round(self, check_rows: bool) -> tuple[float, float]:
        _, duration, cpu = self.round()
        if self.concurrent is not None:
            self.batches.append(self.concurrent.last)
        if check_rows:
            check_state(self.cell, self.harness.backend, self.case)
        return duration, min(cpu, duration)


def _untimed_pass(
    runners: dict[Cell, _Runner],
    outcomes: dict[Cell, Outcome],
    timed: dict[Cell, Timed],
    only: list[Cell] | None = None,
) -> dict[Cell, float]:
    """One round of every variant still in the group (or of those in ``only``); the seconds
    each round took, reset included (what sizes the rounds)."""
    seconds = {}
    for cell in list(timed) if only is None else [c for c in only if c in timed]:
        try:
            reset_seconds, run_seconds, _ = runners[cell].round()
        except Exception as exc:
            outcomes[cell] = Failed(cell, exc)
            del timed[cell]
            continue
        seconds[cell] = run_seconds + reset_seconds
    return seconds


def _instrument(
    runners: dict[Cell, _Runner],
    outcomes: dict[Cell, Outcome],
    timed: dict[Cell, Timed],
    profile: Profile,
    sampling: LayerSampling | None,
) -> None:
    """Each cell's memory and time by layer, from executions of their own after its timed
    rounds (its caches as warm as theirs)."""
    for cell in list(timed):
        try:
            timed[cell].extra.update(runners[cell].instrumented(timed[cell], profile, sampling))
        except Exception as exc:
            outcomes[cell] = Failed(cell, exc)
            del timed[cell]


def _compare_with_baseline(timed: dict[Cell, Timed], pass_count: int) -> None:
    # each cell against the raw driver's at the same delay
    baselines = {t.cell.rtt_ms: t for t in timed.values() if t.cell.variant == BASELINE_VARIANT}
    for cell, result in timed.items():
        result.extra["pass_count"] = pass_count
        result.extra["interleaved_with"] = sorted(
            c.variant if c.rtt_ms == cell.rtt_ms else c.id for c in timed if c != cell
        )
        baseline = baselines.get(cell.rtt_ms)
        if baseline is None or result is baseline:
            continue
        mine, theirs = result.sample_per_row, baseline.sample_per_row
        result.extra["ratio_to_dbapi"] = mine.median / theirs.median
        result.extra["ratio_to_dbapi_ci95"] = list(ratio_interval(mine, theirs, pass_count))


def _compare_with_sync(timed: dict[Cell, Timed], pass_count: int) -> None:
    """An asyncio variant against its synchronous form, timed in the same passes: its rounds
    less the event loop's own cost of an execution (``event_loop_s``), as the report reads it
    (one computation for both: :func:`bench.results.statistics.ratio_less_overhead`)."""
    by_variant = {(t.cell.variant, t.cell.rtt_ms): t for t in timed.values()}
    for cell, result in timed.items():
        sync_variant = load_variant(cell.variant).sync_counterpart
        counterpart = by_variant.get((sync_variant, cell.rtt_ms)) if sync_variant else None
        if counterpart is None:
            continue
        result.extra["sync_counterpart"] = counterpart.cell.variant
        ratio, interval = ratio_less_overhead(
            Sample(result.durations, result.passes),
            Sample(counterpart.durations, counterpart.passes),
            result.extra.get("event_loop_s", 0.0),
            pass_count,
        )
        result.extra["ratio_to_sync"] = ratio
        result.extra["ratio_to_sync_ci95"] = list(interval)


def steady_loop_check(harness: Harness, cell_runner: _Runner, profile: Profile) -> dict[str, Any]:
    """How much of the cell's time the reset leaves behind: the cell's own rounds (reset, then
    the timed execution) alternated in blocks with a steady loop of the same call inserting
    new users, with no reset between executions."""
    run = cell_runner.run
    backend = harness.backend
    numbers = itertools.count(_STEADY_FIRST_USER)
    blocks, per_block = profile.steady_blocks
    steady_durations: list[float] = []
    steady_passes: list[int] = []
    cell_durations: list[float] = []
    cell_passes: list[int] = []
    for block in range(blocks):
        backend.reset(cell_runner.case.seed)
        run([new_user(next(numbers))])  # the first after a reset is not steady
        for _ in range(per_block):
            users = [new_user(next(numbers))]
            gc.collect()
            started = time.perf_counter()
            run(users)
            steady_durations.append(time.perf_counter() - started)
            steady_passes.append(block)
        for _ in range(per_block):
            cell_durations.append(cell_runner.round()[1])
            cell_passes.append(block)
    steady = Sample(steady_durations, steady_passes)
    after_reset = Sample(cell_durations, cell_passes)
    return {
        "steady_median_s": steady.median,
        "cell_median_s": after_reset.median,
        "ratio": after_reset.median / steady.median,
        "ratio_ci95": list(ratio_interval(after_reset, steady, blocks)),
        "executions": len(steady_durations),
    }


class GroupRunner:
    """Measures each group when the first of its cells' tests runs; hands every cell's test
    its outcome. Of an open loop's rates, lowest first, a style whose p99 latency passed the
    budget at one rate (or that failed there) is not run at the higher ones: its queue only
    grows (the sweep to the highest rate within the budget)."""

    def __init__(
        self,
        profile: Profile,
        cells: Iterable[Cell],
        sampling: LayerSampling | None = None,
        latency_budget_ms: float = DEFAULT_LATENCY_BUDGET_MS,
    ) -> None:
        self.profile = profile
        self.sampling = sampling
        self.latency_budget_ms = latency_budget_ms
        self._members: dict[Group, list[Cell]] = {}
        for cell in cells:
            self._members.setdefault(Group.of(cell), []).append(cell)
        self._outcomes: dict[Cell, Outcome] = {}
        #: (backend, delay, variant) -> the rate at which that style passed the budget
        self._past_budget: dict[tuple[str, float | None, str], str] = {}

    def outcome(self, harness: Harness | HarnessFor, cell: Cell) -> Outcome:
        if cell not in self._outcomes:
            members = self._members.get(Group.of(cell), [cell])
            if WORKLOADS[cell.workload].at_rate:
                members = self._within_budget(members)
            if members:
                try:
                    measured = measure_group(harness, members, self.profile, self.sampling)
                except Exception as exc:  # the group could not be measured: each cell says why
                    measured = {member: Failed(member, exc) for member in members}
                self._outcomes.update(measured)
                if WORKLOADS[cell.workload].at_rate:
                    self._note_budget(measured)
        return self._outcomes.pop(cell)

    def _key(self, cell: Cell) -> tuple[str, float | None, str]:
        return (cell.backend, cell.rtt_ms, cell.variant)

    def _within_budget(self, members: list[Cell]) -> list[Cell]:
        """The members whose style kept within the budget at every lower rate; the others'
        outcome is Skipped."""
        kept = []
        for member in members:
            past = self._past_budget.get(self._key(member))
            if past is None:
                kept.append(member)
            else:
                self._outcomes[member] = Skipped(member, past)
        return kept

    def _note_budget(self, measured: dict[Cell, Outcome]) -> None:
        for member, outcome in measured.items():
            if isinstance(outcome, Failed):
                reason = f"failed at {member.size}/s"
            elif isinstance(outcome, Timed) and outcome.extra["p99_ms"] > self.latency_budget_ms:
                reason = (
                    f"p99 {outcome.extra['p99_ms']:.0f} ms passed the "
                    f"{self.latency_budget_ms:g} ms budget at {member.size}/s"
                )
            else:
                continue
            self._past_budget[self._key(member)] = reason
