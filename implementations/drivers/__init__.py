"""What the raw DB-API variants need to know of each backend's driver: its placeholders, how
it matches a list of ids, how new ids come back, and how it stores timestamps. The statements
themselves are the same everywhere.

One module here per backend, named after it (``sqlite``, ``postgres``, ...), holding a
:class:`DriverSql` subclass called ``Sql``; :func:`driver_sql` finds it by the backend's name.
"""

from __future__ import annotations

import importlib
from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import Any, ClassVar

from sqlalchemy import ColumnElement, Engine, bindparam
from sqlalchemy.orm import QueryableAttribute

from implementations.contract import DBAPICursor, NewPost, NewUser, UserRecord

#: a column of ids: a Table's, or a mapped class's attribute
IdColumn = ColumnElement[int] | QueryableAttribute[int]

#: the name of the bound list of ids in the SQLAlchemy styles' statements
IDS = "ids"


def ids(user_ids: Iterable[int]) -> dict[str, Any]:
    """The parameters of a statement built with :meth:`DriverSql.ids_match`: the ids as one
    list."""
    return {IDS: list(user_ids)}


USER_COLUMNS = "user_account.id, user_account.username, user_account.email, user_account.created_at"
JOINED_COLUMNS = (
    f"{USER_COLUMNS}, user_blog_post.id, user_blog_post.title, user_blog_post.body, "
    "user_blog_post.created_at"
)


def select_users(condition: str) -> str:
    """The users matching ``condition`` (on ``id``), ordered by id."""
    return f"SELECT {USER_COLUMNS} FROM user_account WHERE {condition} ORDER BY user_account.id"


def select_users_with_posts(condition: str) -> str:
    """The users matching ``condition`` (on ``user_account.id``) joined with their posts, one
    row per post (one with NULLs for a user without any), ordered by user and post id."""
    return (
        f"SELECT {JOINED_COLUMNS} FROM user_account "
        "LEFT OUTER JOIN user_blog_post ON user_account.id = user_blog_post.user_id "
        f"WHERE {condition} ORDER BY user_account.id, user_blog_post.id"
    )


def delete_users(condition: str) -> str:
    """Delete the users matching ``condition`` (on ``id``)."""
    return f"DELETE FROM user_account WHERE {condition}"


class DriverSql:
    """The hand-written statements, and what differs between the drivers."""

    placeholder: ClassVar[str]
    #: what locks a row read for a read-modify-write until the commit
    lock_row: ClassVar[str] = " FOR UPDATE"
    #: the statement a read-modify-write begins with, where the driver's own BEGIN (or none)
    #: would not lock what it reads
    begin_writes: ClassVar[str | None] = None

    def __init__(self) -> None:
        p = self.placeholder
        self.insert_user = (
            f"INSERT INTO user_account (username, email, created_at) VALUES ({p}, {p}, {p})"
        )
        self.insert_post = (
            "INSERT INTO user_blog_post (user_id, title, body, created_at) "
            f"VALUES ({p}, {p}, {p}, {p})"
        )
        self.update_email = f"UPDATE user_account SET email = {p} WHERE user_account.id = {p}"
        self.select_user = f"SELECT {USER_COLUMNS} FROM user_account WHERE user_account.id = {p}"
        self.select_user_for_update = f"{self.select_user}{self.lock_row}"

    def lock_at_begin(self, engine: Engine) -> None:
        """Make the engine's transactions lock what they read until the commit, where the
        statement alone cannot (the engine's own connections; SQLAlchemy's styles' side of
        :attr:`begin_writes`)."""

    def timestamp_param(self, value: datetime) -> Any:
        """A timestamp as the driver binds it (the driver's own datetime support)."""
        return value

    def timestamp_value(self, raw: Any) -> datetime:
        """A timestamp as read back from the driver."""
        return raw  # type: ignore[no-any-return]

    def id_list(self, column: str, ids: Sequence[int]) -> tuple[str, Sequence[Any]]:
        """A WHERE condition matching ``column`` against the ids, and its parameters."""
        raise NotImplementedError

    def ids_match(self, column: IdColumn) -> ColumnElement[bool]:
        """The same condition as :meth:`id_list` for the SQLAlchemy styles, built once: the
        ids are bound as :data:`IDS` when the statement runs. An expanding IN, which renders
        one placeholder per id as the raw driver's ``IN (?, ...)`` does."""
        return column.in_(bindparam(IDS, expanding=True))

    def insert_posts(self, cursor: DBAPICursor, rows: Sequence[Sequence[Any]]) -> None:
        """Insert posts, which need no id back: one executemany of the INSERT (a driver with
        a faster way to load rows overrides this)."""
        cursor.executemany(self.insert_post, rows)

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


def driver_sql(backend: str) -> DriverSql:
    """The statements for the backend's driver."""
    sql_class: type[DriverSql] = importlib.import_module(f"implementations.drivers.{backend}").Sql
    return sql_class()
