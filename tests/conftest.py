"""Fixtures of the harness's own tests: every registered backend, and a harness per backend."""

from __future__ import annotations

import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from bench.backends import Backend, backend_types
from bench.backends.postgres.servers import LocalClusterProvider
from bench.measure.cells import Harness

from helpers import bench, server_tmpdir

pytest_plugins = ["bench.plugin.backends", "bench.plugin.harnesses", "pytester"]

#: every registered backend; those with a server carry the marker of their name
BACKEND_PARAMS = [
    pytest.param(kind.name, marks=getattr(pytest.mark, kind.name))
    if kind.needs_server
    else kind.name
    for kind in backend_types()
]


@pytest.fixture(params=BACKEND_PARAMS)
def backend(request: pytest.FixtureRequest) -> Backend:
    """Each test using it runs once per backend."""
    backend: Backend = request.getfixturevalue(f"{request.param}_backend")
    return backend


@pytest.fixture
def harness(request: pytest.FixtureRequest, backend: Backend) -> Harness:
    """The session's harness for the backend under test."""
    harness: Harness = request.getfixturevalue(f"{backend.name}_harness")
    return harness


@pytest.fixture(scope="session")
def quick_run(
    tmp_path_factory: pytest.TempPathFactory,
) -> tuple[Path, subprocess.CompletedProcess[str]]:
    """One quick SQLite run of a few cells: its output folder and the finished process."""
    folder = tmp_path_factory.mktemp("run")
    result = bench(
        "run",
        "--backend",
        "sqlite",
        "--quick",
        "--workload",
        "crud_create",
        "parent_child_read",
        "--variant",
        "orm",
        "orm_lazy",
        "dbapi",
        "--out",
        "out",
        cwd=folder,
    )
    return folder / "out", result


@pytest.fixture
def own_tmpdir() -> Iterator[Path]:
    """A temporary folder for the runs a test starts, so that the PostgreSQL servers they
    start (and only those) can be found by it; under /tmp, where the server's unprivileged
    user can reach it (pytest's own folders are private to root)."""
    with server_tmpdir(
        LocalClusterProvider().unavailable_reason(), "BENCH_REQUIRE_POSTGRES", "bench-pg-"
    ) as folder:
        yield folder
