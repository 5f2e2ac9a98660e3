"""Where a style sends other SQL than ``dbapi``, and why: every such difference, declared in
this one place. A test (``tests/test_fairness.py``) compares what each variant sends with what
``dbapi`` sends for the same workload on each backend, and fails on a difference not declared
here, and on a declaration no longer seen. The harness records each cell's declaration beside
its ratio to ``dbapi`` ("same SQL" or the reasons), and ``bench statements`` prints it.

Also here: the variants that build a statement inside the timed call on purpose.
"""

from __future__ import annotations

from dataclasses import dataclass

ORM_UNIT_OF_WORK = ("orm", "orm_async", "orm_asyncpg")
SQLALCHEMY_INSERTERS = ("orm", "orm_bulk", "core", "orm_async", "orm_asyncpg", "core_async")
NEW_IDS = ("crud_create", "parent_child_insert")
#: the workloads whose unit of work is one request, whoever runs it (threads, processes, tasks,
#: on a schedule)
CONCURRENT_REQUESTS = (
    "concurrent_requests",
    "concurrent_processes",
    "concurrent_tasks",
    "requests_at_rate",
)
#: those a blocking style runs: by threads, processes or a schedule, not asyncio tasks
BLOCKING_REQUESTS = tuple(w for w in CONCURRENT_REQUESTS if w != "concurrent_tasks")
SAME_SQL = "same SQL"


@dataclass(frozen=True)
class Difference:
    """Variants that send other statements than ``dbapi`` for these workloads, and why."""

    variants: tuple[str, ...]
    workloads: tuple[str, ...]
    #: the backends where they differ (None: every backend the variants run on)
    backends: tuple[str, ...] | None
    reason: str

    def covers(self, variant: str, workload: str, backend: str) -> bool:
        return (
            variant in self.variants
            and workload in self.workloads
            and (self.backends is None or backend in self.backends)
        )


DIFFERENCES: tuple[Difference, ...] = (
    # --- how new ids come back ---------------------------------------------------------------
    Difference(
        SQLALCHEMY_INSERTERS,
        NEW_IDS,
        ("sqlite",),
        "INSERT ... RETURNING id, a row at a time (SQLite does not promise RETURNING rows in "
        "VALUES order); dbapi sends the same INSERT and reads sqlite3's lastrowid",
    ),
    Difference(
        SQLALCHEMY_INSERTERS,
        NEW_IDS,
        ("postgres", "mariadb"),
        "SQLAlchemy's insertmanyvalues returns the id twice (the second sorts the rows into "
        "parameter order); dbapi sends the same multi-row INSERT and returns it once",
    ),
    Difference(
        ("asyncpg",),
        NEW_IDS,
        None,
        "INSERT ... RETURNING id per row, all in one pipeline (asyncpg's fetchmany of its "
        "prepared statement); dbapi sends one multi-row INSERT",
    ),
    # --- the ORM's unit of work --------------------------------------------------------------
    Difference(
        ORM_UNIT_OF_WORK,
        ("crud_update", "crud_delete"),
        None,
        "the unit of work loads the objects it changes: a SELECT before the UPDATEs or DELETEs",
    ),
    Difference(
        ORM_UNIT_OF_WORK,
        ("parent_child_append",),
        None,
        "the unit of work reads back each new Post's id (RETURNING) to complete its objects",
    ),
    Difference(
        ("orm", "orm_lazy", "orm_async", "orm_asyncpg"),
        ("parent_child_read",),
        None,
        "the ORM loads the users, then their posts by a loader (selectinload: one more "
        "SELECT ... IN; lazy: one SELECT per user); dbapi reads one LEFT OUTER JOIN",
    ),
    Difference(
        ("orm_joined",),
        ("parent_child_read",),
        None,
        "joinedload's JOIN also selects the posts' user_id (the ORM loads every mapped column)",
    ),
    Difference(
        ("orm_lazy", "orm_collection"),
        ("parent_child_append",),
        None,
        "appending through User.posts loads the users and their collections first: the "
        "choice this variant shows",
    ),
    # --- COPY ----------------------------------------------------------------------------------
    Difference(
        ("orm_bulk", "core", "core_async"),
        ("parent_child_insert", "parent_child_append"),
        ("postgres",),
        "the posts by an INSERT executemany (psycopg pipelines it): SQLAlchemy has no COPY, "
        "which dbapi uses for rows that need no id back",
    ),
    Difference(
        ORM_UNIT_OF_WORK,
        ("parent_child_insert", "parent_child_append"),
        ("postgres",),
        "the posts by an INSERT: SQLAlchemy has no COPY, which dbapi uses for rows that need "
        "no id back",
    ),
    Difference(
        ("asyncpg",),
        ("parent_child_insert", "parent_child_append"),
        None,
        "the posts by binary COPY (asyncpg's copy_records_to_table); psycopg's COPY is text",
    ),
    # --- connecting per use --------------------------------------------------------------------
    Difference(
        ("engine_per_use",),
        ("connect_read_one", *BLOCKING_REQUESTS),
        None,
        "a new Engine per unit of work runs its dialect's first-connect queries (the server's "
        "version, settings) inside it",
    ),
    Difference(
        ("nullpool",),
        ("connect_read_one",),
        ("sqlite", "mariadb"),
        "a new connection per unit of work: its setup statements (SQLite's PRAGMA "
        "foreign_keys, MariaDB's SET NAMES) come with it",
    ),
    Difference(
        ("dbapi_per_use",),
        ("connect_read_one",),
        ("sqlite",),
        "a new connection per unit of work: SQLite's PRAGMA foreign_keys comes with it",
    ),
)

