"""Reading a run's ``benchmarks.json`` back: the cells with their timings and counts, checked
to be pytest-benchmark JSON written by this harness, and the helpers the report and the charts
share."""

from __future__ import annotations

import json
import math
import re
import reprlib
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bench.measure.workloads import WORKLOADS
from bench.messages import first_line
from bench.results.catalog import Catalog, CatalogError
from bench.results.statistics import Sample, indistinguishable, median_interval, ratio_interval
from implementations.registry import BASELINE_VARIANT, VARIANTS

RESULTS_FILE = "benchmarks.json"
REQUIRED_FIELDS = (
    "workload",
    "variant",
    "backend",
    "size",
    "cursor_calls",
    "db_statements",
    "round_trips",
    "rows",
)
#: the workloads whose cost with a network in between the report projects: every batch workload
#: (one unit of work over N rows), so that a new one is never left out
PROJECTED_WORKLOADS = tuple(
    name for name, workload in WORKLOADS.items() if workload.kind == "batch"
)


@dataclass(frozen=True)
class Heading:
    """How the report and charts name a backend, and whether its timings cross a network."""

    name: str
    title: str
    networked: bool
    #: what shapes its statement and round-trip counts
    count_notes: tuple[str, ...] = ()


class ReportError(Exception):
    """The results cannot be reported on; one line for the user."""


@dataclass(frozen=True)
class Concurrency:
    """A concurrent workload's cell: its K worker threads and what its timed rounds did."""

    workers: int
    units: int
    units_per_second: float
    p50_ms: float
    p99_ms: float
    lock_errors: int
    retries: int
    #: CPU the client process (every thread) and the whole machine used, in cores
    client_cpu_cores: float
    machine_cpu_cores: float | None
    machine_cores: int | None


@dataclass(frozen=True)
class CellResult:
    workload: str
    variant: str
    backend: str
    size: int
    median: float
    q1: float
    q3: float
    rounds: int
    cursor_calls: int
    db_statements: int
    round_trips: int
    rows: int
    bytes_sent: int | None = None
    bytes_received: int | None = None
    connections_opened: int = 0
    #: every timed round's seconds, and the pass of its group it ran in
    durations: tuple[float, ...] = ()
    passes: tuple[int, ...] = ()
    pass_count: int = 0
    #: the median over the raw driver's, with its 95 % interval (None for dbapi itself)
    ratio_to_dbapi: float | None = None
    ratio_ci95: tuple[float, float] | None = None
    #: the interquartile range over the median
    dispersion: float = 0.0
    noisy: bool = False
    #: the reset check, on the cell that carries it
    steady_loop: dict[str, Any] | None = None
    #: whether the cell ran through the delay proxy, and the round-trip time it added (ms)
    proxied: bool = False
    rtt_ms: float = 0.0
    #: the server's own account of the counted execution (None where it keeps none)
    server_rows_read: int | None = None
    server_rows_written: int | None = None
    server_blocks: int | None = None
    wal_bytes: int | None = None
    #: how the variant does the workload, in its own words
    how: str = ""
    #: "same SQL" as dbapi, or why the variant's SQL differs (None for dbapi itself)
    sql_vs_dbapi: str | None = None
    #: an asyncio variant's: the event loop's own cost of one execution (seconds)
    event_loop_s: float | None = None
    #: the client's protocol messages by kind (PostgreSQL), where the observer saw them
    protocol_messages: dict[str, int] | None = None
    #: the throughput and latencies of a concurrent workload's cell
    concurrency: Concurrency | None = None

    def projected(self, rtt_seconds: float) -> float:
        """What the cell would take with a network round trip of ``rtt_seconds``."""
        return self.median + self.round_trips * rtt_seconds

    @property
    def sample(self) -> Sample | None:
        if not self.durations or len(self.passes) != len(self.durations):
            return None
        return Sample(self.durations, self.passes)

    @property
    def group(self) -> tuple[str, str, int]:
        return (self.backend, self.workload, self.size)

    @property
    def delay(self) -> float | None:
        """The round-trip time the proxy added; None for a direct cell."""
        return self.rtt_ms if self.proxied else None

    @property
    def key(self) -> tuple[str, str, str, int]:
        return (self.workload, self.variant, self.backend, self.size)


