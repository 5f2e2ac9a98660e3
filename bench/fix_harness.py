"""pytest plugin: one :class:`~bench.cells.Harness` per backend for the whole session
(``NAME_harness``), closed before its backend is (it holds that backend's engines and
connections); and ``NAME_delayed_harnesses``, the harnesses whose connections go through a
delay proxy (:mod:`bench.network`), stopped with their proxies before the backend closes."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest

from bench.backends import BACKENDS, Backend
from bench.cells import Harness
from bench.network import DelayedHarnesses


def _harness_fixture(name: str) -> Callable[..., Iterator[Harness]]:
    @pytest.fixture(scope="session", name=f"{name}_harness")
    def harness(request: pytest.FixtureRequest) -> Iterator[Harness]:
        backend: Backend = request.getfixturevalue(f"{name}_backend")
        made = Harness(backend)
        yield made
        made.close()

    return harness


def _delayed_fixture(name: str) -> Callable[..., Iterator[DelayedHarnesses]]:
    @pytest.fixture(scope="session", name=f"{name}_delayed_harnesses")
    def delayed(request: pytest.FixtureRequest) -> Iterator[DelayedHarnesses]:
        harnesses = DelayedHarnesses(request.getfixturevalue(f"{name}_backend"))
        try:
            yield harnesses
        finally:
            harnesses.close()

    return delayed


_FIXTURES: dict[str, Any] = {f"{name}_harness": _harness_fixture(name) for name in BACKENDS}
_FIXTURES.update({f"{name}_delayed_harnesses": _delayed_fixture(name) for name in BACKENDS})
globals().update(_FIXTURES)
