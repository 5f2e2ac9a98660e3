"""The SQLAlchemy ORM on asyncio: an ``AsyncSession`` per unit of work on ``create_async_engine()``,
with the same mapped classes, statements and loader choices as ``orm``, so that what differs
from it is the asyncio layer (SQLAlchemy runs the ORM's synchronous core inside a greenlet and
switches to the event loop for every driver call) and the driver.

``orm_async`` drives psycopg's ``AsyncConnection``, the driver ``orm`` uses; ``orm_asyncpg``
drives asyncpg. The session keeps the ``Session`` defaults ``orm`` has (``expire_on_commit``
included): every result is built before the commit, so nothing is loaded after it.

The concurrent workload's tasks each make an ``AsyncSession`` per request ("Using AsyncSession
with Concurrent Tasks" in SQLAlchemy's "Asynchronous I/O (asyncio)" documentation: a separate
AsyncSession per task) from an ``async_sessionmaker`` on an engine whose pool fits the tasks
(:mod:`implementations._async`), and load the user as ``orm`` does,
``get(User, id, with_for_update=True)``.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import ClassVar

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from sqlalchemy.orm import selectinload

from implementations._async import AsyncEngineVariant, awaited
from implementations.contract import (
    EmailChange,
    NewPostForUser,
    NewUser,
    NewUserWithPosts,
    UserRecord,
    UserRequest,
    UserWithPosts,
    revised_email,
)
from implementations.drivers import driver_sql, ids
from implementations.orm import (
    OrmStatements,
    _new_post_for_user,
    _new_user,
    _new_user_with_posts,
    _user_record,
    _user_with_posts,
)
from implementations.schema import User


class OrmAsyncVariant(AsyncEngineVariant):
    """ORM on asyncio: AsyncSession per unit of work, psycopg's AsyncConnection"""

    async_driver: ClassVar[str | None] = "psycopg"
    sync_counterpart: ClassVar[str | None] = "orm"

    async def open(self) -> None:
        await super().open()
        self.session_factory: async_sessionmaker[AsyncSession] = async_sessionmaker(self.engine)
        self.statements = OrmStatements(
            driver_sql(self.connections.backend), selectinload(User.posts)
        )

    #: the sessions of the concurrent workload's requests, on the workers' engine
    workers_sessions: async_sessionmaker[AsyncSession] | None = None

    def _workers_ready(self) -> None:
        engine = self.workers_engine
        self.workers_sessions = async_sessionmaker(engine) if engine is not None else None

    @awaited
    async def crud_create(self, users: Sequence[NewUser]) -> list[int]:
        """AsyncSession.add_all() of new User objects; ids read after await flush()"""
        async with self.session_factory() as session, session.begin():
            new_users = [_new_user(user) for user in users]
            session.add_all(new_users)
            await session.flush()
            return [user.id for user in new_users]

    @awaited
    async def crud_read(self, user_ids: Sequence[int]) -> list[UserRecord]:
        """await session.scalars(select(User) on the list of ids), objects turned into records"""
        async with self.session_factory() as session, session.begin():
            users = await session.scalars(self.statements.users, ids(user_ids))
            return [_user_record(user) for user in users]

    @awaited
    async def crud_update(self, changes: Sequence[EmailChange]) -> None:
        """load the Users by id in one SELECT, set .email; the flush UPDATEs them"""
        new_email = {change.user_id: change.email for change in changes}
        async with self.session_factory() as session, session.begin():
            for user in await session.scalars(self.statements.users_unordered, ids(new_email)):
                user.email = new_email[user.id]

    @awaited
    async def crud_delete(self, user_ids: Sequence[int]) -> None:
        """load the Users by id in one SELECT, await session.delete() each; flush DELETEs"""
        async with self.session_factory() as session, session.begin():
            for user in await session.scalars(self.statements.users_unordered, ids(user_ids)):
                await session.delete(user)

    @awaited
    async def parent_child_insert(self, users: Sequence[NewUserWithPosts]) -> list[int]:
        """User objects holding their Post objects; add_all() and the cascade inserts both"""
        async with self.session_factory() as session, session.begin():
            new_users = [_new_user_with_posts(entry) for entry in users]
            session.add_all(new_users)
            await session.flush()
            return [user.id for user in new_users]

    @awaited
    async def parent_child_read(self, user_ids: Sequence[int]) -> list[UserWithPosts]:
        """select(User) with selectinload(User.posts): one SELECT for users, one for posts"""
        async with self.session_factory() as session, session.begin():
            users = await session.scalars(self.statements.users_with_posts, ids(user_ids))
            return [_user_with_posts(user) for user in users]

    @awaited
    async def parent_child_append(self, posts: Sequence[NewPostForUser]) -> None:
        """AsyncSession.add_all() of new Post(user_id=...) objects: nothing is loaded; the
        flush INSERTs them"""
        async with self.session_factory() as session, session.begin():
            session.add_all([_new_post_for_user(new_post) for new_post in posts])

    async def concurrent_requests_async(self, request: UserRequest) -> UserRecord:
        """a new AsyncSession per request, on an AsyncEngine whose pool fits the tasks;
        await session.get(User, id, with_for_update=True), set .email, commit"""
        assert self.workers_sessions is not None, "prepare_workers() first"
        async with self.workers_sessions() as session, session.begin():
            user = await session.get(User, request.user_id, with_for_update=True)
            assert user is not None, request.user_id
            read = _user_record(user)
            user.email = revised_email(user.email)
            return read


class OrmAsyncpgVariant(OrmAsyncVariant):
    """ORM on asyncio: AsyncSession per unit of work, the asyncpg driver"""

    async_driver: ClassVar[str | None] = "asyncpg"
