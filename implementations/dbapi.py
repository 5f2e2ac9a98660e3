"""The raw DB-API driver with hand-written SQL (each backend's own: the stdlib ``sqlite3``
module on SQLite, psycopg 3 on PostgreSQL, ...), no SQLAlchemy in the path.

The statements are the same on every backend except where the drivers differ: placeholders
(``?`` / ``%s``), a list of ids (``IN (?, ?, ...)`` / ``= ANY(%s)``), how new ids come back
(``lastrowid`` per row / a multi-row ``INSERT ... RETURNING``) and timestamps (sqlite3 stores
them as text, written in the same format SQLAlchemy uses so both leave identical rows). Those
differences live in :mod:`implementations.drivers`, one module per backend.
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager

from implementations._rows import group_joined_rows
from implementations.contract import (
    Connections,
    DBAPIConnection,
    DBAPICursor,
    EmailChange,
    NewPostForUser,
    NewUser,
    NewUserWithPosts,
    UserRecord,
    UserRequest,
    UserWithPosts,
    Variant,
    revised_email,
)
from implementations.drivers import (
    DriverSql,
    delete_users,
    driver_sql,
    select_users,
    select_users_with_posts,
)


class DbapiVariant(Variant):
    """raw DB-API: the backend's own driver with hand-written SQL"""

    def __init__(self, connections: Connections) -> None:
        super().__init__(connections)
        self.connection = connections.dbapi_connection
        self.sql = driver_sql(connections.backend)
        #: the connections made for the worker threads, and the one each thread took
        self.worker_connections: list[DBAPIConnection] = []
        self.unclaimed: queue.SimpleQueue[DBAPIConnection] = queue.SimpleQueue()
        self.per_thread = threading.local()

    def prepare_workers(self, workers: int) -> None:
        for connection in self.worker_connections:
            connection.close()
        self.worker_connections = [self.connections.connect_dbapi() for _ in range(workers)]
        self.unclaimed = queue.SimpleQueue()
        for connection in self.worker_connections:
            self.unclaimed.put(connection)
        self.per_thread = threading.local()

    def close(self) -> None:
        self.prepare_workers(0)

    def worker_connection(self) -> DBAPIConnection:
        """The calling thread's own connection: the first it asks for it, one of those made
        by :meth:`prepare_workers`, the same ever after."""
        connection: DBAPIConnection | None = getattr(self.per_thread, "connection", None)
        if connection is None:
            try:
                connection = self.unclaimed.get_nowait()
            except queue.Empty:
                raise RuntimeError("more threads than prepare_workers() was told of") from None
            self.per_thread.connection = connection
        return connection

    def crud_create(self, users: Sequence[NewUser]) -> list[int]:
        """the driver's own way to insert rows and read their ids (implementations/drivers/)"""
        with unit_of_work(self.connection) as cursor:
            return self.sql.insert_returning_ids(
                cursor, self.sql.insert_user, [self.sql.user_row(u) for u in users]
            )

    def crud_read(self, user_ids: Sequence[int]) -> list[UserRecord]:
        """one SELECT ... WHERE id IN (...), or = ANY(%s) where the driver binds a list"""
        condition, parameters = self.sql.id_list("user_account.id", user_ids)
        with unit_of_work(self.connection) as cursor:
            cursor.execute(
                select_users(condition),
                parameters,
            )
            return [self.sql.user_record(row) for row in cursor.fetchall()]

    def crud_update(self, changes: Sequence[EmailChange]) -> None:
        """UPDATE user_account SET email = ? WHERE id = ?, one executemany"""
        with unit_of_work(self.connection) as cursor:
            cursor.executemany(self.sql.update_email, [(c.email, c.user_id) for c in changes])

    def crud_delete(self, user_ids: Sequence[int]) -> None:
        """one DELETE ... WHERE id IN (...), or = ANY(%s) where the driver binds a list"""
        condition, parameters = self.sql.id_list("user_account.id", user_ids)
        with unit_of_work(self.connection) as cursor:
            cursor.execute(delete_users(condition), parameters)

    def parent_child_insert(self, users: Sequence[NewUserWithPosts]) -> list[int]:
        """users as in crud_create, then all posts: COPY where the driver has it, else one
        executemany"""
        with unit_of_work(self.connection) as cursor:
            user_ids = self.sql.insert_returning_ids(
                cursor, self.sql.insert_user, [self.sql.user_row(entry.user) for entry in users]
            )
            self.sql.insert_posts(
                cursor,
                [
                    self.sql.post_row(user_id, post)
                    for user_id, entry in zip(user_ids, users, strict=True)
                    for post in entry.posts
                ],
            )
            return user_ids

    def parent_child_read(self, user_ids: Sequence[int]) -> list[UserWithPosts]:
        """one SELECT users LEFT OUTER JOIN posts, rows grouped per user"""
        condition, parameters = self.sql.id_list("user_account.id", user_ids)
        with unit_of_work(self.connection) as cursor:
            cursor.execute(
                select_users_with_posts(condition),
                parameters,
            )
            timestamp = self.sql.timestamp_value
            return group_joined_rows(
                (
                    *row[:3],
                    timestamp(row[3]),
                    *row[4:7],
                    None if row[7] is None else timestamp(row[7]),
                )
                for row in cursor.fetchall()
            )

    def parent_child_append(self, posts: Sequence[NewPostForUser]) -> None:
        """the posts with the user ids given: COPY where the driver has it, else one
        executemany of INSERT INTO user_blog_post"""
        with unit_of_work(self.connection) as cursor:
            self.sql.insert_posts(cursor, [self.sql.post_row(p.user_id, p.post) for p in posts])

    def concurrent_requests(self, request: UserRequest) -> UserRecord:
        """each worker thread's own connection, opened before; SELECT ... FOR UPDATE (SQLite:
        BEGIN IMMEDIATE first), UPDATE"""
        with unit_of_work(self.worker_connection()) as cursor:
            return revise_email(cursor, self.sql, request.user_id)

    def connect_read_one(self, user_id: int) -> UserRecord:
        """the process's one driver connection, kept open; SELECT ... WHERE id = ?"""
        return read_user(self.connection, self.sql, user_id)


def read_user(connection: DBAPIConnection, sql: DriverSql, user_id: int) -> UserRecord:
    """One unit of work on ``connection``: read a user by id."""
    with unit_of_work(connection) as cursor:
        cursor.execute(sql.select_user, (user_id,))
        return sql.user_record(cursor.fetchone())


def revise_email(cursor: DBAPICursor, sql: DriverSql, user_id: int) -> UserRecord:
    """Inside a unit of work: read the user with its row locked, write the email revised from
    the one read; the user as read."""
    if sql.begin_writes is not None:
        cursor.execute(sql.begin_writes)
    cursor.execute(sql.select_user_for_update, (user_id,))
    read = sql.user_record(cursor.fetchone())
    cursor.execute(sql.update_email, (revised_email(read.email), user_id))
    return read


@contextmanager
def unit_of_work(connection: DBAPIConnection) -> Iterator[DBAPICursor]:
    """A cursor for one unit of work: commit when the block succeeds, roll back when it fails."""
    cursor = connection.cursor()
    try:
        yield cursor
        connection.commit()
    except BaseException:
        connection.rollback()
        raise
    finally:
        cursor.close()
