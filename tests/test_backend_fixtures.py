"""Every registered backend has its session fixtures under the names the tests and
:mod:`bench.plugin.cells` ask for (``NAME_server``, ``NAME_backend``, ``NAME_harness``,
``NAME_delayed_harnesses``). The two plugins write them out per backend, so that a reader finds
each name; this says which lines a newly registered backend still needs."""

from __future__ import annotations

import re
from types import ModuleType

import pytest

from bench.backends import BACKENDS
from bench.plugin import backends as fix_backends
from bench.plugin import harnesses as fix_harness

#: the end of each fixture's name, the plugin defining it and the factory that makes it there
FIXTURES: tuple[tuple[str, ModuleType, str], ...] = (
    ("server", fix_backends, "_server_fixture"),
    ("backend", fix_backends, "_backend_fixture"),
    ("harness", fix_harness, "_harness_fixture"),
    ("delayed_harnesses", fix_harness, "_delayed_fixture"),
)


def test_every_registered_backend_has_its_fixtures(pytester: pytest.Pytester) -> None:
    pytester.makeconftest('pytest_plugins = ["bench.plugin.backends", "bench.plugin.harnesses"]')
    listing = pytester.runpytest_inprocess("--fixtures").stdout.str()
    missing = [
        f'{plugin.__name__}: {name}_{role} = {factory}("{name}")'
        for name in BACKENDS
        for role, plugin, factory in FIXTURES
        # known to pytest, and defined under its own name, where a reader looks for it
        if not re.search(rf"^{name}_{role} \[session scope\]", listing, re.MULTILINE)
        or not hasattr(plugin, f"{name}_{role}")
    ]
    assert not missing, "add these lines:\n" + "\n".join(missing)
