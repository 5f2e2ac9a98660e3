"""Reading a run's ``benchmarks.json`` back: checked to be pytest-benchmark JSON written by this
harness, each cell's record read through its declaration (:mod:`bench.results.record`), into
the model the report reads (:mod:`bench.results.model`)."""

from __future__ import annotations

import dataclasses
import json
import math
import reprlib
from collections.abc import Callable
from pathlib import Path
from typing import Any

from bench.messages import first_line
from bench.results.catalog import Catalog, CatalogError
from bench.results.model import CellResult, Concurrency, ReportError, Results, code_catalog
from bench.results.record import (
    CONCURRENCY_FIELDS,
    COUNTS_BY_KIND,
    DECLARED,
    LOOP_SECONDS,
    NAME_RULE,
    NUMBER,
    OPEN_LOOP_FIELDS,
    REQUIRED_FIELDS,
    TIME_BY_LAYER,
    is_name,
    is_number,
    malformed_field,
)

RESULTS_FILE = "benchmarks.json"


def load_results(folder: Path) -> Results:
    """The results in ``folder``, or a one-line ReportError saying what is wrong with them."""
    path = folder / RESULTS_FILE
    if not folder.is_dir():
        raise ReportError(f"{folder} is not a folder")
    if not path.is_file():
        raise ReportError(
            f"{folder} has no {RESULTS_FILE}; run `python -m bench run --out {folder}`"
        )
    try:
        document = json.loads(path.read_text())
    except (OSError, UnicodeDecodeError, json.JSONDecodeError, RecursionError) as exc:
        raise ReportError(f"{path} is not JSON ({first_line(exc)})") from None
    if not (
        isinstance(document, dict)
        and isinstance(document.get("benchmarks"), list)
        and isinstance(document.get("machine_info"), dict)
    ):
        raise ReportError(f"{path} is not pytest-benchmark JSON (no benchmarks and machine_info)")
    if not document["benchmarks"]:
        raise ReportError(f"{path} holds no benchmarks")
    # the run's own section first: its catalog says how each cell is read
    harness = _harness_section(document.get("harness"), path)
    catalog = _catalog(harness, path)
    cells = [_cell(entry, path, catalog) for entry in document["benchmarks"]]
    seen: set[tuple[str, str, str, int, float | None]] = set()
    for cell in cells:
        key = (*cell.key, cell.delay)
        if key in seen:
            where = "/".join(map(str, cell.key)) + (
                f" at {cell.rtt_ms:g} ms through the proxy" if cell.proxied else ""
            )
            raise ReportError(f"{path}: the cell {where} appears twice")
        seen.add(key)
    return Results(
        cells=[cell for cell in cells if not cell.proxied],
        datetime=str(document.get("datetime", "unknown")),
        machine=document["machine_info"],
        harness=harness,
        delayed=[cell for cell in cells if cell.proxied],
        catalog=catalog,
    )


def _catalog(harness: dict[str, Any], path: Path) -> Catalog:
    """The run's catalog; for results written before the JSON carried one, this version's
    (the one case where reporting imports the backends and variants)."""
    if "catalog" not in harness:
        return code_catalog()
    try:
        return Catalog.from_json(harness["catalog"])
    except CatalogError as exc:
        raise ReportError(f"{path}: {exc}") from None


#: the types of the harness section's fields that the report reads
_HARNESS_FIELDS: dict[str, Callable[[Any], bool]] = {
    "profile": lambda v: isinstance(v, str),
    "command": lambda v: v is None or isinstance(v, str),
    "notes": lambda v: isinstance(v, list) and all(isinstance(n, str) for n in v),
    "versions": lambda v: isinstance(v, dict) and all(isinstance(x, str) for x in v.values()),
    "servers": lambda v: isinstance(v, dict) and all(isinstance(x, dict) for x in v.values()),
    "not_applicable": lambda v: isinstance(v, list) and all(isinstance(n, dict) for n in v),
    "source": lambda v: isinstance(v, dict),
    "networked": lambda v: isinstance(v, dict) and all(isinstance(x, bool) for x in v.values()),
    "noise": lambda v: isinstance(v, dict),
    "size_limits": lambda v: isinstance(v, dict) and all(isinstance(x, int) for x in v.values()),
    "rtts_ms": lambda v: isinstance(v, list) and all(is_number(x) for x in v),
}


