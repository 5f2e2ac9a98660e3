"""pytest plugin: the database backends as session fixtures, named for each registered backend.

For a backend NAME: ``NAME_server`` (where its database is), ``NAME_backend`` (a database of
the session's own there, removed at the end) and, in :mod:`bench.plugin.harnesses`,
``NAME_harness``. A server backend's ``--NAME-url`` defaults to ``BENCH_NAME_URL``; without a
URL the server is provisioned on first use (testcontainers, then local server binaries), and
when none can be had its tests are skipped with the reason, or fail when
``BENCH_REQUIRE_NAME`` is set (as CI does). ``python -m bench run`` provisions the servers
before pytest starts and hands them over as a plugin (:class:`ProvidedServers`).
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from contextlib import ExitStack
from typing import Any

import pytest

from bench.backends import Backend, backend_type, backend_types
from bench.backends.provide import given_url, provide, url_options
from bench.backends.servers import ProvidedServers, Server, ServerError, ServerUnavailable
from bench.messages import first_line
from bench.plugin.connections import stop_if_short_of_connections
from bench.plugin.selection import SELECTION

BACKEND_DESCRIPTIONS = pytest.StashKey[dict[str, dict[str, str]]]()
#: whether each backend's timings include a network hop
BACKEND_NETWORKED = pytest.StashKey[dict[str, bool]]()


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("bench", "data-access benchmark harness")
    for option in url_options():
        group.addoption(option.flag, dest=option.dest, help=option.pytest_help)


def pytest_configure(config: pytest.Config) -> None:
    config.stash[BACKEND_DESCRIPTIONS] = {}
    config.stash[BACKEND_NETWORKED] = {}
    for kind in backend_types():
        if kind.needs_server:
            config.addinivalue_line(
                "markers",
                f"{kind.name}: needs a {kind.title} server (provisioned when none is given)",
            )


def pytest_report_header(config: pytest.Config) -> list[str]:
    lines = []
    for kind in backend_types():
        if not kind.url_option:
            continue
        url, _ = given_url(kind, config.getoption(kind.url_option))
        if not url:
            lines.append(f"{kind.name}: provisioned on first use")
            continue
        try:
            lines.append(f"{kind.name}: {kind.masked(url)}")
        except ServerError as exc:
            lines.append(f"{kind.name}: {exc}")
    return lines


#: where each backend's database came from, said once the tests are done, so that it does not
#: break pytest's progress lines; providers passed over on the way are said only with -v
PROVISIONED = pytest.StashKey[list[str]]()


def _announce(config: pytest.Config, line: str, verbose_only: bool = False) -> None:
    if verbose_only and config.get_verbosity() < 1:
        return
    config.stash.setdefault(PROVISIONED, []).append(line)


def pytest_terminal_summary(terminalreporter: Any, config: pytest.Config) -> None:
    lines = config.stash.get(PROVISIONED, [])
    if lines:
        terminalreporter.section("backends", sep="-")
        for line in lines:
            terminalreporter.write_line(line)


def _record(config: pytest.Config, backend: Backend) -> None:
    # what a commit costs as the server is set up and durable, measured before any cell (and
    # before the settings are read: a server's settings changed for it are back by then)
    commits = backend.commit_costs()
    description = backend.describe()
    if backend.networked:
        # how far the server is, measured before any cell: what a projection is read against
        description["round_trip_ms"] = f"{backend.round_trip_seconds() * 1000:.3f}"
    if commits is not None:
        description.update(commits.record())
    config.stash[BACKEND_DESCRIPTIONS][backend.name] = description
    config.stash[BACKEND_NETWORKED][backend.name] = backend.networked
    selection = config.stash.get(SELECTION, None)
    if selection is not None and selection.command:
        return  # `python -m bench run` has said where each backend came from
    _announce(
        config,
        f"{backend.name}: version {description['version']}, {description['provisioned_by']}",
    )


def _server_fixture(name: str) -> Callable[..., Iterator[Server]]:
    """The session fixture ``NAME_server`` of one backend."""
    kind = backend_type(name)

    @pytest.fixture(scope="session", name=f"{name}_server")
    def server(request: pytest.FixtureRequest) -> Iterator[Server]:
        config = request.config
        provided = ProvidedServers.find(config.pluginmanager.get_plugins(), kind.name)
        if provided is not None:
            yield provided
            return
        stack = ExitStack()
        try:
            found = stack.enter_context(
                provide(
                    kind,
                    config.getoption(kind.url_option) if kind.url_option else None,
                    note=lambda line: _announce(config, f"{kind.name}: {line}", verbose_only=True),
                )
            )
        except ServerUnavailable as exc:
            if os.environ.get(kind.require_env):
                pytest.fail(f"{kind.require_env} is set but {exc}", pytrace=False)
            pytest.skip(f"{kind.title} not available: {exc}")
        except ServerError as exc:
            pytest.fail(str(exc), pytrace=False)
        with stack:
            stop_if_short_of_connections(config, kind, found)
            yield found

    return server


def _backend_fixture(name: str) -> Callable[..., Iterator[Backend]]:
    """The session fixture ``NAME_backend`` of one backend."""
    kind = backend_type(name)

    @pytest.fixture(scope="session", name=f"{name}_backend")
    def backend(request: pytest.FixtureRequest) -> Iterator[Backend]:
        server: Server = request.getfixturevalue(f"{kind.name}_server")
        stack = ExitStack()
        try:
            opened = stack.enter_context(kind.open(server))
        except kind.driver_errors as exc:
            where = f" at {server.masked_url}" if server.masked_url else ""
            pytest.fail(
                f"cannot set up the harness's database{where}: {first_line(exc)}", pytrace=False
            )
        with stack:
            _record(request.config, opened)
            yield opened

    return backend


# The fixtures by name, one line each per registered backend: written out so that the name a
# test asks for (``postgres_server``) is found here by a reader and by mypy.
# tests/test_backend_fixtures.py names the lines a newly registered backend still needs.
sqlite_server = _server_fixture("sqlite")
sqlite_backend = _backend_fixture("sqlite")
postgres_server = _server_fixture("postgres")
postgres_backend = _backend_fixture("postgres")
mariadb_server = _server_fixture("mariadb")
mariadb_backend = _backend_fixture("mariadb")
