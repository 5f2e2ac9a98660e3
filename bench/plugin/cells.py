"""pytest plugin: the cells as pytest's tests. Each workload's test function
(:func:`benchmark_for`) is parametrized by the session's selection; a cell's test asks for its
cell, its harness, the profile and the group runner, which times the variants of a group in
alternation; the cells the session runs, in order, are kept in ``config.stash[CELLS]``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from bench.measure.cells import Cell, Harness, Profile
from bench.measure.groups import GroupRunner
from bench.measure.layers import LayerSampling
from bench.measure.network import DelayedHarnesses
from bench.measure.workloads import WORKLOADS
from bench.plugin.publishing import publish
from bench.plugin.selection import SELECTION

GROUPS = pytest.StashKey[GroupRunner]()
#: the cells the session runs, in the order they run, once collected
CELLS = pytest.StashKey[list[Cell]]()


def pytest_configure(config: pytest.Config) -> None:
    config.stash[CELLS] = []
    config.stash[GROUPS] = _group_runner(config, [])


def pytest_terminal_summary(terminalreporter: Any, config: pytest.Config) -> None:
    sampling = config.stash[GROUPS].sampling
    if sampling is not None and sampling.unavailable is not None:
        terminalreporter.write_line(f"time by layer: not measured: {sampling.unavailable}")


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
    kept = [item for item in items if cell_of(item) is not None]
    deselected = [item for item in items if item not in kept]
    if deselected:
        config.hook.pytest_deselected(items=deselected)
        items[:] = kept
    cells = [cell for cell in map(cell_of, items) if cell is not None]
    config.stash[CELLS] = cells
    config.stash[GROUPS] = _group_runner(config, cells)


def _group_runner(config: pytest.Config, cells: list[Cell]) -> GroupRunner:
    selection = config.stash[SELECTION]
    return GroupRunner(selection.profile, cells, LayerSampling(), selection.latency_budget_ms)


def cell_of(item: pytest.Item) -> Cell | None:
    """The cell an item runs; None for an item that is not a cell's test."""
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