def _harness_section(section: Any, path: Path) -> dict[str, Any]:
    if section is None:
        return {}
    if not isinstance(section, dict):
        raise ReportError(f"{path}: the harness section is not an object")
    for key, well_formed in _HARNESS_FIELDS.items():
        if key in section and not well_formed(section[key]):
            raise ReportError(f"{path}: the harness section's {key!r} is malformed")
    # the names of the variants a workload does not apply to are written into the report
    for entry in section.get("not_applicable", []):
        for key in ("workload", "variant"):
            if not is_name(entry.get(key)):
                raise ReportError(
                    f"{path}: the harness section's 'not_applicable' has a malformed {key}: "
                    f"{_shown(entry.get(key))} ({NAME_RULE})"
                )
    return section


#: a value quoted in an error: its repr (one line, whatever it holds), cut short
_QUOTE = reprlib.Repr()
_QUOTE.maxstring = _QUOTE.maxother = 60


def _shown(value: Any) -> str:
    return _QUOTE.repr(value)


def _cell(entry: Any, path: Path, catalog: Catalog) -> CellResult:
    name = entry.get("name", "?") if isinstance(entry, dict) else "?"
    # the benchmark's name is quoted in the errors, which are one line
    if not (isinstance(name, str) and name.isprintable()):
        name = _shown(name)
    info = entry.get("extra_info") if isinstance(entry, dict) else None
    stats = entry.get("stats") if isinstance(entry, dict) else None
    missing = [f for f in REQUIRED_FIELDS if not isinstance(info, dict) or f not in info]
    if missing:
        raise ReportError(
            f"{path}: benchmark {name} lacks the harness's fields ({', '.join(missing)}); "
            "was it written by `python -m bench run`?"
        )
    if not isinstance(stats, dict) or not all(k in stats for k in ("median", "q1", "q3")):
        raise ReportError(f"{path}: benchmark {name} has no timing statistics")
    assert isinstance(info, dict)

    def malformed(what: str) -> ReportError:
        return ReportError(f"{path}: benchmark {name} has a malformed {what}")

    for key in ("workload", "variant", "backend"):
        if not is_name(info[key]):
            raise ReportError(
                f"{path}: benchmark {name} has a malformed {key}: {_shown(info[key])} ({NAME_RULE})"
            )
    # every other field as its declaration says (bench/results/record.py)
    wrong = malformed_field(info)
    if wrong is not None:
        raise malformed(wrong.quoted)
    timings = {}
    for key in ("median", "q1", "q3"):
        value = stats[key]
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise malformed(key)
        if not (math.isfinite(value) and 0 < value < 1e6):
            raise malformed(key)
        timings[key] = float(value)
    if not timings["q1"] <= timings["median"] <= timings["q3"]:
        raise malformed("quartiles")
    durations, passes, pass_count = _rounds(stats, info, malformed)
    ratio, interval = _ratio(info, malformed)
    try:
        return CellResult(
            **_declared(info),
            median=timings["median"],
            q1=timings["q1"],
            q3=timings["q3"],
            rounds=int(stats.get("rounds", 0)),
            durations=durations,
            passes=passes,
            pass_count=pass_count,
            ratio_to_dbapi=ratio,
            ratio_ci95=interval,
            **_delay(info, malformed),
            concurrency=_concurrency(info, malformed),
            catalog=catalog,
        )
    except (TypeError, ValueError, OverflowError):
        raise malformed("count") from None


#: the declared fields read together with others, below, rather than one by one
_READ_TOGETHER = frozenset({"pass_count", "ratio_to_dbapi", "rtt_ms", "proxied"})
#: the cell's fields that hold a declared field of the same name
_MODEL_FIELDS = frozenset(f.name for f in dataclasses.fields(CellResult)) - _READ_TOGETHER


