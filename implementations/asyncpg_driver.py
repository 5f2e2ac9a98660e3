"""asyncpg, raw: the driver many async services pick for speed, at its best. It speaks the
binary protocol, prepares every statement once per connection and reuses it (its statement
cache), runs ``executemany`` and ``fetchmany`` as one pipeline, and loads rows with a binary
``COPY`` (``copy_records_to_table``) where no ids have to come back.

The statements are the ``dbapi`` variant's, with asyncpg's ``$n`` placeholders.

The concurrent workload's requests each acquire a connection from asyncpg's own pool
(``asyncpg.create_pool``, "Connection Pools" in asyncpg's API reference,
magicstack.github.io/asyncpg/current/api/index.html) of K connections, all opened when it is
made (``min_size=max_size=K``). Its ``connect=`` argument (asyncpg 0.30 and later, which this
project requires) makes each of them with the harness's ``connect_async``, so that the counting
instance's connections carry its observer. Three of its defaults are set otherwise:

- ``reset``: by default the pool sends ``SELECT pg_advisory_unlock_all(); CLOSE ALL;
  UNLISTEN *; RESET ALL;`` on every release: a round trip per request, and statements no other
  style sends, to undo session state these requests never leave. A reset that does nothing
  keeps what the pool always does first (roll back a transaction left open, drop listeners),
  which is what SQLAlchemy's pool and psycopg_pool do by default on a connection's return.
- ``max_queries``: by default a connection is closed after 50,000 queries, and a new one made
  inside the next request; here the connections stay open for the run, as every style's do.
- ``max_inactive_connection_lifetime``: the same, for a connection idle for 300 s.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence
from typing import Any, ClassVar

import asyncpg

from implementations._async import AsyncVariant, awaited
from implementations._rows import group_joined_rows
from implementations.contract import (
    EmailChange,
    NewPost,
    NewPostForUser,
    NewUser,
    NewUserWithPosts,
    UserRecord,
    UserRequest,
    UserWithPosts,
    revised_email,
)
from implementations.drivers import (
    USER_COLUMNS,
    DriverSql,
    delete_users,
    select_users,
    select_users_with_posts,
)

INSERT_USER = (
    "INSERT INTO user_account (username, email, created_at) VALUES ($1, $2, $3) "
    "RETURNING user_account.id"
)
POST_COLUMNS = ("user_id", "title", "body", "created_at")
SELECT_USERS = select_users("user_account.id = ANY($1)")
UPDATE_EMAIL = "UPDATE user_account SET email = $1 WHERE user_account.id = $2"
DELETE_USERS = delete_users("user_account.id = ANY($1)")
SELECT_USERS_WITH_POSTS = select_users_with_posts("user_account.id = ANY($1)")
SELECT_USER_FOR_UPDATE = (
    f"SELECT {USER_COLUMNS} FROM user_account WHERE user_account.id = $1{DriverSql.lock_row}"
)


async def _nothing_to_reset(connection: Any) -> None:
    """The pool's ``reset``: the requests change no session state (no SET, LISTEN, advisory
    lock or cursor left open); the pool has already rolled back any open transaction."""


class AsyncpgVariant(AsyncVariant):
    """asyncpg: the asyncio driver raw, prepared statements, pipelines and binary COPY"""

    async_driver: ClassVar[str | None] = "asyncpg"
    sync_counterpart: ClassVar[str | None] = "dbapi"

    async def open(self) -> None:
        assert self.async_driver is not None
        self.connection: Any = await self.connections.connect_async(self.async_driver)

    async def aclose(self) -> None:
        if hasattr(self, "connection"):
            await self.connection.close()

    #: the concurrent workload's pool
    pool: Any = None

    async def prepare_tasks(self, workers: int) -> None:
        pool, self.pool = self.pool, None
        if pool is not None:
            await pool.close()
        if workers:
            self.pool = await asyncpg.create_pool(
                min_size=workers,
                max_size=workers,
                connect=self._pool_connect,
                reset=_nothing_to_reset,
                max_queries=sys.maxsize,
                max_inactive_connection_lifetime=0,
            )

    async def _pool_connect(self, *_: Any, **__: Any) -> Any:
        """A new connection for the pool, made by the harness (the pool's own arguments for
        ``asyncpg.connect()`` are asyncpg's defaults, not needed here)."""
        assert self.async_driver is not None
        return await self.connections.connect_async(self.async_driver)

    async def _insert_users(self, users: Sequence[NewUser]) -> list[int]:
        rows = await self.connection.fetchmany(
            INSERT_USER, [(u.username, u.email, u.created_at) for u in users]
        )
        return [row[0] for row in rows]

    async def _copy_posts(self, posts: Sequence[tuple[int, NewPost]]) -> None:
        await self.connection.copy_records_to_table(
            "user_blog_post",
            records=[(user_id, p.title, p.body, p.created_at) for user_id, p in posts],
            columns=POST_COLUMNS,
        )

    @awaited
    async def crud_create(self, users: Sequence[NewUser]) -> list[int]:
        """fetchmany(INSERT ... RETURNING id): one pipeline of Bind/Execute, one Sync"""
        async with self.connection.transaction():
            return await self._insert_users(users)

    @awaited
    async def crud_read(self, user_ids: Sequence[int]) -> list[UserRecord]:
        """fetch(SELECT ... WHERE id = ANY($1)) with the ids as one array"""
        async with self.connection.transaction():
            rows = await self.connection.fetch(SELECT_USERS, list(user_ids))
        return [UserRecord(*row) for row in rows]

    @awaited
    async def crud_update(self, changes: Sequence[EmailChange]) -> None:
        """executemany(UPDATE ... WHERE id = $2): one pipeline"""
        async with self.connection.transaction():
            await self.connection.executemany(UPDATE_EMAIL, [(c.email, c.user_id) for c in changes])

    @awaited
    async def crud_delete(self, user_ids: Sequence[int]) -> None:
        """execute(DELETE ... WHERE id = ANY($1)) with the ids as one array"""
        async with self.connection.transaction():
            await self.connection.execute(DELETE_USERS, list(user_ids))

    @awaited
    async def parent_child_insert(self, users: Sequence[NewUserWithPosts]) -> list[int]:
        """users with fetchmany(INSERT ... RETURNING id), then all posts by binary COPY"""
        async with self.connection.transaction():
            user_ids = await self._insert_users([entry.user for entry in users])
            await self._copy_posts(
                [
                    (user_id, post)
                    for user_id, entry in zip(user_ids, users, strict=True)
                    for post in entry.posts
                ]
            )
        return user_ids

    @awaited
    async def parent_child_read(self, user_ids: Sequence[int]) -> list[UserWithPosts]:
        """one SELECT users LEFT OUTER JOIN posts, rows grouped per user"""
        async with self.connection.transaction():
            rows = await self.connection.fetch(SELECT_USERS_WITH_POSTS, list(user_ids))
        return group_joined_rows(rows)

    @awaited
    async def parent_child_append(self, posts: Sequence[NewPostForUser]) -> None:
        """all new posts by binary COPY (copy_records_to_table)"""
        async with self.connection.transaction():
            await self._copy_posts([(p.user_id, p.post) for p in posts])

    async def concurrent_requests_async(self, request: UserRequest) -> UserRecord:
        """a connection from asyncpg's pool (create_pool, K connections); in transaction():
        fetchrow(SELECT ... FOR UPDATE), execute(UPDATE)"""
        assert self.pool is not None, "prepare_workers() first"
        async with self.pool.acquire() as connection, connection.transaction():
            read = UserRecord(*await connection.fetchrow(SELECT_USER_FOR_UPDATE, request.user_id))
            await connection.execute(UPDATE_EMAIL, revised_email(read.email), request.user_id)
        return read