@dataclass
class Results:
    #: the cells run straight against their database: what the tables, charts and findings
    #: are made of
    cells: list[CellResult]
    datetime: str
    machine: dict[str, Any]
    harness: dict[str, Any] = field(default_factory=dict)
    #: the cells run through the delay proxy (``run --rtt``)
    delayed: list[CellResult] = field(default_factory=list)
    #: what the run knew of its backends and variants (titles, notes, synchronous forms);
    #: this version's when none is given
    catalog: Catalog = field(default_factory=Catalog.from_code)

    @property
    def backends(self) -> list[str]:
        return _order((cell.backend for cell in self.cells), self.catalog.backend_order())

    def heading(self, backend: str) -> Heading:
        """The backend's title, and whether the run recorded its timings as networked."""
        networked = self.harness.get("networked", {})
        return Heading(
            backend,
            self.catalog.title_of(backend),
            bool(networked.get(backend, False)) if isinstance(networked, dict) else False,
            self.catalog.count_notes_of(backend),
        )

    def for_backend(self, backend: str) -> list[CellResult]:
        return [cell for cell in self.cells if cell.backend == backend]

    def lookup(self, workload: str, variant: str, backend: str, size: int) -> CellResult | None:
        for cell in self.cells:
            if (cell.workload, cell.variant, cell.backend, cell.size) == (
                workload,
                variant,
                backend,
                size,
            ):
                return cell
        return None


def _order(names: Iterable[str], known: Sequence[str]) -> list[str]:
    unique = set(names)
    return [n for n in known if n in unique] + sorted(unique - set(known))


def workloads_of(cells: Iterable[CellResult]) -> list[str]:
    return _order((cell.workload for cell in cells), tuple(WORKLOADS))


def variants_of(cells: Iterable[CellResult]) -> list[str]:
    return _order((cell.variant for cell in cells), tuple(VARIANTS))


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
    cells = [_cell(entry, path) for entry in document["benchmarks"]]
    seen: set[tuple[str, str, str, int, float | None]] = set()
    for cell in cells:
        key = (*cell.key, cell.delay)
        if key in seen:
            where = "/".join(map(str, cell.key)) + (
                f" at {cell.rtt_ms:g} ms through the proxy" if cell.proxied else ""
            )
            raise ReportError(f"{path}: the cell {where} appears twice")
        seen.add(key)
    harness = _harness_section(document.get("harness"), path)
    return Results(
        cells=[cell for cell in cells if not cell.proxied],
        datetime=str(document.get("datetime", "unknown")),
        machine=document["machine_info"],
        harness=harness,
        delayed=[cell for cell in cells if cell.proxied],
        catalog=_catalog(harness, path),
    )


def _catalog(harness: dict[str, Any], path: Path) -> Catalog:
    """The run's catalog; for results written before the JSON carried one, this version's
    (the one case where reporting imports the backends and variants)."""
    if "catalog" not in harness:
        return Catalog.from_code()
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
    "rtts_ms": lambda v: isinstance(v, list) and all(_is_number(x) for x in v),
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
            if not _is_name(entry.get(key)):
                raise ReportError(
                    f"{path}: the harness section's 'not_applicable' has a malformed {key}: "
                    f"{_shown(entry.get(key))} ({NAME_RULE})"
                )
    return section


#: a workload's, variant's or backend's name: the report's tables and the charts' file names
#: are made of them. A pattern, not the registries' names: results of test variants and of
#: older versions of the harness are reported too (fullmatch: ``$`` lets a trailing newline
#: through).
_NAME = re.compile(r"[a-z][a-z0-9_]{0,63}")
NAME_RULE = "a name is a lower-case letter, then up to 63 lower-case letters, digits or _"
#: a value quoted in an error: its repr (one line, whatever it holds), cut short
_QUOTE = reprlib.Repr()
_QUOTE.maxstring = _QUOTE.maxother = 60


def _is_name(value: Any) -> bool:
    return isinstance(value, str) and _NAME.fullmatch(value) is not None


def _shown(value: Any) -> str:
    return _QUOTE.repr(value)


