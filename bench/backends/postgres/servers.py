"""Where a PostgreSQL server comes from when no URL is given, in this order:

1. a testcontainers ``PostgresContainer``, when a Docker daemon answers;
2. a throwaway cluster from local server binaries (``initdb`` + ``pg_ctl`` in a temporary
   folder, on a free loopback port; run as an unprivileged user when the harness runs as root).

Whatever is started here is stopped and removed when the context manager exits, whether the
run succeeded, failed or was interrupted.
"""

from __future__ import annotations

import os
import pwd
import secrets
import shutil
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from pathlib import Path
from typing import Any

import psycopg
from sqlalchemy import URL

from bench.backends.local_servers import ServerFolder, free_port, last_log_lines, server_user
from bench.backends.postgres.conninfo import conninfo_for
from bench.backends.servers import ContainerProvider, ProviderUnavailable, Server

IMAGE_ENV = "BENCH_POSTGRES_IMAGE"
DEFAULT_IMAGE = "postgres:16-alpine"
#: settings of the servers the harness starts itself: commits do not wait for the disk, so
#: timings measure the data-access code rather than this machine's fsync
THROWAWAY_SETTINGS = {
    "fsync": "off",
    "synchronous_commit": "off",
    "full_page_writes": "off",
    "shared_buffers": "128MB",
    # the concurrent workload at 16 workers holds a pool of 16 connections for each of five
    # styles at once, beside the other workloads' engines: more than the default 100
    "max_connections": "200",
}


class TestcontainersProvider(ContainerProvider):
    """A PostgresContainer from testcontainers, when a Docker daemon answers."""

    module = "testcontainers.community.postgres"
    image_env = IMAGE_ENV
    default_image = DEFAULT_IMAGE
    drivername = "postgresql+psycopg"
    label = "PostgresContainer"

    def container(self, password: str) -> Any:
        from testcontainers.community.postgres import PostgresContainer

        return PostgresContainer(
            self.image, username="bench", password=password, dbname="bench", driver=None
        ).with_command(container_command())


def container_command() -> list[str]:
    """The image's command with the settings of every server the harness starts (the image's
    entrypoint hands ``postgres -c name=value ...`` to the server): the image's own defaults
    would time fsync and hold 100 connections, fewer than a run may need."""
    settings = (["-c", f"{name}={value}"] for name, value in THROWAWAY_SETTINGS.items())
    return ["postgres", *(word for setting in settings for word in setting)]


class LocalClusterProvider:
    """A throwaway cluster from the PostgreSQL server binaries installed on this machine."""

    name = "local server binaries"
    tools = ("initdb", "pg_ctl", "postgres")

    def __init__(self, search_path: str | None = None) -> None:
        self.search_path = search_path  # PATH to search; None means the process's PATH

    def find_bindir(self) -> Path | None:
        candidates: list[Path] = []
        pg_config = shutil.which("pg_config", path=self.search_path)
        if pg_config:
            try:
                bindir = subprocess.run(
                    [pg_config, "--bindir"], capture_output=True, text=True, timeout=10
                ).stdout.strip()
            except (OSError, subprocess.SubprocessError):
                bindir = ""
            if bindir:
                candidates.append(Path(bindir))
        initdb = shutil.which("initdb", path=self.search_path)
        if initdb:
            candidates.append(Path(initdb).resolve().parent)
        if self.search_path is None:
            candidates.extend(
                sorted(
                    Path("/usr/lib/postgresql").glob("*/bin"),
                    key=lambda path: _version_key(path.parent.name),
                    reverse=True,
                )
            )
        for candidate in candidates:
            if all(os.access(candidate / tool, os.X_OK) for tool in self.tools):
                return candidate
        return None

    @staticmethod
    def server_user() -> pwd.struct_passwd | None:
        """The unprivileged user to run the server as, when the harness runs as root."""
        return server_user(("postgres", "nobody"))

    def unavailable_reason(self) -> str | None:
        if self.find_bindir() is None:
            return (
                "no PostgreSQL server binaries (initdb, pg_ctl, postgres) found via "
                "pg_config, PATH or /usr/lib/postgresql/*/bin"
            )
        try:
            self.server_user()
        except ProviderUnavailable as exc:
            return str(exc)
        return None

    @contextmanager
    def start(self) -> Iterator[Server]:
        bindir = self.find_bindir()
        if bindir is None:
            raise ProviderUnavailable("no PostgreSQL server binaries found")
        user = server_user(("postgres", "nobody"))
        folder = ServerFolder("bench-postgres-", user)
        try:
            cluster = LocalCluster(bindir, folder)
            try:
                cluster.initialize()
                cluster.start()
                url = cluster.create_database("bench")
                runs_as = f", running as {user.pw_name}" if user else ""
                yield Server(
                    url,
                    f"throwaway cluster from local binaries in {bindir}{runs_as}",
                    started_here=True,
                )
            finally:
                cluster.stop()
        finally:
            folder.remove()


