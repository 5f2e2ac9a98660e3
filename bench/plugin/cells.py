"""pytest plugin for the benchmark modules: which cells run, the per-backend harness, one
progress line per cell, and the harness's own section in pytest-benchmark's JSON.
"""

from __future__ import annotations

import argparse
import os
import subprocess
from collections.abc import Callable, Generator, Sequence
from dataclasses import dataclass, field
from importlib import metadata
from pathlib import Path
from typing import Any

import pytest

from bench.backends import BACKENDS, backend_type, backend_types
from bench.backends.servers import ServerError
from bench.measure.cells import PROFILES, Cell, Harness, Profile, case_for, runs_on
from bench.measure.groups import Group, GroupRunner, publish
from bench.measure.network import DelayedHarnesses, parse_rtts
from bench.measure.timing import calibrate
from bench.measure.workloads import DEFAULT_SIZES, QUICK_SIZES, WORKLOADS, parse_sizes, sizes_for
from bench.plugin.backends import (
    BACKEND_DESCRIPTIONS,
    BACKEND_NETWORKED,
    CONNECTIONS_NEEDED,
    ConnectionNeed,
    provided_server,
    short_of_connections,
)
from bench.results.catalog import Catalog
from implementations.contract import Variant
from implementations.registry import VARIANTS, load_variant


@dataclass(frozen=True)
class Selection:
    """The cells a run covers."""

    workloads: tuple[str, ...] = tuple(WORKLOADS)
    variants: tuple[str, ...] = tuple(VARIANTS)
    backends: tuple[str, ...] = tuple(BACKENDS)
    sizes: tuple[int, ...] = DEFAULT_SIZES
    profile: Profile = PROFILES["default"]
    notes: tuple[str, ...] = field(default=())
    #: whether the sizes were asked for (then every variant runs at every one of them)
    sizes_given: bool = False
    #: the round-trip times (ms) the networked backends' cells also run at, through a delay
    #: proxy; with any, also at 0 ms through it (the proxy's own cost)
    rtts: tuple[float, ...] = ()

    def cells(self, workload: str) -> list[Cell]:
        if workload not in self.workloads:
            return []
        # the variants of one size form a group, timed together in alternation
        return [
            Cell(workload, variant, backend, size, rtt)
            for backend in self.backends
            for rtt in self.delays(backend)
            for size in sizes_for(
                WORKLOADS[workload], self.sizes, self.sizes_given, self.profile.name == "quick"
            )
            for variant in self.variants
            if load_variant(variant).implements(workload)
            and runs_on(variant, backend)
            and self._runs_at(variant, size)
        ]

    def delays(self, backend: str) -> tuple[float | None, ...]:
        """None (direct), then the proxy's round-trip times, where the backend has a network."""
        if not self.rtts or not backend_type(backend).networked:
            return (None,)
        return (None, *sorted({0.0, *self.rtts}))

    def _runs_at(self, variant: str, size: int) -> bool:
        largest = load_variant(variant).largest_default_size
        return self.sizes_given or largest is None or size <= largest

    def size_limits(self) -> dict[str, int]:
        """The variants the default sizes were cut for, and their largest size."""
        limits = {}
        for variant in self.variants:
            largest = load_variant(variant).largest_default_size
            if not self.sizes_given and largest is not None and max(self.sizes) > largest:
                limits[variant] = largest
        return limits

    def not_applicable(self) -> list[dict[str, str]]:
        return [
            {"workload": workload, "variant": variant}
            for workload in self.workloads
            for variant in self.variants
            if not load_variant(variant).implements(workload)
        ]


SELECTION = pytest.StashKey[Selection]()
PROGRESS = pytest.StashKey[list[int]]()
GROUPS = pytest.StashKey[GroupRunner]()
#: the machine's state when the run began: load average and the calibration loop
MACHINE_AT_START = pytest.StashKey[dict[str, Any]]()


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("bench", "data-access benchmark harness")
    group.addoption("--bench-workload", action="append", default=[], help="workload to run")
    group.addoption("--bench-variant", action="append", default=[], help="variant to run")
    group.addoption(
        "--bench-backend",
        action="append",
        default=[],
        choices=tuple(BACKENDS),
        help="backend to run",
    )
    group.addoption("--bench-sizes", default=None, help="sizes, e.g. 1,100,1000")
    group.addoption("--bench-quick", action="store_true", help="fewer sizes and rounds")
    group.addoption(
        "--bench-rtt",
        default=None,
        help="round-trip times in ms to also run networked backends' cells at, e.g. 1,10",
    )
    group.addoption("--bench-note", action="append", default=[], help=argparse.SUPPRESS)
    group.addoption("--bench-command", default=None, help=argparse.SUPPRESS)


