"""The typed contract between the harness and a data-access variant.

A variant is a class deriving from :class:`Variant`. It overrides the workload methods its style
implements; a method it leaves alone is "not applicable" for that variant and shows as n/a in the
report. Each overridden method does one unit of application work, commits it once (reads end
their transaction too) and returns the same value every other variant returns for that input.

A variant gets every engine, session factory or DB-API connection from its :class:`Connections`,
built before the timed region; only the connection-pattern methods connect inside it.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, ClassVar, Protocol

from sqlalchemy.engine import Engine
from sqlalchemy.ext.asyncio import AsyncEngine


@dataclass(frozen=True, slots=True)
class NewUser:
    username: str
    email: str
    created_at: datetime


@dataclass(frozen=True, slots=True)
class NewPost:
    title: str
    body: str
    created_at: datetime


@dataclass(frozen=True, slots=True)
class NewUserWithPosts:
    user: NewUser
    posts: tuple[NewPost, ...]


@dataclass(frozen=True, slots=True)
class NewPostForUser:
    """A post to add to a user that already exists."""

    user_id: int
    post: NewPost


@dataclass(frozen=True, slots=True)
class EmailChange:
    user_id: int
    email: str


@dataclass(frozen=True, slots=True)
class UserRequest:
    """One request of the concurrent workload: read this user, then revise its email."""

    user_id: int


def revised_email(email: str) -> str:
    """The email a request writes, derived from the one it read: the revision number in the
    local part goes up by one (``name@host`` -> ``name+r1@host`` -> ``name+r2@host``). A
    request that read a stale email writes a stale revision, so a lost update shows in the
    rows."""
    local, _, domain = email.partition("@")
    name, marker, revision = local.rpartition("+r")
    if not marker:
        return f"{local}+r1@{domain}"
    return f"{name}+r{int(revision) + 1}@{domain}"


@dataclass(frozen=True, slots=True)
class UserRecord:
    id: int
    username: str
    email: str
    created_at: datetime


@dataclass(frozen=True, slots=True)
class PostRecord:
    id: int
    user_id: int
    title: str
    body: str
    created_at: datetime


@dataclass(frozen=True, slots=True)
class UserWithPosts:
    user: UserRecord
    posts: tuple[PostRecord, ...]


class DBAPICursor(Protocol):
    """The part of a PEP 249 cursor the raw variants use (sqlite3, psycopg and PyMySQL all fit)."""

    @property
    def lastrowid(self) -> Any: ...

    def execute(self, query: Any, params: Any = ..., /) -> Any: ...

    def executemany(self, query: Any, params_seq: Iterable[Any], /) -> Any: ...

    def fetchone(self) -> Any: ...

    def fetchall(self) -> list[Any]: ...

    def close(self) -> None: ...


class DBAPIConnection(Protocol):
    """The part of a PEP 249 connection the raw variants use."""

    def cursor(self) -> Any: ...

    def commit(self) -> None: ...

    def rollback(self) -> None: ...

    def close(self) -> None: ...


class Connections(Protocol):
    """What the harness hands a variant: everything it needs to reach the database."""

    @property
    def backend(self) -> str:
        """The backend's name (``sqlite``, ``postgres``, ...)."""
        ...

    @property
    def engine(self) -> Engine:
        """The shared engine with its connection pool, already connected once."""
        ...

    @property
    def dbapi_connection(self) -> DBAPIConnection:
        """A raw driver connection kept open for the whole session."""
        ...

    def create_engine(self, **engine_options: Any) -> Engine:
        """A new engine on the same database (for the connection-pattern workloads)."""
        ...

    def connect_dbapi(self) -> DBAPIConnection:
        """A new raw driver connection (for the connection-pattern workloads)."""
        ...

    def create_async_engine(self, driver: str, **engine_options: Any) -> AsyncEngine:
        """A new asyncio engine on the same database through the asyncio driver named (one of
        the backend's ``async_drivers``); its owner disposes of it, on its own event loop."""
        ...

    async def connect_async(self, driver: str) -> Any:
        """A new raw connection of the asyncio driver named, on the running event loop; its
        owner closes it."""
        ...


class NotApplicable(NotImplementedError):
    """Raised by the base class for a workload a variant does not implement."""


