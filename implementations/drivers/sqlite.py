"""The stdlib ``sqlite3`` module: ``?`` placeholders, ``IN (?, ...)``, new ids from
``lastrowid``, timestamps stored as text, and ``BEGIN IMMEDIATE`` for a read-modify-write."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any, ClassVar

from sqlalchemy import Connection, Engine, event

from implementations.contract import DBAPICursor
from implementations.drivers import DriverSql


class Sql(DriverSql):
    placeholder: ClassVar[str] = "?"
    # SQLite has no row locks and no FOR UPDATE: its whole database has one write lock, which
    # BEGIN IMMEDIATE takes before the read. Without it the sqlite3 module runs the SELECT
    # outside any transaction (it begins one only before a write), and two requests for the
    # same user both read the same email: a lost update
    lock_row: ClassVar[str] = ""
    begin_writes: ClassVar[str | None] = "BEGIN IMMEDIATE"

    def lock_at_begin(self, engine: Engine) -> None:
        # SQLAlchemy's recipe for the sqlite3 driver's transactions ("Enabling Non-Legacy
        # SQLite Transactional Modes"): the driver emits no BEGIN of its own, the engine emits
        # one at the start of each transaction
        @event.listens_for(engine, "connect")
        def _no_driver_begin(driver_connection: Any, record: Any) -> None:
            driver_connection.isolation_level = None

        @event.listens_for(engine, "begin")
        def _begin_immediate(connection: Connection) -> None:
            connection.exec_driver_sql("BEGIN IMMEDIATE")

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