def pytest_configure(config: pytest.Config) -> None:
    quick = bool(config.getoption("--bench-quick"))
    sizes_text = config.getoption("--bench-sizes")
    try:
        sizes = parse_sizes(sizes_text) if sizes_text else (QUICK_SIZES if quick else DEFAULT_SIZES)
    except ValueError as exc:
        raise pytest.UsageError(f"--bench-sizes: {exc}") from None
    rtt_text = config.getoption("--bench-rtt")
    try:
        rtts = parse_rtts(rtt_text) if rtt_text else ()
    except ValueError as exc:
        raise pytest.UsageError(f"--bench-rtt: {exc}") from None
    for option, known in (("--bench-workload", WORKLOADS), ("--bench-variant", VARIANTS)):
        unknown = [name for name in config.getoption(option) if name not in known]
        if unknown:
            raise pytest.UsageError(
                f"{option}: unknown {', '.join(unknown)}; choose from {', '.join(known)}"
            )
    config.stash[SELECTION] = Selection(
        workloads=tuple(config.getoption("--bench-workload")) or tuple(WORKLOADS),
        variants=tuple(config.getoption("--bench-variant")) or tuple(VARIANTS),
        backends=tuple(dict.fromkeys(config.getoption("--bench-backend"))) or tuple(BACKENDS),
        sizes=sizes,
        profile=PROFILES["quick" if quick else "default"],
        notes=tuple(config.getoption("--bench-note")),
        sizes_given=bool(sizes_text),
        rtts=rtts,
    )
    config.stash[PROGRESS] = [0, 0]
    config.stash[GROUPS] = GroupRunner(config.stash[SELECTION].profile, [])


def machine_state() -> dict[str, Any]:
    """How busy and how fast the machine is right now."""
    return {"load_average": list(os.getloadavg()), "calibration": calibrate()}


@pytest.hookimpl(trylast=True)
def pytest_collection_finish(session: pytest.Session) -> None:
    if not session.items or session.config.option.collectonly:
        return
    _check_connections(session)
    # taken after collection, just before the first cell: what the cells ran on
    session.config.stash[MACHINE_AT_START] = machine_state()


# --- connection slots ---------------------------------------------------------------------------

#: the backend's own connection (resets, snapshots, the server's statistics), open all run long
BACKEND_CONNECTIONS = 1
#: ... and one more while the backend is set up (creating the tables, measuring the round trip)
SETUP_CONNECTIONS = BACKEND_CONNECTIONS + 1
#: the instances a harness keeps of each variant that has run on it: the timed and the counting
INSTANCES_PER_VARIANT = 2


def _check_connections(session: pytest.Session) -> None:
    """Before any cell runs: each backend's need, and a usage error (one line) where a server
    already provisioned takes fewer connections at once; a server provisioned on first use is
    checked then (:mod:`bench.plugin.backends`)."""
    config = session.config
    cells = [cell for cell in map(_cell_of, session.items) if cell is not None]
    needs: dict[str, ConnectionNeed] = {}
    for backend in dict.fromkeys(cell.backend for cell in cells):
        needs[backend] = connections_needed(
            [cell for cell in cells if cell.backend == backend], config.stash[SELECTION].profile
        )
    config.stash[CONNECTIONS_NEEDED] = needs
    for backend, need in needs.items():
        server = provided_server(config, backend)
        if server is None:
            continue
        try:
            problem = short_of_connections(backend_type(backend), server, need)
        except ServerError as exc:
            problem = str(exc)
        if problem:
            raise pytest.UsageError(problem)


def connections_needed(cells: Sequence[Cell], profile: Profile) -> ConnectionNeed:
    """The most connections the cells of one backend hold on its server at once, run in this
    order, as the harness makes and keeps them (:class:`~bench.measure.cells.Harness`,
    :func:`~bench.measure.groups.measure_group`):

    - the backend's own connection, all run long;
    - on each harness (the direct one, and one per delay proxy), a timed and a counting
      instance of every variant that has run there, kept to the end: one connection each (an
      engine's pool that one thread uses, or a driver connection), none for a style that
      connects per use (:func:`keeps_connection`);
    - while a group runs, what its styles open besides (:func:`_opened_by_group`).
    """
    members: dict[Group, list[Cell]] = {}
    for cell in cells:
        members.setdefault(Group.of(cell), []).append(cell)
    kept: set[tuple[float | None, str]] = set()
    peak = ConnectionNeed(SETUP_CONNECTIONS, "the backend's setup", "variants")
    for group in members.values():  # in the order their first cells run
        kept.update((cell.rtt_ms, cell.variant) for cell in group)
        held = BACKEND_CONNECTIONS + sum(
            INSTANCES_PER_VARIANT for _, variant in kept if keeps_connection(variant)
        )
        need = held + _opened_by_group(group, profile)
        if need > peak.connections:
            peak = ConnectionNeed(need, _during(group), _fewer(group))
    return peak


