"""Where a MariaDB server comes from when no URL is given, in this order:

1. a testcontainers ``MySqlContainer`` running the MariaDB image, when a Docker daemon answers;
2. a throwaway server from local binaries (``mariadb-install-db`` + ``mariadbd`` in a temporary
   folder, on a free loopback port and a socket in that folder; run as an unprivileged user
   when the harness runs as root), as Debian's ``mariadb-server`` package installs them.

Whatever is started here is stopped and removed when the context manager exits, whether the
run succeeded, failed or was interrupted.
"""

from __future__ import annotations

import os
import pwd
import secrets
import shutil
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pymysql
from sqlalchemy import URL

from bench.backends.local_servers import ServerFolder, free_port, last_log_lines, server_user
from bench.backends.servers import ContainerProvider, ProviderUnavailable, Server

IMAGE_ENV = "BENCH_MARIADB_IMAGE"
DEFAULT_IMAGE = "mariadb:11.4"
#: settings of the servers the harness starts itself, as for PostgreSQL: commits do not wait
#: for the disk, so timings measure the data-access code rather than this machine's fsync
THROWAWAY_SETTINGS = {
    "innodb_flush_log_at_trx_commit": "0",
    "innodb_doublewrite": "0",
    "innodb_buffer_pool_size": "128M",
}
#: where Debian and the upstream tarballs put the binaries, besides PATH
_BINARY_FOLDERS = ("/usr/sbin", "/usr/bin", "/usr/local/mysql/bin", "/usr/local/bin")
_STARTUP_SECONDS = 60


class TestcontainersProvider(ContainerProvider):
    """A MariaDB container from testcontainers, when a Docker daemon answers."""

    module = "testcontainers.community.mysql"
    image_env = IMAGE_ENV
    default_image = DEFAULT_IMAGE
    drivername = "mariadb+pymysql"
    label = "MySqlContainer"

    def container(self, password: str) -> Any:
        from testcontainers.community.mysql import MySqlContainer

        # root: the run makes a database of its own
        return MySqlContainer(
            self.image, dialect="pymysql", username="root", password=password, dbname="bench"
        ).with_command(server_options())  # the image's entrypoint hands them to the server


def server_options() -> list[str]:
    """The settings of every server the harness starts, as the server's options."""
    return [f"--{name}={value}" for name, value in THROWAWAY_SETTINGS.items()]


class LocalServerProvider:
    """A throwaway server from the MariaDB binaries installed on this machine."""

    name = "local server binaries"
    tools = ("mariadb-install-db", "mariadbd")

    def __init__(self, search_path: str | None = None) -> None:
        #: PATH to search; None means the process's PATH and the usual folders
        self.search_path = search_path

    def find(self) -> dict[str, Path] | None:
        """Where each tool is, or None when one is missing."""
        path = self.search_path
        if path is None:
            path = os.pathsep.join([os.environ.get("PATH", ""), *_BINARY_FOLDERS])
        found = {tool: shutil.which(tool, path=path) for tool in self.tools}
        if not all(found.values()):
            return None
        return {tool: Path(where) for tool, where in found.items() if where}

    @staticmethod
    def server_user() -> pwd.struct_passwd | None:
        return server_user(("mysql", "nobody"))

    def unavailable_reason(self) -> str | None:
        if self.find() is None:
            return (
                "no MariaDB server binaries (mariadb-install-db, mariadbd) found via PATH or "
                + ", ".join(_BINARY_FOLDERS)
            )
        try:
            self.server_user()
        except ProviderUnavailable as exc:
            return str(exc)
        return None

    @contextmanager
    def start(self) -> Iterator[Server]:
        tools = self.find()
        if tools is None:
            raise ProviderUnavailable("no MariaDB server binaries found")
        user = self.server_user()
        folder = ServerFolder("bench-mariadb-", user)
        try:
            server = LocalServer(tools, folder)
            server.initialize()
            url = server.start()
            runs_as = f", running as {user.pw_name}" if user else ""
            where = tools["mariadbd"].parent
            yield Server(
                url,
                f"throwaway server from local binaries in {where}{runs_as}",
                started_here=True,
            )
        finally:
            folder.remove()


class LocalServer:
    def __init__(self, tools: dict[str, Path], folder: ServerFolder) -> None:
        self.tools = tools
        self.folder = folder
        self.data = folder.path / "data"
        self.log = folder.path / "server.log"
        self.password = secrets.token_urlsafe(18)

    def initialize(self) -> None:
        self.folder.run(
            [
                str(self.tools["mariadb-install-db"]),
                "--no-defaults",
                f"--datadir={self.data}",
                "--skip-test-db",
                "--skip-name-resolve",
            ]
        )

    def start(self, attempts: int = 3) -> URL:
        # the run's user and database come from an init file the server runs at start-up (no
        # socket connection as root is needed to make them), which also leaves root reachable
        # only through the socket in the server's own folder
        init_file = self.folder.path / "init.sql"
        reason = ""
        for _ in range(attempts):
            init_file.write_text(
                "DELETE FROM mysql.global_priv WHERE User = 'root' AND Host <> 'localhost';\n"
                "FLUSH PRIVILEGES;\n"
                f"CREATE OR REPLACE USER 'bench'@'127.0.0.1' IDENTIFIED BY '{self.password}';\n"
                # with the grant option, as the container's root has it: the tests make
                # accounts of less privilege, as a user's server gives the harness
                "GRANT ALL PRIVILEGES ON *.* TO 'bench'@'127.0.0.1' WITH GRANT OPTION;\n"
                "CREATE DATABASE IF NOT EXISTS bench;\n"
            )
            init_file.chmod(0o600)
            self.folder.own(init_file)
            port = free_port()
            url = URL.create(
                "mariadb+pymysql",
                username="bench",
                password=self.password,
                host="127.0.0.1",
                port=port,
                database="bench",
            )
            with self.log.open("ab") as output:
                process = self.folder.spawn(
                    [
                        str(self.tools["mariadbd"]),
                        "--no-defaults",
                        f"--datadir={self.data}",
                        f"--socket={self.folder.path / 'mariadb.sock'}",
                        f"--pid-file={self.folder.path / 'mariadb.pid'}",
                        f"--port={port}",
                        "--bind-address=127.0.0.1",
                        "--skip-name-resolve",
                        "--skip-log-bin",
                        f"--init-file={init_file}",
                        *server_options(),
                    ],
                    output,
                )
            deadline = time.monotonic() + _STARTUP_SECONDS
            while time.monotonic() < deadline and process.poll() is None:
                try:
                    pymysql.connect(
                        host="127.0.0.1",
                        port=port,
                        user="bench",
                        password=self.password,
                        database="bench",
                        connect_timeout=2,
                    ).close()
                    init_file.unlink()  # it holds the password
                    return url
                except pymysql.MySQLError:
                    time.sleep(0.1)
            # it exited (a port taken in the meantime, a bad setting) or never answered
            self.folder.end_processes()
            init_file.unlink(missing_ok=True)
            reason = last_log_lines(self.log).replace(self.password, "***")
            reason = reason or f"exit status {process.poll()}"
        raise ProviderUnavailable(f"mariadbd failed: {reason}")
