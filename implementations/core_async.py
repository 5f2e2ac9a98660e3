"""SQLAlchemy Core on asyncio: the ``core`` variant's statements executed on an
``AsyncConnection`` of ``create_async_engine()`` with psycopg's ``AsyncConnection``, so that
what differs from ``core`` is the asyncio layer alone.

The concurrent workload's requests each check an ``AsyncConnection`` out of an engine whose pool
fits the tasks (:mod:`implementations._async`) and send ``core``'s statements, built once.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import ClassVar

from implementations._async import AsyncEngineVariant, awaited
from implementations._rows import group_joined_rows
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
from implementations.core import (
    INSERT_POSTS,
    INSERT_USERS_RETURNING_IDS,
    SELECT_USER_BY_ID_FOR_UPDATE,
    UPDATE_EMAIL_BY_ID,
    CoreStatements,
    post_params,
    posts_params,
    user_params,
)
from implementations.drivers import driver_sql, ids


class CoreAsyncVariant(AsyncEngineVariant):
    """Core on asyncio: Table constructs on an AsyncConnection, psycopg's AsyncConnection"""

    async_driver: ClassVar[str | None] = "psycopg"
    sync_counterpart: ClassVar[str | None] = "core"

    async def open(self) -> None:
        await super().open()
        self.statements = CoreStatements(driver_sql(self.connections.backend))

    @awaited
    async def crud_create(self, users: Sequence[NewUser]) -> list[int]:
        """insert(user_account).returning(id, sort_by_parameter_order=True) with all rows"""
        async with self.engine.begin() as connection:
            rows = await connection.scalars(
                INSERT_USERS_RETURNING_IDS, [user_params(u) for u in users]
            )
            return list(rows)

    @awaited
    async def crud_read(self, user_ids: Sequence[int]) -> list[UserRecord]:
        """select(user_account) on the list of ids, built once; rows turned into records"""
        async with self.engine.begin() as connection:
            rows = await connection.execute(self.statements.select_users, ids(user_ids))
            return [UserRecord(*row) for row in rows]

    @awaited
    async def crud_update(self, changes: Sequence[EmailChange]) -> None:
        """update(user_account) WHERE id = :target_id, executemany over all changes"""
        parameters = [{"target_id": c.user_id, "new_email": c.email} for c in changes]
        async with self.engine.begin() as connection:
            await connection.execute(UPDATE_EMAIL_BY_ID, parameters)

    @awaited
    async def crud_delete(self, user_ids: Sequence[int]) -> None:
        """one delete(user_account) on the list of ids, built once"""
        async with self.engine.begin() as connection:
            await connection.execute(self.statements.delete_users, ids(user_ids))

    @awaited
    async def parent_child_insert(self, users: Sequence[NewUserWithPosts]) -> list[int]:
        """users with insert().returning(id) in order, then all posts in one executemany"""
        async with self.engine.begin() as connection:
            rows = await connection.scalars(
                INSERT_USERS_RETURNING_IDS, [user_params(entry.user) for entry in users]
            )
            user_ids = list(rows)
            await connection.execute(INSERT_POSTS, posts_params(user_ids, users))
            return user_ids

    @awaited
    async def parent_child_read(self, user_ids: Sequence[int]) -> list[UserWithPosts]:
        """one SELECT users LEFT OUTER JOIN posts, built once; rows grouped per user"""
        async with self.engine.begin() as connection:
            rows = await connection.execute(self.statements.select_users_with_posts, ids(user_ids))
            return group_joined_rows(rows)

    @awaited
    async def parent_child_append(self, posts: Sequence[NewPostForUser]) -> None:
        """insert(user_blog_post) with the user ids given, one executemany"""
        async with self.engine.begin() as connection:
            await connection.execute(INSERT_POSTS, [post_params(p.user_id, p.post) for p in posts])

    async def concurrent_requests_async(self, request: UserRequest) -> UserRecord:
        """an AsyncConnection of an AsyncEngine whose pool fits the tasks; SELECT ... FOR
        UPDATE, UPDATE"""
        assert self.workers_engine is not None, "prepare_workers() first"
        async with self.workers_engine.begin() as connection:
            row = await connection.execute(
                SELECT_USER_BY_ID_FOR_UPDATE, {"user_id": request.user_id}
            )
            read = UserRecord(*row.one())
            await connection.execute(
                UPDATE_EMAIL_BY_ID,
                {"target_id": request.user_id, "new_email": revised_email(read.email)},
            )
            return read