def prepares_workers(variant: str) -> bool:
    """Whether the style makes its connections for a concurrent workload's workers before the
    requests (a pool of one per worker), rather than connecting per request."""
    return load_variant(variant).prepare_workers is not Variant.prepare_workers


def _connects_per_use(variant: str, workload: str) -> bool:
    kind = WORKLOADS[workload].kind
    return kind == "connection" or (kind == "concurrent" and not prepares_workers(variant))


def keeps_connection(variant: str) -> bool:
    """Whether an instance of the style keeps a connection open all its life. The contract has
    a style's engine or connection made outside the timed region, but for the workloads that
    connect per use (the connection patterns, a concurrent workload's requests without
    prepare_workers): a style that implements nothing else keeps none."""
    style = load_variant(variant)
    return any(
        style.implements(workload) and not _connects_per_use(variant, workload)
        for workload in WORKLOADS
    )


def _opened_by_group(group: Sequence[Cell], profile: Profile) -> int:
    """The connections a group's styles open at once besides those their instances keep:

    - a concurrent workload at K workers: each style's pool, K connections for its timed
      instance and 1 for its counting one, all open until the group ends; a style that
      connects per request opens up to K at once, one style's rounds at a time, and twice as
      many when its workers connect more than once each (the server process of a connection
      just closed holds its slot a moment after the client has moved on: measured);
    - a connection workload: a style that connects per use, 2 (one opening, one exiting).
    """
    kind = WORKLOADS[group[0].workload].kind
    if kind == "connection":
        return 2 if any(not keeps_connection(cell.variant) for cell in group) else 0
    if kind != "concurrent":
        return 0
    workers = group[0].size
    pools = sum(workers + 1 for cell in group if prepares_workers(cell.variant))
    per_request = (
        _per_request_connections(workers, case_for(cell, profile).rows)
        for cell in group
        if not prepares_workers(cell.variant)
    )
    return pools + max(per_request, default=0)


def _per_request_connections(workers: int, requests: int) -> int:
    """A style that connects per request, ``requests`` of them over ``workers`` threads: one
    connection per worker, or two where a worker connects again (its last one exiting)."""
    return requests if requests <= workers else min(requests, 2 * workers)


def _during(group: Sequence[Cell]) -> str:
    """When a group runs, for the line that says the run does not fit: its workload, its
    workers, and the delays its cells run at."""
    first = group[0]
    when = first.workload
    if WORKLOADS[first.workload].kind == "concurrent":
        when += f" at {first.size} workers"
    delays = sorted({cell.rtt_ms for cell in group if cell.rtt_ms is not None})
    if delays:
        when += ", direct and through the delay proxy at " + ", ".join(f"{d:g}" for d in delays)
        when += " ms"
    return when


def _fewer(group: Sequence[Cell]) -> str:
    """What the selection could have fewer of to need fewer connections at a group's peak."""
    choices = ["variants"]
    if WORKLOADS[group[0].workload].kind == "concurrent":
        choices.append("workers (sizes)")
    if any(cell.rtt_ms is not None for cell in group):
        choices.append("round-trip times")
    return ", ".join(choices[:-1]) + " or " + choices[-1] if len(choices) > 1 else choices[0]


def benchmark_for(workload: str) -> Callable[..., None]:
    """The test function of a workload's benchmark module, parametrized by the selection."""
    if workload not in WORKLOADS:
        raise KeyError(workload)

    def benchmark_cell(
        benchmark: Any,
        request: pytest.FixtureRequest,
        harness: Harness,
        cell: Cell,
        groups: GroupRunner,
    ) -> None:
        # the cell's own harness is set up before the test (a missing server skips it there);
        # the other cells of its group may run on other harnesses (through a proxy)
        def harness_for(member: Cell) -> Harness:
            return harness if member == cell else harness_of(request, member)

        publish(benchmark, groups.outcome(harness_for, cell))

    benchmark_cell.__name__ = f"test_{workload}"
    benchmark_cell.__doc__ = WORKLOADS[workload].description
    # pytest-benchmark's group is the workload, and the one place the cell fixtures read it
    grouped: Callable[..., None] = pytest.mark.benchmark(group=workload)(benchmark_cell)
    return grouped


