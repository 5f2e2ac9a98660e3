"""pytest plugin: the session's selection, kept in ``config.stash[SELECTION]``: the one
``python -m bench run`` hands in (:class:`~bench.plugin.selection.GivenSelection`), else the one
the ``--bench-*`` options make, through the checks of :mod:`bench.plugin.selection`.
"""

from __future__ import annotations

import argparse

import pytest

from bench.backends import BACKENDS
from bench.plugin.selection import (
    SELECTION,
    GivenSelection,
    Selection,
    SelectionError,
    latency_budget_of,
    rates_of,
    rtts_of,
    sizes_of,
)


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
    group.addoption(
        "--bench-rate",
        default=None,
        help="rates (requests a second) for the open loop, e.g. 200,400,... (a sweep)",
    )
    group.addoption(
        "--bench-latency-budget-ms",
        default=None,
        help="the p99 latency a rate must keep to (ms, default 50)",
    )
    group.addoption("--bench-note", action="append", default=[], help=argparse.SUPPRESS)
    group.addoption("--bench-command", default=None, help=argparse.SUPPRESS)


def from_options(config: pytest.Config) -> Selection:
    """The selection the ``--bench-*`` options make; pytest's usage error, naming the option,
    for one that cannot be."""
    try:
        sizes_text = config.getoption("--bench-sizes")
        sizes = sizes_of(sizes_text) if sizes_text else None
        rtt_text = config.getoption("--bench-rtt")
        rtts = rtts_of(rtt_text) if rtt_text else ()
        rate_text = config.getoption("--bench-rate")
        rates = rates_of(rate_text) if rate_text else ()
        budget_text = config.getoption("--bench-latency-budget-ms")
        budget = latency_budget_of(budget_text) if budget_text else None
        # the names are checked last, workloads first
        return Selection.of(
            sizes=sizes,
            rtts=rtts,
            rates=rates,
            latency_budget_ms=budget,
            workloads=config.getoption("--bench-workload"),
            variants=config.getoption("--bench-variant"),
            backends=config.getoption("--bench-backend"),
            quick=bool(config.getoption("--bench-quick")),
            notes=config.getoption("--bench-note"),
            command=config.getoption("--bench-command"),
        )
    except SelectionError as exc:
        raise pytest.UsageError(f"--bench-{exc.kind}: {exc}") from None


@pytest.hookimpl(tryfirst=True)
def pytest_configure(config: pytest.Config) -> None:
    # first: the other plugins' pytest_configure read it
    given = GivenSelection.find(config.pluginmanager.get_plugins())
    config.stash[SELECTION] = given if given is not None else from_options(config)
