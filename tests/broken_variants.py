"""Variants that do less (or other) work than the workload says: verification must reject
each of them. Used by the tests only."""

from __future__ import annotations

import threading
import time
from collections.abc import Sequence

from implementations.contract import (
    EmailChange,
    NewPostForUser,
    NewUser,
    UserRecord,
    UserRequest,
    revised_email,
)
from implementations.core import CoreVariant
from implementations.dbapi import DbapiVariant, unit_of_work


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
