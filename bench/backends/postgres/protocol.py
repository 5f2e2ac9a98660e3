"""The PostgreSQL protocol, counted: what one connection's messages say about statements, round
trips and bytes, read either from libpq's protocol trace or from the bytes on the wire.

Both sources feed one :class:`ProtocolTally`, so they count by the same rules:

- a statement is a ``Query`` message (the simple protocol) or an ``Execute`` (the extended one,
  whose text comes from the ``Parse`` of the statement its portal was bound to, also when that
  ``Parse`` was sent long before: asyncpg prepares a statement once per connection);
- a round trip is a run of client messages followed by server messages: a turn of the
  conversation, the client having sent something the server then answered;
- bytes are whole messages (type byte and length field included), as they cross the wire.

:class:`WireReader` takes the raw bytes of a connection, both directions in the order they
crossed (from :class:`bench.measure.wire.WireObserver`), and cuts them into messages. It reads the
startup exchange too (an ``SSLRequest`` is answered by one bare byte), but counts only typed
messages, as the trace, which starts once a connection is open, does.
"""

from __future__ import annotations

import struct
import threading
from collections import Counter
from dataclasses import dataclass, field

#: the client's messages the summaries count by name
COUNTED_MESSAGES = ("Parse", "Bind", "Execute", "Sync", "Query")

#: frontend message type bytes (protocol 3.0) -> the names libpq's trace gives them
FRONTEND_MESSAGES = {
    b"Q": "Query",
    b"P": "Parse",
    b"B": "Bind",
    b"E": "Execute",
    b"S": "Sync",
    b"D": "Describe",
    b"H": "Flush",
    b"C": "Close",
    b"X": "Terminate",
    b"d": "CopyData",
    b"c": "CopyDone",
    b"f": "CopyFail",
    b"F": "FunctionCall",
    b"p": "PasswordMessage",
}
#: the untyped requests a client may open with, by their request code
_SSL_REQUEST = 80877103
_GSSENC_REQUEST = 80877104
_CANCEL_REQUEST = 80877102
_PROTOCOL_3 = 196608


@dataclass
class ProtocolSummary:
    statements: list[str] = field(default_factory=list)
    round_trips: int = 0
    bytes_sent: int = 0
    bytes_received: int = 0
    #: the client's messages of the kinds in COUNTED_MESSAGES (and any other seen), by name
    messages: Counter[str] = field(default_factory=Counter)

    def add(self, other: ProtocolSummary) -> None:
        self.statements.extend(other.statements)
        self.round_trips += other.round_trips
        self.bytes_sent += other.bytes_sent
        self.bytes_received += other.bytes_received
        self.messages.update(other.messages)


class ProtocolTally:
    """One connection's messages, in order: what they add up to while recording. The names of
    prepared statements and portals are followed always, so that an ``Execute`` while recording
    finds the text of a statement prepared before."""

    def __init__(self, recording: bool = True) -> None:
        self.recording = recording
        self.summary = ProtocolSummary()
        self._previous_direction = ""
        self._parsed: dict[str, str] = {}
        self._portals: dict[str, str] = {}

    def client(self, name: str, size: int, fields: tuple[str, ...] = ()) -> None:
        """A client message: its name, its size in bytes, and its leading text fields (the SQL
        of a Query; name and SQL of a Parse; portal and statement of a Bind; portal of an
        Execute)."""
        self._previous_direction = "F"
        if name == "Parse" and len(fields) == 2:
            self._parsed[fields[0]] = fields[1]
        elif name == "Bind" and len(fields) == 2:
            self._portals[fields[0]] = self._parsed.get(fields[1], "?")
        if not self.recording:
            return
        summary = self.summary
        summary.bytes_sent += size
        summary.messages[name] += 1
        if name == "Query":
            summary.statements.append(fields[0] if fields else "?")
        elif name == "Execute":
            summary.statements.append(self._portals.get(fields[0], "?") if fields else "?")

    def server(self, size: int) -> None:
        """A server message of ``size`` bytes."""
        if self.recording:
            self.summary.bytes_received += size
            if self._previous_direction == "F":
                self.summary.round_trips += 1
        self._previous_direction = "B"

    def take(self) -> ProtocolSummary:
        """What was counted since the last take; counting starts again from nothing."""
        taken, self.summary = self.summary, ProtocolSummary()
        return taken


