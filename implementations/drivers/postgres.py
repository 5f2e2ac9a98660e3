"""psycopg 3: ``%s`` placeholders, ``= ANY(%s)`` with a list, new ids from a pipelined
``executemany(..., returning=True)``, and rows that need no id back loaded by ``COPY``."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, ClassVar

from sqlalchemy import ARRAY, ColumnElement, Integer, any_, bindparam

from implementations.contract import DBAPICursor
from implementations.drivers import IDS, DriverSql, IdColumn

#: psycopg's COPY ... FROM STDIN for the posts ("Using COPY TO and COPY FROM", psycopg's docs:
#: the fastest way to load rows that need nothing back)
COPY_POSTS = "COPY user_blog_post (user_id, title, body, created_at) FROM STDIN"


class Sql(DriverSql):
    placeholder: ClassVar[str] = "%s"
    copy_posts: ClassVar[str | None] = COPY_POSTS

    def id_list(self, column: str, ids: Sequence[int]) -> tuple[str, Sequence[Any]]:
        return f"{column} = ANY(%s)", [list(ids)]

    def ids_match(self, column: IdColumn) -> ColumnElement[bool]:
        # the raw driver's = ANY(%s), one array parameter whatever the number of ids
        return column == any_(bindparam(IDS, type_=ARRAY(Integer)))

    def insert_posts(self, cursor: DBAPICursor, rows: Sequence[Sequence[Any]]) -> None:
        with cursor.copy(COPY_POSTS) as copy:  # type: ignore[attr-defined]
            for row in rows:
                copy.write_row(row)

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
