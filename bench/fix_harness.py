"""pytest plugin: one :class:`~bench.cells.Harness` per backend for the whole session
(``NAME_harness``), closed before its backend is (it holds that backend's engines and
connections)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest

from bench.backends import BACKENDS, Backend
from bench.cells import Harness


def _harness_fixture(name: str) -> Callable[..., Iterator[Harness]]:
    @pytest.fixture(scope="session", name=f"{name}_harness")
    def harness(request: pytest.FixtureRequest) -> Iterator[Harness]:
        backend: Backend = request.getfixturevalue(f"{name}_backend")
        made = Harness(backend)
        yield made
        made.close()

    return harness


_FIXTURES: dict[str, Any] = {f"{name}_harness": _harness_fixture(name) for name in BACKENDS}
globals().update(_FIXTURES)
