"""PyMySQL on MariaDB: ``%s`` placeholders, ``IN (%s, ...)``, and new ids from one multi-row
``INSERT ... RETURNING id`` (MariaDB 10.5+)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, ClassVar

from implementations.contract import DBAPICursor
from implementations.drivers import DriverSql

#: SQLAlchemy's default insertmanyvalues page size
ROWS_PER_STATEMENT = 1000


class Sql(DriverSql):
    placeholder: ClassVar[str] = "%s"

    def id_list(self, column: str, ids: Sequence[int]) -> tuple[str, Sequence[Any]]:
        return f"{column} IN ({', '.join(['%s'] * len(ids))})", ids

    def insert_returning_ids(
        self, cursor: DBAPICursor, sql: str, rows: Sequence[Sequence[Any]]
    ) -> list[int]:
        # PyMySQL's executemany would send one multi-row INSERT but drop the RETURNING rows, so
        # the statement is written out here: one VALUES group per row, up to 1000 rows a
        # statement, as SQLAlchemy pages its insertmanyvalues batches. The ids are sorted, as
        # SQLAlchemy does: auto-increment values rise in VALUES order.
        head, _, group = sql.partition(" VALUES ")
        ids: list[int] = []
        for start in range(0, len(rows), ROWS_PER_STATEMENT):
            page = rows[start : start + ROWS_PER_STATEMENT]
            cursor.execute(
                f"{head} VALUES {', '.join([group] * len(page))} RETURNING user_account.id",
                [value for row in page for value in row],
            )
            ids.extend(sorted(row[0] for row in cursor.fetchall()))
        return ids
