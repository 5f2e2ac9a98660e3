"""SQLAlchemy Core on asyncio: the ``core`` variant's statements executed on an
``AsyncConnection`` of ``create_async_engine()`` with psycopg's ``AsyncConnection``, so that
what differs from ``core`` is the asyncio layer alone.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import ClassVar

from sqlalchemy import delete, select

from implementations._async import AsyncEngineVariant, awaited
from implementations._rows import group_joined_rows
from implementations.contract import (
    EmailChange,
    NewPostForUser,
    NewUser,
    NewUserWithPosts,
    UserRecord,
    UserWithPosts,
)
from implementations.core import (
    INSERT_POSTS,
    INSERT_USERS_RETURNING_IDS,
    SELECT_USERS_WITH_POSTS,
    UPDATE_EMAIL_BY_ID,
    post_params,
    posts_params,
    user_params,
)
from implementations.schema import user_account

_users = user_account.c


class CoreAsyncVariant(AsyncEngineVariant):
    """Core on asyncio: Table constructs on an AsyncConnection, psycopg's AsyncConnection"""

    async_driver: ClassVar[str | None] = "psycopg"
    sync_counterpart: ClassVar[str | None] = "core"

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
        """select(user_account) with id IN (...), rows turned into records"""
        statement = select(user_account).where(_users.id.in_(user_ids)).order_by(_users.id)
        async with self.engine.begin() as connection:
            return [UserRecord(*row) for row in await connection.execute(statement)]

    @awaited
    async def crud_update(self, changes: Sequence[EmailChange]) -> None:
        """update(user_account) WHERE id = :target_id, executemany over all changes"""
        parameters = [{"target_id": c.user_id, "new_email": c.email} for c in changes]
        async with self.engine.begin() as connection:
            await connection.execute(UPDATE_EMAIL_BY_ID, parameters)

    @awaited
    async def crud_delete(self, user_ids: Sequence[int]) -> None:
        """one delete(user_account) WHERE id IN (...)"""
        async with self.engine.begin() as connection:
            await connection.execute(delete(user_account).where(_users.id.in_(user_ids)))

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
        """one SELECT users LEFT OUTER JOIN posts, rows grouped per user"""
        statement = SELECT_USERS_WITH_POSTS.where(_users.id.in_(user_ids))
        async with self.engine.begin() as connection:
            return group_joined_rows(await connection.execute(statement))

    @awaited
    async def parent_child_append(self, posts: Sequence[NewPostForUser]) -> None:
        """insert(user_blog_post) with the user ids given, one executemany"""
        async with self.engine.begin() as connection:
            await connection.execute(INSERT_POSTS, [post_params(p.user_id, p.post) for p in posts])
