"""What the report needs to know of the backends and variants a run knew, carried in the run's
JSON (the harness section's ``catalog``), so that drawing the report imports no driver and no
variant: each backend's title and the notes on its counts, its server figures and its writers,
in the harness's order; and each asyncio variant's synchronous form.

The plugin writes it from the code (:meth:`Catalog.from_code`); the report reads it from the
JSON (:meth:`Catalog.from_json`), and only for results written before it existed falls back on
the code.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any


class CatalogError(ValueError):
    """The JSON's catalog is malformed; the message names the part."""


@dataclass(frozen=True)
class BackendFacts:
    """How the report names a backend, and the notes it prints beside its figures."""

    title: str
    #: what shapes its statement and round-trip counts
    count_notes: tuple[str, ...] = ()
    #: which counters make up its server figures, or why it has none
    server_work_notes: tuple[str, ...] = ()
    #: why concurrent writers wait for each other there, where the database itself makes them
    single_writer: str | None = None


@dataclass(frozen=True)
class Catalog:
    #: every backend the harness knows, in its order (the report's order)
    backends: Mapping[str, BackendFacts] = field(default_factory=dict)
    #: an asyncio variant -> its synchronous form
    sync_counterparts: Mapping[str, str] = field(default_factory=dict)

    def backend_order(self) -> tuple[str, ...]:
        return tuple(self.backends)

    def title_of(self, backend: str) -> str:
        """A backend's display title; the name itself for one the run did not know."""
        facts = self.backends.get(backend)
        return facts.title if facts else backend

    def count_notes_of(self, backend: str) -> tuple[str, ...]:
        facts = self.backends.get(backend)
        return facts.count_notes if facts else ()

    def server_work_notes_of(self, backend: str) -> tuple[str, ...]:
        facts = self.backends.get(backend)
        return facts.server_work_notes if facts else ()

    def single_writer_of(self, backend: str) -> str | None:
        facts = self.backends.get(backend)
        return facts.single_writer if facts else None

    def sync_counterpart(self, variant: str) -> str | None:
        """The synchronous form of an asyncio variant; None for the others."""
        return self.sync_counterparts.get(variant)

    def to_json(self) -> dict[str, Any]:
        return {
            "backends": {
                name: {
                    "title": facts.title,
                    "count_notes": list(facts.count_notes),
                    "server_work_notes": list(facts.server_work_notes),
                    "single_writer": facts.single_writer,
                }
                for name, facts in self.backends.items()
            },
            "sync_counterparts": dict(self.sync_counterparts),
        }

    @classmethod
    def from_json(cls, data: Any) -> Catalog:
        if not isinstance(data, dict):
            raise CatalogError("the catalog is not an object")
        backends = data.get("backends", {})
        counterparts = data.get("sync_counterparts", {})
        if not isinstance(backends, dict) or not all(
            isinstance(facts, dict) for facts in backends.values()
        ):
            raise CatalogError("the catalog's 'backends' is malformed")
        if not isinstance(counterparts, dict) or not all(
            isinstance(value, str) for value in counterparts.values()
        ):
            raise CatalogError("the catalog's 'sync_counterparts' is malformed")
        return cls(
            {name: _backend_facts(name, facts) for name, facts in backends.items()},
            dict(counterparts),
        )

    @classmethod
    def from_code(cls) -> Catalog:
        """The catalog of this version of the harness: imports every backend and variant."""
        from bench.backends import backend_types
        from implementations.registry import VARIANTS, load_variant

        backends = {
            kind.name: BackendFacts(
                kind.title, kind.count_notes, kind.server_work_notes, kind.single_writer
            )
            for kind in backend_types()
        }
        counterparts = {
            name: counterpart
            for name in VARIANTS
            if (counterpart := load_variant(name).sync_counterpart) is not None
        }
        return cls(backends, counterparts)


def _backend_facts(name: str, facts: dict[str, Any]) -> BackendFacts:
    title = facts.get("title")
    single_writer = facts.get("single_writer")
    notes = {key: facts.get(key, []) for key in ("count_notes", "server_work_notes")}
    if not isinstance(title, str) or not (single_writer is None or isinstance(single_writer, str)):
        raise CatalogError(f"the catalog's backend {name!r} is malformed")
    for key, value in notes.items():
        if not (isinstance(value, list) and all(isinstance(note, str) for note in value)):
            raise CatalogError(f"the catalog's backend {name!r} has a malformed {key}")
    return BackendFacts(
        title, tuple(notes["count_notes"]), tuple(notes["server_work_notes"]), single_writer
    )
