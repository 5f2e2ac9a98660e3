"""Where the PostgreSQL server comes from, in this order:

1. a URL the user gave (``--postgres-url`` or ``BENCH_POSTGRES_URL``);
2. a testcontainers ``PostgresContainer``, when a Docker daemon answers;
3. a throwaway cluster from local server binaries (``initdb`` + ``pg_ctl`` in a temporary
   folder, on a free loopback port; run as an unprivileged user when the harness runs as root);
4. otherwise none, with the reason and how to enable one.

Whatever is started here is stopped and removed when the context manager exits, whether the
run succeeded, failed or was interrupted.
"""

from __future__ import annotations

import os
import pwd
import secrets
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, ExitStack, contextmanager, suppress
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import psycopg
from sqlalchemy import URL, make_url
from sqlalchemy.exc import ArgumentError

from bench.messages import first_line

URL_ENV = "BENCH_POSTGRES_URL"
IMAGE_ENV = "BENCH_POSTGRES_IMAGE"
DEFAULT_IMAGE = "postgres:16-alpine"
HOW_TO_ENABLE = (
    f"pass --postgres-url or set {URL_ENV}, start a Docker daemon, "
    "or install the PostgreSQL server binaries (initdb, pg_ctl)"
)
#: settings of the servers the harness starts itself: commits do not wait for the disk, so
#: timings measure the data-access code rather than this machine's fsync
THROWAWAY_SETTINGS = {
    "fsync": "off",
    "synchronous_commit": "off",
    "full_page_writes": "off",
    "shared_buffers": "128MB",
}

Note = Callable[[str], None]


class PostgresError(Exception):
    """A problem the user must fix; its message is one line, with any password masked."""


class PostgresUnavailable(PostgresError):
    """No way to get a PostgreSQL server here."""


class ProviderUnavailable(Exception):
    """This provider cannot give a server here; the next one is tried."""


@dataclass(frozen=True)
class PostgresServer:
    url: URL
    provisioned_by: str
    #: the server's version, when provisioning already asked for it
    version: str = ""

    @property
    def masked_url(self) -> str:
        return mask(self.url)


def mask(url: URL) -> str:
    """The URL as text with its password hidden, in the user part or the query."""
    if "password" in url.query:
        url = url.update_query_dict({"password": "***"})
    return url.render_as_string(hide_password=True).replace("password=%2A%2A%2A", "password=***")


def parse_postgres_url(raw: str) -> URL:
    """A user's URL as a ``postgresql+psycopg`` SQLAlchemy URL."""
    try:
        url = make_url(raw)
    except (ArgumentError, ValueError):
        raise PostgresError(
            "not a database URL: expected postgresql://user:password@host:port/database"
        ) from None
    if url.get_backend_name() not in ("postgresql", "postgres"):
        raise PostgresError(f"not a PostgreSQL URL: {mask(url)}")
    return url.set(drivername="postgresql+psycopg")


def server_version(url: URL) -> str:
    """Connect once and check that the harness can work there: the server's version, or a
    one-line PostgresError naming the masked URL."""
    from bench.backends import conninfo_for

    try:
        # a bad connection parameter (an unknown one in the URL's query) fails here too
        connection = psycopg.connect(conninfo_for(url), connect_timeout=10)
    except psycopg.Error as exc:
        raise PostgresError(
            f"cannot connect to PostgreSQL at {mask(url)}: {first_line(exc)}"
        ) from None
    try:
        with connection:
            version = str(connection.execute("SHOW server_version").fetchone()[0])  # type: ignore[index]
            # the run works in a schema of its own: try making one (rolled back), under a
            # name of its own too, so that nothing left on the server can be in the way
            connection.execute(f"CREATE SCHEMA bench_preflight_{secrets.token_hex(6)}")
            connection.rollback()
            return version
    except psycopg.Error as exc:
        raise PostgresError(
            f"cannot create the run's schema at {mask(url)}: {first_line(exc)}"
        ) from None


