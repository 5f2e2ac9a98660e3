"""pytest plugin: the harness's own section of pytest-benchmark's JSON (``harness``): what was
selected and how to run it again, the code and library versions, the servers, what the report
needs of the backends and variants, and the machine's state when the cells began and ended.
"""

from __future__ import annotations

import os
import subprocess
from collections.abc import Generator
from importlib import metadata
from pathlib import Path
from typing import Any

import pytest

from bench.backends import backend_types
from bench.measure.timing import calibrate
from bench.measure.workloads import WORKLOADS
from bench.plugin.backends import BACKEND_DESCRIPTIONS, BACKEND_NETWORKED
from bench.plugin.selection import SELECTION
from bench.results.catalog import Catalog
from implementations.registry import load_variant

#: the machine's state when the run began: load average and the calibration loop
MACHINE_AT_START = pytest.StashKey[dict[str, Any]]()


def machine_state() -> dict[str, Any]:
    """How busy and how fast the machine is right now."""
    return {"load_average": list(os.getloadavg()), "calibration": calibrate()}


@pytest.hookimpl(wrapper=True)
def pytest_collection_finish(session: pytest.Session) -> Generator[None, None, None]:
    # taken once the cells are collected and checked (a selection refused ends the session
    # first: bench.plugin.connections), just before the first cell: what the cells ran on
    result = yield
    if session.items and not session.config.option.collectonly:
        session.config.stash[MACHINE_AT_START] = machine_state()
    return result


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
    # bench/plugin/json_header.py: three folders up is the checkout
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
        "rates": list(selection.rates),
        "latency_budget_ms": selection.latency_budget_ms,
        "not_applicable": selection.not_applicable(),
        "size_limits": selection.size_limits(),
        "notes": list(selection.notes),
        "command": selection.command,
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
