"""Connection slots: the most connections a selection holds on a server at once, and a run
refused before any cell runs, in one line, where the server (or the user) allows fewer.

The figures the need is held against were measured: a run against a throwaway server, its
peak of client connections read from the server's own account (PostgreSQL 15: the
``connection received`` and ``disconnection`` lines of ``log_connections`` and
``log_disconnections``; MariaDB 10.11: ``Max_used_connections`` after ``FLUSH STATUS``).
"""

from __future__ import annotations

import os
import secrets
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psycopg
import pytest
from sqlalchemy import URL

from bench.backends.base import ConnectionRoom
from bench.backends.mariadb.backend import MARIADB
from bench.backends.mariadb.servers import THROWAWAY_SETTINGS as MARIADB_SETTINGS
from bench.backends.mariadb.servers import LocalServerProvider
from bench.backends.postgres.backend import ConnectionLimits, PostgresType
from bench.backends.postgres.conninfo import conninfo_for
from bench.backends.servers import Server
from bench.measure.cells import PROFILES
from bench.measure.sizes import DEFAULT_SIZES, QUICK_SIZES
from bench.measure.workloads import WORKLOADS
from bench.plugin.connections import (
    ConnectionNeed,
    connections_needed,
    keeps_connection,
    prepares_workers,
    short_of_connections,
)
from bench.plugin.selection import Selection
from implementations.registry import VARIANTS, load_variant

from helpers import bench

BENCHMARKS_DIR = Path(__file__).parent.parent / "bench" / "benchmarks"

#: the styles that connect per use: their instances keep no connection between executions
CONNECT_PER_USE = {"engine_per_use", "nullpool", "dbapi_per_use"}


def need_of(
    backend: str,
    workloads: tuple[str, ...] = tuple(WORKLOADS),
    variants: tuple[str, ...] = tuple(VARIANTS),
    quick: bool = True,
    sizes: tuple[int, ...] = (),
    rtts: tuple[float, ...] = (),
) -> ConnectionNeed:
    """The need of a selection's cells on one backend, in the order a run takes them: the
    benchmark modules (``bench_<workload>.py``) by name, each module's cells in its order."""
    profile = PROFILES["quick" if quick else "default"]
    selection = Selection(
        workloads=workloads,
        variants=variants,
        backends=(backend,),
        sizes=sizes or (QUICK_SIZES if quick else DEFAULT_SIZES),
        profile=profile,
        sizes_given=bool(sizes),
        rtts=rtts,
    )
    cells = [cell for workload in sorted(workloads) for cell in selection.cells(workload)]
    return connections_needed(cells, profile)


# --- the need ----------------------------------------------------------------------------------


@pytest.mark.parametrize("variant", VARIANTS)
def test_every_style_keeps_a_connection_but_those_that_connect_per_use(variant: str) -> None:
    assert keeps_connection(variant) is (variant not in CONNECT_PER_USE)


def test_the_styles_that_pool_connections_for_their_workers() -> None:
    concurrent = [
        name
        for name in VARIANTS
        if WORKLOADS["concurrent_requests"].implemented_by(load_variant(name))
    ]
    assert {name for name in concurrent if not prepares_workers(name)} == {"engine_per_use"}