def _workload_of(node: pytest.Item) -> str | None:
    marker = node.get_closest_marker("benchmark")
    group = marker.kwargs.get("group") if marker is not None else None
    return group if group in WORKLOADS else None


CELL_PARAMETERS = ("variant", "backend", "size", "rtt_ms")


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    if "cell" not in metafunc.fixturenames:
        return
    workload = _workload_of(metafunc.definition)
    if workload is None:
        raise pytest.UsageError(f"{metafunc.function.__name__}: made without benchmark_for()")
    cells = metafunc.config.stash[SELECTION].cells(workload)
    metafunc.parametrize(
        CELL_PARAMETERS,
        [(cell.variant, cell.backend, cell.size, cell.rtt_ms) for cell in cells],
        ids=[cell.id for cell in cells],
    )


@pytest.fixture
def cell(
    request: pytest.FixtureRequest, variant: str, backend: str, size: int, rtt_ms: float | None
) -> Cell:
    workload = _workload_of(request.node)
    assert workload is not None
    return Cell(workload, variant, backend, size, rtt_ms)


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    # a workload with no selected cell would show as one "empty parameter set" skip
    kept = [item for item in items if _cell_of(item) is not None]
    deselected = [item for item in items if item not in kept]
    if deselected:
        config.hook.pytest_deselected(items=deselected)
        items[:] = kept
    config.stash[PROGRESS] = [0, len(items)]
    cells = [_cell_of(item) for item in items]
    config.stash[GROUPS] = GroupRunner(
        config.stash[SELECTION].profile, [cell for cell in cells if cell is not None]
    )


def _cell_of(item: pytest.Item) -> Cell | None:
    callspec = getattr(item, "callspec", None)
    workload = _workload_of(item)
    if callspec is None or workload is None:
        return None
    values = [callspec.params.get(name) for name in CELL_PARAMETERS]
    if not (
        isinstance(values[0], str)
        and isinstance(values[1], str)
        and isinstance(values[2], int)
        and (values[3] is None or isinstance(values[3], float))
    ):
        return None  # the placeholder of an empty parameter set
    return Cell(workload, values[0], values[1], values[2], values[3])


@pytest.fixture
def profile(request: pytest.FixtureRequest) -> Profile:
    return request.config.stash[SELECTION].profile


@pytest.fixture
def groups(request: pytest.FixtureRequest) -> GroupRunner:
    return request.config.stash[GROUPS]


def harness_of(request: pytest.FixtureRequest, cell: Cell) -> Harness:
    """The harness a cell runs on: its backend's, or the one through the proxy of its delay."""
    if cell.rtt_ms is not None:
        delayed: DelayedHarnesses = request.getfixturevalue(f"{cell.backend}_delayed_harnesses")
        return delayed.get(cell.rtt_ms)
    harness: Harness = request.getfixturevalue(f"{cell.backend}_harness")
    return harness


@pytest.fixture
def harness(request: pytest.FixtureRequest, cell: Cell) -> Harness:
    return harness_of(request, cell)


# --- progress ---------------------------------------------------------------------------------


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(
    item: pytest.Item, call: pytest.CallInfo[None]
) -> Generator[None, pytest.TestReport, pytest.TestReport]:
    report = yield
    cell = _cell_of(item)
    if cell is not None and (
        report.when == "call" or (report.when == "setup" and not report.passed)
    ):
        _progress(item, cell, report)
    return report


