"""Where the PostgreSQL server comes from, and what a user sees when it cannot be had.

The testcontainers path needs a Docker engine, which this machine and CI do not have: its
selection and its failure handling are tested (here with stand-in providers for the order of
the chain, and in test_server_backends.py against a Docker client with no daemon behind it);
starting a real container is not.
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager
from pathlib import Path

import psycopg
import pytest

from bench.backends.local_servers import ServerFolder
from bench.backends.postgres.backend import POSTGRES, PostgresType, parse_postgres_url
from bench.backends.postgres.conninfo import conninfo_for
from bench.backends.postgres.servers import LocalCluster, LocalClusterProvider
from bench.backends.postgres.servers import TestcontainersProvider as ContainerProvider
from bench.backends.servers import (
    Note,
    Provider,
    ProviderUnavailable,
    Server,
    ServerError,
    ServerUnavailable,
    mask,
)
from bench.measure.cells import Cell, Harness
from bench.measure.workloads import WORKLOADS

from helpers import bench, free_port

# --- URLs (what every server backend shares: tests/test_server_backends.py) ------------------


def test_masking_hides_only_the_password() -> None:
    url = parse_postgres_url("postgresql://bench:hunter2@db.example:6432/app")
    assert mask(url) == "postgresql+psycopg://bench:***@db.example:6432/app"


def test_with_every_backend_an_unreachable_url_is_still_the_only_line() -> None:
    """The run provisions PostgreSQL's server before the others': its error is all it says."""
    url = f"postgresql://bench:s3cret-pw@127.0.0.1:{free_port()}/app"
    result = bench("run", "--backend", "all", env={"BENCH_POSTGRES_URL": url})
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith(
        "bench: error: BENCH_POSTGRES_URL: cannot connect to PostgreSQL at "
        "postgresql+psycopg://bench:***@127.0.0.1:"
    )
    assert "s3cret-pw" not in result.stdout + result.stderr


@pytest.mark.postgres
def test_a_missing_database_is_one_masked_line(postgres_server: Server) -> None:
    url = postgres_server.address.set(database="no_such_database")
    result = bench(
        "run", "--backend", "postgres", "--postgres-url", url.render_as_string(hide_password=False)
    )
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and "no_such_database" in lines[0], result.stderr
    assert mask(url) in lines[0]
    assert str(url.password) not in result.stdout + result.stderr


@pytest.mark.postgres
def test_a_password_in_the_query_is_masked_and_query_parameters_are_honoured(
    postgres_server: Server,
) -> None:
    url = postgres_server.address
    raw = (
        f"postgresql://{url.host}:{url.port}/{url.database}"
        f"?user={url.username}&password={url.password}&sslmode=require"
    )
    # the throwaway server speaks no TLS: sslmode=require must reach the driver and fail
    result = bench(
        "statements", "--workload", "crud_read", "--backend", "postgres", "--postgres-url", raw
    )
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert "password=***" in lines[0] and "SSL" in lines[0]
    assert str(url.password) not in result.stdout + result.stderr


@pytest.mark.postgres
def test_a_user_who_cannot_create_a_schema_is_told_so(postgres_server: Server) -> None:
    with psycopg.connect(conninfo_for(postgres_server.address), autocommit=True) as admin:
        admin.execute("DROP ROLE IF EXISTS bench_reader")
        admin.execute("CREATE ROLE bench_reader LOGIN PASSWORD 'reader-secret'")
        try:
            reader = postgres_server.address.set(username="bench_reader", password="reader-secret")
            result = bench(
                "run",
                "--backend",
                "postgres",
                "--postgres-url",
                reader.render_as_string(hide_password=False),
            )
            assert result.returncode == 2
            lines = result.stderr.strip().splitlines()
            assert len(lines) == 1, result.stderr
            assert lines[0].startswith(
                f"bench: error: --postgres-url: cannot create the run's schema at {mask(reader)}: "
                "permission denied"
            )
            assert "reader-secret" not in result.stdout + result.stderr
        finally:
            admin.execute("DROP ROLE bench_reader")


# --- a given server -----------------------------------------------------------------------------


@pytest.mark.postgres
def test_a_given_server_is_touched_only_in_the_harness_schema(
    postgres_server: Server,
) -> None:
    with psycopg.connect(conninfo_for(postgres_server.address), autocommit=True) as admin:
        admin.execute("CREATE TABLE IF NOT EXISTS public.keep_me (note text)")
        admin.execute("INSERT INTO public.keep_me VALUES ('the user''s own data')")
        # a table named like the harness's, outside its schema
        admin.execute("CREATE TABLE IF NOT EXISTS public.user_account (note text)")
        admin.execute("INSERT INTO public.user_account VALUES ('also the user''s')")
        try:
            with POSTGRES.open(postgres_server) as backend:
                harness = Harness(backend)
                try:
                    for workload in ("crud_create", "crud_delete"):
                        case = WORKLOADS[workload].case(3)
                        harness.verify(Cell(workload, "core", "postgres", 3), case)
                finally:
                    harness.close()
                schema = backend.schema
            assert admin.execute("SELECT note FROM public.keep_me").fetchall() == [
                ("the user's own data",)
            ]
            assert admin.execute("SELECT note FROM public.user_account").fetchall() == [
                ("also the user's",)
            ]
            remaining = admin.execute(
                "SELECT count(*) FROM information_schema.schemata WHERE schema_name = %s",
                [schema],
            ).fetchone()
            assert remaining == (0,)
        finally:
            admin.execute("DROP TABLE IF EXISTS public.keep_me, public.user_account")


@pytest.mark.postgres
def test_a_run_against_a_given_url_records_the_server_and_never_the_password(
    postgres_server: Server, tmp_path: Path
) -> None:
    raw = postgres_server.address.render_as_string(hide_password=False)
    result = bench(
        "run",
        "--backend",
        "postgres",
        "--quick",
        "--workload",
        "crud_read",
        "--variant",
        "core",
        "dbapi",
        "--postgres-url",
        raw,
        "--out",
        str(tmp_path),
    )
    assert result.returncode == 0, result.stderr
    assert "postgres: PostgreSQL " in result.stderr and "the URL given" in result.stderr
    written = "".join(
        path.read_text() for path in (tmp_path / "benchmarks.json", tmp_path / "REPORT.md")
    )
    password = str(postgres_server.address.password)
    assert password not in result.stdout + result.stderr + written
    assert '"provisioned_by": "the URL given"' in written
    for setting in ("fsync", "synchronous_commit", "shared_buffers"):
        assert f'"{setting}"' in written
    assert '"bytes_sent"' in written


# --- the provider chain -------------------------------------------------------------------------


def provide_postgres(
    url: str | None, note: Note, providers: tuple[Provider, ...]
) -> AbstractContextManager[Server]:
    kind = PostgresType()
    kind.providers = providers
    return kind.provide(url, note)


class StandIn:
    """A provider whose availability and start are decided by the test."""

    def __init__(self, name: str, reason: str | None = None, fails: str | None = None) -> None:
        self.name = name
        self.reason = reason
        self.fails = fails
        self.stopped = False

    def unavailable_reason(self) -> str | None:
        return self.reason

    @contextmanager
    def start(self) -> Iterator[Server]:
        if self.fails:
            raise ProviderUnavailable(self.fails)
        try:
            yield Server(parse_postgres_url("postgresql://u:p@h/d"), self.name, version="15.0")
        finally:
            self.stopped = True


def test_the_first_provider_that_can_start_is_used_and_the_others_noted() -> None:
    notes: list[str] = []
    chain = (
        StandIn("testcontainers", reason="no Docker daemon answered"),
        StandIn("broken", fails="initdb failed"),
        StandIn("local"),
        StandIn("never asked"),
    )
    with provide_postgres(None, notes.append, chain) as server:
        assert server.provisioned_by == "local"
    assert chain[2].stopped
    assert notes == [
        "PostgreSQL via testcontainers is not possible here: no Docker daemon answered",
        "PostgreSQL via broken is not possible here: initdb failed",
    ]


def test_what_was_started_is_stopped_when_the_run_fails() -> None:
    chain = (StandIn("local"),)
    with pytest.raises(KeyboardInterrupt), provide_postgres(None, print, chain):
        raise KeyboardInterrupt
    assert chain[0].stopped


def test_no_provider_is_one_error_naming_every_reason_and_the_remedy() -> None:
    chain = (StandIn("testcontainers", reason="no Docker"), StandIn("local", fails="no initdb"))
    with pytest.raises(ServerUnavailable) as raised, provide_postgres(None, print, chain):
        pass
    message = str(raised.value)
    assert message.startswith("no PostgreSQL server (testcontainers: no Docker; local: no initdb)")
    assert "pass --postgres-url or set BENCH_POSTGRES_URL" in message


def test_a_given_url_is_used_without_asking_any_provider() -> None:
    class Forbidden(StandIn):
        def unavailable_reason(self) -> str | None:
            raise AssertionError("a provider was asked although a URL was given")

    with (
        pytest.raises(ServerError, match="cannot connect"),
        provide_postgres(f"postgresql://u:p@127.0.0.1:{free_port()}/d", print, (Forbidden("x"),)),
    ):
        pass


def test_the_container_image_can_be_chosen(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("BENCH_POSTGRES_IMAGE", "postgres:17")
    assert ContainerProvider().image == "postgres:17"


def test_without_server_binaries_the_local_provider_says_so(tmp_path: Path) -> None:
    provider = LocalClusterProvider(search_path=str(tmp_path))
    assert provider.find_bindir() is None
    assert "no PostgreSQL server binaries" in str(provider.unavailable_reason())


@pytest.mark.postgres
def test_a_local_cluster_is_stopped_and_removed_afterwards() -> None:
    provider = LocalClusterProvider()
    if provider.unavailable_reason() is not None:
        pytest.skip(str(provider.unavailable_reason()))
    with provider.start() as server:
        with psycopg.connect(conninfo_for(server.address)) as connection:
            user, pid, directory = connection.execute(
                "SELECT current_user, pg_backend_pid(), current_setting('data_directory')"
            ).fetchone()  # type: ignore[misc]
        assert user == "postgres"
        assert Path(directory).exists()
        if os.geteuid() == 0:
            assert Path(directory).stat().st_uid != 0  # the server does not run as root
        postmaster = int((Path(directory) / "postmaster.pid").read_text().split()[0])
    assert not Path(directory).parent.exists()
    assert not running(postmaster) and not running(pid)


@pytest.mark.postgres
def test_a_postmaster_without_a_pid_file_is_still_stopped() -> None:
    """As after Ctrl-C while pg_ctl was starting the server: it runs, but nothing recorded it."""
    provider = LocalClusterProvider()
    if provider.unavailable_reason() is not None:
        pytest.skip(str(provider.unavailable_reason()))
    bindir = provider.find_bindir()
    assert bindir is not None
    folder = ServerFolder("bench-postgres-test-", provider.server_user())
    try:
        cluster = LocalCluster(bindir, folder)
        cluster.initialize()
        cluster.start()
        pid_file = cluster.data / "postmaster.pid"
        postmaster = int(pid_file.read_text().split()[0])
        pid_file.rename(folder.path / "hidden.pid")
        folder.process_groups.clear()
        folder.interrupted = True
        cluster.stop()
        assert not running(postmaster)
    finally:
        folder.remove()


def running(pid: int) -> bool:
    """Whether the process still exists, once its parent has had a moment to reap it."""
    for _ in range(50):
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return False
        if Path(f"/proc/{pid}/stat").read_text().split()[2] == "Z":
            return False  # exited; only waiting for its parent to collect the exit status
        time.sleep(0.1)
    return True


@pytest.mark.postgres
def test_providers_passed_over_are_said_only_when_asked(tmp_path: Path) -> None:
    env = {"DOCKER_HOST": "unix:///nonexistent/docker.sock", "BENCH_POSTGRES_URL": ""}
    arguments = ["statements", "--workload", "crud_read", "--backend", "postgres", "--size", "1"]
    quiet = bench(*arguments, cwd=tmp_path, env=env)
    assert quiet.returncode == 0, quiet.stderr
    assert "not possible here" not in quiet.stderr
    assert "throwaway cluster from local binaries" in quiet.stderr  # the provider used
    verbose = bench(*arguments, "-v", cwd=tmp_path, env=env)
    assert verbose.returncode == 0, verbose.stderr
    assert "postgres: PostgreSQL via testcontainers is not possible here: no Docker" in (
        verbose.stderr
    )


@pytest.mark.postgres
def test_statements_shows_every_style_sending_the_raw_drivers_id_list(tmp_path: Path) -> None:
    result = bench(
        "statements",
        "--workload",
        "crud_read",
        "--backend",
        "postgres",
        "--size",
        "3",
        "--variant",
        "core",
        "orm_bulk",
        "orm",
        "dbapi",
        cwd=tmp_path,
    )
    assert result.returncode == 0, result.stderr
    sections = {section.split(":", 1)[0]: section for section in result.stdout.split("\n\n")[1:]}
    for variant in ("core", "orm_bulk", "orm"):
        assert "  SQL: same SQL as dbapi\n" in sections[variant], sections[variant]
        assert "WHERE user_account.id = ANY (%(ids)s::INTEGER[])" in sections[variant]
        assert "execute: 1 parameter\n" in sections[variant]
    assert "SQL: the baseline the others are compared with" in sections["dbapi"]
    assert "WHERE user_account.id = ANY(%s) ORDER BY user_account.id" in sections["dbapi"]
