"""Variants that do less (or other) work than the workload says: verification must reject
each of them. Used by the tests only."""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Sequence

from sqlalchemy import select
from sqlalchemy.orm import selectinload

from implementations.asyncpg_driver import UPDATE_EMAIL, AsyncpgVariant
from implementations.contract import (
    Connections,
    EmailChange,
    NewPostForUser,
    NewUser,
    PostRecord,
    UserRecord,
    UserRequest,
    UserWithPosts,
    revised_email,
)
from implementations.core import CoreVariant
from implementations.dbapi import DbapiVariant, unit_of_work
from implementations.drivers import USER_COLUMNS, driver_sql, ids
from implementations.orm import OrmVariant
from implementations.schema import User, user_account

from statement_helper import users_statement


class SkipsLastChange(DbapiVariant):
    """dbapi that forgets the last email change"""

    def crud_update(self, changes: Sequence[EmailChange]) -> None:
        """all changes but the last"""
        super().crud_update(changes[:-1])


class ReturnsIdsReversed(CoreVariant):
    """Core that returns the right ids in the wrong order"""

    def crud_create(self, users: Sequence[NewUser]) -> list[int]:
        """the new ids, reversed"""
        return super().crud_create(users)[::-1]


class DeletesEveryone(DbapiVariant):
    """dbapi that deletes the whole table instead of the given users"""

    def crud_delete(self, user_ids: Sequence[int]) -> None:
        """DELETE FROM user_account without a WHERE"""
        with unit_of_work(self.connection) as cursor:
            cursor.execute("DELETE FROM user_account")


class LeavesReadOpen(DbapiVariant):
    """dbapi that reads without ending its transaction"""

    def crud_read(self, user_ids: Sequence[int]) -> list[UserRecord]:
        """SELECT, no commit"""
        condition, parameters = self.sql.id_list("id", user_ids)
        cursor = self.connection.cursor()
        cursor.execute(
            f"SELECT id, username, email, created_at FROM user_account WHERE {condition} "
            "ORDER BY id",
            parameters,
        )
        return [self.sql.user_record(row) for row in cursor.fetchall()]


class CommitsPerRow(DbapiVariant):
    """dbapi that commits each change on its own"""

    def crud_update(self, changes: Sequence[EmailChange]) -> None:
        """one transaction per change"""
        for change in changes:
            super().crud_update([change])


class SlowFirstRead(DbapiVariant):
    """dbapi whose first read of each instance is slow (a cold cache, say)"""

    first_done = False

    def crud_read(self, user_ids: Sequence[int]) -> list[UserRecord]:
        """SELECT, after a 0.3 s pause the first time"""
        if not self.first_done:
            self.first_done = True
            time.sleep(0.3)
        return super().crud_read(user_ids)


class CountedRead(DbapiVariant):
    """dbapi that counts its reads"""

    executions = 0

    def crud_read(self, user_ids: Sequence[int]) -> list[UserRecord]:
        """SELECT, counted"""
        self.executions += 1
        return super().crud_read(user_ids)


class ReadsEveryPost(DbapiVariant):
    """dbapi that also reads every post's title, which it does not need"""

    def parent_child_append(self, posts: Sequence[NewPostForUser]) -> None:
        """SELECT title FROM user_blog_post (unused), then the same executemany, one commit"""
        with unit_of_work(self.connection) as cursor:
            cursor.execute("SELECT title FROM user_blog_post")
            cursor.fetchall()
            cursor.executemany(
                self.sql.insert_post, [self.sql.post_row(p.user_id, p.post) for p in posts]
            )


class ReadsWithoutLocking(DbapiVariant):
    """dbapi that reads the user without locking it, then writes what it computed"""

    def concurrent_requests(self, request: UserRequest) -> UserRecord:
        """SELECT (no FOR UPDATE, no BEGIN IMMEDIATE), a 5 ms pause, UPDATE, one commit"""
        with unit_of_work(self.worker_connection()) as cursor:
            cursor.execute(self.sql.select_user, (request.user_id,))
            read = self.sql.user_record(cursor.fetchone())
            time.sleep(0.005)  # a request's own work between its read and its write
            cursor.execute(self.sql.update_email, (revised_email(read.email), request.user_id))
            return read


class ReadsWithoutLockingOnTasks(AsyncpgVariant):
    """asyncpg that reads the user without locking it, then writes what it computed"""

    async def concurrent_requests_async(self, request: UserRequest) -> UserRecord:
        """SELECT (no FOR UPDATE), a 5 ms pause (the other tasks run), UPDATE, one commit"""
        assert self.pool is not None, "prepare_workers() first"
        async with self.pool.acquire() as connection, connection.transaction():
            row = await connection.fetchrow(
                f"SELECT {USER_COLUMNS} FROM user_account WHERE user_account.id = $1",
                request.user_id,
            )
            read = UserRecord(*row)
            await asyncio.sleep(0.005)  # a request's own work between its read and its write
            await connection.execute(UPDATE_EMAIL, revised_email(read.email), request.user_id)
        return read


