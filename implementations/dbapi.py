"""The raw DB-API driver with hand-written SQL: the stdlib ``sqlite3`` module on SQLite and
psycopg 3 on PostgreSQL, no SQLAlchemy in the path.

The statements are the same on both backends except where the drivers differ: placeholders
(``?`` / ``%s``), a list of ids (``IN (?, ?, ...)`` / ``= ANY(%s)``), how new ids come back
(``lastrowid`` per row / ``executemany(..., returning=True)``) and timestamps (sqlite3 stores
them as text, written in the same format SQLAlchemy uses so both leave identical rows).
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from datetime import datetime
from typing import Any, ClassVar

from implementations._rows import group_joined_rows
from implementations.contract import (
    Connections,
    DBAPIConnection,
    DBAPICursor,
    EmailChange,
    NewPost,
    NewPostForUser,
    NewUser,
    NewUserWithPosts,
    UserRecord,
    UserWithPosts,
    Variant,
)

_USER_COLUMNS = (
    "user_account.id, user_account.username, user_account.email, user_account.created_at"
)
_JOINED_COLUMNS = (
    f"{_USER_COLUMNS}, user_blog_post.id, user_blog_post.title, user_blog_post.body, "
    "user_blog_post.created_at"
)


class DriverSql:
    """The hand-written statements, and what differs between the drivers."""

    placeholder: ClassVar[str]

    def __init__(self) -> None:
        p = self.placeholder
        self.insert_user = (
            f"INSERT INTO user_account (username, email, created_at) VALUES ({p}, {p}, {p})"
        )
        self.insert_post = (
            "INSERT INTO user_blog_post (user_id, title, body, created_at) "
            f"VALUES ({p}, {p}, {p}, {p})"
        )
        self.update_email = f"UPDATE user_account SET email = {p} WHERE id = {p}"
        self.select_user = f"SELECT {_USER_COLUMNS} FROM user_account WHERE id = {p}"

    def timestamp_param(self, value: datetime) -> Any:
        raise NotImplementedError

    def timestamp_value(self, raw: Any) -> datetime:
        raise NotImplementedError

    def id_list(self, column: str, ids: Sequence[int]) -> tuple[str, Sequence[Any]]:
        """A WHERE condition matching ``column`` against the ids, and its parameters."""
        raise NotImplementedError

    def insert_returning_ids(
        self, cursor: DBAPICursor, sql: str, rows: Sequence[Sequence[Any]]
    ) -> list[int]:
        """Insert the rows; return their new ids in input order."""
        raise NotImplementedError

    def user_row(self, user: NewUser) -> tuple[Any, ...]:
        return (user.username, user.email, self.timestamp_param(user.created_at))

    def post_row(self, user_id: int, post: NewPost) -> tuple[Any, ...]:
        return (user_id, post.title, post.body, self.timestamp_param(post.created_at))

    def user_record(self, row: Sequence[Any]) -> UserRecord:
        return UserRecord(row[0], row[1], row[2], self.timestamp_value(row[3]))


class _SqliteSql(DriverSql):
    placeholder: ClassVar[str] = "?"

    def timestamp_param(self, value: datetime) -> str:
        # the format SQLAlchemy's DateTime uses on SQLite: text that sorts like the timestamp
        return value.isoformat(" ", "microseconds")

    def timestamp_value(self, raw: Any) -> datetime:
        return datetime.fromisoformat(raw)

    def id_list(self, column: str, ids: Sequence[int]) -> tuple[str, Sequence[Any]]:
        return f"{column} IN ({', '.join('?' * len(ids))})", ids

    def insert_returning_ids(
        self, cursor: DBAPICursor, sql: str, rows: Sequence[Sequence[Any]]
    ) -> list[int]:
        # SQLite does not promise RETURNING rows in VALUES order, so one row per statement
        # (as SQLAlchemy does for an ordered RETURNING on SQLite), reading lastrowid.
        ids = []
        for row in rows:
            cursor.execute(sql, row)
            ids.append(cursor.lastrowid)
        return ids


class _PostgresSql(DriverSql):
    placeholder: ClassVar[str] = "%s"

    def timestamp_param(self, value: datetime) -> datetime:
        return value

    def timestamp_value(self, raw: Any) -> datetime:
        return raw  # type: ignore[no-any-return]

    def id_list(self, column: str, ids: Sequence[int]) -> tuple[str, Sequence[Any]]:
        return f"{column} = ANY(%s)", [list(ids)]

    def insert_returning_ids(
        self, cursor: DBAPICursor, sql: str, rows: Sequence[Sequence[Any]]
    ) -> list[int]:
        # psycopg runs executemany in pipeline mode; returning=True keeps each row's result set
        cursor.executemany(f"{sql} RETURNING id", rows, returning=True)  # type: ignore[call-arg]
        ids = []
        while True:
            ids.append(cursor.fetchone()[0])
            if not cursor.nextset():  # type: ignore[attr-defined]
                return ids


_DRIVERS: dict[str, type[DriverSql]] = {"sqlite": _SqliteSql, "postgres": _PostgresSql}


def driver_sql(backend: str) -> DriverSql:
    """The statements for the backend's driver."""
    return _DRIVERS[backend]()


