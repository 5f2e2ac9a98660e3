"""What the report needs to know of the backends, workloads and variants a run knew, carried in
the run's JSON (the harness section's ``catalog``), so that drawing the report imports no driver,
no variant and no measuring code: each backend's title and the notes on its counts, its server
figures and its writers; each workload's kind and description; each variant's label; all three
in the harness's order; the baseline variant, the variant whose growth over it the findings
follow, and each asyncio variant's synchronous form.

The plugin writes it from the code (:meth:`Catalog.from_code`); the report reads it from the
JSON (:meth:`Catalog.from_json`), and only for results written before it (or a part of it)
existed falls back on the code.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, TypeVar

#: the workload kind whose size is a number of rows or parents (one unit of work over N rows)
BATCH = "batch"
#: the workload kind whose size is a number of worker threads, read by its throughput
CONCURRENT = "concurrent"

_Facts = TypeVar("_Facts")


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
class WorkloadFacts:
    """How the report reads a workload's cells, and what one execution of it does."""

    #: "batch" (the size is N rows), "connection" (one small unit of work, connecting timed) or
    #: "concurrent" (the size is K workers, or R requests a second for an open loop)
    kind: str
    description: str = ""
    #: a concurrent workload whose requests arrive on a schedule: its size is their rate
    at_rate: bool = False


@dataclass(frozen=True)
class VariantFacts:
    """How the report names a variant."""

    label: str


@dataclass(frozen=True)
class Catalog:
    #: every backend the harness knows, in its order (the report's order)
    backends: Mapping[str, BackendFacts] = field(default_factory=dict)
    #: an asyncio variant -> its synchronous form
    sync_counterparts: Mapping[str, str] = field(default_factory=dict)
    #: every workload the harness knows, in its order (the report's order)
    workloads: Mapping[str, WorkloadFacts] = field(default_factory=dict)
    #: every variant the harness knows, in its order (the report's and the charts' colours')
    variants: Mapping[str, VariantFacts] = field(default_factory=dict)
    #: the variant every other is compared with: the raw driver
    baseline_variant: str = ""
    #: the variant whose cost over the baseline the findings follow across sizes
    growth_variant: str = ""

    def backend_order(self) -> tuple[str, ...]:
        return tuple(self.backends)

    def workload_order(self) -> tuple[str, ...]:
        return tuple(self.workloads)

    def variant_order(self) -> tuple[str, ...]:
        return tuple(self.variants)

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

    def is_batch(self, workload: str) -> bool:
        """A workload whose size is N rows; one the run did not know counts as one."""
        facts = self.workloads.get(workload)
        return facts is None or facts.kind == BATCH

    def is_concurrent(self, workload: str) -> bool:
        """A workload whose size is its number of workers (or its requests' rate), and whose
        cells are read by their throughput and latencies rather than the time of one execution."""
        facts = self.workloads.get(workload)
        return facts is not None and facts.kind == CONCURRENT

    def projected_workloads(self) -> tuple[str, ...]:
        """The workloads whose cost with a network in between the report projects: every
        batch workload the run knew (one unit of work over N rows)."""
        return tuple(name for name, facts in self.workloads.items() if facts.kind == BATCH)

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
            "workloads": {
                name: {"kind": facts.kind, "description": facts.description}
                | ({"at_rate": True} if facts.at_rate else {})
                for name, facts in self.workloads.items()
            },
            "variants": {name: {"label": facts.label} for name, facts in self.variants.items()},
            "baseline_variant": self.baseline_variant,
            "growth_variant": self.growth_variant,
        }

    @classmethod
    def from_json(cls, data: Any) -> Catalog:
        """The catalog a run wrote. A part that an older harness did not write yet (the
        workloads, the variants, the baseline and growth variants) is this version's."""
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
            _named_facts(data, "workloads", "workload", _workload_facts, _workloads_of_code),
            _named_facts(data, "variants", "variant", _variant_facts, _variants_of_code),
            _name(data, "baseline_variant", _baseline_of_code),
            _name(data, "growth_variant", _growth_of_code),
        )

    @classmethod
    def from_code(cls) -> Catalog:
        """The catalog of this version of the harness: imports every backend and variant, and
        the workloads."""
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
        return cls(
            backends,
            counterparts,
            _workloads_of_code(),
            _variants_of_code(),
            _baseline_of_code(),
            _growth_of_code(),
        )


# --- this version's facts, for the catalog it writes and for older JSON lacking a part ----------


def _workloads_of_code() -> dict[str, WorkloadFacts]:
    from bench.measure.workloads import WORKLOADS

    return {
        name: WorkloadFacts(workload.kind, workload.description, workload.at_rate)
        for name, workload in WORKLOADS.items()
    }


def _variants_of_code() -> dict[str, VariantFacts]:
    from implementations.registry import VARIANTS, load_variant

    return {name: VariantFacts(load_variant(name).label()) for name in VARIANTS}


def _baseline_of_code() -> str:
    from implementations.registry import BASELINE_VARIANT

    return BASELINE_VARIANT


def _growth_of_code() -> str:
    from implementations.registry import GROWTH_VARIANT

    return GROWTH_VARIANT


# --- reading the JSON ---------------------------------------------------------------------------


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


def _workload_facts(facts: dict[str, Any]) -> WorkloadFacts | None:
    kind, description = facts.get("kind"), facts.get("description", "")
    at_rate = facts.get("at_rate", False)
    if not (isinstance(kind, str) and isinstance(description, str) and isinstance(at_rate, bool)):
        return None
    return WorkloadFacts(kind, description, at_rate)


def _variant_facts(facts: dict[str, Any]) -> VariantFacts | None:
    label = facts.get("label")
    return VariantFacts(label) if isinstance(label, str) else None


def _named_facts(
    data: dict[str, Any],
    key: str,
    what: str,
    read: Callable[[dict[str, Any]], _Facts | None],
    of_code: Callable[[], dict[str, _Facts]],
) -> dict[str, _Facts]:
    """The catalog's ``key``: a name -> facts object, in the harness's order; this version's
    where the JSON has none."""
    if key not in data:
        return of_code()
    entries = data[key]
    if not isinstance(entries, dict):
        raise CatalogError(f"the catalog's {key!r} is malformed")
    found = {}
    for name, facts in entries.items():
        read_facts = read(facts) if isinstance(facts, dict) else None
        if read_facts is None:
            raise CatalogError(f"the catalog's {what} {name!r} is malformed")
        found[name] = read_facts
    return found


def _name(data: dict[str, Any], key: str, of_code: Callable[[], str]) -> str:
    """A variant's name the catalog holds at ``key``; this version's where the JSON has none."""
    if key not in data:
        return of_code()
    value = data[key]
    if not isinstance(value, str):
        raise CatalogError(f"the catalog's {key!r} is malformed")
    return value
