"""Every variant does the same work: from the same seed, each variant's result and the rows it
leaves equal the workload's definition, and so every other variant's, on every backend."""

from __future__ import annotations

from typing import Any

import pytest

from bench.backends import Backend
from bench.measure.cells import Cell, Harness, VerificationError, case_for, runs_on
from bench.measure.sizes import sizes_for
from bench.measure.workloads import WORKLOADS
from implementations.registry import VARIANTS, load_variant

from helpers import per_backend

IMPLEMENTED = [
    (workload, variant)
    for workload in WORKLOADS
    for variant in VARIANTS
    if WORKLOADS[workload].implemented_by(load_variant(variant))
]


def _sizes(workload: str) -> tuple[int, ...]:
    # an open loop's size is its rate: 200 requests a second, for a second
    return sizes_for(WORKLOADS[workload], (1, 7), rates=(200,))


@pytest.mark.parametrize(
    ("backend", "workload", "variant"), per_backend(IMPLEMENTED), indirect=["backend"]
)
def test_variant_does_exactly_the_workload(
    harness: Harness, backend: Backend, workload: str, variant: str
) -> None:
    # (a concurrent workload's sizes are its numbers of workers, 1 and 7 here; an open loop's
    # its rate)
    try:
        for size in _sizes(workload):
            cell = Cell(workload, variant, backend.name, size)
            harness.verify(cell, case_for(cell))
    finally:
        harness.release_workers(variant)


@pytest.mark.parametrize("workload", list(WORKLOADS))
def test_all_variants_return_the_same_and_leave_the_same_rows(
    harness: Harness, backend: Backend, workload: str
) -> None:
    size = _sizes(workload)[-1]
    implementing = [
        v
        for v in VARIANTS
        if WORKLOADS[workload].implemented_by(load_variant(v)) and runs_on(v, backend.name)
    ]
    if not implementing:  # tasks on SQLite and MariaDB: the asyncio styles run on PostgreSQL
        pytest.skip(f"no variant runs {workload} on {backend.name}")
    # a concurrent workload's units that every variant runs (some run only the first ones)
    units = min(
        (u for v in implementing if (u := load_variant(v).concurrent_units) is not None),
        default=None,
    )
    case = WORKLOADS[workload].case(size, units)
    outcomes: dict[str, tuple[Any, Any]] = {}
    for variant in implementing:
        backend.reset(case.seed)
        result = harness.execution(Cell(workload, variant, backend.name, size))(case.argument)
        outcomes[variant] = (result, backend.snapshot())
        harness.release_workers(variant)
    assert len(outcomes) >= 3
    first_variant, first = next(iter(outcomes.items()))
    for variant, outcome in outcomes.items():
        assert outcome == first, f"{variant} differs from {first_variant}"


def test_the_reset_restarts_ids_and_restores_the_seed(harness: Harness, backend: Backend) -> None:
    case = WORKLOADS["parent_child_insert"].case(3)
    for _ in range(2):
        harness.verify(Cell("parent_child_insert", "core", backend.name, 3), case)
    backend.reset(WORKLOADS["crud_update"].case(3).seed)
    users, posts = backend.snapshot()
    assert [row[0] for row in users] == [1, 2, 3, 4, 5, 6]
    assert posts == ()


@pytest.mark.parametrize(
    ("workload", "broken", "complaint"),
    [
        ("crud_update", "broken_variants:SkipsLastChange", "user_account holds"),
        ("crud_create", "broken_variants:ReturnsIdsReversed", "the variant returned"),
        ("crud_delete", "broken_variants:DeletesEveryone", "user_account holds 0 rows"),
    ],
)
def test_a_variant_that_does_other_work_fails_verification(
    harness: Harness,
    backend: Backend,
    monkeypatch: pytest.MonkeyPatch,
    workload: str,
    broken: str,
    complaint: str,
) -> None:
    name = f"broken_{workload}"
    monkeypatch.setitem(VARIANTS, name, broken)
    with pytest.raises(VerificationError, match=complaint):
        harness.verify(Cell(workload, name, backend.name, 5), WORKLOADS[workload].case(5))


@pytest.mark.postgres
def test_a_read_left_open_fails_verification(
    postgres_harness: Harness, monkeypatch: pytest.MonkeyPatch
) -> None:
    # (on SQLite the driver begins no transaction for a read, so there is nothing to leave)
    monkeypatch.setitem(VARIANTS, "broken_read", "broken_variants:LeavesReadOpen")
    with pytest.raises(VerificationError, match="left its transaction open"):
        postgres_harness.verify(
            Cell("crud_read", "broken_read", "postgres", 3), WORKLOADS["crud_read"].case(3)
        )
    # the harness rolled it back: the next reset does not wait on its locks
    postgres_harness.verify(
        Cell("crud_update", "dbapi", "postgres", 3), WORKLOADS["crud_update"].case(3)
    )


def test_a_variant_committing_more_than_once_fails_the_count(
    harness: Harness, backend: Backend, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(VARIANTS, "broken_commits", "broken_variants:CommitsPerRow")
    cell = Cell("crud_update", "broken_commits", backend.name, 3)
    case = WORKLOADS["crud_update"].case(3)
    harness.verify(cell, case)  # the rows are right ...
    with pytest.raises(VerificationError, match=r"\d BEGIN, 3 COMMIT and 0 ROLLBACK of work done"):
        harness.count(cell, case)  # ... but it took three transactions


def test_variants_send_bound_parameters_not_values(harness: Harness, backend: Backend) -> None:
    """No input value is spliced into the SQL text: every string the workloads write or look
    up travels as a parameter. (The dialect's and the harness's own setup statements when a
    connection opens have no parameters, and touch no table.)"""
    for workload, variant in IMPLEMENTED:
        if not runs_on(variant, backend.name):
            continue
        size = _sizes(workload)[-1]
        case = WORKLOADS[workload].case(size)
        observation = harness.count(Cell(workload, variant, backend.name, size), case)
        for call in observation.client_calls:
            for value in ("user0000", "@example.", "Post 0 of user", "2024-05-17"):
                assert value not in call.sql, (workload, variant, call.sql)
            if "user_account" in call.sql or "user_blog_post" in call.sql:
                assert call.parameters > 0, (workload, variant, call.sql)