#: (backend, selection, the measured peak, the need): equal where every connection is kept;
#: above it where a style connects per request, whose closed connections' server processes
#: may hold their slots a moment longer (PostgreSQL with a role limit of exactly the measured
#: 33 for the quick concurrent_requests: 2 runs of 12 failed on "too many connections")
MEASURED: list[tuple[str, dict[str, Any], int, int]] = [
    # the issue's own case: 10 styles, a timed and a counting instance each, and the backend's
    ("postgres", {"workloads": ("crud_read",)}, 21, 21),
    ("mariadb", {"workloads": ("crud_read",)}, 11, 11),  # no asyncio driver: 5 styles
    # 4 pools of 16 + 1 for the counting instances, engine_per_use's 16, 4 styles kept twice, 1
    ("postgres", {"workloads": ("concurrent_requests",), "quick": False}, 93, 93),
    ("mariadb", {"workloads": ("concurrent_requests",), "quick": False}, 93, 93),
    # worker processes: each holds, per style, its instance's own connection and its worker's
    # (2K + 1 a style with the counting instance's); engine_per_use connects per request
    (
        "postgres",
        {
            "workloads": ("concurrent_processes",),
            "variants": ("orm", "core", "dbapi"),
            "quick": False,
        },
        34,
        34,
    ),
    ("postgres", {"workloads": ("concurrent_processes",), "quick": False}, 49, 53),
    ("postgres", {"workloads": ("concurrent_processes",)}, 31, 33),
    # 5 asyncio styles: a pool of 16 and the counting instance's of 1 each, both instances'
    # own connections, the backend's
    ("postgres", {"workloads": ("concurrent_tasks",), "quick": False}, 96, 96),
    # the whole default run: its peak is at concurrent_tasks, where the styles of the
    # workloads before it are kept (measured on those four workloads, which hold the peak)
    ("postgres", {"quick": False}, 104, 104),
    (
        "postgres",
        {
            "workloads": (
                "connect_read_one",
                "concurrent_processes",
                "concurrent_requests",
                "concurrent_tasks",
            ),
            "quick": False,
        },
        104,
        104,
    ),
    # instances pile up: 12 styles kept by the last workload
    (
        "postgres",
        {"workloads": ("connect_read_one", "crud_read", "parent_child_read")},
        25,
        25,
    ),
    # one harness per delay through the proxy: 3 x 20 + 1
    ("postgres", {"workloads": ("crud_read",), "rtts": (1.0,)}, 61, 61),
    ("mariadb", {"workloads": ("crud_read",), "rtts": (1.0,)}, 31, 31),
    # engine_per_use's 16 requests over 4 workers, 4 each
    ("postgres", {"workloads": ("concurrent_requests",)}, 34, 37),
    ("mariadb", {"workloads": ("concurrent_requests",)}, 33, 37),
    ("postgres", {"workloads": ("concurrent_requests",), "rtts": (1.0,)}, 90, 93),
    # the quick run: its peak at concurrent_tasks at 4 tasks
    ("postgres", {}, 44, 44),
    ("postgres", {"workloads": ("connect_read_one",)}, 8, 9),
    (
        "postgres",
        {"workloads": ("concurrent_requests",), "variants": ("engine_per_use",), "sizes": (4, 16)},
        17,
        17,
    ),
]


@pytest.mark.parametrize(
    ("backend", "selection", "measured", "need"),
    MEASURED,
    ids=[f"{row[0]}-{'-'.join(f'{k}={v}' for k, v in row[1].items())}" for row in MEASURED],
)
def test_the_need_covers_the_measured_peak(
    backend: str, selection: dict[str, Any], measured: int, need: int
) -> None:
    computed = need_of(backend, **selection)
    assert computed.connections == need
    assert computed.connections >= measured


def test_the_need_says_when_it_is_reached_and_what_would_lower_it() -> None:
    crud_read = need_of("postgres", workloads=("crud_read",))
    assert (crud_read.during, crud_read.fewer) == ("crud_read", "variants")
    concurrent = need_of("postgres", workloads=("concurrent_requests",), quick=False)
    assert concurrent.during == "concurrent_requests at 16 workers"
    assert concurrent.fewer == "variants or workers (sizes)"
    delayed = need_of("postgres", workloads=("crud_read",), rtts=(1.0, 10.0))
    assert delayed.during == "crud_read, direct and through the delay proxy at 0, 1, 10 ms"
    assert delayed.fewer == "variants or round-trip times"


# --- what a server allows ----------------------------------------------------------------------


def limits(**changes: Any) -> ConnectionLimits:
    values: dict[str, Any] = {
        "max_connections": 20,
        "superuser_reserved_connections": 3,
        "reserved_connections": 0,
        "role": "bench",
        "superuser": False,
        "may_use_reserved": False,
        "role_limit": -1,
        "database": "app",
        "database_limit": -1,
        "in_use": 0,
        "in_use_by_role": 0,
        "in_use_in_database": 0,
    }
    return ConnectionLimits(**{**values, **changes})