class Variant:
    """Base of every variant: one method per workload."""

    #: the variant's name in the registry, filled in when it is loaded
    name: ClassVar[str] = ""
    #: the largest size the default run gives this variant (None: every size); a size asked
    #: for with ``--sizes`` always runs
    largest_default_size: ClassVar[int | None] = None
    #: the asyncio driver the variant needs (it runs only on backends that have it); None for
    #: the synchronous styles, which every backend runs
    async_driver: ClassVar[str | None] = None
    #: the synchronous variant this one is the asyncio form of, compared with it in the report
    sync_counterpart: ClassVar[str | None] = None
    #: how many of the concurrent workload's requests one execution runs, when fewer than
    #: all (None: all of them): for a style whose every request costs so much more than the
    #: others' that all of them would not fit the run; its throughput and latencies are
    #: rates and percentiles all the same
    concurrent_units: ClassVar[int | None] = None
    #: who may run its concurrent requests: threads and processes call
    #: :meth:`concurrent_requests`, tasks await :meth:`concurrent_requests_async`
    workers_kinds: ClassVar[tuple[str, ...]] = ("thread", "process")

    def __init__(self, connections: Connections) -> None:
        self.connections = connections

    def close(self) -> None:
        """Release what ``__init__`` acquired; the harness disposes engines itself."""

    def prepare_workers(self, workers: int) -> None:
        """Get ready for ``workers`` threads calling :meth:`concurrent_requests` at once, or
        (an asyncio style) ``workers`` tasks awaiting :meth:`concurrent_requests_async` on its
        event loop: a pool that fits them, a connection for each. Called untimed before the
        executions, and again with another number before the next ones, which replaces what
        was made for the last. ``0`` releases it all. A worker process makes its own instance
        and calls it with 1."""

    @classmethod
    def label(cls) -> str:
        """The first line of the class docstring: the variant's label in reports."""
        return (cls.__doc__ or cls.__name__).strip().splitlines()[0]

    @classmethod
    def implements(cls, workload: str) -> bool:
        """Whether this variant overrides the workload's method."""
        return getattr(cls, workload) is not getattr(Variant, workload)

    @classmethod
    def describe(cls, workload: str) -> str:
        """The first paragraph of the workload method's docstring, on one line: how this style
        does the work."""
        doc = getattr(cls, workload).__doc__ or ""
        return " ".join(doc.strip().split("\n\n")[0].split())

    # --- CRUD ---------------------------------------------------------------------------------

    def crud_create(self, users: Sequence[NewUser]) -> list[int]:
        """Insert the users; return their new ids in input order."""
        raise NotApplicable

    def crud_read(self, user_ids: Sequence[int]) -> list[UserRecord]:
        """Fetch the users by primary key; return them ordered by id."""
        raise NotApplicable

    def crud_update(self, changes: Sequence[EmailChange]) -> None:
        """Set each user's email, found by primary key."""
        raise NotApplicable

    def crud_delete(self, user_ids: Sequence[int]) -> None:
        """Delete the users by primary key."""
        raise NotApplicable

    # --- parent and children ------------------------------------------------------------------

    def parent_child_insert(self, users: Sequence[NewUserWithPosts]) -> list[int]:
        """Insert the users and their posts (the posts need the users' new ids); return the
        users' ids in input order."""
        raise NotApplicable

    def parent_child_read(self, user_ids: Sequence[int]) -> list[UserWithPosts]:
        """Load the users with all their posts; users ordered by id, posts by id."""
        raise NotApplicable

    def parent_child_append(self, posts: Sequence[NewPostForUser]) -> None:
        """Add posts to users that already exist, in input order."""
        raise NotApplicable

    # --- concurrency --------------------------------------------------------------------------

    def concurrent_requests(self, request: UserRequest) -> UserRecord:
        """One request, called from one of the harness's worker threads, many at once: read
        the user by id, set its email to :func:`revised_email` of the email read, commit
        once; return the user as read. Two requests for the same user must not both read the
        same revision (the row is locked from the read to the commit)."""
        raise NotApplicable

    async def concurrent_requests_async(self, request: UserRequest) -> UserRecord:
        """The asyncio styles' :meth:`concurrent_requests`: one request as a coroutine, awaited
        by one of the harness's K tasks on the variant's event loop, many at once (the pool
        :meth:`prepare_workers` made fits K). The same unit of work, committed once; on a lock
        error it has rolled back and raises, and the harness runs it again."""
        raise NotApplicable

    # --- connection patterns ------------------------------------------------------------------

    def connect_read_one(self, user_id: int) -> UserRecord:
        """Obtain a connection the way the pattern says, read one user, end the unit of work."""
        raise NotApplicable
