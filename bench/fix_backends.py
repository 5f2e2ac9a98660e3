"""pytest plugin: the database backends as session fixtures.

``--postgres-url`` defaults to ``BENCH_POSTGRES_URL``. Without a URL the PostgreSQL server is
provisioned on first use (testcontainers, then local server binaries); when none can be had,
the PostgreSQL tests are skipped with the reason. The harness's tables always live in a schema
of their own, dropped at the end, so a given server is never touched outside it.
"""

from __future__ import annotations

import argparse
import os
from collections.abc import Iterator
from contextlib import ExitStack

import psycopg
import pytest

from bench.backends import Backend, PostgresBackend, SqliteBackend, open_postgres, open_sqlite
from bench.messages import first_line
from bench.postgres import (
    URL_ENV,
    PostgresError,
    PostgresServer,
    PostgresUnavailable,
    mask,
    parse_postgres_url,
    provide_postgres,
)

#: set (as CI does) to make an unavailable PostgreSQL fail the PostgreSQL tests, not skip them
REQUIRE_ENV = "BENCH_REQUIRE_POSTGRES"
BACKEND_DESCRIPTIONS = pytest.StashKey[dict[str, dict[str, str]]]()
#: whether each backend's timings include a network hop
BACKEND_NETWORKED = pytest.StashKey[dict[str, bool]]()


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("bench", "data-access benchmark harness")
    group.addoption(
        "--postgres-url",
        default=os.environ.get(URL_ENV) or None,
        help=f"PostgreSQL server to use (default: ${URL_ENV}; else one is provisioned)",
    )
    # set by `python -m bench run`, which provisions the server before pytest starts
    group.addoption("--postgres-provisioned-by", default=None, help=argparse.SUPPRESS)


def pytest_configure(config: pytest.Config) -> None:
    config.stash[BACKEND_DESCRIPTIONS] = {}
    config.stash[BACKEND_NETWORKED] = {}


def pytest_report_header(config: pytest.Config) -> str:
    url = config.getoption("--postgres-url")
    if url:
        try:
            return f"postgres: {mask(parse_postgres_url(url))}"
        except PostgresError as exc:
            return f"postgres: {exc}"
    return "postgres: provisioned on first use (testcontainers, else local server binaries)"


def _announce(config: pytest.Config, line: str) -> None:
    capture = config.pluginmanager.get_plugin("capturemanager")
    reporter = config.pluginmanager.get_plugin("terminalreporter")
    if reporter is None:
        return
    if capture is None:
        reporter.write_line(line)
        return
    with capture.global_and_fixture_disabled():
        reporter.write_line(line)


def _record(config: pytest.Config, backend: Backend) -> None:
    description = backend.describe()
    config.stash[BACKEND_DESCRIPTIONS][backend.name] = description
    config.stash[BACKEND_NETWORKED][backend.name] = backend.networked
    if config.getoption("--bench-command", default=None):
        return  # `python -m bench run` has said where each backend came from
    _announce(
        config,
        f"{backend.name}: version {description['version']}, {description['provisioned_by']}",
    )


@pytest.fixture(scope="session")
def sqlite_backend(request: pytest.FixtureRequest) -> Iterator[SqliteBackend]:
    with open_sqlite() as backend:
        _record(request.config, backend)
        yield backend


@pytest.fixture(scope="session")
def postgres_server(request: pytest.FixtureRequest) -> Iterator[PostgresServer]:
    config = request.config
    url = config.getoption("--postgres-url")
    provisioned_by = config.getoption("--postgres-provisioned-by")
    if url and provisioned_by:
        yield PostgresServer(parse_postgres_url(url), provisioned_by)
        return
    stack = ExitStack()
    try:
        server = stack.enter_context(
            provide_postgres(url, note=lambda line: _announce(config, f"postgres: {line}"))
        )
    except PostgresUnavailable as exc:
        if os.environ.get(REQUIRE_ENV):
            pytest.fail(f"{REQUIRE_ENV} is set but {exc}", pytrace=False)
        pytest.skip(f"PostgreSQL not available: {exc}")
    except PostgresError as exc:
        pytest.fail(str(exc), pytrace=False)
    with stack:
        yield server


@pytest.fixture(scope="session")
def postgres_backend(
    request: pytest.FixtureRequest, postgres_server: PostgresServer
) -> Iterator[PostgresBackend]:
    stack = ExitStack()
    try:
        backend = stack.enter_context(
            open_postgres(postgres_server.url, postgres_server.provisioned_by)
        )
    except psycopg.Error as exc:
        pytest.fail(
            f"cannot set up the harness's schema at {postgres_server.masked_url}: "
            f"{first_line(exc)}",
            pytrace=False,
        )
    with stack:
        _record(request.config, backend)
        yield backend