class DeferredBegin(DbapiVariant):
    """dbapi on SQLite that begins with a deferred BEGIN, its first two requests reading
    together"""

    def prepare_workers(self, workers: int) -> None:
        super().prepare_workers(workers)
        self.first_two = threading.Barrier(2)

    def concurrent_requests(self, request: UserRequest) -> UserRecord:
        """BEGIN (the write lock is taken at the UPDATE, not before the read), SELECT,
        UPDATE, commit: the second of two requests that read before either wrote is refused
        ("database is locked": its snapshot is stale)"""
        with unit_of_work(self.worker_connection()) as cursor:
            cursor.execute("BEGIN")
            cursor.execute(self.sql.select_user, (request.user_id,))
            read = self.sql.user_record(cursor.fetchone())
            try:
                self.first_two.wait(timeout=10)
            except threading.BrokenBarrierError:
                pass  # past the first two requests
            finally:
                self.first_two.abort()  # only the first two requests wait for each other
            cursor.execute(self.sql.update_email, (revised_email(read.email), request.user_id))
            return read


class RebuildsItsSelect(CoreVariant):
    """Core that builds its SELECT inside every call, undeclared"""

    def crud_read(self, user_ids: Sequence[int]) -> list[UserRecord]:
        """select(user_account).where(...) built per call"""
        sql = driver_sql(self.connections.backend)
        statement = select(user_account).where(sql.ids_match(user_account.c.id))
        with self.engine.begin() as connection:
            rows = connection.execute(statement.order_by(user_account.c.id), ids(user_ids))
            return [UserRecord(*row) for row in rows]


class BuildsItsLoaderPerCall(OrmVariant):
    """ORM that adds its selectinload() option inside every call, undeclared"""

    def parent_child_read(self, user_ids: Sequence[int]) -> list[UserWithPosts]:
        """select(User).options(selectinload(User.posts)) per call"""
        statement = self.statements.users.options(selectinload(User.posts))
        with self.session_factory() as session, session.begin():
            users = session.scalars(statement, ids(user_ids))
            return [
                UserWithPosts(
                    UserRecord(u.id, u.username, u.email, u.created_at),
                    tuple(
                        PostRecord(p.id, p.user_id, p.title, p.body, p.created_at) for p in u.posts
                    ),
                )
                for u in users
            ]


class ReadsWithoutOrder(CoreVariant):
    """Core that reads without ORDER BY and sorts the rows itself: the right result, other SQL,
    undeclared"""

    def __init__(self, connections: Connections) -> None:
        super().__init__(connections)
        self.unordered = select(user_account).where(
            driver_sql(connections.backend).ids_match(user_account.c.id)
        )

    def crud_read(self, user_ids: Sequence[int]) -> list[UserRecord]:
        """SELECT without ORDER BY, sorted in Python"""
        with self.engine.begin() as connection:
            rows = connection.execute(self.unordered, ids(user_ids))
            return sorted((UserRecord(*row) for row in rows), key=lambda user: user.id)


class RebuildsThroughAHelper(CoreVariant):
    """Core whose SELECT a helper module builds anew in every call, undeclared"""

    def crud_read(self, user_ids: Sequence[int]) -> list[UserRecord]:
        """a helper's select() per call"""
        statement = users_statement(driver_sql(self.connections.backend).ids_match)
        with self.engine.begin() as connection:
            return [UserRecord(*row) for row in connection.execute(statement, ids(user_ids))]


class CompilesEveryCall(CoreVariant):
    """Core that turns the compiled cache off: its statement is built once, compiled in every
    call, undeclared"""

    def crud_read(self, user_ids: Sequence[int]) -> list[UserRecord]:
        """core's SELECT on a connection without a compiled cache"""
        with self.engine.begin() as connection:
            uncached = connection.execution_options(compiled_cache=None)
            rows = uncached.execute(self.statements.select_users, ids(user_ids))
            return [UserRecord(*row) for row in rows]


class KeepsAMegabyte(DbapiVariant):
    """dbapi that keeps an extra mebibyte of every read (the memory measure must show it)"""

    def __init__(self, connections: Connections) -> None:
        super().__init__(connections)
        self.kept: list[bytearray] = []

    def crud_read(self, user_ids: Sequence[int]) -> list[UserRecord]:
        """the rows, and a mebibyte kept"""
        self.kept.append(bytearray(1 << 20))
        return super().crud_read(user_ids)


class RaisesInRequest(DbapiVariant):
    """dbapi whose requests fail"""

    def concurrent_requests(self, request: UserRequest) -> UserRecord:
        """raises"""
        raise RuntimeError(f"planted failure in request for user {request.user_id}")