class WireError(Exception):
    """The bytes on a connection cannot be read as the PostgreSQL protocol."""


class WireReader:
    """One connection's bytes, both directions in the order they crossed, cut into protocol
    messages for a :class:`ProtocolTally`. Called from the relay's thread; :meth:`take` from
    the harness's, so both hold the lock."""

    def __init__(self, recording: bool = False) -> None:
        self.tally = ProtocolTally(recording)
        self.lock = threading.Lock()
        self._from_client = bytearray()
        self._from_server = bytearray()
        self._started = False  # the StartupMessage went: client messages are typed from now
        self._answers_due = 0  # requests (SSL, GSS) the server answers with one bare byte
        #: why the connection cannot be read (encrypted), once it cannot
        self.unreadable: str | None = None

    def client_bytes(self, data: bytes) -> None:
        with self.lock:
            if self.unreadable is None:
                self._from_client += data
                self._read_client()

    def server_bytes(self, data: bytes) -> None:
        with self.lock:
            if self.unreadable is None:
                self._from_server += data
                self._read_server()

    def recording(self, on: bool) -> None:
        with self.lock:
            self.tally.recording = on

    def take(self) -> ProtocolSummary:
        with self.lock:
            if self.unreadable is not None:
                raise WireError(self.unreadable)
            return self.tally.take()

    def _read_client(self) -> None:
        buffer = self._from_client
        while True:
            if not self._started:
                if len(buffer) < 8:
                    return
                length, code = struct.unpack_from("!ii", buffer)
                if len(buffer) < length:
                    return
                del buffer[:length]
                if code in (_SSL_REQUEST, _GSSENC_REQUEST):
                    self._answers_due += 1
                elif code == _PROTOCOL_3:
                    self._started = True
                elif code != _CANCEL_REQUEST:
                    self.unreadable = f"a startup request of code {code}, not protocol 3.0"
                    return
                continue
            message = _take_message(buffer)
            if message is None:
                return
            kind, body = message
            name = FRONTEND_MESSAGES.get(kind, f"'{kind.decode('latin-1')}'")
            self.tally.client(name, 5 + len(body), _leading_fields(name, body))

    def _read_server(self) -> None:
        buffer = self._from_server
        while buffer:
            if self._answers_due:
                answer = bytes(buffer[:1])
                del buffer[:1]
                self._answers_due -= 1
                if answer in (b"S", b"G"):
                    self.unreadable = (
                        "the connection is encrypted (TLS or GSS), so its messages cannot be "
                        "read on the wire"
                    )
                    return
                continue
            message = _take_message(buffer)
            if message is None:
                return
            if self._started:
                self.tally.server(5 + len(message[1]))


def _take_message(buffer: bytearray) -> tuple[bytes, bytes] | None:
    """The first whole typed message in ``buffer``, taken out of it: its type byte and its
    body (the length field counts itself and the body, not the type byte); None until one
    has arrived whole."""
    if len(buffer) < 5:
        return None
    length = struct.unpack_from("!i", buffer, 1)[0]
    if len(buffer) < 1 + length:
        return None
    kind, body = bytes(buffer[:1]), bytes(buffer[5 : 1 + length])
    del buffer[: 1 + length]
    return kind, body


def _leading_fields(name: str, body: bytes) -> tuple[str, ...]:
    """The text fields of the messages whose text the tally follows (null-terminated strings
    at the start of the message)."""
    wanted = {"Query": 1, "Parse": 2, "Bind": 2, "Execute": 1}.get(name, 0)
    fields: list[str] = []
    position = 0
    for _ in range(wanted):
        end = body.find(b"\0", position)
        if end < 0:
            break
        fields.append(body[position:end].decode("utf-8", "replace"))
        position = end + 1
    return tuple(fields)
