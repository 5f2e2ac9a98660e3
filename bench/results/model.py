"""A run's results as the report reads them: each cell with its timings, counts and measures,
the run around them, and the comparisons and figures the report's sections and charts share."""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from functools import cache
from typing import Any

from bench.results.catalog import Catalog
from bench.results.statistics import Sample, indistinguishable, median_interval, ratio_interval


@cache
def code_catalog() -> Catalog:
    """This version's catalog: for results that carry none (made once: it imports the
    workloads and variants)."""
    return Catalog.from_code()


@dataclass(frozen=True)
class Heading:
    """How the report and charts name a backend, and whether its timings cross a network."""

    name: str
    title: str
    networked: bool
    #: what shapes its statement and round-trip counts
    count_notes: tuple[str, ...] = ()
    #: the p99 latency a style had to keep to at one rate of a sweep to run at the next
    latency_budget_ms: float = 50.0


class ReportError(Exception):
    """The results cannot be reported on; one line for the user."""


@dataclass(frozen=True)
class Concurrency:
    """A concurrent workload's cell: its K workers and what its timed rounds did."""

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
    #: who the workers were: "thread", "process" or "task" (runs before processes and tasks
    #: were measured: threads)
    workers_kind: str = "thread"
    p999_ms: float | None = None
    #: an open loop's: the rate the requests arrived at and the rate achieved (requests a
    #: second), and the requests left waiting when the last was due
    target_rate: float | None = None
    achieved_rate: float | None = None
    backlog: int | None = None

    @property
    def workers_named(self) -> str:
        """``4 processes``, ``1 thread``: the workers, counted and named."""
        return workers_named(self.workers, self.workers_kind)


#: each kind of worker's name, one and many
WORKERS_KIND_NAMES = {
    "thread": ("thread", "threads"),
    "process": ("process", "processes"),
    "task": ("task", "tasks"),
}


def workers_named(workers: int, kind: str) -> str:
    """``4 processes``, ``1 thread``."""
    one, many = WORKERS_KIND_NAMES.get(kind, (kind, kind))
    return f"{workers} {one if workers == 1 else many}"


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
    #: the SQL the client sent in the counted execution: its distinct statements with their
    #: calls (the record's ``sql_sent``); None for runs made before it was recorded
    sql_sent: dict[str, Any] | None = None
    #: seconds of the median execution in each layer (``LAYERS``), and the samples their
    #: shares come from; None where the run did not measure them
    time_by_layer: dict[str, float] | None = None
    layer_samples: int | None = None
    #: the most memory one execution held at once, and over the rows a read returned
    peak_bytes: int | None = None
    bytes_per_row: float | None = None
    #: the throughput and latencies of a concurrent workload's cell
    concurrency: Concurrency | None = None
    #: what the run knew of its workloads and variants: how this cell is read and ordered
    catalog: Catalog = field(default_factory=code_catalog, compare=False, repr=False)

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

    @property
    def is_batch(self) -> bool:
        """A cell of a workload whose size is N rows (one the run did not know counts as one)."""
        return self.catalog.is_batch(self.workload)

    @property
    def is_concurrent(self) -> bool:
        """A cell whose size is its number of worker threads, read by its throughput and
        latencies rather than the time of one execution."""
        return self.catalog.is_concurrent(self.workload)

    @property
    def is_projected(self) -> bool:
        """A cell whose cost with a network in between the report projects."""
        return self.workload in self.catalog.projected_workloads()


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
    catalog: Catalog = field(default_factory=code_catalog)

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
            self.latency_budget_ms,
        )

    @property
    def latency_budget_ms(self) -> float:
        """The run's latency budget for its rate sweep (a run that recorded none: 50 ms, the
        default then as now)."""
        recorded = self.harness.get("latency_budget_ms")
        return float(recorded) if isinstance(recorded, int | float) and recorded > 0 else 50.0

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
    cells = list(cells)
    known = cells[0].catalog.workload_order() if cells else ()
    return _order((cell.workload for cell in cells), known)


def variants_of(cells: Iterable[CellResult]) -> list[str]:
    cells = list(cells)
    known = cells[0].catalog.variant_order() if cells else ()
    return _order((cell.variant for cell in cells), known)


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
        if not cell.is_batch:
            smallest[cell.workload] = min(smallest.get(cell.workload, cell.size), cell.size)
    return [c for c in cells if c.size == (size if c.is_batch else smallest[c.workload])]


def reference_size(cells: Sequence[CellResult]) -> int:
    """The size the summaries quote: 100 when it was run, else the largest batch size."""
    sizes = sorted({c.size for c in cells if c.is_batch}) or [max(c.size for c in cells)]
    return 100 if 100 in sizes else sizes[-1]


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
        and other.variant == cell.catalog.baseline_variant
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