def test_a_role_gets_the_slots_not_reserved_less_those_in_use() -> None:
    assert limits(in_use=2).room() == ConnectionRoom(
        15, "max_connections 20, 3 of them reserved, 2 in use", "raise max_connections"
    )
    # PostgreSQL 16+: reserved_connections too, unless the role may use them
    assert limits(reserved_connections=5).room().free == 12
    assert limits(reserved_connections=5, may_use_reserved=True).room().free == 17


def test_a_superuser_gets_every_slot_whatever_the_limits() -> None:
    room = limits(superuser=True, role_limit=2, database_limit=2, in_use=4).room()
    assert room == ConnectionRoom(16, "max_connections 20, 4 in use", "raise max_connections")


def test_the_role_or_database_limit_that_leaves_the_fewest_says_why() -> None:
    assert limits(role_limit=5, in_use_by_role=1).room() == ConnectionRoom(
        4, "role bench's CONNECTION LIMIT 5, 1 in use", "raise role bench's CONNECTION LIMIT"
    )
    assert limits(role_limit=5, database_limit=3).room() == ConnectionRoom(
        3, "database app's CONNECTION LIMIT 3", "raise database app's CONNECTION LIMIT"
    )
    assert limits(in_use=40).room().free == 0  # never less than none


class SmallPostgres(PostgresType):
    def connection_room(self, server: Server) -> ConnectionRoom:
        return ConnectionRoom(17, "max_connections 20, 3 of them reserved", "raise it")


def test_the_refusal_is_one_line_with_both_figures_and_both_ways_out() -> None:
    server = Server(URL.create("postgresql+psycopg", "bench", "pw", "db", 5432, "app"), "given")
    need = ConnectionNeed(35, "concurrent_requests at 16 workers", "variants or workers")
    assert short_of_connections(SmallPostgres(), server, need) == (
        "PostgreSQL at postgresql+psycopg://bench:***@db:5432/app allows 17 more connections "
        "(max_connections 20, 3 of them reserved); this selection needs 35 at once (during "
        "concurrent_requests at 16 workers); raise it or choose fewer variants or workers"
    )
    enough = ConnectionNeed(17, "crud_read", "variants")
    assert short_of_connections(SmallPostgres(), server, enough) is None


# --- runs against a server that allows too few --------------------------------------------------


@pytest.fixture
def limited_role(postgres_server: Server) -> Iterator[tuple[psycopg.Connection[Any], URL]]:
    """A connection that can set the limit, and the URL of a role of this test's own with
    ``CONNECTION LIMIT 5`` on the shared test server (dropped again at the end)."""
    admin = psycopg.connect(conninfo_for(postgres_server.address), autocommit=True)
    role, password = f"bench_slots_{secrets.token_hex(4)}", secrets.token_urlsafe(12)
    try:
        admin.execute(f"CREATE ROLE {role} LOGIN PASSWORD '{password}' CONNECTION LIMIT 5")
    except psycopg.Error as exc:
        admin.close()
        pytest.skip(f"the test server's user cannot make a role: {exc}")
    try:
        admin.execute(f'GRANT CREATE ON DATABASE "{postgres_server.address.database}" TO {role}')
        yield admin, postgres_server.address.set(username=role, password=password)
    finally:
        admin.execute(f"DROP OWNED BY {role}")
        admin.execute(f"DROP ROLE {role}")
        admin.close()


def quick_run(backend: str, workload: str, url: URL, out: Path) -> Any:
    """``python -m bench run --quick`` of one workload against the server at ``url``."""
    return bench(
        "run",
        "--backend",
        backend,
        "--quick",
        "--workload",
        workload,
        f"--{backend}-url",
        url.render_as_string(hide_password=False),
        "--out",
        str(out),
    )


def lines_about_connections(stderr: str) -> list[str]:
    return [line for line in stderr.splitlines() if "connections" in line]


