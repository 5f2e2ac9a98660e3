"""A cell's record: every field the harness writes into a benchmark's ``extra_info``, declared
once with its type and meaning.

The measuring side checks what it writes against this declaration (:func:`undeclared`,
:func:`check_record`), the results are loaded through it (:func:`malformed_field`), and the
table of fields in ``docs/measures.md`` is generated from it (:func:`markdown_table`,
``python -m bench.results.record``). A new measure is one :class:`Field` here, its producer
and its renderer. Standard library only: the report reads it without the measuring code.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, replace
from typing import Any


@dataclass(frozen=True)
class Kind:
    """A field's type as the JSON holds it, and the check of a value read back."""

    #: how the documentation names the type
    name: str
    check: Callable[[Any], bool]


def _is_count(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value >= 0


def is_number(value: Any) -> bool:
    return (
        isinstance(value, (int, float))
        and not isinstance(value, bool)
        and math.isfinite(value)
        and value >= 0
    )


def _is_interval(value: Any) -> bool:
    return (
        isinstance(value, list)
        and len(value) == 2
        and all(is_number(bound) for bound in value)
        and value[0] <= value[1]
    )


#: a workload's, variant's or backend's name: the report's tables and the charts' file names
#: are made of them (fullmatch: ``$`` would let a trailing newline through)
_NAME = re.compile(r"[a-z][a-z0-9_]{0,63}")
NAME_RULE = "a name is a lower-case letter, then up to 63 lower-case letters, digits or _"


def is_name(value: Any) -> bool:
    return isinstance(value, str) and _NAME.fullmatch(value) is not None


NAME = Kind("name", is_name)
SIZE = Kind("int ≥ 1", lambda v: _is_count(v) and v >= 1)
COUNT = Kind("int ≥ 0", _is_count)
NUMBER = Kind("number ≥ 0", is_number)
FLAG = Kind("bool", lambda v: isinstance(v, bool))
TEXT = Kind("str", lambda v: isinstance(v, str))
INTERVAL = Kind("[low, high]", _is_interval)
TEXTS = Kind("[str, ...]", lambda v: isinstance(v, list) and all(isinstance(n, str) for n in v))
COUNTS = Kind("[int ≥ 0, ...]", lambda v: isinstance(v, list) and all(map(_is_count, v)))
COUNTS_BY_KIND = Kind(
    "{str: int ≥ 0}",
    lambda v: (
        isinstance(v, dict) and all(isinstance(k, str) and _is_count(n) for k, n in v.items())
    ),
)
#: the layers a cell's time is shared out between (``time_by_layer``), in the order the report
#: stacks them: SQLAlchemy's ORM, the rest of SQLAlchemy, the event loop with greenlet, the
#: driver, the variant's own code, and the time off the CPU
LAYERS = ("orm", "core", "event_loop", "driver", "variant", "waiting")

#: the event loop's own cost of one execution: a second or more is no loop's cost
LOOP_SECONDS = Kind("seconds < 1", lambda v: is_number(v) and v < 1)


def _is_time_by_layer(value: Any) -> bool:
    return (
        isinstance(value, dict)
        and set(value) == set(LAYERS)
        and all(is_number(seconds) for seconds in value.values())
    )


TIME_BY_LAYER = Kind("{" + ", ".join(LAYERS) + "} (seconds)", _is_time_by_layer)


def _is_steady_loop(value: Any) -> bool:
    keys = ("steady_median_s", "cell_median_s", "ratio")
    if not (isinstance(value, dict) and all(is_number(value.get(k)) for k in keys)):
        return False
    # the report formats the interval's bounds as numbers
    interval = value.get("ratio_ci95")
    return interval is None or (
        isinstance(interval, list) and len(interval) == 2 and all(map(is_number, interval))
    )


STEADY_LOOP = Kind("{steady_median_s, cell_median_s, ratio, ratio_ci95}", _is_steady_loop)


def _is_statement(value: Any) -> bool:
    if not (
        isinstance(value, dict)
        and isinstance(value.get("sql"), str)
        and _is_count(value.get("calls"))
        and isinstance(value.get("executemany"), bool)
    ):
        return False
    sets = value.get("parameter_sets")
    return set(value) <= {"sql", "calls", "executemany", "parameter_sets"} and (
        _is_count(sets) if value["executemany"] else sets is None
    )


def _is_sql_sent(value: Any) -> bool:
    return (
        isinstance(value, dict)
        and set(value) == {"statements", "left_out", "left_out_calls"}
        and isinstance(value["statements"], list)
        and all(map(_is_statement, value["statements"]))
        and _is_count(value["left_out"])
        and _is_count(value["left_out_calls"])
    )


SQL_SENT = Kind(
    "{statements: [{sql, calls, executemany, parameter_sets}, ...], left_out, left_out_calls}",
    _is_sql_sent,
)


@dataclass(frozen=True)
class Field:
    """One field of ``extra_info``."""

    name: str
    kind: Kind
    #: every cell written by this version has it, and loading refuses a cell without it
    required: bool = False
    #: null is a value it may hold (a figure the machine or server could not give)
    nullable: bool = False
    #: the name a loading error quotes, when the field is checked together with others
    reported_as: str = ""
    #: filled in by :func:`_row`: the row of the documentation's table it is in
    family: str = ""
    meaning: str = ""

    def accepts(self, value: Any) -> bool:
        return (value is None and self.nullable) or self.kind.check(value)

    @property
    def quoted(self) -> str:
        return self.reported_as or self.name


def _row(family: str, meaning: str, *fields: Field) -> tuple[Field, ...]:
    """Fields that share one meaning: one row of the table of fields."""
    return tuple(replace(f, family=family, meaning=" ".join(meaning.split())) for f in fields)


def _required(name: str, kind: Kind) -> Field:
    return Field(name, kind, required=True)


_CONCURRENCY = "concurrency measure"

FIELDS: tuple[Field, ...] = (
    *_row(
        "the cell",
        "the cell",
        _required("workload", NAME),
        _required("variant", NAME),
        _required("backend", NAME),
        _required("size", SIZE),
    ),
    *_row(
        "the cell",
        """the variant's label (the first line of its class's docstring), how it does this
        workload (the first paragraph of the workload method's docstring), and `true`: the cell
        passed verification""",
        Field("label", TEXT),
        Field("how", TEXT),
        Field("verified", FLAG),
    ),
    *_row(
        "counts",
        """DB-API `execute`/`executemany` calls the client made, counted in the driver's own
        cursor class (subclassed for the counting run): what `echo=True` lists, each
        insertmanyvalues batch one call, a new Engine's first-connect queries included""",
        _required("cursor_calls", COUNT),
    ),
    *_row(
        "counts",
        """statements the database executed, BEGIN and COMMIT included. SQLite: its trace
        callback (each row of an executemany is one). PostgreSQL: `Query` and `Execute` messages
        in libpq's protocol trace. MariaDB: the server's own `Questions` counter of each observed
        session, read before and after (less the reading statement itself), which must equal the
        `COM_QUERY` packets PyMySQL wrote, or the cell fails""",
        _required("db_statements", COUNT),
    ),
    *_row(
        "counts",
        """PostgreSQL: the times the client sent messages and then read the server's reply, from
        the protocol trace; for asyncpg, which does not use libpq, from the wire
        ([postgresql.md](postgresql.md#asyncpgs-counts-read-on-the-wire)). MariaDB: the same
        turns in PyMySQL's own socket writes and reads. SQLite has no network: equal to
        `db_statements`. `round_trips_source` says which counted them""",
        _required("round_trips", COUNT),
        Field("round_trips_source", TEXT),
    ),
    *_row(
        "counts",
        """rows written or read by one execution of the workload; for `concurrent_requests`, by
        one timed round of all its requests, while its counts are of one request""",
        _required("rows", COUNT),
    ),
    *_row(
        "counts",
        """PostgreSQL: protocol message bytes; MariaDB: the bytes PyMySQL wrote and read. Not on
        SQLite""",
        Field("bytes_sent", COUNT),
        Field("bytes_received", COUNT),
    ),
    *_row(
        "counts",
        "driver connections opened during the execution",
        Field("connections_opened", COUNT),
    ),
    *_row(
        "comparison",
        """the cell's median over `dbapi`'s in the same group, and its 95 % interval
        `[low, high]` (absent on `dbapi` itself)""",
        Field("ratio_to_dbapi", NUMBER),
        Field("ratio_to_dbapi_ci95", INTERVAL, reported_as="ratio_to_dbapi"),
    ),
    *_row(
        "comparison",
        """`same SQL` when the variant sends the same statements as `dbapi` (normalized), else
        the declared reasons it differs ([at-its-best.md](at-its-best.md)); absent on `dbapi`
        itself""",
        Field("sql_vs_dbapi", TEXT),
    ),
    *_row(
        "timing",
        "the interquartile range over the median; `noisy` when it exceeds 25 %",
        Field("dispersion", NUMBER),
        Field("noisy", FLAG),
    ),
    *_row(
        "timing",
        """the pass of the group each timed round ran in (in the order of pytest-benchmark's
        `stats.data`), how many passes the group had, and the variants timed alongside (a cell
        at another round-trip time by its id, such as `dbapi-postgres+0ms-1`)""",
        Field("round_passes", COUNTS),
        Field("pass_count", COUNT, reported_as="round_passes"),
        Field("interleaved_with", TEXTS),
    ),
    *_row(
        "timing",
        """on `crud_create` `dbapi` size 1 only: [the reset
        check](methodology.md#the-reset-check)""",
        Field("steady_loop", STEADY_LOOP),
    ),
    *_row(
        "the network",
        """the round-trip time the delay proxy added (`run --rtt`), and whether the cell ran
        through it at all: a direct cell has `rtt_ms` 0 and `proxied` false; the proxy's own
        cost is measured by cells with `rtt_ms` 0 and `proxied` true ([network.md](network.md))""",
        Field("rtt_ms", NUMBER),
        Field("proxied", FLAG, reported_as="rtt_ms"),
    ),
    *_row(
        "the server's account",
        """the server's own account of the counted execution: rows read, rows written, buffer
        pages, log bytes (see [What the server did](#what-the-server-did)). PostgreSQL and
        MariaDB; absent on SQLite""",
        Field("server_rows_read", COUNT, nullable=True),
        Field("server_rows_written", COUNT, nullable=True),
        Field("server_blocks", COUNT, nullable=True),
        Field("wal_bytes", COUNT, nullable=True),
    ),
    *_row(
        "counts",
        """PostgreSQL: the client's `Parse`, `Bind`, `Execute`, `Sync` and `Query` messages in the
        counted execution (asyncpg's statements prepared once show as `Bind`/`Execute` without
        `Parse`)""",
        Field("protocol_messages", COUNTS_BY_KIND),
    ),
    *_row(
        "counts",
        """the SQL the client sent in the counted execution, with no parameter values: its
        distinct statements in the order first sent, each one line with long runs of
        placeholders and `VALUES` groups shortened (as `python -m bench statements` prints
        them), with `calls`, the calls that sent it, and for an `executemany` `parameter_sets`,
        the rows those calls batched; the first 20, then `left_out` counts the other distinct
        statements and `left_out_calls` their calls. Absent from runs made before it was
        recorded""",
        Field("sql_sent", SQL_SENT),
    ),
    *_row(
        "comparison",
        """asyncio variants only: the event loop's own cost of one execution, the synchronous
        variant timed alongside, and the median, the loop's cost taken out of every round,
        over its median, with the 95 % interval: the figure the report shows (see
        [methodology.md](methodology.md#the-asyncio-styles)). Runs before this version
        recorded the ratio with the loop's cost in; the report computes it from the rounds""",
        Field("event_loop_s", LOOP_SECONDS),
        Field("sync_counterpart", NAME),
        Field("ratio_to_sync", NUMBER),
        Field("ratio_to_sync_ci95", INTERVAL, reported_as="ratio_to_sync"),
    ),
    *_row(
        "where the time and memory go",
        """seconds of one execution in each layer: SQLAlchemy's ORM (`sqlalchemy.orm` and the
        asyncio session), the rest of SQLAlchemy, the event loop with greenlet, the driver,
        the variant's own code, and `waiting` (off the CPU: the server, the network). The
        executions' CPU time shared out by the samples a stack sampler took of them, and their
        wall time less it; they add up to an execution's mean wall time
        ([time-and-memory.md](time-and-memory.md)). Null when the sampler could not read the
        process; absent on `concurrent_requests`""",
        Field("time_by_layer", TIME_BY_LAYER, nullable=True),
    ),
    *_row(
        "where the time and memory go",
        "the samples the layers' shares come from, and the untimed executions they were taken in",
        Field("layer_samples", COUNT, reported_as="time_by_layer"),
        Field("layer_executions", COUNT, reported_as="time_by_layer"),
    ),
    *_row(
        "where the time and memory go",
        """the most memory one execution held at once, traced by `tracemalloc` from its start
        (Python's allocator: not the drivers' own `malloc`), in bytes; and, of the reading
        workloads (`crud_read`, `parent_child_read`), that peak over the rows returned""",
        Field("peak_bytes", COUNT),
        Field("bytes_per_row", NUMBER),
    ),
    *_row(
        "concurrency",
        """the concurrent workloads only (`concurrent_requests`, `concurrent_processes`,
        `concurrent_tasks`, `requests_at_rate`): K, the workers, what they are (`thread`,
        `process` or `task`), and the units of work one execution (one timed round) runs
        ([concurrency.md](concurrency.md))""",
        Field("workers", COUNT, reported_as=_CONCURRENCY),
        Field("workers_kind", NAME, reported_as=_CONCURRENCY),
        Field("units", COUNT, reported_as=_CONCURRENCY),
    ),
    *_row(
        "concurrency",
        "`units` over the median round",
        Field("units_per_second", NUMBER, reported_as=_CONCURRENCY),
    ),
    *_row(
        "concurrency",
        """the percentiles (nearest rank) of one unit's latency, measured inside its worker from
        its first attempt (on a schedule: from when it was due) to its commit, over every unit
        of every timed round""",
        Field("p50_ms", NUMBER, reported_as=_CONCURRENCY),
        Field("p99_ms", NUMBER, reported_as=_CONCURRENCY),
        Field("p999_ms", NUMBER, reported_as=_CONCURRENCY),
    ),
    *_row(
        "concurrency",
        """`requests_at_rate` only (an open loop): the rate the requests arrived at, in requests
        a second; the rate achieved (the units over the seconds from the start to the last
        commit, of the median round); and the requests due before the last one that no worker
        had begun when the last one was due, the most of any round""",
        Field("target_rate", NUMBER, reported_as=_CONCURRENCY),
        Field("achieved_rate", NUMBER, reported_as=_CONCURRENCY),
        Field("backlog", COUNT, reported_as=_CONCURRENCY),
    ),
    *_row(
        "concurrency",
        """units refused with a lock error over the timed rounds, the retries run for them
        (equal to `lock_errors` in a cell that passed: a unit that runs out of retries fails
        it), and how many units needed any""",
        Field("lock_errors", COUNT, reported_as=_CONCURRENCY),
        Field("retries", COUNT, reported_as=_CONCURRENCY),
        Field("retried_units", COUNT, reported_as=_CONCURRENCY),
    ),
    *_row(
        "concurrency",
        """CPU seconds over wall seconds of the timed rounds: of the workers (the benchmark's
        process, all its threads; or every worker process), of the whole machine (`/proc/stat`;
        a server on it included), and its number of cores""",
        Field("client_cpu_cores", NUMBER, reported_as=_CONCURRENCY),
        Field("machine_cpu_cores", NUMBER, nullable=True, reported_as=_CONCURRENCY),
        Field("machine_cores", COUNT, nullable=True, reported_as=_CONCURRENCY),
    ),
)

DECLARED: Mapping[str, Field] = {f.name: f for f in FIELDS}
REQUIRED_FIELDS = tuple(f.name for f in FIELDS if f.required)
#: the fields the cells of the concurrent workloads have, and no other cell
CONCURRENCY_FIELDS = tuple(f.name for f in FIELDS if f.family == "concurrency")
#: of those, the ones only an open loop's cells have
OPEN_LOOP_FIELDS = ("target_rate", "achieved_rate", "backlog")


class RecordError(Exception):
    """What the measuring side wrote is not the declared record: a bug in the harness."""


def undeclared(names: Iterable[str]) -> list[str]:
    """The names that are no declared field."""
    return [name for name in names if name not in DECLARED]


def check_record(info: Mapping[str, Any]) -> None:
    """Raise RecordError when ``info`` holds an undeclared field, lacks a required one, or
    holds a value its declaration does not allow."""
    unknown = undeclared(info)
    if unknown:
        raise RecordError(
            f"extra_info field {unknown[0]!r} is not declared in bench/results/record.py"
        )
    missing = [name for name in REQUIRED_FIELDS if name not in info]
    if missing:
        raise RecordError(f"extra_info lacks the required field {missing[0]!r}")
    for name, value in info.items():
        if not DECLARED[name].accepts(value):
            raise RecordError(
                f"extra_info field {name!r} holds {value!r}, not {DECLARED[name].kind.name}"
            )


def malformed_field(info: Mapping[str, Any]) -> Field | None:
    """The first declared field of a record read back whose value its declaration does not
    allow. A null counts as absent, as it always has for results: a field not measured.
    Fields the declaration does not know are left alone (a newer harness may have written
    them)."""
    for declared in FIELDS:
        value = info.get(declared.name)
        if value is not None and not declared.accepts(value):
            return declared
    return None


def markdown_table() -> str:
    """The table of fields in ``docs/measures.md``, one row per meaning."""
    lines = ["| family | field | type | meaning |", "| --- | --- | --- | --- |"]
    rows: dict[str, list[Field]] = {}
    for declared in FIELDS:
        rows.setdefault(declared.meaning, []).append(declared)
    for meaning, fields in rows.items():
        names = ", ".join(f"`{f.name}`" for f in fields)
        kinds = dict.fromkeys(f"`{f.kind.name}`" + (" or null" * f.nullable) for f in fields)
        lines.append(f"| {fields[0].family} | {names} | {'; '.join(kinds)} | {meaning} |")
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    print(markdown_table(), end="")
