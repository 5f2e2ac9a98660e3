"""The stdlib ``sqlite3`` module: ``?`` placeholders, ``IN (?, ...)``, new ids from
``lastrowid``, and timestamps stored as text."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any, ClassVar

from implementations.contract import DBAPICursor
from implementations.drivers import DriverSql


class Sql(DriverSql):
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
