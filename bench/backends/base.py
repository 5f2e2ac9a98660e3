"""What the harness knows of a backend, behind one interface.

- :class:`BackendType`: the plug-in, one per backend module. Its name, display title, whether
  its timings cross a network, where its server comes from (:meth:`BackendType.provide`), and
  how a database for a run is opened on that server (:meth:`BackendType.open`).
- :class:`Backend`: one open database with the schema created, and the untimed work around each
  execution: resetting to a seed state, and reading back what a variant left behind.

Engines and driver connections are made here, the same way for every variant, so a setting
(SQLite pragmas, the PostgreSQL search path) can never differ between styles.
"""

from __future__ import annotations

import re
import secrets
import time
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterator, Mapping
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any, ClassVar, Generic, TypeVar

import sqlalchemy
from sqlalchemy import URL, Engine, event, make_url
from sqlalchemy.exc import ArgumentError, DBAPIError
from sqlalchemy.ext.asyncio import AsyncEngine

from bench.backends.durability import (
    CommitCosts,
    CommitProbe,
    DurabilityUnavailable,
    measure_commit_costs,
)
from bench.backends.servers import Note, Provider, Server, ServerError, mask, provide_from
from bench.measure.counting import Observer
from bench.measure.workloads import DbState
from implementations.contract import DBAPIConnection
from implementations.schema import metadata

StoredRow = tuple[Any, ...]
#: what each backend's :meth:`Backend.snapshot` reads: every row of both tables, ordered by id
SNAPSHOT_USERS = "SELECT id, username, email, created_at FROM user_account ORDER BY id"
SNAPSHOT_POSTS = "SELECT id, user_id, title, body, created_at FROM user_blog_post ORDER BY id"
#: what a backend could not clean up on a server, one line each, for the command line to say
LEFT_BEHIND: list[str] = []


@dataclass(frozen=True)
class ConnectionRoom:
    """How many more connections a server takes from the run's user now, and the limit that
    leaves the fewest."""

    free: int
    #: that limit, for the line that says the run does not fit, e.g. "max_connections 20, 3 of
    #: them reserved for superusers, 2 in use"
    limit: str
    #: what would give more, e.g. "raise max_connections"
    remedy: str


class BackendType(ABC):
    """A kind of database the workloads run on: everything the rest of the harness asks."""

    name: ClassVar[str]
    #: the name readers know it by, in the report and charts
    title: ClassVar[str]
    #: True when timings include a network hop (even over loopback)
    networked: ClassVar[bool]
    #: where its database comes from, for ``python -m bench list``
    provisioning: ClassVar[str]
    #: the environment variable naming a server to use (the option is ``--NAME-url``); None
    #: for an embedded database, which needs no server
    url_env: ClassVar[str | None] = None
    #: whether it needs a server (which may be absent: its tests carry a marker of its name)
    needs_server: ClassVar[bool] = True
    #: what its driver raises when the database cannot be set up
    driver_errors: ClassVar[tuple[type[Exception], ...]] = ()
    #: what shapes its statement and round-trip counts, for the report's comparison of backends
    count_notes: ClassVar[tuple[str, ...]] = ()
    #: whether its observer reports the server's own account of the work (ServerWork)
    counts_server_work: ClassVar[bool] = False
    #: which counters make up each server figure, or why there are none, for the report
    server_work_notes: ClassVar[tuple[str, ...]] = ()
    #: the asyncio drivers the async variants can use here: name -> SQLAlchemy drivername
    async_drivers: ClassVar[Mapping[str, str]] = {}
    #: why concurrent writers wait for each other there, when the database itself makes
    #: them (one write lock for the whole database), for the report; None where only the
    #: rows they share do
    single_writer: ClassVar[str | None] = None

    @property
    def url_option(self) -> str | None:
        return f"--{self.name}-url" if self.url_env else None

    @property
    def require_env(self) -> str:
        """Set (as CI does) to make an unavailable server fail its tests instead of skipping."""
        return f"BENCH_REQUIRE_{self.name.upper()}"

    @abstractmethod
    def provide(self, url: str | None, note: Note) -> AbstractContextManager[Server]:
        """The server for a run: the URL given, else the first provider that can start one,
        stopped and removed when the context exits. Its version is known. Raises ServerError
        for a URL that does not work and ServerUnavailable when none can be had."""

    @abstractmethod
    def open(self, server: Server) -> AbstractContextManager[Backend]:
        """A database of the run's own on the server, with the schema created, removed when
        the context exits."""

    def masked(self, raw_url: str) -> str:
        """A user's URL with its password hidden; ServerError when it is not one of ours."""
        return raw_url

    def driver_versions(self) -> dict[str, str]:
        """The versions of the driver and client libraries that shape the numbers."""
        return {}

    def connection_room(self, server: Server) -> ConnectionRoom | None:
        """How many more connections the server takes from the run's user right now: its own
        limit and the user's, less the connections others hold (asked before any cell runs,
        to refuse a selection that needs more at once). None where nothing limits them.
        Raises ServerError, one line, when the server cannot be asked."""
        return None