def _progress(item: pytest.Item, cell: Cell, report: pytest.TestReport) -> None:
    progress = item.config.stash[PROGRESS]
    selection = item.config.stash[SELECTION]
    progress[0] += 1
    prefix = f"[{progress[0]:>{len(str(progress[1]))}}/{progress[1]}] {cell.workload:<20} " + (
        f"{cell.variant:<15}{cell.where:<{14 if selection.rtts else 9}}{cell.size:>6}  "
    )
    if report.passed:
        benchmark = item.funcargs["benchmark"]  # type: ignore[attr-defined]
        info = benchmark.extra_info
        stats = benchmark.stats.stats
        ratio = info.get("ratio_to_dbapi")
        compared = (
            f"{ratio:6.2f}x dbapi [{info['ratio_to_dbapi_ci95'][0]:.2f}, "
            f"{info['ratio_to_dbapi_ci95'][1]:.2f}]"
            if ratio is not None
            else f"{'':<25}"
        )
        line = (
            f"{prefix}{stats.median * 1000:10.3f} ms median of {stats.rounds:>3}  {compared}  "
            f"statements {info['db_statements']}, round trips {info['round_trips']}"
            + ("  (noisy)" if info.get("noisy") else "")
        )
    elif report.skipped:
        reason = report.longrepr[2] if isinstance(report.longrepr, tuple) else "skipped"
        line = f"{prefix}skipped: {reason.removeprefix('Skipped: ')}"
    else:
        line = f"{prefix}FAILED: {_first_line(report)}"
    _write(item.config, line)


def pytest_report_teststatus(report: pytest.TestReport, config: pytest.Config) -> Any:
    # the progress line replaces pytest's dot for every cell that passed
    if report.when == "call" and report.passed and "benchmark" in report.keywords:
        return "passed", "", ""
    return None


def _first_line(report: pytest.TestReport) -> str:
    crash = getattr(report.longrepr, "reprcrash", None)
    message = crash.message if crash is not None else str(report.longrepr)
    return message.strip().splitlines()[0] if message.strip() else "failed"


def _write(config: pytest.Config, line: str) -> None:
    reporter = config.pluginmanager.get_plugin("terminalreporter")
    if reporter is not None:
        reporter.ensure_newline()
        reporter.write_line(line)


# --- pytest-benchmark JSON ----------------------------------------------------------------------


def versions() -> dict[str, str]:
    """The versions of everything that shapes the numbers: the harness's libraries, then each
    backend's driver and client libraries."""
    found = {}
    for distribution in ("sqlalchemy", "pytest-benchmark"):
        try:
            found[distribution] = metadata.version(distribution)
        except metadata.PackageNotFoundError:
            found[distribution] = "not installed"
    for kind in backend_types():
        found.update(kind.driver_versions())
    return found


def harness_source() -> dict[str, object]:
    """The git commit of the harness's own code, when it runs from a checkout of it (the
    working directory or where the package lives); pytest-benchmark's commit_info is that of
    the working directory, whatever it is."""
    # bench/plugin/cells.py: three folders up is the checkout
    checkout = Path(__file__).resolve().parents[2]
    for candidate in (Path.cwd(), checkout):
        top = _git(candidate, "rev-parse", "--show-toplevel")
        if top is None or not all(
            (Path(top) / part).is_file()
            for part in ("bench/cli/__init__.py", "implementations/registry.py")
        ):
            continue
        commit = _git(Path(top), "rev-parse", "HEAD")
        changes = _git(Path(top), "status", "--porcelain", "--untracked-files=no")
        # the checkout's path stays out: it is a private detail of whoever ran it
        return {"commit": commit, "dirty": bool(changes)}
    return {}


def _git(folder: Path, *arguments: str) -> str | None:
    try:
        completed = subprocess.run(
            ["git", "-C", str(folder), *arguments],
            capture_output=True,
            text=True,
            timeout=10,
            check=False,
        )
    except (OSError, subprocess.SubprocessError):
        return None
    return completed.stdout.strip() if completed.returncode == 0 else None


def pytest_benchmark_update_json(
    config: pytest.Config, benchmarks: Any, output_json: dict[str, Any]
) -> None:
    selection = config.stash[SELECTION]
    at_start = config.stash.get(MACHINE_AT_START, None)
    output_json["harness"] = {
        "profile": selection.profile.name,
        "workloads": list(selection.workloads),
        "variants": list(selection.variants),
        "backends": list(selection.backends),
        "sizes": list(selection.sizes),
        "rtts_ms": list(selection.rtts),
        "not_applicable": selection.not_applicable(),
        "size_limits": selection.size_limits(),
        "notes": list(selection.notes),
        "command": config.getoption("--bench-command"),
        "source": harness_source(),
        "versions": versions(),
        "servers": config.stash[BACKEND_DESCRIPTIONS],
        "networked": config.stash[BACKEND_NETWORKED],
        "workload_descriptions": {
            name: WORKLOADS[name].description for name in selection.workloads
        },
        "variant_labels": {name: load_variant(name).label() for name in selection.variants},
        # what the report needs of the backends and variants, so that it imports neither
        "catalog": Catalog.from_code().to_json(),
        "noise": {"start": at_start, "end": machine_state()} if at_start else {},
    }
