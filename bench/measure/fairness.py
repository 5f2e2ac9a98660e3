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

import re
import sys
import sysconfig
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
from sqlalchemy.sql.compiler import Compiled

from bench.measure.counting import ClientCall

_SQLALCHEMY = str(Path(sqlalchemy.__file__).parent)
_STANDARD_LIBRARY = sysconfig.get_paths()["stdlib"]
#: the harness, whose own calls (this watch's among them) are not the variant's
_HARNESS = str(Path(__file__).parent.parent)
#: the modules where SQLAlchemy builds statements: a call into them from a variant's code
#: constructs one (the generated wrappers of .where(), .options(), ... belong to them too)
_CONSTRUCTING = (
    "sqlalchemy.sql",
    "sqlalchemy.orm.strategy_options",
    "sqlalchemy.orm.query",
    "sqlalchemy.orm._orm_constructors",
    "sqlalchemy.orm.util",
)
#: reading a Table's column (``table.c.id``) goes through these, and builds nothing
_READING = ("ColumnCollection.__getattr__", "ColumnCollection.__getitem__")


@dataclass(frozen=True)
class BuiltInCall:
    """A statement built (or compiled) inside a timed call, and where."""

    where: str
    what: str

    def __str__(self) -> str:
        return f"{self.where}: {self.what}"


def _is_variant_code(filename: str) -> bool:
    """Whether a frame runs the variant's own code (or a helper it calls): anything but
    SQLAlchemy, the standard library, the harness and generated code."""
    return not filename.startswith((_SQLALCHEMY, _STANDARD_LIBRARY, _HARNESS, "<"))


def _location(frame: FrameType) -> str:
    path = Path(frame.f_code.co_filename)
    parts = path.parts
    if "implementations" in parts:
        path = Path(*parts[parts.index("implementations") :])
        return f"{path}:{frame.f_lineno}"
    return f"{path.name}:{frame.f_lineno}"


def _nearest_variant_code(frame: FrameType | None) -> str:
    while frame is not None:
        if _is_variant_code(frame.f_code.co_filename):
            return _location(frame)
        frame = frame.f_back
    return "inside SQLAlchemy"


def _describe(statement: Any) -> str:
    try:
        text = " ".join(str(statement).split())
    except Exception:  # some ORM statements render only inside an execution
        text = ""
    kind = type(statement).__name__
    return f"{kind} {text[:100]}{'...' if len(text) > 100 else ''}".strip()


class _Watch:
    """Watches the calls from the variant's code into SQLAlchemy, the cache keys generated
    for the statements it hands over, and every compilation."""

    def __init__(self) -> None:
        self.calls: list[BuiltInCall] = []
        #: the statements the variant handed to SQLAlchemy, by identity, and where
        self.handed: dict[int, tuple[Any, str]] = {}
        #: (where, what was done, the statement), described once the watch is over: rendering
        #: a statement compiles it
        self.statements: list[tuple[str, str, Any]] = []
        self.lock = threading.Lock()

    def on_event(self, frame: FrameType, event: str, arg: Any) -> None:
        if event != "call":
            return
        caller = frame.f_back
        if caller is None or not _is_variant_code(caller.f_code.co_filename):
            return
        module = frame.f_globals.get("__name__", "")
        if not module.startswith("sqlalchemy."):
            return
        where = _location(caller)
        name = getattr(frame.f_code, "co_qualname", frame.f_code.co_name)
        if module.startswith(_CONSTRUCTING) and name not in _READING:
            self.calls.append(BuiltInCall(where, f"calls {name}()"))
        for value in frame.f_locals.values():
            if isinstance(value, Executable):
                with self.lock:
                    self.handed[id(value)] = (value, where)

    def fresh_key(self, statement: Any) -> None:
        with self.lock:
            handed = self.handed.get(id(statement))
            if handed is not None and handed[0] is statement:
                self.statements.append((handed[1], "cache key generated afresh", statement))

    def compiled(self, statement: Any) -> None:
        where = _nearest_variant_code(sys._getframe(2))
        with self.lock:
            self.statements.append((where, "compiled afresh", statement))

    def found(self) -> list[BuiltInCall]:
        described = [
            BuiltInCall(where, f"{what}: {_describe(statement)}")
            for where, what, statement in self.statements
        ]
        unique = {str(found): found for found in [*self.calls, *described]}
        return list(unique.values())


@contextmanager
def _watching() -> Iterator[_Watch]:
    watch = _Watch()
    generate = HasCacheKey._generate_cache_key
    compile_init = Compiled.__init__

    def generate_watched(element: Any) -> Any:
        watch.fresh_key(element)
        return generate(element)

    def compile_watched(compiled: Any, dialect: Any, statement: Any, *args: Any, **kw: Any) -> None:
        watch.compiled(statement)
        compile_init(compiled, dialect, statement, *args, **kw)

    HasCacheKey._generate_cache_key = generate_watched  # type: ignore[method-assign,assignment]
    Compiled.__init__ = compile_watched  # type: ignore[method-assign,assignment]
    previous = sys.getprofile()
    sys.setprofile(watch.on_event)
    threading.setprofile(watch.on_event)  # threads the execution starts
    try:
        yield watch
    finally:
        threading.setprofile(None)
        sys.setprofile(previous)
        Compiled.__init__ = compile_init  # type: ignore[method-assign]
        HasCacheKey._generate_cache_key = generate  # type: ignore[method-assign]


def statements_built_during(run: Callable[[], Any], reset: Callable[[], None]) -> list[BuiltInCall]:
    """Run an execution three times from the state ``reset`` restores: a warm-up, a first
    execution, and a watched one; what the watched one built or compiled (nothing, for a
    variant that builds its statements once: its statements' cache keys are memoized and their
    compiled forms cached). Threads that exist already are not watched: ``run`` must run the
    variant's code in this thread or in threads it starts."""
    for _ in range(2):
        reset()
        run()
    reset()
    with _watching() as watch:
        run()
    return watch.found()


# --- the same SQL -------------------------------------------------------------------------------


@dataclass(frozen=True)
class SqlRun:
    """One normalized statement, sent with ``parameter_sets`` parameter sets in a row (in one
    executemany or in several executes)."""

    sql: str
    parameter_sets: int

    def __str__(self) -> str:
        return f"{self.sql}  [x{self.parameter_sets}]"


_TRANSACTION_CONTROL = re.compile(r"^(begin|commit|rollback)\b(?! to)")
_PLACEHOLDER = re.compile(r"%\(\w+\)s|%s|\$\d+|\?|(?<![:\w]):\w+|__\[postcompile_\w+\]")
_CAST = re.compile(r"\?::(?:timestamp with(?:out)? time zone|[a-z_]+)(?:\[\])?")
_LABEL = re.compile(r" as [a-z_][a-z0-9_]*(?=,| from )")
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
