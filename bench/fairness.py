"""The proof that each style runs at its best: its statements are built once, and it sends the
same SQL as ``dbapi`` or a difference declared in :mod:`implementations.differences`.

*Built once.* :func:`statements_built_during` runs one execution (after a warm-up and a first
one) watching every call the variant's own code makes into SQLAlchemy. It reports each
statement constructed inside the execution (a call from the variant into SQLAlchemy's
statement constructors, operators or loader options) and each statement the variant handed
to SQLAlchemy whose cache key was generated afresh: a statement built once memoizes its
cache key, one rebuilt per call generates it again, so both are exact. What SQLAlchemy builds
inside itself (the unit of work's INSERTs, a loader's SELECT, ``Session.get``'s) is its own
cost, not the variant's, and is not reported.

*The same SQL.* :func:`sql_signature` normalizes what a variant sent (whitespace, case,
parameter style, casts on bound parameters, quoting, table qualifiers, column labels, IN-list
expansion, many VALUES groups) into runs of one statement and the parameter sets sent with
it; transaction control is left out (every style's BEGIN and COMMIT are checked elsewhere).
Two styles send the same SQL when their signatures are equal.
"""

from __future__ import annotations

import inspect
import re
import sys
import threading
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from types import FrameType
from typing import Any

import sqlalchemy
from sqlalchemy.sql.base import Executable
from sqlalchemy.sql.cache_key import HasCacheKey

import implementations
from bench.counting import ClientCall
from implementations.contract import Variant

_IMPLEMENTATIONS = str(Path(implementations.__file__).parent)
_SQLALCHEMY = Path(sqlalchemy.__file__).parent
#: where SQLAlchemy builds statements: a call into these from a variant constructs one
_CONSTRUCTING = tuple(
    str(_SQLALCHEMY / part)
    for part in (
        "sql",
        "orm/strategy_options.py",
        "orm/query.py",
        "orm/_orm_constructors.py",
        "orm/util.py",
    )
)


@dataclass(frozen=True)
class BuiltInCall:
    """A statement built inside a timed call, and where."""

    where: str
    what: str

    def __str__(self) -> str:
        return f"{self.where}: {self.what}"


def _location(frame: FrameType) -> str:
    path = Path(frame.f_code.co_filename)
    if path.is_relative_to(_IMPLEMENTATIONS):
        return f"implementations/{path.relative_to(_IMPLEMENTATIONS)}:{frame.f_lineno}"
    return f"{path.name}:{frame.f_lineno}"


def _describe(statement: Any) -> str:
    try:
        text = " ".join(str(statement).split())
    except Exception:  # some ORM statements render only inside an execution
        text = ""
    kind = type(statement).__name__
    return f"{kind} {text[:100]}{'...' if len(text) > 100 else ''}".strip()


class _Watch:
    """Watches the calls from the variant's code into SQLAlchemy, in the thread it runs in."""

    def __init__(self, code: tuple[str, ...]) -> None:
        #: where the variant's own code is (its module, and the implementations it uses)
        self.code = code
        self.found: list[BuiltInCall] = []
        #: the statements the variant handed to SQLAlchemy, by identity, and where
        self.handed: dict[int, tuple[Any, str]] = {}
        self.lock = threading.Lock()

    def on_event(self, frame: FrameType, event: str, arg: Any) -> None:
        if event != "call":
            return
        caller = frame.f_back
        if caller is None or not caller.f_code.co_filename.startswith(self.code):
            return
        callee = frame.f_code.co_filename
        if not callee.startswith(str(_SQLALCHEMY)):
            return
        where = _location(caller)
        if callee.startswith(_CONSTRUCTING):
            self.found.append(
                BuiltInCall(
                    where, f"calls {getattr(frame.f_code, 'co_qualname', frame.f_code.co_name)}()"
                )
            )
        for value in frame.f_locals.values():
            if isinstance(value, Executable):
                self.handed[id(value)] = (value, where)

    def fresh_key(self, statement: Any) -> None:
        with self.lock:
            handed = self.handed.get(id(statement))
        if handed is not None and handed[0] is statement:
            self.found.append(
                BuiltInCall(handed[1], f"cache key generated afresh for {_describe(statement)}")
            )


@contextmanager
def _watching(code: tuple[str, ...]) -> Iterator[_Watch]:
    watch = _Watch(code)
    generate = HasCacheKey._generate_cache_key

    def generate_watched(element: Any) -> Any:
        watch.fresh_key(element)
        return generate(element)

    HasCacheKey._generate_cache_key = generate_watched  # type: ignore[method-assign,assignment]
    previous = sys.getprofile()
    sys.setprofile(watch.on_event)
    try:
        yield watch
    finally:
        sys.setprofile(previous)
        HasCacheKey._generate_cache_key = generate  # type: ignore[method-assign]