@pytest.mark.postgres
def test_a_run_needing_more_connections_than_the_role_may_open_stops_in_one_line(
    limited_role: tuple[psycopg.Connection[Any], URL], tmp_path: Path
) -> None:
    _, url = limited_role
    result = quick_run("postgres", "crud_read", url, tmp_path)
    assert result.returncode != 0
    assert "Traceback" not in result.stdout + result.stderr
    [line] = lines_about_connections(result.stderr)
    assert f"allows 5 more connections (role {url.username}'s CONNECTION LIMIT 5)" in line
    assert "this selection needs 21 at once (during crud_read)" in line
    assert f"raise role {url.username}'s CONNECTION LIMIT or choose fewer variants" in line
    assert str(url.password) not in result.stdout + result.stderr
    # stopped before any cell: none ran, nothing was written, the server refused nothing
    assert "crud_read " not in result.stdout and "too many" not in result.stdout + result.stderr
    assert not (tmp_path / "benchmarks.json").exists()


@pytest.mark.postgres
def test_the_refused_run_ends_as_a_usage_error(
    limited_role: tuple[psycopg.Connection[Any], URL], tmp_path: Path
) -> None:
    _, url = limited_role
    result = quick_run("postgres", "crud_read", url, tmp_path)
    assert result.returncode == 2
    errors = [line for line in result.stderr.splitlines() if "error" in line.lower()]
    assert len(errors) == 1, result.stderr
    assert errors[0] == result.stderr.splitlines()[-1]
    assert errors[0].startswith("bench: error: PostgreSQL at ")
    assert "allows 5 more connections" in errors[0] and "needs 21 at once" in errors[0]


@pytest.mark.postgres
def test_a_run_given_exactly_the_connections_it_needs_runs(
    limited_role: tuple[psycopg.Connection[Any], URL], tmp_path: Path
) -> None:
    admin, url = limited_role
    admin.execute(f"ALTER ROLE {url.username} CONNECTION LIMIT 21")
    result = quick_run("postgres", "crud_read", url, tmp_path)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr
    assert not lines_about_connections(result.stderr)


@pytest.mark.postgres
def test_pytest_on_the_benchmarks_stops_before_the_first_cell_too(
    limited_role: tuple[psycopg.Connection[Any], URL], tmp_path: Path
) -> None:
    # the server is provisioned on first use there: held against the need once it is
    _, url = limited_role
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "pytest",
            str(BENCHMARKS_DIR),
            "-q",
            "--bench-backend=postgres",
            "--bench-quick",
            "--bench-workload=crud_read",
            f"--postgres-url={url.render_as_string(hide_password=False)}",
            f"--benchmark-storage=file://{tmp_path}",
        ],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == int(pytest.ExitCode.USAGE_ERROR)
    assert "Traceback" not in result.stdout + result.stderr
    [line] = lines_about_connections(result.stdout + result.stderr)
    assert "allows 5 more connections" in line and "needs 21 at once" in line
    assert "passed" not in result.stdout and "failed" not in result.stdout


@pytest.fixture
def small_mariadb(monkeypatch: pytest.MonkeyPatch) -> Iterator[Server]:
    """A MariaDB server of this test's own that allows 11 connections (a user with SUPER,
    as the harness's is, gets one more, which is not counted on)."""
    provider = LocalServerProvider()
    reason = provider.unavailable_reason()
    if reason is not None:
        if os.environ.get(MARIADB.require_env):
            pytest.fail(reason)
        pytest.skip(reason)
    monkeypatch.setitem(MARIADB_SETTINGS, "max_connections", "11")
    with provider.start() as server:
        yield server


@pytest.mark.mariadb
def test_mariadb_refuses_a_selection_past_max_connections_and_runs_one_that_fits(
    small_mariadb: Server, tmp_path: Path
) -> None:
    # five styles read users (MariaDB has no asyncio driver): 5 x 2 + 1
    fits = quick_run("mariadb", "crud_read", small_mariadb.address, tmp_path / "fits")
    assert fits.returncode == 0, fits.stdout[-3000:] + fits.stderr
    # six read parents and children: 6 x 2 + 1
    refused = quick_run("mariadb", "parent_child_read", small_mariadb.address, tmp_path / "no")
    assert refused.returncode != 0 and "Traceback" not in refused.stdout + refused.stderr
    [line] = lines_about_connections(refused.stderr)
    assert "MariaDB at " in line and "allows 11 more connections (max_connections 11)" in line
    assert "this selection needs 13 at once (during parent_child_read)" in line
    assert "raise max_connections or choose fewer variants" in line
