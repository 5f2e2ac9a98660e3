"""psycopg's ``AsyncConnection`` with hand-written SQL: the ``dbapi`` variant's statements on
PostgreSQL (:mod:`implementations.drivers.postgres`), awaited. Like ``dbapi`` it inserts rows
that must return ids with multi-row ``INSERT ... RETURNING id`` statements that keep the rows'
order, and loads the posts, which need no id back, with ``COPY`` (psycopg's
``AsyncCursor.copy()``).
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from typing import Any, ClassVar

from implementations._async import AsyncVariant, awaited
from implementations._rows import group_joined_rows
from implementations.contract import (
    EmailChange,
    NewPostForUser,
    NewUser,
    NewUserWithPosts,
    UserRecord,
    UserWithPosts,
)
from implementations.drivers import delete_users, select_users, select_users_with_posts
from implementations.drivers.postgres import COPY_POSTS, Sql, ordered_inserts


class DbapiAsyncVariant(AsyncVariant):
    """psycopg AsyncConnection: the raw asyncio driver with hand-written SQL"""

    async_driver: ClassVar[str | None] = "psycopg"
    sync_counterpart: ClassVar[str | None] = "dbapi"

    async def open(self) -> None:
        assert self.async_driver is not None
        self.sql = Sql()
        self.connection: Any = await self.connections.connect_async(self.async_driver)

    async def aclose(self) -> None:
        if hasattr(self, "connection"):
            await self.connection.close()

    @asynccontextmanager
    async def _unit_of_work(self) -> AsyncIterator[Any]:
        """A cursor for one unit of work: commit when the block succeeds, else roll back."""
        cursor = self.connection.cursor()
        try:
            yield cursor
            await self.connection.commit()
        except BaseException:
            await self.connection.rollback()
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
