"""psycopg 3: ``%s`` placeholders, ``= ANY(%s)`` with a list, and new ids from a pipelined
``executemany(..., returning=True)``."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, ClassVar

from implementations.contract import DBAPICursor
from implementations.drivers import DriverSql


class Sql(DriverSql):
    placeholder: ClassVar[str] = "%s"

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