class Provider(Protocol):
    name: str

    def unavailable_reason(self) -> str | None:
        """None when this provider can try to start a server here; else why not."""
        ...

    def start(self) -> AbstractContextManager[PostgresServer]:
        """Start a server; raise ProviderUnavailable when that fails."""
        ...


class TestcontainersProvider:
    """A PostgresContainer from testcontainers, when a Docker daemon answers."""

    name = "testcontainers"

    def __init__(self, image: str | None = None, docker_timeout: float = 3.0) -> None:
        self.image = image or os.environ.get(IMAGE_ENV, DEFAULT_IMAGE)
        self.docker_timeout = docker_timeout

    def unavailable_reason(self) -> str | None:
        try:
            import docker
            import testcontainers.community.postgres  # noqa: F401
        except ImportError as exc:
            return f"testcontainers is not installed ({exc})"
        host = os.environ.get("DOCKER_HOST", "the default socket")
        try:
            docker.from_env(timeout=self.docker_timeout).ping()
        except Exception:
            return f"no Docker daemon answered at {host}"
        return None

    @contextmanager
    def start(self) -> Iterator[PostgresServer]:
        from testcontainers.community.postgres import PostgresContainer

        password = secrets.token_urlsafe(18)
        container = None
        try:
            container = PostgresContainer(
                self.image, username="bench", password=password, dbname="bench", driver=None
            )
            container.start()
        except Exception as exc:
            if container is not None:
                _stop_quietly(container)
            raise ProviderUnavailable(f"could not start {self.image}: {first_line(exc)}") from None
        try:
            url = make_url(container.get_connection_url()).set(drivername="postgresql+psycopg")
            yield PostgresServer(url, f"testcontainers PostgresContainer ({self.image})")
        finally:
            _stop_quietly(container)


def _stop_quietly(container: Any) -> None:
    with suppress(Exception):
        container.stop()


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

    def server_user(self) -> pwd.struct_passwd | None:
        """The unprivileged user to run the server as, when the harness runs as root."""
        if os.geteuid() != 0:
            return None
        for name in ("postgres", "nobody"):
            try:
                return pwd.getpwnam(name)
            except KeyError:
                continue
        raise ProviderUnavailable("running as root and no unprivileged user (postgres, nobody)")

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
    def start(self) -> Iterator[PostgresServer]:
        bindir = self.find_bindir()
        if bindir is None:
            raise ProviderUnavailable("no PostgreSQL server binaries found")
        user = self.server_user()
        folder = Path(tempfile.mkdtemp(prefix="bench-postgres-"))
        try:
            cluster = _LocalCluster(bindir, folder, user)
            try:
                cluster.initialize()
                cluster.start()
                url = cluster.create_database("bench")
                runs_as = f", running as {user.pw_name}" if user else ""
                yield PostgresServer(
                    url, f"throwaway cluster from local binaries in {bindir}{runs_as}"
                )
            finally:
                cluster.stop()
        finally:
            shutil.rmtree(folder, ignore_errors=True)


def _version_key(name: str) -> tuple[int, ...]:
    return tuple(int(part) for part in name.split(".") if part.isdigit())


#: what is running on the harness's behalf, for :func:`kill_now`
_RUNNING_GROUPS: set[int] = set()
_CLUSTER_FOLDERS: set[Path] = set()


def kill_now() -> int:
    """Kill, without waiting, every server process the harness started, and remove their
    folders: what a second Ctrl-C does instead of the orderly clean-up. How many process
    groups and clusters there were."""
    found = len(_RUNNING_GROUPS) + len(_CLUSTER_FOLDERS)
    for group in list(_RUNNING_GROUPS):
        with suppress(ProcessLookupError, PermissionError):
            os.killpg(group, signal.SIGKILL)
    for folder in list(_CLUSTER_FOLDERS):
        for pid in _processes_serving(folder / "data"):
            with suppress(ProcessLookupError, PermissionError):
                os.kill(pid, signal.SIGKILL)
        shutil.rmtree(folder, ignore_errors=True)
    return found