#: (variant, workload) -> why the variant builds a statement inside the timed call
BUILT_PER_CALL: dict[tuple[str, str], str] = {
    ("core_inline", "crud_read"): (
        "shows what building the SELECT inside each call costs, as much application code "
        "writes it; core builds the same statement once"
    ),
    ("engine_per_use", "connect_read_one"): (
        "a new Engine per unit of work starts with an empty compiled cache, so its statement "
        "is compiled in every call: part of what the pattern costs"
    ),
    **{
        ("engine_per_use", workload): (
            "a new Engine per request starts with an empty compiled cache, so its statements "
            "are compiled in every call: part of what the pattern costs"
        )
        for workload in BLOCKING_REQUESTS
    },
}


def declared_differences(variant: str, workload: str, backend: str) -> list[Difference]:
    return [d for d in DIFFERENCES if d.covers(variant, workload, backend)]


def sql_marker(variant: str, workload: str, backend: str) -> str:
    """ "same SQL", or the declared reasons the variant's SQL differs from ``dbapi``'s."""
    reasons = [d.reason for d in declared_differences(variant, workload, backend)]
    return "; ".join(reasons) if reasons else SAME_SQL


def documentation_tables() -> str:
    """The declarations as docs/at-its-best.md lists them (a test keeps the two the same)."""
    lines = [
        "| variants | workloads | backends | why the SQL differs from `dbapi`'s |",
        "| --- | --- | --- | --- |",
    ]
    for difference in DIFFERENCES:
        variants = ", ".join(f"`{v}`" for v in difference.variants)
        workloads = ", ".join(f"`{w}`" for w in difference.workloads)
        backends = ", ".join(difference.backends) if difference.backends else "every backend"
        lines.append(f"| {variants} | {workloads} | {backends} | {difference.reason} |")
    lines += [
        "",
        "Built inside the timed call, on purpose:",
        "",
        "| variant | workload | why |",
        "| --- | --- | --- |",
    ]
    lines += [f"| `{v}` | `{w}` | {why} |" for (v, w), why in BUILT_PER_CALL.items()]
    return "\n".join(lines)


if __name__ == "__main__":
    # what docs/at-its-best.md lists: paste it there after declaring a difference
    print(documentation_tables())
