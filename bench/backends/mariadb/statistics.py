"""The MariaDB server's own account: the settings that change timings, each session's status
counters, and InnoDB's server-wide counters.

Rows read and written come from each observed session's status counters (``Rows_read``;
``Handler_write``, ``Handler_update``, ``Handler_delete``), read in the same statement as
``Questions``; buffer pool pages and redo log bytes from InnoDB's counters, which exist only
server-wide (``Innodb_buffer_pool_read_requests``, ``Innodb_lsn_current``), read on the harness's
own connection once InnoDB's background purge has caught up (which
:mod:`bench.backends.mariadb.database` waits for).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pymysql.cursors

from bench.measure.counting import ServerWork

TIMING_SETTINGS = (
    "innodb_flush_log_at_trx_commit",
    "innodb_doublewrite",
    "innodb_buffer_pool_size",
)

#: each observed session's own counters, read in one statement (which counts itself in
#: Questions, and in none of the others: SHOW STATUS reads a temporary table, whose rows count
#: in Rows_tmp_read and Handler_tmp_write)
SESSION_COUNTERS = (
    "Questions",
    "Rows_read",
    "Handler_write",
    "Handler_update",
    "Handler_delete",
)
_SHOW_SESSION_COUNTERS = "SHOW SESSION STATUS WHERE Variable_name IN ({})".format(
    ", ".join(f"'{name}'" for name in SESSION_COUNTERS)
)


def server_settings(execute: Callable[[str], list[Any]]) -> dict[str, str]:
    """The server's version and the settings that change timings, read with ``execute`` (a
    statement's rows on the harness's own connection)."""
    values = {"version": str(execute("SELECT VERSION()")[0][0])}
    for setting in TIMING_SETTINGS:
        values[setting] = str(execute(f"SELECT @@{setting}")[0][0])
    return values


def session_counters(connection: Any) -> dict[str, int]:
    """:data:`SESSION_COUNTERS` of one session now, read on that session's connection."""
    with pymysql.cursors.Cursor(connection) as cursor:
        cursor.execute(_SHOW_SESSION_COUNTERS)
        values = {str(name): int(value) for name, value in cursor.fetchall()}
    missing = set(SESSION_COUNTERS) - set(values)
    assert not missing, f"the server has no session counters {sorted(missing)}"
    return values


def innodb_counters(execute: Callable[[str], list[Any]]) -> ServerWork:
    """InnoDB's server-wide counters now, as totals: buffer pool pages asked for and the redo
    log's position, read with ``execute``."""
    values = dict(
        execute(
            "SHOW GLOBAL STATUS WHERE Variable_name IN "
            "('Innodb_buffer_pool_read_requests', 'Innodb_lsn_current')"
        )
    )
    return ServerWork(
        rows_read=None,
        rows_written=None,
        blocks=_int_or_none(values.get("Innodb_buffer_pool_read_requests")),
        wal_bytes=_int_or_none(values.get("Innodb_lsn_current")),
    )


def _int_or_none(value: Any) -> int | None:
    return None if value is None else int(value)
