"""Every style at its best, proven: no variant builds a statement inside its timed call (unless
it declares why), and every variant sends the same SQL as ``dbapi`` or a difference declared in
``implementations/differences.py``. Planted faults show that both checks catch what they are
for."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from bench.backends import Backend, backend_types
from bench.measure.cells import Cell, Harness, case_for, runs_on
from bench.measure.counting import ClientCall
from bench.measure.fairness import (
    BuiltInCall,
    first_difference,
    normalize_sql,
    sql_signature,
    statements_built_during,
)
from bench.measure.workloads import WORKLOADS
from implementations import registry
from implementations.differences import (
    BUILT_PER_CALL,
    DIFFERENCES,
    declared_differences,
    documentation_tables,
    sql_marker,
)
from implementations.registry import BASELINE_VARIANT, VARIANTS, load_variant

from helpers import per_backend

IMPLEMENTED = [
    (workload, variant)
    for workload in WORKLOADS
    for variant in VARIANTS
    if WORKLOADS[workload].implemented_by(load_variant(variant))
]
#: sizes the SQL is compared at: one row, and several (a run of statements, a list of ids)
SIZES = (1, 7)


def _built_in_call(harness: Harness, backend: Backend, workload: str, variant: str) -> list[Any]:
    """What one execution of the variant built inside the call (after a warm-up and a first
    execution); of a concurrent workload, one request, called in this thread."""
    cell = Cell(workload, variant, backend.name, 3)
    if WORKLOADS[workload].kind == "concurrent":
        cell = Cell(workload, variant, backend.name, 1)
        case = case_for(cell)
        instance = harness.variant(variant)
        method = getattr(instance, WORKLOADS[workload].method_of(type(instance)))
        if WORKLOADS[workload].workers_kind(type(instance)) == "task":
            loop = instance.loop  # type: ignore[attr-defined]  # an asyncio variant's own

            def one_request() -> object:
                return loop.run_until_complete(method(case.argument[0]))
        else:

            def one_request() -> object:
                return method(case.argument[0])

        instance.prepare_workers(1)
        try:
            return statements_built_during(one_request, lambda: backend.reset(case.seed))
        finally:
            instance.prepare_workers(0)
    case = case_for(cell)
    run = harness.execution(cell)
    return statements_built_during(lambda: run(case.argument), lambda: backend.reset(case.seed))


@pytest.mark.parametrize(
    ("backend", "workload", "variant"), per_backend(IMPLEMENTED), indirect=["backend"]
)
def test_statements_are_built_once(
    harness: Harness, backend: Backend, workload: str, variant: str
) -> None:
    built = _built_in_call(harness, backend, workload, variant)
    if (variant, workload) in BUILT_PER_CALL:
        assert built, f"{variant} declares it builds a statement per call, and built none"
    else:
        assert not built, f"{variant} {workload} built in the timed call: " + "; ".join(
            map(str, built)
        )


def _signature(harness: Harness, backend: Backend, workload: str, variant: str) -> list[Any]:
    """What the variant sends at each of the sizes, normalized."""
    signatures = []
    for size in SIZES if WORKLOADS[workload].kind == "batch" else (1,):
        cell = Cell(workload, variant, backend.name, size)
        signatures.append(sql_signature(harness.count(cell, case_for(cell)).client_calls))
    return signatures


@pytest.mark.parametrize("workload", list(WORKLOADS))
def test_the_same_sql_as_dbapi_or_a_declared_difference(
    harness: Harness, backend: Backend, workload: str
) -> None:
    # tasks run only the asyncio styles: their requests are dbapi's requests run by threads
    dbapi_does_it = WORKLOADS[workload].implemented_by(load_variant(BASELINE_VARIANT))
    baseline = _signature(
        harness, backend, workload if dbapi_does_it else "concurrent_requests", BASELINE_VARIANT
    )
    problems = []
    for variant in VARIANTS:
        if variant == BASELINE_VARIANT or not WORKLOADS[workload].implemented_by(
            load_variant(variant)
        ):
            continue
        if not runs_on(variant, backend.name):
            continue
        signatures = _signature(harness, backend, workload, variant)
        differences = [
            difference
            for mine, theirs in zip(signatures, baseline, strict=True)
            if (difference := first_difference(mine, theirs)) is not None
        ]
        declared = declared_differences(variant, workload, backend.name)
        if differences and not declared:
            problems.append(f"{variant}: undeclared: {differences[0]}")
        if declared and not differences:
            problems.append(f"{variant}: declared, but sends the same SQL as dbapi")
        harness.release_workers(variant)
    assert not problems, "\n".join(problems)


def test_every_declaration_names_what_exists() -> None:
    backends = {kind.name for kind in backend_types()}
    for difference in DIFFERENCES:
        assert set(difference.variants) <= set(VARIANTS), difference
        assert set(difference.workloads) <= set(WORKLOADS), difference
        assert difference.backends is None or set(difference.backends) <= backends
        assert difference.reason
    for variant, workload in BUILT_PER_CALL:
        assert WORKLOADS[workload].implemented_by(load_variant(variant))


def test_the_marker_says_same_sql_or_why() -> None:
    assert sql_marker("core", "crud_read", "postgres") == "same SQL"
    assert sql_marker("orm_bulk", "crud_read", "postgres") == "same SQL"
    assert sql_marker("orm", "crud_update", "sqlite").startswith("the unit of work loads")
    both = sql_marker("core", "parent_child_insert", "postgres")
    assert "insertmanyvalues" in both and "COPY" in both


# --- the normalization ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("first", "second"),
    [
        # SQLAlchemy's psycopg rendering and the hand-written statement
        (
            "SELECT user_account.id FROM user_account WHERE user_account.id = "
            "ANY (%(ids)s::INTEGER[]) ORDER BY user_account.id",
            "SELECT user_account.id FROM user_account WHERE user_account.id = ANY(%s) "
            "ORDER BY user_account.id",
        ),
        ("SELECT id FROM t WHERE id IN (?, ?, ?)", "select id from t where id in (%s)"),
        (
            'UPDATE "t" SET email=:email WHERE t.id = :id_1',
            "UPDATE t SET email = $1 WHERE t.id = $2",
        ),
        (
            "INSERT INTO t (a, b) VALUES (%s, %s), (%s, %s)",
            "INSERT INTO t (a, b) VALUES (?, ?)",
        ),
        ("SELECT t.a AS a_1, t.b AS b_1 FROM t;", "SELECT t.a, t.b FROM t"),
        (
            "SELECT a FROM t WHERE id = %(pk_1)s::INTEGER FOR UPDATE",
            "SELECT a FROM t WHERE id = ? FOR UPDATE",
        ),
    ],
)
def test_normalization_keeps_only_what_changes_the_meaning(first: str, second: str) -> None:
    assert normalize_sql(first) == normalize_sql(second)


@pytest.mark.parametrize(
    ("first", "second"),
    [
        ("SELECT a FROM t WHERE id = ? FOR UPDATE", "SELECT a FROM t WHERE id = ?"),
        ("SELECT a, b FROM t", "SELECT a FROM t"),
        ("DELETE FROM t WHERE id = ANY(?)", "DELETE FROM t WHERE id IN (?, ?)"),
        ("INSERT INTO t (a) VALUES (?) RETURNING id", "INSERT INTO t (a) VALUES (?)"),
        ("COPY t (a) FROM STDIN", "COPY t (a) FROM STDIN (FORMAT binary)"),
        # a qualifier says which table, and a cast is not a label
        (
            "SELECT a.id FROM a JOIN b ON a.id = b.a_id WHERE a.id = ?",
            "SELECT a.id FROM a JOIN b ON a.id = b.a_id WHERE b.id = ?",
        ),
        ("SELECT CAST(? AS INTEGER)", "SELECT CAST(? AS TEXT)"),
    ],
)
def test_normalization_keeps_what_does(first: str, second: str) -> None:
    assert normalize_sql(first) != normalize_sql(second)


def test_a_savepoint_is_not_transaction_control() -> None:
    calls = [ClientCall("SAVEPOINT sa_1", 1, 0, False), ClientCall("COMMIT", 1, 0, False)]
    assert [run.sql for run in sql_signature(calls)] == ["savepoint sa_1"]


def test_a_signature_merges_repeats_and_leaves_out_transaction_control() -> None:
    calls = [
        ClientCall("BEGIN", 1, 0, False),
        ClientCall("INSERT INTO t (a) VALUES (?)", 1, 1, False),
        ClientCall("INSERT INTO t (a) VALUES (%s)", 3, 1, True),
        ClientCall("COMMIT", 1, 0, False),
    ]
    (run,) = sql_signature(calls)
    assert (run.sql, run.parameter_sets) == ("insert into t(a) values (?)", 4)
    assert first_difference(sql_signature(calls), sql_signature(calls[:2])) is not None


# --- planted faults ---------------------------------------------------------------------------


@pytest.fixture
def planted() -> Iterator[Callable[[str, str], None]]:
    """Register a variant of tests/broken_variants.py under a name, for one test."""
    added: list[str] = []

    def plant(name: str, target: str) -> None:
        registry.VARIANTS[name] = f"broken_variants:{target}"
        registry.load_variant.cache_clear()
        added.append(name)

    yield plant
    for name in added:
        del registry.VARIANTS[name]
    registry.load_variant.cache_clear()


def test_a_statement_rebuilt_per_call_is_caught(
    planted: Callable[[str, str], None], harness: Harness, backend: Backend
) -> None:
    planted("planted_rebuilds", "RebuildsItsSelect")
    built: list[BuiltInCall] = _built_in_call(harness, backend, "crud_read", "planted_rebuilds")
    assert any(found.where.startswith("broken_variants.py:") for found in built), built
    assert any("cache key generated afresh" in found.what for found in built), built
    assert any("select()" in found.what for found in built), built


def test_a_statement_a_helper_module_builds_per_call_is_caught(
    planted: Callable[[str, str], None], harness: Harness, backend: Backend
) -> None:
    planted("planted_helper", "RebuildsThroughAHelper")
    built = _built_in_call(harness, backend, "crud_read", "planted_helper")
    assert any(
        found.where.startswith("statement_helper.py:") and "select()" in found.what
        for found in built
    ), built


def test_a_statement_compiled_in_every_call_is_caught(
    planted: Callable[[str, str], None], harness: Harness, backend: Backend
) -> None:
    planted("planted_compiles", "CompilesEveryCall")
    built = _built_in_call(harness, backend, "crud_read", "planted_compiles")
    assert [found.what.split(":")[0] for found in built] == ["compiled afresh"], built
    assert built[0].where.startswith("broken_variants.py:"), built


def test_options_built_per_call_are_caught(
    planted: Callable[[str, str], None], harness: Harness, backend: Backend
) -> None:
    planted("planted_options", "BuildsItsLoaderPerCall")
    built = _built_in_call(harness, backend, "parent_child_read", "planted_options")
    assert any("selectinload" in found.what for found in built), built


def test_undeclared_different_sql_is_caught(
    planted: Callable[[str, str], None], harness: Harness, backend: Backend
) -> None:
    planted("planted_other_sql", "ReadsWithoutOrder")
    assert sql_marker("planted_other_sql", "crud_read", backend.name) == "same SQL"
    (mine,) = _signature(harness, backend, "crud_read", "planted_other_sql")[-1:]
    (theirs,) = _signature(harness, backend, "crud_read", BASELINE_VARIANT)[-1:]
    difference = first_difference(mine, theirs)
    assert difference is not None and "order by" in difference, difference


def test_the_documentation_lists_every_declared_difference() -> None:
    docs = (Path(__file__).parent.parent / "docs" / "at-its-best.md").read_text()
    assert documentation_tables() in docs, (
        "docs/at-its-best.md does not list implementations/differences.py's declarations as "
        "they are: paste the output of `python -m implementations.differences` in place of "
        "its tables"
    )
