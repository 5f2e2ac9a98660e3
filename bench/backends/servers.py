"""Where a database server comes from, for every backend that needs one, in this order:

1. a URL the user gave (``--NAME-url`` or ``BENCH_NAME_URL``);
2. the backend's providers, in their order (a testcontainers container when a Docker daemon
   answers, then a throwaway server from binaries installed on this machine);
3. otherwise none, with every provider's reason and how to enable one.

Whatever a provider starts is stopped and removed when its context manager exits, whether the
run succeeded, failed or was interrupted. The servers run from binaries installed here are
:mod:`bench.backends.local_servers`.
"""

from __future__ import annotations

import os
import re
import secrets
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import AbstractContextManager, ExitStack, contextmanager, suppress
from dataclasses import dataclass
from typing import Any, ClassVar, Protocol
from urllib.parse import quote_plus

from sqlalchemy import URL, make_url

from bench.messages import first_line

Note = Callable[[str], None]


class ServerError(Exception):
    """A problem the user must fix; its message is one line, with any password masked."""


class ServerUnavailable(ServerError):
    """No way to get a server of this kind here."""


class ProviderUnavailable(Exception):
    """This provider cannot give a server here; the next one is tried."""


@dataclass(frozen=True)
class Server:
    """Where a backend's database is: a server's URL (None for an embedded database), how it
    came to be, and the server's version."""

    url: URL | None
    provisioned_by: str
    version: str = ""
    #: True for a server the harness started itself (a throwaway one, removed at the end):
    #: the only kind whose server-wide settings it may change, and put back, for a moment (the
    #: durable commit's measurement); never a server given by URL
    started_here: bool = False

    @property
    def address(self) -> URL:
        """The server's URL, for a backend that has a server."""
        if self.url is None:
            raise ServerError(f"{self.provisioned_by} has no server URL")
        return self.url

    @property
    def masked_url(self) -> str:
        return mask(self.url) if self.url is not None else ""


class ProvidedServers:
    """A pytest plugin handed in by ``python -m bench run``: the servers it has provisioned."""

    def __init__(self, servers: dict[str, Server]) -> None:
        self.servers = servers

    @staticmethod
    def find(plugins: Iterable[object], name: str) -> Server | None:
        """The server of the backend named, when one of a session's plugins hands it in."""
        for plugin in plugins:
            if isinstance(plugin, ProvidedServers) and name in plugin.servers:
                return plugin.servers[name]
        return None


#: what a secret is shown as
HIDDEN = "***"
#: the query parameters that hold a secret, by name, in any case: libpq's ``password`` and
#: ``sslpassword``, PyMySQL's ``passwd``, and whatever else names a password, secret or token
SECRET_PARAMETER = re.compile(r"pass|pwd|secret|token|credential", re.IGNORECASE)


def mask(url: URL) -> str:
    """The URL as text with every secret hidden: the user part's password and each query
    parameter whose name says it holds one. A host holding an ``@`` means the password held an
    unencoded one (``make_url`` splits at the first), so everything before the host's last
    ``@`` is hidden, user name included: where the password ends cannot be known."""
    host = url.host or ""
    user_part_unknown = "@" in host
    # the URL without its query, which is rendered below; without its user part when unknown
    bare = URL.create(
        url.drivername,
        username=None if user_part_unknown else url.username,
        password=None if user_part_unknown else url.password,
        host=host.rpartition("@")[2],
        port=url.port,
        database=url.database,
    )
    text = bare.render_as_string(hide_password=True)
    if user_part_unknown:
        scheme, _, rest = text.partition("://")
        text = f"{scheme}://{HIDDEN}@{rest}"
    if url.query:
        # rendered as SQLAlchemy renders a query (keys sorted), with secrets left unencoded
        text += "?" + "&".join(
            f"{quote_plus(name)}="
            + (HIDDEN if SECRET_PARAMETER.search(name) else quote_plus(value))
            for name in sorted(url.query)
            for value in _values(url.query[name])
        )
    return text


def _values(value: str | tuple[str, ...]) -> tuple[str, ...]:
    """A query parameter's values: one, or each of a repeated parameter's."""
    return value if isinstance(value, tuple) else (value,)


class Provider(Protocol):
    name: str

    def unavailable_reason(self) -> str | None:
        """None when this provider can try to start a server here; else why not."""
        ...

    def start(self) -> AbstractContextManager[Server]:
        """Start a server; raise ProviderUnavailable when that fails."""
        ...


@contextmanager
def provide_from(
    title: str, providers: Sequence[Provider], note: Note, how_to_enable: str
) -> Iterator[Server]:
    """A server from the first provider that can start one. A provider passed over is noted,
    in one line, only when a later one succeeds; when none can, ServerUnavailable names every
    provider's reason."""
    reasons: list[tuple[str, str]] = []
    for provider in providers:
        reason = provider.unavailable_reason()
        if reason is None:
            with ExitStack() as stack:
                try:
                    server = stack.enter_context(provider.start())
                except ProviderUnavailable as exc:
                    reason = str(exc)
                else:
                    for name, passed_over in reasons:
                        note(f"{title} via {name} is not possible here: {passed_over}")
                    yield server
                    return
        reasons.append((provider.name, reason))
    raise ServerUnavailable(
        f"no {title} server ("
        + "; ".join(f"{name}: {reason}" for name, reason in reasons)
        + f"); to enable it, {how_to_enable}"
    )


class ContainerProvider:
    """A server in a testcontainers container, when a Docker daemon answers; each backend's
    subclass says which container, image and driver."""

    name = "testcontainers"
    #: the testcontainers module of the container class
    module: ClassVar[str]
    #: the environment variable naming another image, and the default one
    image_env: ClassVar[str]
    default_image: ClassVar[str]
    #: the SQLAlchemy driver name for the container's URL, and how the report names it
    drivername: ClassVar[str]
    label: ClassVar[str]

    def __init__(self, image: str | None = None, docker_timeout: float = 3.0) -> None:
        self.image = image or os.environ.get(self.image_env, self.default_image)
        self.docker_timeout = docker_timeout

    def unavailable_reason(self) -> str | None:
        return docker_unavailable_reason(self.module, self.docker_timeout)

    def container(self, password: str) -> Any:
        """The container, not started yet."""
        raise NotImplementedError

    @contextmanager
    def start(self) -> Iterator[Server]:
        container = None
        try:
            container = self.container(secrets.token_urlsafe(18))
            container.start()
        except BaseException as exc:
            if container is not None:
                stop_quietly(container)
            if not isinstance(exc, Exception):
                raise  # Ctrl-C: the container is stopped, the run ends
            raise ProviderUnavailable(f"could not start {self.image}: {first_line(exc)}") from None
        try:
            url = make_url(container.get_connection_url()).set(drivername=self.drivername)
            yield Server(url, f"testcontainers {self.label} ({self.image})", started_here=True)
        finally:
            stop_quietly(container)


def docker_unavailable_reason(module: str, timeout: float) -> str | None:
    """Why testcontainers cannot start a container here, or None when a Docker daemon answers."""
    try:
        import importlib

        import docker

        importlib.import_module(module)
    except ImportError as exc:
        return f"testcontainers is not installed ({exc})"
    host = os.environ.get("DOCKER_HOST", "the default socket")
    try:
        docker.from_env(timeout=timeout).ping()
    except Exception:
        return f"no Docker daemon answered at {host}"
    return None


def stop_quietly(container: Any) -> None:
    with suppress(Exception):
        container.stop()
