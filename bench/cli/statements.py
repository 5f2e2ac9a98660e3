"""``python -m bench statements``: the SQL each variant sends for one workload execution,
numbered, with its parameter counts, and what it cost in total.

Each variant runs once untimed to warm up and once observed, from the workload's seed state,
on a throwaway database, exactly as the benchmark counts it.
"""

from __future__ import annotations

import argparse
from collections import Counter
from collections.abc import Sequence

from bench.backends import BackendType, backend_type
from bench.backends.servers import Server
from bench.cli.servers import on_one_server
from bench.cli.usage import UsageError, backends_of
from bench.measure.cells import Cell, Harness, runs_on
from bench.measure.counting import ClientCall, Observation
from bench.measure.sizes import sizes_for
from bench.measure.sql_text import abbreviate_sql
from bench.measure.workloads import WORKLOADS
from bench.safety import stopping
from implementations.differences import SAME_SQL, sql_marker
from implementations.registry import BASELINE_VARIANT, VARIANTS, load_variant


def sql_against_baseline(variant: str, workload: str, backend: str) -> str:
    """The same SQL as dbapi's, or the declared reason it differs."""
    if variant == BASELINE_VARIANT:
        return "the baseline the others are compared with"
    marker = sql_marker(variant, workload, backend)
    return "same SQL as dbapi" if marker == SAME_SQL else f"other SQL than dbapi: {marker}"


def describe_call(call: ClientCall) -> str:
    if call.executemany:
        return (
            f"executemany: {call.parameter_sets} parameter sets of {call.parameters} "
            f"parameter{'s' if call.parameters != 1 else ''}"
        )
    return f"execute: {call.parameters} parameter{'s' if call.parameters != 1 else ''}"


def statement_kinds(statements: Sequence[str]) -> str:
    kinds = Counter(
        (statement.split(None, 1) or ["?"])[0].upper().rstrip(";") for statement in statements
    )
    return ", ".join(f"{kind} {count}" for kind, count in kinds.items())


def totals(observation: Observation, kind: BackendType) -> str:
    parts = [
        f"cursor calls {observation.cursor_calls}",
        f"database statements {observation.db_statements} "
        f"({statement_kinds(observation.server_statements)})",
    ]
    if kind.networked:
        parts.append(f"round trips {observation.round_trips}")
    else:
        parts.append(f"round trips {observation.round_trips} ({kind.title}: = database statements)")
    if observation.bytes_sent is not None:
        parts.append(f"{observation.bytes_sent} bytes sent, {observation.bytes_received} received")
    if observation.connections_opened:
        parts.append(f"connections opened {observation.connections_opened}")
    return "; ".join(parts)


def side_by_side(observations: dict[str, Observation], kind: BackendType) -> str:
    """The totals of every variant in one table."""
    header = ("variant", "cursor calls", "db statements", "round trips")
    rows = [
        (name, str(o.cursor_calls), str(o.db_statements), str(o.round_trips))
        for name, o in observations.items()
    ]
    widths = [max(len(row[i]) for row in (header, *rows)) for i in range(len(header))]
    lines = [
        "  ".join(
            cell.ljust(width) if i == 0 else cell.rjust(width)
            for i, (cell, width) in enumerate(zip(row, widths, strict=True))
        )
        for row in (header, *rows)
    ]
    note = "" if kind.networked else f"  ({kind.title}: round trips = database statements)"
    return "\n".join(["side by side:" + note, *("  " + line for line in lines)])


def print_statements(
    workload_name: str,
    kind: BackendType,
    size: int,
    variants: Sequence[str],
    server: Server,
) -> None:
    workload = WORKLOADS[workload_name]
    # (a concurrent workload's count is one unit of work, whatever the number of workers)
    size = (sizes_for(workload, (size,)) or (1,))[0]
    case = workload.case(size)
    applicable = [
        name
        for name in variants
        if workload.implemented_by(load_variant(name)) and runs_on(name, kind.name)
    ]
    not_applicable = [name for name in variants if name not in applicable]
    with kind.open(server) as backend:
        harness = Harness(backend)
        try:
            print(f"{workload_name} at size {size} on {kind.name} {backend.describe()['version']}")
            print(f"  {workload.description}")
            observations = {}
            for name in applicable:
                # a Ctrl-C lost in a finalizer stops before the next variant, not at the end
                stopping.raise_if_requested()
                variant = load_variant(name)
                observation = harness.count(Cell(workload_name, name, kind.name, size), case)
                observations[name] = observation
                print(f"\n{name}: {variant.label()}")
                print(f"  how: {workload.describe(variant)}")
                print(f"  SQL: {sql_against_baseline(name, workload_name, kind.name)}")
                for number, call in enumerate(observation.client_calls, 1):
                    print(f"  {number:>3}. {abbreviate_sql(call.sql)}")
                    print(f"       {describe_call(call)}")
                print(f"  totals: {totals(observation, kind)}")
        finally:
            harness.close()
    print(f"\n{side_by_side(observations, kind)}")
    if not_applicable:
        print(
            f"\nn/a (these variants do not implement {workload_name} on {kind.title}): "
            + ", ".join(not_applicable)
        )


def command_statements(args: argparse.Namespace) -> int:
    variants = tuple(dict.fromkeys(args.variant or VARIANTS))
    if not any(
        WORKLOADS[args.workload].implemented_by(load_variant(variant)) for variant in variants
    ):
        raise UsageError(f"no selected variant implements {args.workload}")
    kind = backend_type(args.backend)
    if not any(runs_on(variant, kind.name) for variant in variants):
        raise UsageError(
            f"the selected variants ({', '.join(variants)}) do not run on {kind.title}; "
            f"{variants[0]} runs on {', '.join(backends_of(variants[0]))}"
        )
    return on_one_server(
        kind,
        args,
        lambda server: print_statements(args.workload, kind, args.size, variants, server),
        # a variant that failed its verification
        failures=(AssertionError,),
    )