def statements_built_during(
    run: Callable[[], Any], reset: Callable[[], None], variant: type[Variant]
) -> list[BuiltInCall]:
    """Run the variant's execution three times from the state ``reset`` restores: a warm-up,
    a first execution, and a watched one; what the watched one built (nothing, for a variant
    that builds its statements once). ``run`` must run the variant's code in this thread."""
    code = (_IMPLEMENTATIONS, inspect.getfile(variant))
    for _ in range(2):
        reset()
        run()
    reset()
    with _watching(code) as watch:
        run()
    unique: dict[str, BuiltInCall] = {str(found): found for found in watch.found}
    return list(unique.values())


# --- the same SQL -------------------------------------------------------------------------------


@dataclass(frozen=True)
class SqlRun:
    """One normalized statement, sent with ``parameter_sets`` parameter sets in a row (in one
    executemany or in several executes)."""

    sql: str
    parameter_sets: int

    def __str__(self) -> str:
        return f"{self.sql}  [x{self.parameter_sets}]"


_TRANSACTION_CONTROL = re.compile(r"^(begin|commit|rollback|savepoint|release)\b")
_PLACEHOLDER = re.compile(r"%\(\w+\)s|%s|\$\d+|\?|(?<![:\w]):\w+|__\[postcompile_\w+\]")
_CAST = re.compile(r"\?::(?:timestamp with(?:out)? time zone|[a-z_]+)(?:\[\])?")
_QUALIFIER = re.compile(r"\b[a-z_][a-z0-9_]*\.(?=[a-z_])")
_LABEL = re.compile(r" as [a-z_][a-z0-9_]*")
_IN_LIST = re.compile(r" in \(\?(, \?)*\)")
_VALUES_GROUPS = re.compile(r"(\(\?(?:, \?)*\))(?:, \(\?(?:, \?)*\))+")


def normalize_sql(sql: str) -> str:
    """The statement with what does not change its meaning taken out."""
    text = " ".join(sql.split()).rstrip(";").lower()
    text = text.replace('"', "").replace("`", "")
    text = _PLACEHOLDER.sub("?", text)
    text = _CAST.sub("?", text)
    text = re.sub(r"\s*\(\s*", "(", text)
    text = re.sub(r"\s*\)", ")", text)
    text = re.sub(r",\s*", ", ", text)
    text = re.sub(r"\s*=\s*", " = ", text)
    text = re.sub(r"\b(in|values|any|from|join|on|where|and|or|returning)\(", r"\1 (", text)
    text = _QUALIFIER.sub("", text)
    text = _LABEL.sub("", text)
    text = _IN_LIST.sub(" in (?...)", text)
    return _VALUES_GROUPS.sub(r"\1", text)


def sql_signature(calls: Sequence[ClientCall]) -> tuple[SqlRun, ...]:
    """What the calls sent: runs of one normalized statement and their parameter sets,
    transaction control left out."""
    runs: list[SqlRun] = []
    for call in calls:
        sql = normalize_sql(call.sql)
        if _TRANSACTION_CONTROL.match(sql):
            continue
        if runs and runs[-1].sql == sql:
            runs[-1] = SqlRun(sql, runs[-1].parameter_sets + call.parameter_sets)
        else:
            runs.append(SqlRun(sql, call.parameter_sets))
    return tuple(runs)


def first_difference(signature: Sequence[SqlRun], baseline: Sequence[SqlRun]) -> str | None:
    """Where a signature departs from the baseline's (None: the same SQL)."""
    for number, (mine, theirs) in enumerate(zip(signature, baseline, strict=False), 1):
        if mine != theirs:
            return f"statement {number}: {mine} where dbapi sends {theirs}"
    if len(signature) != len(baseline):
        longer, name = (signature, "it") if len(signature) > len(baseline) else (baseline, "dbapi")
        extra = longer[min(len(signature), len(baseline))]
        return f"{name} also sends {extra}"
    return None


def differences_table() -> str:
    """The declared differences as the Markdown table of docs/at-its-best.md (a test keeps
    the two the same)."""
    from implementations.differences import DIFFERENCES

    lines = [
        "| variants | workloads | backends | why the SQL differs from `dbapi`'s |",
        "| --- | --- | --- | --- |",
    ]
    for difference in DIFFERENCES:
        variants = ", ".join(f"`{v}`" for v in difference.variants)
        workloads = ", ".join(f"`{w}`" for w in difference.workloads)
        backends = ", ".join(difference.backends) if difference.backends else "every backend"
        lines.append(f"| {variants} | {workloads} | {backends} | {difference.reason} |")
    return "\n".join(lines)
