"""Timing a group: the variants of one workload and size meet the same machine, in
alternation; a variant that fails drops out alone; rounds are sized from a warm execution."""

from __future__ import annotations

import pytest

import bench.backends.sqlite.backend
import bench.measure.groups
from bench.backends import Backend
from bench.measure.cells import PROFILES, Cell, Harness, Profile, VerificationError
from bench.measure.groups import Failed, Outcome, Timed, measure_group
from implementations.registry import VARIANTS

QUICK = PROFILES["quick"]


def _cells(workload: str, variants: list[str], backend: str, size: int) -> list[Cell]:
    return [Cell(workload, variant, backend, size) for variant in variants]


def _timed(outcome: Outcome) -> Timed:
    if isinstance(outcome, Failed):
        raise AssertionError(f"{outcome.cell} failed: {outcome.error}")
    assert isinstance(outcome, Timed), outcome
    return outcome


def test_a_group_is_timed_in_alternation(harness: Harness, backend: Backend) -> None:
    cells = _cells("crud_update", ["orm", "core", "dbapi"], backend.name, 3)
    outcomes = {cell: _timed(o) for cell, o in measure_group(harness, cells, QUICK).items()}
    assert set(outcomes) == set(cells)
    pass_count = {o.extra["pass_count"] for o in outcomes.values()}.pop()
    for cell, outcome in outcomes.items():
        rounds = len(outcome.durations)
        assert QUICK.min_rounds <= rounds <= QUICK.max_rounds
        assert outcome.passes == sorted(set(outcome.passes))
        # spread over the whole group: early in it, and in its last pass
        assert outcome.passes[0] < pass_count / rounds and outcome.passes[-1] == pass_count - 1
        assert outcome.extra["interleaved_with"] == sorted(c.variant for c in cells if c != cell)
        if cell.variant == "dbapi":
            assert "ratio_to_dbapi" not in outcome.extra
        else:
            low, high = outcome.extra["ratio_to_dbapi_ci95"]
            assert low <= high and outcome.extra["ratio_to_dbapi"] > 0


def test_a_failing_variant_drops_out_and_the_others_are_timed(
    sqlite_harness: Harness, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(VARIANTS, "broken_update", "broken_variants:SkipsLastChange")
    cells = _cells("crud_update", ["broken_update", "core", "dbapi"], "sqlite", 4)
    outcomes = measure_group(sqlite_harness, cells, QUICK)
    broken = outcomes[cells[0]]
    assert isinstance(broken, Failed) and isinstance(broken.error, VerificationError)
    assert "user_account holds" in str(broken.error)
    for cell in cells[1:]:
        assert len(_timed(outcomes[cell]).durations) >= QUICK.min_rounds


def test_rounds_are_sized_from_a_warm_execution(
    sqlite_harness: Harness, monkeypatch: pytest.MonkeyPatch
) -> None:
    # the first execution takes 0.3 s, every later one about a millisecond: sized from the
    # first, the cell would get the fewest rounds; from a warm one, the most
    monkeypatch.setitem(VARIANTS, "slow_first", "broken_variants:SlowFirstRead")
    cells = _cells("crud_read", ["slow_first", "dbapi"], "sqlite", 2)
    outcome = _timed(measure_group(sqlite_harness, cells, QUICK)[cells[0]])
    assert len(outcome.durations) == QUICK.max_rounds
    assert max(outcome.durations) < 0.3


def test_the_reset_is_checked_against_a_steady_loop(harness: Harness, backend: Backend) -> None:
    cells = _cells("crud_create", ["core", "dbapi"], backend.name, 1)
    outcomes = measure_group(harness, cells, QUICK)
    check = _timed(outcomes[cells[1]]).extra["steady_loop"]
    blocks, per_block = QUICK.steady_blocks
    assert check["executions"] == blocks * per_block
    assert check["steady_median_s"] > 0 and check["cell_median_s"] > 0
    assert check["ratio_ci95"][0] <= check["ratio_ci95"][1]
    assert "steady_loop" not in _timed(outcomes[cells[0]]).extra


def test_maintenance_between_passes_keeps_every_round_verified(
    sqlite_harness: Harness, monkeypatch: pytest.MonkeyPatch
) -> None:
    # a log limit of one byte: the harness checkpoints between every two passes, and gives
    # each variant an untimed round after each checkpoint
    monkeypatch.setattr(bench.backends.sqlite.backend, "SQLITE_WAL_LIMIT", 1)
    checkpoints = []
    original = bench.backends.sqlite.backend.SqliteBackend.checkpoint

    def counted(backend: bench.backends.sqlite.backend.SqliteBackend) -> None:
        checkpoints.append(backend.wal_size())
        original(backend)

    monkeypatch.setattr(bench.backends.sqlite.backend.SqliteBackend, "checkpoint", counted)
    cells = _cells("parent_child_append", ["orm", "dbapi"], "sqlite", 3)
    outcomes = measure_group(sqlite_harness, cells, QUICK)
    pass_count = _timed(outcomes[cells[0]]).extra["pass_count"]
    # one when the seed was loaded, then one between each two passes
    assert len(checkpoints) == pass_count
    assert all(size > 0 for size in checkpoints[1:])
    for cell in cells:
        assert len(_timed(outcomes[cell]).durations) >= QUICK.min_rounds


@pytest.mark.parametrize(("long_round_seconds", "warm_rounds"), [(10.0, 2), (0.0, 1)])
def test_a_long_round_gets_one_warm_up_round_only(
    sqlite_harness: Harness,
    monkeypatch: pytest.MonkeyPatch,
    long_round_seconds: float,
    warm_rounds: int,
) -> None:
    # a round taking at least LONG_ROUND_SECONDS is warm after one: its verified and counted
    # executions came before it
    monkeypatch.setattr(bench.measure.groups, "LONG_ROUND_SECONDS", long_round_seconds)
    name = f"counted_read_{warm_rounds}"
    monkeypatch.setitem(VARIANTS, name, "broken_variants:CountedRead")
    profile = Profile(
        "test", 2, min_rounds=5, max_rounds=5, target_seconds=0.01, steady_blocks=(2, 2)
    )
    cells = _cells("crud_read", [name, "dbapi"], "sqlite", 2)
    outcome = _timed(measure_group(sqlite_harness, cells, profile)[cells[0]])
    timed_instance = sqlite_harness.variant(name)
    # verified once, then the warm-up rounds, then the timed ones, then one traced for its
    # memory (no sampler here: no executions for the layers)
    executions = 1 + warm_rounds + len(outcome.durations) + 1
    assert timed_instance.executions == executions  # type: ignore[attr-defined]


def test_a_variant_runs_up_to_its_largest_default_size_unless_sizes_are_asked_for() -> None:
    from bench.plugin.selection import Selection

    default = Selection(variants=("orm", "orm_lazy"), backends=("sqlite",), sizes=(1, 100, 1000))
    lazy_sizes = [c.size for c in default.cells("parent_child_read") if c.variant == "orm_lazy"]
    assert lazy_sizes == [1, 100]
    assert 1000 in [c.size for c in default.cells("parent_child_read") if c.variant == "orm"]
    assert default.size_limits() == {"orm_lazy": 100}
    asked = Selection(variants=("orm_lazy",), backends=("sqlite",), sizes=(1000,), sizes_given=True)
    assert [c.size for c in asked.cells("parent_child_read")] == [1000]
    assert asked.size_limits() == {}