class _LocalCluster:
    def __init__(self, bindir: Path, folder: Path, user: pwd.struct_passwd | None) -> None:
        self.bindir = bindir
        self.folder = folder
        self.data = folder / "data"
        self.user = user
        self.password = secrets.token_urlsafe(18)
        self.port = 0
        #: the process groups of the binaries run
        self.process_groups: list[int] = []
        self.interrupted = False
        _CLUSTER_FOLDERS.add(folder)
        if user is not None:
            os.chown(folder, user.pw_uid, user.pw_gid)
        folder.chmod(0o700)

    def _run(self, *arguments: str) -> None:
        """Run a server binary as the server's user, in a process group of its own: an
        interruption kills the whole group (initdb's bootstrap backend, or a postmaster that
        pg_ctl has launched), and Ctrl-C in a terminal reaches only us, so we stop it."""
        command = [str(self.bindir / arguments[0]), *arguments[1:]]
        as_user: dict[str, Any] = {}
        if self.user is not None:
            as_user = {"user": self.user.pw_uid, "group": self.user.pw_gid, "extra_groups": []}
        with tempfile.TemporaryFile() as output:
            try:
                process = subprocess.Popen(
                    command,
                    stdin=subprocess.DEVNULL,
                    stdout=output,
                    stderr=subprocess.STDOUT,
                    cwd=self.folder,
                    start_new_session=True,
                    **as_user,
                )
            except OSError as exc:
                raise ProviderUnavailable(f"{arguments[0]} failed: {exc}") from None
            self.process_groups.append(process.pid)
            _RUNNING_GROUPS.add(process.pid)
            try:
                returncode = process.wait(timeout=120)
            except BaseException:
                self.interrupted = True
                _end_process_group(process.pid, process)
                process.wait()
                raise
            finally:
                _RUNNING_GROUPS.discard(process.pid)
            if returncode != 0:
                output.seek(0)
                lines = output.read().decode(errors="replace").strip().splitlines()
                detail = lines[-1] if lines else f"exit status {returncode}"
                raise ProviderUnavailable(f"{arguments[0]} failed: {detail}")

    def initialize(self) -> None:
        password_file = self.folder / "password"
        password_file.write_text(self.password)
        password_file.chmod(0o600)
        if self.user is not None:
            os.chown(password_file, self.user.pw_uid, self.user.pw_gid)
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
        for attempt in range(attempts):
            self.port = _free_port()
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
                self._run(
                    "pg_ctl",
                    "-D",
                    str(self.data),
                    "-l",
                    str(self.folder / "server.log"),
                    "-w",
                    "-t",
                    "60",
                    "start",
                )
                return
            except ProviderUnavailable as exc:
                # the reason is in the server's log, which goes with the folder: say it now
                reason = _last_log_lines(self.folder / "server.log")
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
        from bench.backends import conninfo_for

        with psycopg.connect(conninfo_for(server), autocommit=True) as connection:
            connection.execute(f'CREATE DATABASE "{name}"')
        return server.set(database=name)

    def stop(self) -> None:
        if (self.data / "postmaster.pid").exists():
            with suppress(ProviderUnavailable):
                self._run("pg_ctl", "-D", str(self.data), "-m", "immediate", "-w", "stop")
        for group in self.process_groups:
            _end_process_group(group)
        # pg_ctl starts the postmaster in a session of its own: one launched by an interrupted
        # pg_ctl, before it wrote its pid file, is found by the folder it serves
        for attempt in range(3 if self.interrupted else 1):
            strays = _processes_serving(self.data)
            for pid in strays:
                _end_process(pid)
            if attempt < 2 and self.interrupted:
                time.sleep(0.1)
        _CLUSTER_FOLDERS.discard(self.folder)


def _quoted(value: str) -> str:
    """A value as postgresql.conf quotes it."""
    return "'" + value.replace("\\", "\\\\").replace("'", "''") + "'"