DatabaseT = TypeVar("DatabaseT", bound="Backend")

#: why a URL whose password holds an unencoded @ is refused; it quotes nothing of the URL:
#: where its password ends cannot be known
UNENCODED_AT = "the URL's password holds an unencoded @: write each @ in it as %40"


def _authority(raw: str) -> str:
    """What stands between a URL's ``scheme://`` and its path or query: user part, host, port."""
    return re.split(r"[/?#]", raw.partition("://")[2], maxsplit=1)[0]


class ServerBackendType(BackendType, Generic[DatabaseT]):
    """A backend whose database lives on a server: the URL given, else the first of its
    providers that can start one."""

    #: what to do when no server can be had, for the one line that says so
    how_to_enable: ClassVar[str]
    #: the URL schemes a user's URL may have (the first is the one quoted), and the SQLAlchemy
    #: driver the harness connects with
    url_schemes: ClassVar[tuple[str, ...]]
    drivername: ClassVar[str]

    def __init__(self, providers: tuple[Provider, ...]) -> None:
        #: tried in order when no URL is given
        self.providers = providers

    def parse_url(self, raw: str) -> URL:
        """A user's URL as this backend's SQLAlchemy URL; ServerError when it is not one."""
        try:
            url = make_url(raw)
        except (ArgumentError, ValueError):
            # an unencoded @ may also make the port unreadable (user:pa@ss:word@host)
            if _authority(raw).count("@") > 1:
                raise ServerError(UNENCODED_AT) from None
            raise ServerError(
                f"not a database URL: expected {self.url_schemes[0]}://user:password@host:port/"
                "database"
            ) from None
        if "@" in (url.host or ""):
            # make_url split at the password's own @: the rest of it would pass for the host
            raise ServerError(UNENCODED_AT)
        if url.get_backend_name() not in self.url_schemes:
            raise ServerError(f"not a {self.title} URL: {mask(url)}")
        return url.set(drivername=self.drivername)

    @abstractmethod
    def _database(
        self, server_url: URL, name: str, provisioned_by: str, started_here: bool
    ) -> DatabaseT:
        """A database (or schema) of the given name on the server, with the schema created;
        ``started_here`` when the harness started the server (:attr:`Server.started_here`)."""

    @contextmanager
    def open(self, server: Server) -> Iterator[DatabaseT]:
        backend = self._database(
            server.address,
            f"bench_{secrets.token_hex(6)}",
            server.provisioned_by,
            server.started_here,
        )
        try:
            yield backend
        finally:
            backend.close()

    @abstractmethod
    def server_version(self, url: URL) -> str:
        """Connect once and check that the harness can work there: the server's version, or
        a one-line ServerError naming the masked URL."""

    @contextmanager
    def provide(self, url: str | None, note: Note) -> Iterator[Server]:
        if url:
            parsed = self.parse_url(url)
            yield Server(parsed, "the URL given", self.server_version(parsed))
            return
        with provide_from(self.title, self.providers, note, self.how_to_enable) as server:
            if not server.version:
                version = self.server_version(server.address)
                server = replace(server, version=version)
            yield server

    def masked(self, raw_url: str) -> str:
        return mask(self.parse_url(raw_url))


