"""pytest plugin: one :class:`~bench.measure.cells.Harness` per backend for the whole session
(``NAME_harness``), closed before its backend is (it holds that backend's engines and
connections); and ``NAME_delayed_harnesses``, the harnesses whose connections go through a
delay proxy (:mod:`bench.measure.network`), stopped with their proxies before the backend closes."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import pytest

from bench.backends import Backend
from bench.measure.cells import Harness
from bench.measure.network import DelayedHarnesses


def _harness_fixture(name: str) -> Callable[..., Iterator[Harness]]:
    """The session fixture ``NAME_harness`` of one backend."""

    @pytest.fixture(scope="session", name=f"{name}_harness")
    def harness(request: pytest.FixtureRequest) -> Iterator[Harness]:
        backend: Backend = request.getfixturevalue(f"{name}_backend")
        made = Harness(backend)
        yield made
        made.close()

    return harness


def _delayed_fixture(name: str) -> Callable[..., Iterator[DelayedHarnesses]]:
    """The session fixture ``NAME_delayed_harnesses`` of one backend."""

    @pytest.fixture(scope="session", name=f"{name}_delayed_harnesses")
    def delayed(request: pytest.FixtureRequest) -> Iterator[DelayedHarnesses]:
        harnesses = DelayedHarnesses(request.getfixturevalue(f"{name}_backend"))
        try:
            yield harnesses
        finally:
            harnesses.close()

    return delayed


# The fixtures by name, one line each per registered backend, as in bench.plugin.backends:
# tests/test_backend_fixtures.py names the lines a newly registered backend still needs.
sqlite_harness = _harness_fixture("sqlite")
sqlite_delayed_harnesses = _delayed_fixture("sqlite")
postgres_harness = _harness_fixture("postgres")
postgres_delayed_harnesses = _delayed_fixture("postgres")
mariadb_harness = _harness_fixture("mariadb")
mariadb_delayed_harnesses = _delayed_fixture("mariadb")