def _cell(entry: Any, path: Path) -> CellResult:
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
        if not _is_name(info[key]):
            raise ReportError(
                f"{path}: benchmark {name} has a malformed {key}: {_shown(info[key])} ({NAME_RULE})"
            )
    counts = {}
    for key in ("size", "cursor_calls", "db_statements", "round_trips", "rows"):
        value = info[key]
        if isinstance(value, bool) or not isinstance(value, int) or value < 0:
            raise malformed(key)
        counts[key] = value
    if counts["size"] < 1:
        raise malformed("size")
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
            workload=info["workload"],
            variant=info["variant"],
            backend=info["backend"],
            size=counts["size"],
            median=timings["median"],
            q1=timings["q1"],
            q3=timings["q3"],
            rounds=int(stats.get("rounds", 0)),
            cursor_calls=counts["cursor_calls"],
            db_statements=counts["db_statements"],
            round_trips=counts["round_trips"],
            rows=counts["rows"],
            bytes_sent=_optional_int(info.get("bytes_sent")),
            bytes_received=_optional_int(info.get("bytes_received")),
            connections_opened=int(info.get("connections_opened", 0)),
            durations=durations,
            passes=passes,
            pass_count=pass_count,
            ratio_to_dbapi=ratio,
            ratio_ci95=interval,
            dispersion=float(info.get("dispersion", 0.0)),
            noisy=bool(info.get("noisy", False)),
            steady_loop=_steady_loop(info.get("steady_loop"), malformed),
            **_delay(info, malformed),
            server_rows_read=_optional_int(info.get("server_rows_read")),
            server_rows_written=_optional_int(info.get("server_rows_written")),
            server_blocks=_optional_int(info.get("server_blocks")),
            wal_bytes=_optional_int(info.get("wal_bytes")),
            how=str(info.get("how") or ""),
            sql_vs_dbapi=_optional_str(info.get("sql_vs_dbapi")),
            event_loop_s=_event_loop(info.get("event_loop_s"), malformed),
            protocol_messages=_messages(info.get("protocol_messages"), malformed),
            concurrency=_concurrency(info, malformed),
        )
    except (TypeError, ValueError, OverflowError):
        raise malformed("count") from None


def _concurrency(
    info: dict[str, Any], malformed: Callable[[str], ReportError]
) -> Concurrency | None:
    if "units_per_second" not in info:
        return None
    numbers = ("units_per_second", "p50_ms", "p99_ms", "client_cpu_cores")
    counts = ("workers", "units", "lock_errors", "retries")
    if not (
        all(_is_number(info.get(key)) for key in numbers)
        and all(isinstance(info.get(key), int) and _is_number(info[key]) for key in counts)
        and (info.get("machine_cpu_cores") is None or _is_number(info["machine_cpu_cores"]))
        and (info.get("machine_cores") is None or isinstance(info["machine_cores"], int))
    ):
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
        machine_cpu_cores=(
            None if info.get("machine_cpu_cores") is None else float(info["machine_cpu_cores"])
        ),
        machine_cores=info.get("machine_cores"),
    )


def _is_number(value: Any) -> bool:
    return (
        isinstance(value, (int, float))
        and not isinstance(value, bool)
        and math.isfinite(value)
        and value >= 0
    )


def _rounds(
    stats: dict[str, Any], info: dict[str, Any], malformed: Callable[[str], ReportError]
) -> tuple[tuple[float, ...], tuple[int, ...], int]:
    """The rounds' durations and passes, when the JSON has them (older runs do not)."""
    data = stats.get("data")
    passes = info.get("round_passes")
    pass_count = info.get("pass_count", 0)
    if data is None or passes is None:
        return (), (), 0
    if not (isinstance(data, list) and all(_is_number(v) for v in data)):
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
    if not (
        _is_number(ratio)
        and isinstance(interval, list)
        and len(interval) == 2
        and all(_is_number(v) for v in interval)
        and interval[0] <= interval[1]
    ):
        raise malformed("ratio_to_dbapi")
    return float(ratio), (float(interval[0]), float(interval[1]))


