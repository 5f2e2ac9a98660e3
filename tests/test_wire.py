"""The wire observer: the PostgreSQL protocol read from raw bytes (:class:`WireReader`), and the
relay that shows a connection's bytes to it in the order they crossed (:class:`WireObserver`)."""

from __future__ import annotations

import socket
import struct
import threading
from collections.abc import Iterator

import pytest

from bench.backends.postgres.protocol import ProtocolSummary, WireError, WireReader
from bench.measure.wire import WireObserver


def message(kind: bytes, body: bytes = b"") -> bytes:
    return kind + struct.pack("!i", 4 + len(body)) + body


def cstrings(*texts: str) -> bytes:
    return b"".join(text.encode() + b"\0" for text in texts)


SSL_REQUEST = struct.pack("!ii", 8, 80877103)
_STARTUP_BODY = cstrings("user", "bench", "")
STARTUP = struct.pack("!ii", 8 + len(_STARTUP_BODY), 196608) + _STARTUP_BODY
READY = message(b"Z", b"I")
SERVER_HELLO = message(b"R", struct.pack("!i", 0)) + message(b"K", bytes(8)) + READY
# a named statement prepared once, then bound and run twice (as asyncpg does), then a Query
PREPARE_AND_RUN = (
    message(b"P", cstrings("stmt_1", "SELECT 1") + struct.pack("!h", 0))
    + message(b"B", cstrings("", "stmt_1") + bytes(6))
    + message(b"E", cstrings("") + bytes(4))
    + message(b"S")
)
RUN_AGAIN = (
    message(b"B", cstrings("", "stmt_1") + bytes(6))
    + message(b"E", cstrings("") + bytes(4))
    + message(b"S")
)
QUERY = message(b"Q", cstrings("COMMIT"))
ANSWER = message(b"1") + message(b"2") + message(b"C", cstrings("SELECT 1")) + READY
QUERY_ANSWER = message(b"C", cstrings("COMMIT")) + READY


def conversation(reader: WireReader, chunk: int) -> ProtocolSummary:
    """The startup (not recorded), then three turns, recorded; bytes fed ``chunk`` at a time."""

    def client(data: bytes) -> None:
        for start in range(0, len(data), chunk):
            reader.client_bytes(data[start : start + chunk])

    def server(data: bytes) -> None:
        for start in range(0, len(data), chunk):
            reader.server_bytes(data[start : start + chunk])

    client(SSL_REQUEST)
    server(b"N")
    client(STARTUP)
    server(SERVER_HELLO)
    reader.recording(True)
    client(PREPARE_AND_RUN)
    server(ANSWER)
    client(RUN_AGAIN)
    server(ANSWER)
    client(QUERY)
    server(QUERY_ANSWER)
    return reader.take()


@pytest.mark.parametrize("chunk", [1, 3, 7, 1 << 16])
def test_the_reader_counts_messages_statements_round_trips_and_bytes(chunk: int) -> None:
    summary = conversation(WireReader(), chunk)
    # the second Execute's text comes from the Parse of the statement its portal was bound to
    assert summary.statements == ["SELECT 1", "SELECT 1", "COMMIT"]
    assert summary.round_trips == 3
    assert dict(summary.messages) == {"Parse": 1, "Bind": 2, "Execute": 2, "Sync": 2, "Query": 1}
    assert summary.bytes_sent == len(PREPARE_AND_RUN) + len(RUN_AGAIN) + len(QUERY)
    assert summary.bytes_received == 2 * len(ANSWER) + len(QUERY_ANSWER)


def test_the_reader_follows_statements_prepared_before_recording() -> None:
    reader = WireReader()
    for data, side in ((SSL_REQUEST, "c"), (b"N", "s"), (STARTUP, "c"), (SERVER_HELLO, "s")):
        (reader.client_bytes if side == "c" else reader.server_bytes)(data)
    reader.client_bytes(PREPARE_AND_RUN)  # the warm-up, not recorded
    reader.server_bytes(ANSWER)
    assert reader.take() == ProtocolSummary()
    reader.recording(True)
    reader.client_bytes(RUN_AGAIN)
    reader.server_bytes(ANSWER)
    summary = reader.take()
    assert summary.statements == ["SELECT 1"]
    assert summary.messages["Parse"] == 0


def test_an_encrypted_connection_is_refused_in_words() -> None:
    reader = WireReader(recording=True)
    reader.client_bytes(SSL_REQUEST)
    reader.server_bytes(b"S")
    reader.server_bytes(b"\x16\x03\x01 tls handshake")
    with pytest.raises(WireError, match="encrypted"):
        reader.take()


@pytest.fixture
def echo_server() -> Iterator[tuple[str, int]]:
    """A TCP server on loopback that sends back whatever it receives."""
    listener = socket.create_server(("127.0.0.1", 0))
    listener.settimeout(0.05)
    stop = threading.Event()

    def serve() -> None:
        while not stop.is_set():
            try:
                connection, _ = listener.accept()
            except TimeoutError:
                continue
            connection.settimeout(None)
            with connection:
                while data := connection.recv(65536):
                    connection.sendall(data)

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    yield listener.getsockname()
    stop.set()
    thread.join(5)
    listener.close()


class Recorder:
    def __init__(self) -> None:
        self.crossed: list[tuple[str, bytes]] = []

    def client_bytes(self, data: bytes) -> None:
        self.crossed.append(("client", data))

    def server_bytes(self, data: bytes) -> None:
        self.crossed.append(("server", data))

    def sent(self, side: str) -> bytes:
        return b"".join(data for who, data in self.crossed if who == side)


def test_the_relay_shows_every_byte_in_order_and_settles(echo_server: tuple[str, int]) -> None:
    threads_before = set(threading.enumerate())
    with WireObserver(echo_server, Recorder) as relay:
        assert relay.address is not None
        with socket.create_connection(relay.address) as client:
            for turn in range(20):
                payload = bytes([turn]) * (1 + turn * 997)
                client.sendall(payload)
                received = b""
                while len(received) < len(payload):
                    received += client.recv(65536)
                assert received == payload
            # written and not waited for: settle() returns only once the relay has shown it
            client.sendall(b"last words")
            relay.settle()
            (recorder,) = relay.readers
            assert recorder.sent("client").endswith(b"last words")
            echoed = b"".join(bytes([turn]) * (1 + turn * 997) for turn in range(20))
            assert recorder.sent("server").startswith(echoed)
    assert not relay.running
    assert set(threading.enumerate()) <= threads_before