class DbapiVariant(Variant):
    """raw DB-API: the driver (sqlite3, psycopg 3) with hand-written SQL"""

    def __init__(self, connections: Connections) -> None:
        super().__init__(connections)
        self.connection = connections.dbapi_connection
        self.sql = driver_sql(connections.backend)

    def crud_create(self, users: Sequence[NewUser]) -> list[int]:
        """INSERT ... per row reading lastrowid (sqlite3); executemany(returning=True) (psycopg)"""
        with unit_of_work(self.connection) as cursor:
            return self.sql.insert_returning_ids(
                cursor, self.sql.insert_user, [self.sql.user_row(u) for u in users]
            )

    def crud_read(self, user_ids: Sequence[int]) -> list[UserRecord]:
        """SELECT ... WHERE id IN (?, ...) (sqlite3) / WHERE id = ANY(%s) (psycopg)"""
        condition, parameters = self.sql.id_list("id", user_ids)
        with unit_of_work(self.connection) as cursor:
            cursor.execute(
                f"SELECT {_USER_COLUMNS} FROM user_account WHERE {condition} ORDER BY id",
                parameters,
            )
            return [self.sql.user_record(row) for row in cursor.fetchall()]

    def crud_update(self, changes: Sequence[EmailChange]) -> None:
        """UPDATE user_account SET email = ? WHERE id = ?, one executemany"""
        with unit_of_work(self.connection) as cursor:
            cursor.executemany(self.sql.update_email, [(c.email, c.user_id) for c in changes])

    def crud_delete(self, user_ids: Sequence[int]) -> None:
        """one DELETE ... WHERE id IN (?, ...) (sqlite3) / WHERE id = ANY(%s) (psycopg)"""
        condition, parameters = self.sql.id_list("id", user_ids)
        with unit_of_work(self.connection) as cursor:
            cursor.execute(f"DELETE FROM user_account WHERE {condition}", parameters)

    def parent_child_insert(self, users: Sequence[NewUserWithPosts]) -> list[int]:
        """users as in crud_create, then all posts in one executemany"""
        with unit_of_work(self.connection) as cursor:
            user_ids = self.sql.insert_returning_ids(
                cursor, self.sql.insert_user, [self.sql.user_row(entry.user) for entry in users]
            )
            cursor.executemany(
                self.sql.insert_post,
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
                f"SELECT {_JOINED_COLUMNS} FROM user_account "
                "LEFT OUTER JOIN user_blog_post ON user_account.id = user_blog_post.user_id "
                f"WHERE {condition} ORDER BY user_account.id, user_blog_post.id",
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
        """INSERT INTO user_blog_post with the user ids given, one executemany"""
        with unit_of_work(self.connection) as cursor:
            cursor.executemany(
                self.sql.insert_post, [self.sql.post_row(p.user_id, p.post) for p in posts]
            )

    def connect_read_one(self, user_id: int) -> UserRecord:
        """the process's one driver connection, kept open; SELECT ... WHERE id = ?"""
        return read_user(self.connection, self.sql, user_id)


def read_user(connection: DBAPIConnection, sql: DriverSql, user_id: int) -> UserRecord:
    """One unit of work on ``connection``: read a user by id."""
    with unit_of_work(connection) as cursor:
        cursor.execute(sql.select_user, (user_id,))
        return sql.user_record(cursor.fetchone())


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