def _steady_loop(value: Any, malformed: Callable[[str], ReportError]) -> dict[str, Any] | None:
    if value is None:
        return None
    keys = ("steady_median_s", "cell_median_s", "ratio")
    if not (isinstance(value, dict) and all(_is_number(value.get(k)) for k in keys)):
        raise malformed("steady_loop")
    interval = value.get("ratio_ci95")
    # the report formats its bounds as numbers
    if interval is not None and not (
        isinstance(interval, list) and len(interval) == 2 and all(map(_is_number, interval))
    ):
        raise malformed("steady_loop")
    return value


def _delay(info: dict[str, Any], malformed: Callable[[str], ReportError]) -> dict[str, Any]:
    """Whether the cell ran through the delay proxy and at what round-trip time (older runs
    have neither field: they ran direct)."""
    proxied, rtt = info.get("proxied", False), info.get("rtt_ms", 0)
    if not isinstance(proxied, bool) or not _is_number(rtt) or (rtt and not proxied):
        raise malformed("rtt_ms")
    return {"proxied": proxied, "rtt_ms": float(rtt)}


def _event_loop(value: Any, malformed: Callable[[str], ReportError]) -> float | None:
    if value is None:
        return None
    if not (_is_number(value) and value < 1):
        raise malformed("event_loop_s")
    return float(value)


def _messages(value: Any, malformed: Callable[[str], ReportError]) -> dict[str, int] | None:
    if value is None:
        return None
    if not (
        isinstance(value, dict)
        and all(
            isinstance(k, str) and isinstance(n, int) and not isinstance(n, bool) and n >= 0
            for k, n in value.items()
        )
    ):
        raise malformed("protocol_messages")
    return dict(value)


def _optional_int(value: Any) -> int | None:
    return None if value is None else int(value)


def _optional_str(value: Any) -> str | None:
    return None if value is None else str(value)


def format_seconds(seconds: float) -> str:
    if seconds < 1e-3:
        return f"{seconds * 1e6:.1f} µs"
    if seconds < 1:
        return f"{_three_digits(seconds * 1e3)} ms"
    return f"{seconds:.2f} s"


def _three_digits(value: float) -> str:
    """Three significant digits, trailing zeros kept: 1.30, 12.0, 450."""
    return f"{value:#.3g}".rstrip(".") if value < 1000 else f"{value:.0f}"


def at_size(cells: Iterable[CellResult], size: int) -> list[CellResult]:
    """The cells of that size, and of the other workloads (which count one unit of work at
    any size) those of their smallest size."""
    cells = list(cells)
    smallest: dict[str, int] = {}
    for cell in cells:
        if not is_batch(cell.workload):
            smallest[cell.workload] = min(smallest.get(cell.workload, cell.size), cell.size)
    return [c for c in cells if c.size == (size if is_batch(c.workload) else smallest[c.workload])]


def reference_size(cells: Sequence[CellResult]) -> int:
    """The size the summaries quote: 100 when it was run, else the largest batch size."""
    sizes = sorted({c.size for c in cells if is_batch(c.workload)}) or [max(c.size for c in cells)]
    return 100 if 100 in sizes else sizes[-1]


def is_batch(workload: str) -> bool:
    return workload not in WORKLOADS or WORKLOADS[workload].kind == "batch"


def is_concurrent(workload: str) -> bool:
    """A workload whose size is its number of worker threads, and whose cells are read by
    their throughput and latencies rather than the time of one execution."""
    return workload in WORKLOADS and WORKLOADS[workload].kind == "concurrent"


def units_per_second_interval(cell: CellResult) -> tuple[float, float] | None:
    """A 95 % interval for a concurrent cell's throughput, from its rounds (block bootstrap
    of the median over its passes); None without rounds."""
    sample = cell.sample
    if sample is None or cell.concurrency is None:
        return None
    low, high = median_interval(sample, cell.pass_count)
    return cell.concurrency.units / high, cell.concurrency.units / low


@dataclass(frozen=True)
class Comparison:
    """One cell's median over another's, both of the same group, with a 95 % interval."""

    ratio: float
    low: float
    high: float

    @property
    def known(self) -> bool:
        """False when the JSON holds no rounds to draw an interval from (older runs)."""
        return math.isfinite(self.low) and math.isfinite(self.high)

    @property
    def indistinguishable(self) -> bool:
        # without an interval the data cannot order the two either
        return not self.known or indistinguishable((self.low, self.high))


