"""What a commit costs on a backend's database, as the server is set up and with durable commits,
measured once before any cell (beside ``round_trip_ms``), so that the report can say what a
durable commit adds to every unit of work that writes.

The servers the harness starts itself run without durable commits (PostgreSQL's ``fsync=off``,
MariaDB's ``innodb_flush_log_at_trx_commit=0``): the cells are timed that way. Here one small
write unit of work (one row inserted into a scratch table, then COMMIT, on a connection of the
variants' kind) is timed a few dozen times as the server is set up, then again with durable
commits, and the median of each is kept. Each backend says how its commits are made durable
(:meth:`~bench.backends.base.Backend.durable_commits`): for a connection alone where the
database allows it (PostgreSQL's ``synchronous_commit``, SQLite's ``synchronous``), and
server-wide, put back afterwards, only on a server the harness started itself; a server given by
URL is never changed, and where it would have to be, the durable figure is absent and a note
says why.
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager
from dataclasses import dataclass
from typing import Any

#: the scratch table's name, in the run's own schema or database, dropped before any cell
COMMIT_PROBE_TABLE = "commit_probe"
#: the units of work timed for each figure, after the warm-ups, and how long they may take
#: together (at least :data:`LEAST_UNITS` are timed however long they take)
UNITS = 50
WARM_UPS = 5
WITHIN_SECONDS = 2.0
LEAST_UNITS = 10


class DurabilityUnavailable(Exception):
    """Why durable commits cannot be measured on this server, in one line (for the record's
    ``durable_commit_note``)."""


@dataclass(frozen=True)
class CommitProbe:
    """Where the small write unit of work runs: a new DB-API connection of the variants' kind
    to the database that holds the scratch table, and one row's INSERT into it (one
    parameter, in the driver's style)."""

    connect: Callable[[], Any]
    insert: str


@dataclass(frozen=True)
class CommitCosts:
    """The median milliseconds of one small write unit of work, as the server is set up and
    with durable commits (None where they cannot be had, with the reason)."""

    commit_ms: float
    durable_commit_ms: float | None
    durable_note: str = ""

    def record(self) -> dict[str, str]:
        """The figures for the JSON's ``harness.servers`` entry, formatted as ``round_trip_ms``
        is."""
        figures = {"commit_ms": f"{self.commit_ms:.3f}"}
        if self.durable_commit_ms is not None:
            figures["durable_commit_ms"] = f"{self.durable_commit_ms:.3f}"
        else:
            figures["durable_commit_note"] = self.durable_note
        return figures


def measure_commit_costs(
    probe: AbstractContextManager[CommitProbe],
    durable_commits: Callable[[], AbstractContextManager[tuple[str, ...]]],
    units: int = UNITS,
    warm_ups: int = WARM_UPS,
    within_seconds: float = WITHIN_SECONDS,
    while_durable: Callable[[], None] | None = None,
) -> CommitCosts:
    """Both figures: the scratch table made by ``probe`` (and removed when it exits, whatever
    happens), the units timed as the server is set up, then inside ``durable_commits()``, whose
    value is the statements that make one connection's commits durable, and which puts back
    whatever it changed on the server when it exits, failure and Ctrl-C included.
    ``while_durable`` is called once in the middle of the durable units (after the warm-ups):
    what the tests look through, or fail in."""
    with probe as scratch:
        configured = median_commit_ms(scratch, (), units, warm_ups, within_seconds)
        try:
            with durable_commits() as setup:
                durable = median_commit_ms(
                    scratch, setup, units, warm_ups, within_seconds, while_durable
                )
        except DurabilityUnavailable as exc:
            return CommitCosts(configured, None, str(exc))
    return CommitCosts(configured, durable)


def median_commit_ms(
    probe: CommitProbe,
    setup: tuple[str, ...],
    units: int,
    warm_ups: int,
    within_seconds: float,
    midway: Callable[[], None] | None = None,
) -> float:
    """The median milliseconds of one unit (one row inserted, then COMMIT) of ``units`` (fewer,
    but at least :data:`LEAST_UNITS`, when they take longer than ``within_seconds``), on a new
    connection that first runs ``setup``, after ``warm_ups`` untimed units (the driver's
    statement cache, the server's first write to the table)."""
    connection = probe.connect()
    try:
        cursor = connection.cursor()
        for statement in setup:
            cursor.execute(statement)
        connection.commit()
        for unit in range(warm_ups):
            cursor.execute(probe.insert, (unit,))
            connection.commit()
        if midway is not None:
            midway()
        times = list(_timed_units(connection, cursor, probe.insert, units, within_seconds))
        cursor.close()
    finally:
        connection.close()
    return statistics.median(times) * 1000


def _timed_units(
    connection: Any, cursor: Any, insert: str, units: int, within_seconds: float
) -> Iterator[float]:
    deadline = time.perf_counter() + within_seconds
    for unit in range(units):
        if unit >= LEAST_UNITS and time.perf_counter() > deadline:
            return
        started = time.perf_counter()
        cursor.execute(insert, (unit,))
        connection.commit()
        yield time.perf_counter() - started