def _version_key(name: str) -> tuple[int, ...]:
    return tuple(int(part) for part in name.split(".") if part.isdigit())


class LocalCluster:
    def __init__(self, bindir: Path, folder: ServerFolder) -> None:
        self.bindir = bindir
        self.folder = folder
        self.data = folder.path / "data"
        self.password = secrets.token_urlsafe(18)
        self.port = 0

    def _run(self, *arguments: str) -> None:
        self.folder.run([str(self.bindir / arguments[0]), *arguments[1:]])

    def initialize(self) -> None:
        password_file = self.folder.path / "password"
        password_file.write_text(self.password)
        password_file.chmod(0o600)
        self.folder.own(password_file)
        try:
            self._run(
                "initdb",
                "-D",
                str(self.data),
                "-U",
                "postgres",
                f"--pwfile={password_file}",
                "--auth-host=scram-sha-256",
                "--auth-local=trust",
                "--encoding=UTF8",
                "--locale=C",
                "--no-sync",
            )
        finally:
            password_file.unlink()

    def start(self, attempts: int = 3) -> None:
        log = self.folder.path / "server.log"
        for attempt in range(attempts):
            self.port = free_port()
            settings = {
                "listen_addresses": "127.0.0.1",
                "port": str(self.port),
                # no Unix socket: the harness connects over TCP, and a socket path in a long
                # temporary folder would pass the operating system's length limit
                "unix_socket_directories": "",
                **THROWAWAY_SETTINGS,
            }
            with (self.data / "postgresql.auto.conf").open("w") as conf:
                conf.writelines(f"{key} = {_quoted(value)}\n" for key, value in settings.items())
            try:
                self._run("pg_ctl", "-D", str(self.data), "-l", str(log), "-w", "-t", "60", "start")
                return
            except ProviderUnavailable as exc:
                # the reason is in the server's log, which goes with the folder: say it now
                reason = last_log_lines(log)
                self.stop()
                if attempt == attempts - 1:
                    raise ProviderUnavailable(f"{exc}: {reason}" if reason else str(exc)) from None

    def create_database(self, name: str) -> URL:
        server = URL.create(
            "postgresql+psycopg",
            username="postgres",
            password=self.password,
            host="127.0.0.1",
            port=self.port,
            database="postgres",
        )
        with psycopg.connect(conninfo_for(server), autocommit=True) as connection:
            connection.execute(f'CREATE DATABASE "{name}"')
        return server.set(database=name)

    def stop(self) -> None:
        if (self.data / "postmaster.pid").exists():
            with suppress(ProviderUnavailable):
                self._run("pg_ctl", "-D", str(self.data), "-m", "immediate", "-w", "stop")
        # pg_ctl starts the postmaster in a session of its own: one launched by an interrupted
        # pg_ctl, before it wrote its pid file, is found by the folder it serves
        self.folder.end_processes()


def _quoted(value: str) -> str:
    """A value as postgresql.conf quotes it."""
    return "'" + value.replace("\\", "\\\\").replace("'", "''") + "'"