def _declared(info: dict[str, Any]) -> dict[str, Any]:
    """Every declared field the model holds under its own name, as the JSON has it (its type
    checked already) but for numbers read as floats and mappings copied; an absent or null
    one keeps the model's default."""
    values: dict[str, Any] = {}
    for name in _MODEL_FIELDS & DECLARED.keys():
        value = info.get(name)
        if value is None:
            continue
        kind = DECLARED[name].kind
        if kind in (NUMBER, LOOP_SECONDS):
            value = float(value)
        elif kind is COUNTS_BY_KIND:
            value = dict(value)
        elif kind is TIME_BY_LAYER:
            value = {layer: float(seconds) for layer, seconds in value.items()}
        values[name] = value
    return values


def _concurrency(
    info: dict[str, Any], malformed: Callable[[str], ReportError]
) -> Concurrency | None:
    if "units_per_second" not in info:
        return None
    # the types are the declaration's; a concurrent cell has every one of its measures, and
    # an open loop's cell those of its schedule too
    open_loop = info.get("target_rate") is not None
    needed = [
        name
        for name in CONCURRENCY_FIELDS
        if name not in _LATER_CONCURRENCY_FIELDS
        and not DECLARED[name].nullable
        and (open_loop or name not in OPEN_LOOP_FIELDS)
    ]
    if any(info.get(name) is None for name in needed):
        raise malformed("concurrency measure")
    return Concurrency(
        workers=info["workers"],
        units=info["units"],
        units_per_second=float(info["units_per_second"]),
        p50_ms=float(info["p50_ms"]),
        p99_ms=float(info["p99_ms"]),
        lock_errors=info["lock_errors"],
        retries=info["retries"],
        client_cpu_cores=float(info["client_cpu_cores"]),
        machine_cpu_cores=_optional_float(info.get("machine_cpu_cores")),
        machine_cores=info.get("machine_cores"),
        workers_kind=info.get("workers_kind") or "thread",
        p999_ms=_optional_float(info.get("p999_ms")),
        target_rate=_optional_float(info.get("target_rate")),
        achieved_rate=_optional_float(info.get("achieved_rate")),
        backlog=info.get("backlog"),
    )


#: measures added after the first concurrent runs were published, absent from those (whose
#: workers were all threads)
_LATER_CONCURRENCY_FIELDS = ("retried_units", "workers_kind", "p999_ms")


def _rounds(
    stats: dict[str, Any], info: dict[str, Any], malformed: Callable[[str], ReportError]
) -> tuple[tuple[float, ...], tuple[int, ...], int]:
    """The rounds' durations and passes, when the JSON has them (older runs do not)."""
    data = stats.get("data")
    passes = info.get("round_passes")
    pass_count = info.get("pass_count", 0)
    if data is None or passes is None:
        return (), (), 0
    if not (isinstance(data, list) and all(is_number(v) for v in data)):
        raise malformed("data")
    if not (
        isinstance(pass_count, int)
        and isinstance(passes, list)
        and len(passes) == len(data)
        and all(isinstance(p, int) and 0 <= p < pass_count for p in passes)
    ):
        raise malformed("round_passes")
    return tuple(float(v) for v in data), tuple(passes), pass_count


def _ratio(
    info: dict[str, Any], malformed: Callable[[str], ReportError]
) -> tuple[float | None, tuple[float, float] | None]:
    ratio, interval = info.get("ratio_to_dbapi"), info.get("ratio_to_dbapi_ci95")
    if ratio is None:
        return None, None
    # the types are the declaration's; a ratio comes with its interval
    if interval is None:
        raise malformed("ratio_to_dbapi")
    return float(ratio), (float(interval[0]), float(interval[1]))


def _delay(info: dict[str, Any], malformed: Callable[[str], ReportError]) -> dict[str, Any]:
    """Whether the cell ran through the delay proxy and at what round-trip time (older runs
    have neither field: they ran direct)."""
    proxied, rtt = info.get("proxied", False), info.get("rtt_ms", 0)
    if not isinstance(proxied, bool) or not is_number(rtt) or (rtt and not proxied):
        raise malformed("rtt_ms")
    return {"proxied": proxied, "rtt_ms": float(rtt)}


def _optional_float(value: Any) -> float | None:
    return None if value is None else float(value)
