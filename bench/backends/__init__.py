"""The backends the harness knows: name -> "module:OBJECT", imported only when used.

Adding a backend is adding its package, ``bench/backends/NAME/``, one job per module (a
:class:`~bench.backends.base.BackendType` with its :class:`~bench.backends.base.Backend`, the
database's lifecycle, where its server comes from, the server's own account and its
:class:`~bench.measure.counting.Observer`: see ``postgres/``), and one line here. The order
is the order of the report's sections. Nothing outside a backend's package compares its name:
the rest of the harness asks the object.
"""

from __future__ import annotations

import importlib
from functools import cache

from bench.backends.base import LEFT_BEHIND, Backend, BackendType

__all__ = ["BACKENDS", "LEFT_BEHIND", "Backend", "BackendType", "backend_type", "backend_types"]

BACKENDS: dict[str, str] = {
    "sqlite": "bench.backends.sqlite.backend:SQLITE",
    "postgres": "bench.backends.postgres.backend:POSTGRES",
    "mariadb": "bench.backends.mariadb.backend:MARIADB",
}


class UnknownBackend(KeyError):
    pass


@cache
def backend_type(name: str) -> BackendType:
    """Import the backend's module and return its type."""
    try:
        target = BACKENDS[name]
    except KeyError:
        raise UnknownBackend(name) from None
    module_name, _, attribute = target.partition(":")
    found: BackendType = getattr(importlib.import_module(module_name), attribute)
    return found


def backend_types(names: tuple[str, ...] | None = None) -> list[BackendType]:
    """The types of the backends named (all of them by default), in the registry's order."""
    return [backend_type(name) for name in BACKENDS if names is None or name in names]


def count_notes_of(name: str) -> tuple[str, ...]:
    """What shapes a backend's counts; nothing for one this version does not know."""
    return backend_type(name).count_notes if name in BACKENDS else ()


def server_work_notes_of(name: str) -> tuple[str, ...]:
    """Which counters make up a backend's server figures, or why it has none."""
    return backend_type(name).server_work_notes if name in BACKENDS else ()


def single_writer_of(name: str) -> str | None:
    """Why concurrent writers wait for each other on a backend, where the database itself
    makes them."""
    return backend_type(name).single_writer if name in BACKENDS else None


def title_of(name: str) -> str:
    """A backend's display title; the name itself for one this version does not know (results
    written by another version of the harness)."""
    return backend_type(name).title if name in BACKENDS else name
