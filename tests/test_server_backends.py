"""What every backend with a server shares. The URL a user gives it (``--NAME-url`` or
``$BENCH_NAME_URL``): which URLs are taken, and the one masked line a user sees when one is
refused or does not work. And, without a URL, its testcontainers provider's fall-through where
no Docker daemon answers (starting a real container needs a Docker engine, which neither this
machine nor CI has). What each backend says is asked of its object (its title, option,
environment variable, providers); what only its driver can say is in :data:`EXAMPLES`."""

from __future__ import annotations

import re
import subprocess
from dataclasses import dataclass
from typing import Any

import pytest

from bench.backends import backend_types
from bench.backends.base import ServerBackendType
from bench.backends.mariadb.backend import MARIADB
from bench.backends.postgres.backend import POSTGRES
from bench.backends.servers import (
    ContainerProvider,
    ProviderUnavailable,
    Server,
    ServerError,
    mask,
)

from helpers import bench, free_port

#: every registered backend with a server; its tests that need one carry the marker of its name
SERVER_KINDS: list[ServerBackendType[Any]] = [
    kind for kind in backend_types() if isinstance(kind, ServerBackendType)
]


@dataclass(frozen=True)
class UrlExamples:
    """A server backend's URLs for these tests, and what its driver says."""

    #: the SQLAlchemy driver every URL it takes is used with
    driver: str
    #: URLs it takes: each of its schemes, with or without a driver of their own
    taken: tuple[str, ...]
    #: another database's URL, with the password "secret", which it refuses
    foreign: str
    #: what its driver's error says of a wrong password
    wrong_password: str


EXAMPLES: dict[ServerBackendType[Any], UrlExamples] = {
    POSTGRES: UrlExamples(
        driver="postgresql+psycopg",
        taken=("postgresql://u:p@h:5432/d", "postgres://u:p@h/d", "postgresql+psycopg2://u@h/d"),
        foreign="mysql://u:secret@h/d",
        wrong_password="password",
    ),
    MARIADB: UrlExamples(
        driver="mariadb+pymysql",
        taken=("mariadb://u:p@h:3306/d", "mysql://u:p@h/d", "mysql+mysqldb://u@h/d"),
        foreign="postgresql://u:secret@h/d",
        wrong_password="Access denied",
    ),
}


def each_kind(needs_server: bool = False) -> list[Any]:
    """One parameter per server backend, marked with its name where the test needs its server
    (which is provisioned when none is given, or skipped)."""
    return [
        pytest.param(
            kind, id=kind.name, marks=[getattr(pytest.mark, kind.name)] if needs_server else []
        )
        for kind in SERVER_KINDS
    ]


def only_line(result: subprocess.CompletedProcess[str]) -> str:
    """The one line on stderr: nothing else, not even a blank line, so no traceback."""
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    return lines[0]


def test_every_server_backend_has_examples() -> None:
    assert set(EXAMPLES) == set(SERVER_KINDS)


@pytest.mark.parametrize("kind", each_kind())
def test_a_url_of_the_backend_is_used_with_the_harness_driver(
    kind: ServerBackendType[Any],
) -> None:
    examples = EXAMPLES[kind]
    for raw in examples.taken:
        assert kind.parse_url(raw).drivername == examples.driver


@pytest.mark.parametrize("kind", each_kind())
def test_other_urls_are_refused(kind: ServerBackendType[Any]) -> None:
    foreign = EXAMPLES[kind].foreign
    for raw, message in (
        (foreign, f"not a {kind.title} URL: {foreign.replace('secret', '***')}"),
        ("not a url", "not a database URL"),
    ):
        with pytest.raises(ServerError, match=re.escape(message)):
            kind.parse_url(raw)


@pytest.mark.parametrize("kind", each_kind())
def test_an_unreachable_url_is_one_masked_line(kind: ServerBackendType[Any]) -> None:
    assert kind.url_option and kind.url_env
    url = f"{kind.url_schemes[0]}://bench:s3cret-pw@127.0.0.1:{free_port()}/app"
    for arguments, env, source in (
        (["run", "--backend", kind.name, kind.url_option, url], {}, kind.url_option),
        (
            ["statements", "--workload", "crud_read", "--backend", kind.name],
            {kind.url_env: url},
            kind.url_env,
        ),
    ):
        result = bench(*arguments, env=env)
        assert result.returncode == 2
        assert only_line(result).startswith(
            f"bench: error: {source}: cannot connect to {kind.title} at "
            f"{EXAMPLES[kind].driver}://bench:***@127.0.0.1:"
        )
        assert "s3cret-pw" not in result.stdout + result.stderr


@pytest.mark.parametrize("kind", each_kind(needs_server=True))
def test_a_wrong_password_is_one_masked_line(
    kind: ServerBackendType[Any], request: pytest.FixtureRequest
) -> None:
    assert kind.url_option
    server: Server = request.getfixturevalue(f"{kind.name}_server")
    url = server.address.set(password="not-the-password")
    result = bench(
        "run", "--backend", kind.name, kind.url_option, url.render_as_string(hide_password=False)
    )
    assert result.returncode == 2
    line = only_line(result)
    assert EXAMPLES[kind].wrong_password in line
    assert mask(url) in line
    assert "not-the-password" not in result.stdout + result.stderr


@pytest.mark.parametrize("kind", each_kind())
def test_testcontainers_without_a_docker_daemon_falls_through(
    kind: ServerBackendType[Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("DOCKER_HOST", "unix:///nonexistent/docker.sock")
    container = next(each for each in kind.providers if isinstance(each, ContainerProvider))
    provider = type(container)(docker_timeout=1)
    assert provider.image == provider.default_image
    assert provider.unavailable_reason() == (
        "no Docker daemon answered at unix:///nonexistent/docker.sock"
    )
    # were it tried anyway, the container's failure to start is a fall-through, not a crash
    with (
        pytest.raises(ProviderUnavailable, match=f"could not start {provider.default_image}"),
        provider.start(),
    ):
        pass


def test_a_container_gets_the_settings_of_the_servers_the_harness_starts() -> None:
    # no Docker engine here: what the containers are told, not the containers themselves
    from bench.backends.mariadb import servers as mariadb_servers
    from bench.backends.postgres import servers as postgres_servers

    assert postgres_servers.container_command() == [
        "postgres",
        "-c", "fsync=off",
        "-c", "synchronous_commit=off",
        "-c", "full_page_writes=off",
        "-c", "shared_buffers=128MB",
        "-c", "max_connections=200",
    ]  # fmt: skip
    assert mariadb_servers.server_options() == [
        "--innodb_flush_log_at_trx_commit=0",
        "--innodb_doublewrite=0",
        "--innodb_buffer_pool_size=128M",
    ]
