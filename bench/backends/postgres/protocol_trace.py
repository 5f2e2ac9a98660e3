"""libpq's protocol trace, read: a psycopg connection's trace captured into a temporary file
(:class:`ProtocolTrace`) and its lines counted (:func:`summarize_protocol_trace`) by the rules
of :class:`bench.backends.postgres.protocol.ProtocolTally`, as the bytes on the wire are.
"""

from __future__ import annotations

import re
import tempfile
from collections.abc import Sequence
from typing import IO, Any

from bench.backends.postgres.protocol import ProtocolSummary, ProtocolTally


class ProtocolTrace:
    """libpq's trace of one connection, into a temporary file, between start() and stop()."""

    def __init__(self, pgconn: Any) -> None:
        self._pgconn = pgconn
        self._file: IO[bytes] | None = None

    @property
    def running(self) -> bool:
        return self._file is not None

    def start(self) -> None:
        from psycopg import pq

        self._file = tempfile.TemporaryFile()  # noqa: SIM115 (closed by stop())
        self._pgconn.trace(self._file.fileno())
        self._pgconn.set_trace_flags(pq.Trace.SUPPRESS_TIMESTAMPS | pq.Trace.REGRESS_MODE)

    def stop(self) -> list[str]:
        assert self._file is not None
        file, self._file = self._file, None
        self._pgconn.untrace()  # flushes libpq's buffered stream
        file.seek(0)
        lines = file.read().decode("utf-8", "replace").splitlines()
        file.close()
        return lines


_MESSAGE_START = re.compile(r"^[FB]\t\d+\t")
_PARSE = re.compile(r'^ "(?P<name>[^"]*)" "(?P<sql>.*)" \d+', re.DOTALL)
_BIND = re.compile(r'^ "(?P<portal>[^"]*)" "(?P<name>[^"]*)"')
_EXECUTE = re.compile(r'^ "(?P<portal>[^"]*)"')
_QUERY = re.compile(r'^ "(?P<sql>.*)"$', re.DOTALL)


def _messages(lines: Sequence[str]) -> list[str]:
    """Trace lines joined into messages: libpq writes a statement's newlines as they are, so
    a multi-line SQL text continues on lines of its own."""
    messages: list[str] = []
    for line in lines:
        if _MESSAGE_START.match(line) or not messages:
            messages.append(line)
        else:
            messages[-1] += "\n" + line
    return messages


def summarize_protocol_trace(lines: Sequence[str]) -> ProtocolSummary:
    """Statements, round trips, bytes and messages from libpq trace lines
    (``F|B <tab> length <tab> message <tab> arguments``, timestamps suppressed)."""
    tally = ProtocolTally()
    for message_line in _messages(lines):
        parts = message_line.split("\t", 3)
        if len(parts) < 3 or parts[0] not in ("F", "B"):
            continue
        direction, length, message = parts[0], int(parts[1]), parts[2]
        arguments = parts[3] if len(parts) > 3 else ""
        # the length field counts itself but not the one-byte message type
        if direction == "B":
            tally.server(length + 1)
        else:
            tally.client(message, length + 1, _trace_fields(message, arguments))
    return tally.take()


def _trace_fields(message: str, arguments: str) -> tuple[str, ...]:
    """The text fields the tally follows, as the trace prints them."""
    pattern, names = _TRACE_FIELDS.get(message, (None, ()))
    match = pattern.match(arguments) if pattern is not None else None
    return tuple(match[name] for name in names) if match else ()


_TRACE_FIELDS: dict[str, tuple[re.Pattern[str], tuple[str, ...]]] = {
    "Query": (_QUERY, ("sql",)),
    "Parse": (_PARSE, ("name", "sql")),
    "Bind": (_BIND, ("portal", "name")),
    "Execute": (_EXECUTE, ("portal",)),
}
