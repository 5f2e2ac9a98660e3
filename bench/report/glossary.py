"""The report's glossary, one table after the first screen: every variant of the run with its
label and every workload with its description (both from the run's catalog), what "size" means
for each kind of workload, and the terms the first screen uses (round trip, N+1, lazy loading,
AsyncSession)."""

from __future__ import annotations

from bench.report.markdown import markdown_table, markdown_text
from bench.results.catalog import BATCH, CONCURRENT
from bench.results.model import Results, variants_of, workloads_of

#: the terms the first screen and the tables use, defined once
TERMS = (
    (
        "round trip (rt)",
        "the client sends and then waits for the server's answer: one network crossing each "
        "way, what a network adds its round-trip time (RTT) to; on SQLite, which runs in the "
        "application's process, a statement",
    ),
    (
        "N+1",
        "reading N objects with one query, then their children with one query per object: "
        "1 + N queries and round trips where one or two would do",
    ),
    (
        "lazy loading",
        "the ORM's default for a relationship: a collection loads when first touched, one "
        "SELECT per object, which makes N+1 (`orm_lazy`); `selectinload` loads every object's "
        "children in one more SELECT, `joinedload` in the same one (a JOIN)",
    ),
    (
        "AsyncSession",
        "SQLAlchemy's Session for asyncio (`sqlalchemy.ext.asyncio`): the same unit of work and "
        "mapped classes, awaited, on an asyncio driver (psycopg's or asyncpg)",
    ),
)


def glossary(results: Results) -> list[str]:
    """The glossary's heading and table."""
    catalog = results.catalog
    rows = []
    for variant in variants_of(results.cells):
        label = catalog.variants[variant].label if variant in catalog.variants else ""
        rows.append([f"`{variant}`", "variant: " + markdown_text(label)])
    workloads = workloads_of(results.cells)
    for workload in workloads:
        known = catalog.workloads.get(workload)
        rows.append(
            [f"`{workload}`", "workload: " + markdown_text(known.description if known else "")]
        )
    rows.append(["size", _size_meaning(results, workloads)])
    rows += [[term, meaning] for term, meaning in TERMS]
    return ["## Glossary", "", markdown_table("| term | meaning |", rows), ""]


def _size_meaning(results: Results, workloads: list[str]) -> str:
    """What "size" counts, by kind of workload: N for a batch (users, each with its posts in
    the parent-child ones), K workers for a concurrent one, R requests a second for one whose
    requests arrive on a schedule, 1 for the others."""
    catalog = results.catalog
    kinds: dict[str, list[str]] = {}
    at_rate: list[str] = []
    for workload in workloads:
        facts = catalog.workloads.get(workload)
        if facts is not None and facts.at_rate:
            at_rate.append(f"`{workload}`")
            continue
        kinds.setdefault(facts.kind if facts else BATCH, []).append(f"`{workload}`")
    parts = []
    if BATCH in kinds:
        parts.append(
            "N in the workloads' descriptions: the rows (users) one execution touches, for the "
            "parent-child ones the parents, each with its posts (" + ", ".join(kinds[BATCH]) + ")"
        )
    if CONCURRENT in kinds:
        parts.append(
            "K, the workers (threads, processes or tasks, as the description says) sharing the "
            "requests (" + ", ".join(kinds[CONCURRENT]) + ")"
        )
    if at_rate:
        parts.append("R, the requests arriving a second (" + ", ".join(at_rate) + ")")
    for kind, names in kinds.items():
        if kind not in (BATCH, CONCURRENT):
            parts.append("always 1: one small unit of work (" + ", ".join(names) + ")")
    return "; ".join(parts) + "."