def compare_cells(cell: CellResult, other: CellResult) -> Comparison:
    """cell / other, with the interval from their interleaved rounds when the JSON has them
    (else a point with no width: the data cannot say more)."""
    ratio = cell.median / other.median
    if (
        cell.ratio_ci95 is not None
        and other.variant == BASELINE_VARIANT
        and cell.group == other.group
        and cell.delay == other.delay
    ):
        return Comparison(cell.ratio_to_dbapi or ratio, *cell.ratio_ci95)
    samples = cell.sample, other.sample
    if samples[0] is None or samples[1] is None or cell.pass_count != other.pass_count:
        return Comparison(ratio, math.nan, math.nan)
    low, high = ratio_interval(samples[0], samples[1], cell.pass_count)
    return Comparison(ratio, low, high)


def format_comparison(comparison: Comparison) -> str:
    if not comparison.known:
        return f"{comparison.ratio:.2f}× [no interval]"
    return f"{comparison.ratio:.2f}× [{comparison.low:.2f}–{comparison.high:.2f}]"


# --- text from the JSON in Markdown ---------------------------------------------------------------

#: control characters, line breaks among them: a line break would end a table row or let the
#: text start a block of its own
_CONTROL = re.compile(r"[\x00-\x1f\x7f]+")
#: what starts inline markup: a code span, emphasis, a link, raw HTML, an entity, a table cell,
#: a strikethrough, an escape (an underscore only at a word's edge: inside one it is text)
_INLINE_MARKUP = re.compile(r"[\\`*\[\]<&|~]|(?<![^\W_])_|_(?![^\W_])")
#: what starts a block when it begins a line: a heading, a quote, a list item, a setext line
_BLOCK_MARKUP = ("#", ">", "+", "-", "=")
_ORDERED_ITEM = re.compile(r"(\d{1,9})([.)])(?=\s|$)")
_BACKTICKS = re.compile(r"`+")


def markdown_text(value: object) -> str:
    """``value`` as Markdown text that shows exactly itself, on one line (control characters
    become spaces): safe in a paragraph, a table cell, a list item or a quote."""
    text = _INLINE_MARKUP.sub(lambda m: "\\" + m.group(), _CONTROL.sub(" ", str(value)).strip())
    if text.startswith(_BLOCK_MARKUP):
        return "\\" + text
    item = _ORDERED_ITEM.match(text)
    return f"{item[1]}\\{text[item.end(1) :]}" if item else text


def markdown_code(value: object) -> str:
    """``value`` as inline code on one line, fenced by one backtick more than its longest run
    of them (CommonMark), so none of its own ends the span. Not for a table cell: there a
    ``|`` ends the cell even inside code."""
    text = _CONTROL.sub(" ", str(value)) or " "
    fence = "`" * (_longest_backticks(text) + 1)
    # a backtick at an edge would join the fence; CommonMark strips one space off each end
    # where both ends have one, so a padded text reads as it was
    if text.strip(" ") and (text[0] in "` " or text[-1] in "` "):
        text = f" {text} "
    return f"{fence}{text}{fence}"


def markdown_code_block(value: object) -> list[str]:
    """``value`` as a fenced code block, its lines: the fence is longer than the longest run
    of backticks in it (CommonMark), so no line of its own closes the block."""
    text = str(value).replace("\r\n", "\n").replace("\r", "\n")
    fence = "`" * max(3, _longest_backticks(text) + 1)
    return [fence, *text.split("\n"), fence]


def _longest_backticks(text: str) -> int:
    return max((len(run) for run in _BACKTICKS.findall(text)), default=0)


def markdown_table(header: str, rows: Sequence[Sequence[str]]) -> str:
    """A Markdown table: the header line given, a separator, one line per row."""
    columns = header.count("|") - 1
    separator = "|" + "|".join(" --- " for _ in range(columns)) + "|"
    return "\n".join([header, separator, *("| " + " | ".join(row) + " |" for row in rows)])