class Backend(ABC):
    """One database with the schema created; the harness's own connection for setup."""

    type: ClassVar[BackendType]

    @property
    def name(self) -> str:
        return self.type.name

    @property
    def networked(self) -> bool:
        return self.type.networked

    @property
    @abstractmethod
    def url(self) -> URL:
        """SQLAlchemy URL of the database."""

    @abstractmethod
    def _driver_connect(self, observer: Observer | None) -> Any:
        """A new raw driver connection, before any per-connection setup; observed by
        ``observer`` when one is given."""

    @abstractmethod
    def _prepare_connection(self, driver_connection: Any) -> None:
        """Per-connection setup, the same for raw connections and SQLAlchemy's."""

    @abstractmethod
    def new_observer(self) -> Observer:
        """An observer for this backend's connections."""

    @abstractmethod
    def in_transaction(self, driver_connection: Any) -> bool:
        """Whether a raw driver connection was left inside a transaction."""

    def implicit_begin(self) -> bool:
        """True when the driver starts transactions without sending BEGIN (a unit of work is
        then its statements and one COMMIT)."""
        return False

    def is_lock_error(self, error: BaseException) -> bool:
        """Whether the database refused a unit of work because another held a lock it needed
        (the unit was rolled back and may be run again), whether the driver raised it or
        SQLAlchemy wrapped it."""
        if isinstance(error, DBAPIError) and error.orig is not None:
            error = error.orig
        return self._is_lock_error(error)

    @abstractmethod
    def _is_lock_error(self, driver_error: BaseException) -> bool:
        """:meth:`is_lock_error` of the driver's own exception."""

    @abstractmethod
    def reset(self, seed: DbState) -> None:
        """Empty both tables, restart the ids at 1 and insert the seed rows in order, leaving
        nothing for the next statement to pay for: no DDL, no statistics change."""

    def load_seed(self, seed: DbState) -> None:
        """Reset to a seed before the rounds of a group begin: once per group, untimed, and
        followed by warm-up rounds, so it may also do what a reset must not (statistics)."""
        self.reset(seed)

    def maintain(self, seed: DbState) -> bool:
        """Between passes of timed rounds: clean up what repeated resets leave behind, when it
        has grown large. True when something was done that the next statements would pay for
        (the variants then get an untimed round each before timing goes on)."""
        return False

    @abstractmethod
    def snapshot(self) -> tuple[tuple[StoredRow, ...], tuple[StoredRow, ...]]:
        """Every row of both tables as stored, ordered by id."""

    @abstractmethod
    def stored_timestamp(self, value: datetime) -> Any:
        """How the database stores a timestamp, to compare snapshots exactly."""

    @abstractmethod
    def describe(self) -> dict[str, str]:
        """Version and settings that change timings, for the report."""

    @abstractmethod
    def close(self) -> None: ...

    def tcp_address(self) -> tuple[str, int] | None:
        """Where the variants' connections go over TCP, host and port; None when they go
        nowhere over TCP (an embedded database, a Unix socket), so no proxy can sit between."""
        return None

    def routed_to(self, host: str, port: int) -> Backend:
        """The same database, with the variants' engines and driver connections made to
        ``host:port`` (a proxy in front of the server) instead; the harness's own work (reset,
        snapshots) keeps its direct connection. The original alone is closed."""
        raise NotImplementedError(f"{self.type.title} connections cannot be routed")

    # --- shared -------------------------------------------------------------------------------

    def create_engine(self, observer: Observer | None = None, **options: Any) -> Engine:
        if observer is not None:
            options["connect_args"] = {
                **options.get("connect_args", {}),
                **observer.driver_options(),
            }
        engine = sqlalchemy.create_engine(self.url, **options)
        self._configure_engine(engine)
        if observer is not None:
            observer.instrument_engine(engine)
        return engine

    def _configure_engine(self, engine: Engine) -> None:
        @event.listens_for(engine, "connect")
        def _prepare(driver_connection: Any, record: Any) -> None:
            self._prepare_connection(driver_connection)

    def create_async_engine(
        self, driver: str, observer: Observer | None = None, **options: Any
    ) -> AsyncEngine:
        """An asyncio engine through one of :attr:`BackendType.async_drivers`."""
        raise NotImplementedError(f"{self.type.title} has no asyncio driver {driver!r}")

    async def connect_async(self, driver: str, observer: Observer | None = None) -> Any:
        """A raw connection of one of :attr:`BackendType.async_drivers`, on the running loop."""
        raise NotImplementedError(f"{self.type.title} has no asyncio driver {driver!r}")

    def roll_back(self, driver_connection: Any) -> None:
        """End the transaction a raw driver connection was left in."""
        driver_connection.rollback()

    def connect_dbapi(self, observer: Observer | None = None) -> DBAPIConnection:
        connection = self._driver_connect(observer)
        if observer is not None:
            # observed from the start, per-connection setup included, as SQLAlchemy's are
            observer.attach(connection)
        self._prepare_connection(connection)
        return connection  # type: ignore[no-any-return]

    def round_trip_seconds(self, exchanges: int = 300, within_seconds: float = 5.0) -> float:
        """The least time one ``SELECT 1`` exchange took of ``exchanges`` (fewer, but at least
        10, when they take longer than ``within_seconds`` together), on a connection of the
        variants' kind: the distance to the server, the server's own time for the statement
        included."""
        connection: Any = self.connect_dbapi()
        try:
            cursor = connection.cursor()
            cursor.execute("SELECT 1")  # the first may begin a transaction: not timed
            cursor.fetchall()
            fastest = float("inf")
            deadline = time.perf_counter() + within_seconds
            for exchange in range(exchanges):
                if exchange >= 10 and time.perf_counter() > deadline:
                    break
                started = time.perf_counter()
                cursor.execute("SELECT 1")
                cursor.fetchall()
                fastest = min(fastest, time.perf_counter() - started)
            cursor.close()
            connection.rollback()
        finally:
            connection.close()
        return fastest

    # --- what a commit costs --------------------------------------------------------------------

    def commit_costs(self, while_durable: Callable[[], None] | None = None) -> CommitCosts | None:
        """The median milliseconds of one small write unit of work (one row inserted into a
        scratch table, then COMMIT), as the server is set up and with durable commits, measured
        before any cell (:mod:`bench.backends.durability`); the scratch table is gone and the
        server's settings are as they were when it returns or raises. None where the backend
        does not measure it. ``while_durable`` is called once while the durable settings are in
        force (for the tests)."""
        probe = self._commit_probe()
        if probe is None:
            return None
        return measure_commit_costs(probe, self.durable_commits, while_durable=while_durable)

    def _commit_probe(self) -> AbstractContextManager[CommitProbe] | None:
        """A scratch table for :meth:`commit_costs`, created on entering and dropped on
        exiting, before any cell; None where commits are not measured."""
        return None

    @contextmanager
    def durable_commits(self) -> Iterator[tuple[str, ...]]:
        """Durable commits while the context lasts: yields the statements that make one new
        connection's commits durable, after changing what must be changed server-wide (only
        on a server the harness started itself), and puts that back on exiting, whatever
        happened inside. Raises DurabilityUnavailable, one line, before yielding when durable
        commits cannot be had here without changing a server the harness did not start."""
        raise DurabilityUnavailable(f"{self.type.title} does not say how to make commits durable")
        yield ()  # a generator: the context manager never enters

    def _create_tables(self) -> None:
        engine = self.create_engine()
        try:
            metadata.create_all(engine)
        finally:
            engine.dispose()

    def expected_snapshot(
        self, state: DbState
    ) -> tuple[tuple[StoredRow, ...], tuple[StoredRow, ...]]:
        stored = self.stored_timestamp
        return (
            tuple((u.id, u.username, u.email, stored(u.created_at)) for u in state.users),
            tuple((p.id, p.user_id, p.title, p.body, stored(p.created_at)) for p in state.posts),
        )
