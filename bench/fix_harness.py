"""pytest plugin: one :class:`~bench.cells.Harness` per backend for the whole session, closed
before its backend is (it holds that backend's engines and connections)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from bench.backends import PostgresBackend, SqliteBackend
from bench.cells import Harness


@pytest.fixture(scope="session")
def sqlite_harness(sqlite_backend: SqliteBackend) -> Iterator[Harness]:
    harness = Harness(sqlite_backend)
    yield harness
    harness.close()


@pytest.fixture(scope="session")
def postgres_harness(postgres_backend: PostgresBackend) -> Iterator[Harness]:
    harness = Harness(postgres_backend)
    yield harness
    harness.close()
