"""pytest plugin: the connection-slot preflight. Before any cell runs, how many connections the
selected cells hold at once on each backend's server, as the harness makes and keeps them, and
one line ending the session where a server takes fewer: a server provided before the session
is checked once the cells are collected, one provisioned on first use when it is.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import pytest

from bench.backends import BackendType, backend_type
from bench.backends.servers import ProvidedServers, Server, ServerError
from bench.measure.cells import Cell, Profile, case_for, workers_of
from bench.measure.groups import Group
from bench.measure.workloads import WORKLOADS
from bench.plugin.cells import cell_of
from bench.plugin.selection import SELECTION
from implementations.contract import Variant
from implementations.registry import load_variant


@dataclass(frozen=True)
class ConnectionNeed:
    """The most connections a run's cells hold on a backend's server at once."""

    connections: int
    #: when, e.g. "concurrent_requests at 16 workers"
    during: str
    #: what the selection could have fewer of, e.g. "variants or workers"
    fewer: str


#: each backend's need, set once the cells are known; a server provisioned on first use is
#: held against it then (:func:`stop_if_short_of_connections`)
CONNECTIONS_NEEDED = pytest.StashKey[dict[str, ConnectionNeed]]()


def short_of_connections(kind: BackendType, server: Server, need: ConnectionNeed) -> str | None:
    """The one line saying that the server takes fewer connections than the run needs at once;
    None when it takes enough. Raises ServerError when the server cannot be asked."""
    room = kind.connection_room(server)
    if room is None or room.free >= need.connections:
        return None
    where = f" at {server.masked_url}" if server.masked_url else ""
    return (
        f"{kind.title}{where} allows {room.free} more connections ({room.limit}); this "
        f"selection needs {need.connections} at once (during {need.during}); {room.remedy} "
        f"or choose fewer {need.fewer}"
    )


def stop_if_short_of_connections(config: pytest.Config, kind: BackendType, server: Server) -> None:
    """Before any cell runs on a server provisioned on first use: end the session with one
    line when it takes fewer connections than the selected cells need at once."""
    need = config.stash.get(CONNECTIONS_NEEDED, {}).get(kind.name)
    if need is None:
        return  # not a benchmark run (the harness's own tests)
    try:
        problem = short_of_connections(kind, server, need)
    except ServerError as exc:
        problem = str(exc)
    if problem:
        pytest.exit(problem, returncode=pytest.ExitCode.USAGE_ERROR)


#: the backend's own connection (resets, snapshots, the server's statistics), open all run long
BACKEND_CONNECTIONS = 1
#: ... and one more while the backend is set up (creating the tables, measuring the round trip)
SETUP_CONNECTIONS = BACKEND_CONNECTIONS + 1
#: the instances a harness keeps of each variant that has run on it: the timed and the counting
INSTANCES_PER_VARIANT = 2


@pytest.hookimpl(trylast=True)
def pytest_collection_finish(session: pytest.Session) -> None:
    """Before any cell runs: each backend's need, and a usage error (one line) where a server
    already provisioned takes fewer connections at once; a server provisioned on first use is
    checked then (:func:`stop_if_short_of_connections`)."""
    if not session.items or session.config.option.collectonly:
        return
    config = session.config
    cells = [cell for cell in map(cell_of, session.items) if cell is not None]
    needs: dict[str, ConnectionNeed] = {}
    for backend in dict.fromkeys(cell.backend for cell in cells):
        needs[backend] = connections_needed(
            [cell for cell in cells if cell.backend == backend], config.stash[SELECTION].profile
        )
    config.stash[CONNECTIONS_NEEDED] = needs
    for backend, need in needs.items():
        server = ProvidedServers.find(config.pluginmanager.get_plugins(), backend)
        if server is None:
            continue
        try:
            problem = short_of_connections(backend_type(backend), server, need)
        except ServerError as exc:
            problem = str(exc)
        if problem:
            raise pytest.UsageError(problem)


def connections_needed(cells: Sequence[Cell], profile: Profile) -> ConnectionNeed:
    """The most connections the cells of one backend hold on its server at once, run in this
    order, as the harness makes and keeps them (:class:`~bench.measure.cells.Harness`,
    :func:`~bench.measure.groups.measure_group`):

    - the backend's own connection, all run long;
    - on each harness (the direct one, and one per delay proxy), a timed and a counting
      instance of every variant that has run there, kept to the end: one connection each (an
      engine's pool that one thread uses, or a driver connection), none for a style that
      connects per use (:func:`keeps_connection`);
    - while a group runs, what its styles open besides (:func:`_opened_by_group`).
    """
    members: dict[Group, list[Cell]] = {}
    for cell in cells:
        members.setdefault(Group.of(cell), []).append(cell)
    kept: set[tuple[float | None, str]] = set()
    peak = ConnectionNeed(SETUP_CONNECTIONS, "the backend's setup", "variants")
    for group in members.values():  # in the order their first cells run
        kept.update((cell.rtt_ms, cell.variant) for cell in group)
        held = BACKEND_CONNECTIONS + sum(
            INSTANCES_PER_VARIANT for _, variant in kept if keeps_connection(variant)
        )
        need = held + _opened_by_group(group, profile)
        if need > peak.connections:
            peak = ConnectionNeed(need, _during(group), _fewer(group))
    return peak


def prepares_workers(variant: str) -> bool:
    """Whether the style makes its connections for a concurrent workload's workers before the
    requests (a pool of one per worker), rather than connecting per request."""
    return load_variant(variant).prepare_workers is not Variant.prepare_workers


def _connects_per_use(variant: str, workload: str) -> bool:
    kind = WORKLOADS[workload].kind
    return kind == "connection" or (kind == "concurrent" and not prepares_workers(variant))


def keeps_connection(variant: str) -> bool:
    """Whether an instance of the style keeps a connection open all its life. The contract has
    a style's engine or connection made outside the timed region, but for the workloads that
    connect per use (the connection patterns, a concurrent workload's requests without
    prepare_workers): a style that implements nothing else keeps none."""
    style = load_variant(variant)
    return any(
        WORKLOADS[workload].implemented_by(style) and not _connects_per_use(variant, workload)
        for workload in WORKLOADS
    )


def _opened_by_group(group: Sequence[Cell], profile: Profile) -> int:
    """The connections a group's styles open at once besides those their instances keep:

    - a concurrent workload at K workers: each style's pool, K connections for its timed
      instance (2K in worker processes, each also holding its own instance's connection)
      and 1 for its counting one, all open until the group ends; a style that
      connects per request opens up to K at once, one style's rounds at a time, and twice as
      many when its workers connect more than once each (the server process of a connection
      just closed holds its slot a moment after the client has moved on: measured);
    - a connection workload: a style that connects per use, 2 (one opening, one exiting).
    """
    kind = WORKLOADS[group[0].workload].kind
    if kind == "connection":
        return 2 if any(not keeps_connection(cell.variant) for cell in group) else 0
    if kind != "concurrent":
        return 0
    pools = sum(_pooled(cell) for cell in group if prepares_workers(cell.variant))
    per_request = (
        _per_request_connections(workers_of(cell), case_for(cell, profile).rows)
        for cell in group
        if not prepares_workers(cell.variant)
    )
    return pools + max(per_request, default=0)


def _pooled(cell: Cell) -> int:
    """What a style that pools connections for its workers holds at once: one per worker,
    and a worker process the connection its own instance opens too (every style it ran
    stays in it until the group ends), and 1 for the counting instance's one worker."""
    kind = WORKLOADS[cell.workload].workers_kind(load_variant(cell.variant))
    return (2 if kind == "process" else 1) * workers_of(cell) + 1


def _per_request_connections(workers: int, requests: int) -> int:
    """A style that connects per request, ``requests`` of them over ``workers`` threads: one
    connection per worker, or two where a worker connects again (its last one exiting)."""
    return requests if requests <= workers else min(requests, 2 * workers)


def _during(group: Sequence[Cell]) -> str:
    """When a group runs, for the line that says the run does not fit: its workload, its
    workers, and the delays its cells run at."""
    first = group[0]
    when = first.workload
    if WORKLOADS[first.workload].at_rate:
        when += f" at {first.size} requests a second"
    elif WORKLOADS[first.workload].kind == "concurrent":
        when += f" at {first.size} workers"
    delays = sorted({cell.rtt_ms for cell in group if cell.rtt_ms is not None})
    if delays:
        when += ", direct and through the delay proxy at " + ", ".join(f"{d:g}" for d in delays)
        when += " ms"
    return when


def _fewer(group: Sequence[Cell]) -> str:
    """What the selection could have fewer of to need fewer connections at a group's peak."""
    choices = ["variants"]
    if WORKLOADS[group[0].workload].kind == "concurrent":
        choices.append("workers (sizes)")
    if any(cell.rtt_ms is not None for cell in group):
        choices.append("round-trip times")
    return ", ".join(choices[:-1]) + " or " + choices[-1] if len(choices) > 1 else choices[0]
