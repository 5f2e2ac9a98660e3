"""psycopg's ``AsyncConnection`` with hand-written SQL: the ``dbapi`` variant's statements on
PostgreSQL (:mod:`implementations.drivers.postgres`), awaited. Like ``dbapi`` it inserts rows
that must return ids with multi-row ``INSERT ... RETURNING id`` statements that keep the rows'
order, and loads the posts, which need no id back, with ``COPY`` (psycopg's
``AsyncCursor.copy()``).

The concurrent workload: :meth:`~DbapiAsyncVariant.prepare_workers` opens K connections and
keeps them in an ``asyncio.Queue``, a minimal pool from which each request takes one and to
which it returns it; the statements are ``dbapi``'s (``SELECT ... FOR UPDATE``, ``UPDATE``).
psycopg's own asyncio pool, ``psycopg_pool.AsyncConnectionPool`` ("Connection pools" in
psycopg's documentation), would be the expert's tool, but it is a package this project does not
depend on, and it opens its connections itself (``connection_class.connect(conninfo)``) where
the harness must open them, to count what they send. With its defaults it would do no more
here than the queue does: hand out an open connection, and take it back (rolled back by the
unit of work when it failed) with no reset.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from typing import Any, ClassVar

from implementations._async import AsyncVariant, awaited
from implementations._rows import group_joined_rows
from implementations.contract import (
    Connections,
    EmailChange,
    NewPostForUser,
    NewUser,
    NewUserWithPosts,
    UserRecord,
    UserRequest,
    UserWithPosts,
    revised_email,
)
from implementations.drivers import delete_users, select_users, select_users_with_posts
from implementations.drivers.postgres import COPY_POSTS, Sql, ordered_inserts


class DbapiAsyncVariant(AsyncVariant):
    """psycopg AsyncConnection: the raw asyncio driver with hand-written SQL"""

    async_driver: ClassVar[str | None] = "psycopg"
    sync_counterpart: ClassVar[str | None] = "dbapi"

    def __init__(self, connections: Connections) -> None:
        #: the concurrent workload's connections, and those no request holds now
        self.worker_connections: list[Any] = []
        self.idle: asyncio.Queue[Any] | None = None
        super().__init__(connections)

    async def open(self) -> None:
        assert self.async_driver is not None
        self.sql = Sql()
        self.connection: Any = await self.connections.connect_async(self.async_driver)

    async def aclose(self) -> None:
        if hasattr(self, "connection"):
            await self.connection.close()

    async def prepare_tasks(self, workers: int) -> None:
        assert self.async_driver is not None
        opened, self.worker_connections, self.idle = self.worker_connections, [], None
        for connection in opened:
            await connection.close()
        idle: asyncio.Queue[Any] = asyncio.Queue()
        for _ in range(workers):
            # kept as each opens, so that what opened before a failure is closed later
            self.worker_connections.append(await self.connections.connect_async(self.async_driver))
            idle.put_nowait(self.worker_connections[-1])
        self.idle = idle if workers else None

    @asynccontextmanager
    async def _unit_of_work(self, connection: Any = None) -> AsyncIterator[Any]:
        """A cursor for one unit of work on ``connection`` (the variant's own one by default):
        commit when the block succeeds, else roll back."""
        if connection is None:
            connection = self.connection
        cursor = connection.cursor()
        try:
            yield cursor
            await connection.commit()
        except BaseException:
            await connection.rollback()
            raise
        finally:
            await cursor.close()

    async def _insert_returning_ids(
        self, cursor: Any, sql: str, rows: Sequence[Sequence[Any]]
    ) -> list[int]:
        # as the blocking driver's: multi-row INSERTs whose RETURNING keeps the rows' order
        ids: list[int] = []
        for statement, parameters in ordered_inserts(sql, rows):
            await cursor.execute(statement, parameters)
            ids.extend(row[0] for row in await cursor.fetchall())
        return ids

    async def _copy_posts(self, cursor: Any, rows: Sequence[Sequence[Any]]) -> None:
        async with cursor.copy(COPY_POSTS) as copy:
            for row in rows:
                await copy.write_row(row)

    @awaited
    async def crud_create(self, users: Sequence[NewUser]) -> list[int]:
        """multi-row INSERT ... RETURNING id, the rows' order kept (ORDER BY a row number)"""
        async with self._unit_of_work() as cursor:
            return await self._insert_returning_ids(
                cursor, self.sql.insert_user, [self.sql.user_row(u) for u in users]
            )

    @awaited
    async def crud_read(self, user_ids: Sequence[int]) -> list[UserRecord]:
        """one SELECT ... WHERE id = ANY(%s)"""
        condition, parameters = self.sql.id_list("user_account.id", user_ids)
        async with self._unit_of_work() as cursor:
            await cursor.execute(
                select_users(condition),
                parameters,
            )
            return [self.sql.user_record(row) for row in await cursor.fetchall()]

    @awaited
    async def crud_update(self, changes: Sequence[EmailChange]) -> None:
        """UPDATE user_account SET email = %s WHERE id = %s, one executemany"""
        async with self._unit_of_work() as cursor:
            await cursor.executemany(self.sql.update_email, [(c.email, c.user_id) for c in changes])

    @awaited
    async def crud_delete(self, user_ids: Sequence[int]) -> None:
        """one DELETE ... WHERE id = ANY(%s)"""
        condition, parameters = self.sql.id_list("user_account.id", user_ids)
        async with self._unit_of_work() as cursor:
            await cursor.execute(delete_users(condition), parameters)

    @awaited
    async def parent_child_insert(self, users: Sequence[NewUserWithPosts]) -> list[int]:
        """users as in crud_create, then all posts by COPY"""
        async with self._unit_of_work() as cursor:
            user_ids = await self._insert_returning_ids(
                cursor, self.sql.insert_user, [self.sql.user_row(entry.user) for entry in users]
            )
            await self._copy_posts(
                cursor,
                [
                    self.sql.post_row(user_id, post)
                    for user_id, entry in zip(user_ids, users, strict=True)
                    for post in entry.posts
                ],
            )
            return user_ids

    @awaited
    async def parent_child_read(self, user_ids: Sequence[int]) -> list[UserWithPosts]:
        """one SELECT users LEFT OUTER JOIN posts, rows grouped per user"""
        condition, parameters = self.sql.id_list("user_account.id", user_ids)
        async with self._unit_of_work() as cursor:
            await cursor.execute(
                select_users_with_posts(condition),
                parameters,
            )
            return group_joined_rows(await cursor.fetchall())

    @awaited
    async def parent_child_append(self, posts: Sequence[NewPostForUser]) -> None:
        """the posts with the user ids given, by COPY"""
        async with self._unit_of_work() as cursor:
            await self._copy_posts(cursor, [self.sql.post_row(p.user_id, p.post) for p in posts])

    async def concurrent_requests_async(self, request: UserRequest) -> UserRecord:
        """a connection opened before, taken from an asyncio.Queue and put back; SELECT ...
        FOR UPDATE, UPDATE"""
        assert self.idle is not None, "prepare_workers() first"
        connection = await self.idle.get()
        try:
            async with self._unit_of_work(connection) as cursor:
                await cursor.execute(self.sql.select_user_for_update, (request.user_id,))
                read = self.sql.user_record(await cursor.fetchone())
                await cursor.execute(
                    self.sql.update_email, (revised_email(read.email), request.user_id)
                )
                return read
        finally:
            self.idle.put_nowait(connection)