def _last_log_lines(log: Path, count: int = 2) -> str:
    """The server log's last lines, without their timestamps, on one line."""
    try:
        lines = [line.strip() for line in log.read_text(errors="replace").splitlines()]
    except OSError:
        return ""
    kept = [line.split("] ", 1)[-1] for line in lines if line][-count:]
    return " / ".join(kept)


def _end_process_group(group: int, leader: subprocess.Popen[bytes] | None = None) -> None:
    """End a process group; ``leader``, the Popen of its first process, is reaped on the way
    (an unreaped leader still counts as a member of the group)."""

    def alive() -> bool:
        if leader is not None:
            leader.poll()
        return bool(_living_members(group))

    _end(lambda signal_number: os.killpg(group, signal_number), alive)


def _end_process(pid: int) -> None:
    _end(lambda signal_number: os.kill(pid, signal_number), lambda: _is_alive(pid))


def _end(
    send: Callable[[int], None], alive: Callable[[], bool], grace_seconds: float = 1.0
) -> None:
    """Ask to quit at once (SIGQUIT: a postmaster's immediate shutdown), then kill what is
    still there after the grace period."""
    for signal_number in (signal.SIGQUIT, signal.SIGKILL):
        try:
            send(signal_number)
        except ProcessLookupError:
            return
        deadline = time.monotonic() + grace_seconds
        while time.monotonic() < deadline:
            if not alive():
                return
            time.sleep(0.02)


def _proc_stat(pid: str) -> list[str] | None:
    """A process's /proc stat fields after its name: state, ppid, pgrp, ..."""
    try:
        return (Path("/proc") / pid / "stat").read_text().rsplit(")", 1)[1].split()
    except (OSError, IndexError):
        return None


def _is_alive(pid: int) -> bool:
    fields = _proc_stat(str(pid))
    return fields is not None and fields[0] != "Z"


def _living_members(group: int) -> list[int]:
    """The processes of a group that have not exited (zombies waiting to be reaped have)."""
    members = []
    for entry in Path("/proc").glob("[0-9]*"):
        fields = _proc_stat(entry.name)
        if fields is not None and fields[2] == str(group) and fields[0] != "Z":
            members.append(int(entry.name))
    return members


def _processes_serving(data: Path) -> list[int]:
    """The processes whose command line names this data folder (Linux's /proc)."""
    needle = str(data).encode()
    found = []
    for entry in Path("/proc").glob("[0-9]*"):
        try:
            command_line = (entry / "cmdline").read_bytes()
        except OSError:
            continue
        if needle in command_line and _is_alive(int(entry.name)):
            found.append(int(entry.name))
    return found


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


PROVIDERS: tuple[Provider, ...] = (TestcontainersProvider(), LocalClusterProvider())


@contextmanager
def provide_postgres(
    url: str | None,
    note: Note,
    providers: tuple[Provider, ...] | None = None,
) -> Iterator[PostgresServer]:
    """A server for the run: the given URL, or the first provider that can start one.

    Raises PostgresError for a URL that does not work and PostgresUnavailable (naming every
    provider's reason) when none can start a server. A provider passed over is noted, in one
    line, only when a later one succeeds.
    """
    if url:
        parsed = parse_postgres_url(url)
        yield PostgresServer(parsed, "the URL given", server_version(parsed))
        return
    reasons: list[tuple[str, str]] = []
    for provider in PROVIDERS if providers is None else providers:
        reason = provider.unavailable_reason()
        if reason is None:
            with ExitStack() as stack:
                try:
                    server = stack.enter_context(provider.start())
                except ProviderUnavailable as exc:
                    reason = str(exc)
                else:
                    for name, passed_over in reasons:
                        note(f"PostgreSQL via {name} is not possible here: {passed_over}")
                    yield server
                    return
        reasons.append((provider.name, reason))
    raise PostgresUnavailable(
        "no PostgreSQL server ("
        + "; ".join(f"{name}: {reason}" for name, reason in reasons)
        + f"); to enable it, {HOW_TO_ENABLE}"
    )
