"""A wire observer: a relay between database clients and a server that shows every byte to a
reader of each connection's own, in an order that tells the round trips apart. It counts what
a driver without a protocol trace of its own (asyncpg) sends and receives.

A round trip is a turn of the conversation: the client sent something, then waited for the
server's answer. Bytes alone do not say whether a client waited: a driver may send a command
and, without reading the server's first answer, go on sending (asyncpg writes a COPY's rows
right after the COPY command, and the server's "send the rows" comes back meanwhile). So the
relay holds what the server sends for a moment (:data:`HOLD_SECONDS`) before passing it on,
and shows it to the reader only then: whatever the client sent before it could possibly have
seen the server's bytes is shown first. A client that waits gets its answer a moment later;
the relay only ever carries the counted executions, which are not timed.

It runs on an event loop in a thread of the harness's own process, so the harness reads the
counts directly, and listens on 127.0.0.1 only.
"""

from __future__ import annotations

import array
import asyncio
import fcntl
import socket
import termios
import threading
from collections.abc import Callable
from typing import Any, Generic, Protocol, TypeVar

LISTEN_HOST = "127.0.0.1"
#: how long the client must have sent nothing before the server's bytes are passed on to it:
#: longer than a driver takes between two writes it makes without waiting (encoding a COPY's
#: next chunk of rows, a pipeline's next batch), short enough to keep counting quick
HOLD_SECONDS = 0.005
#: the longest the server's bytes are held, however long the client goes on sending
HOLD_LIMIT_SECONDS = 1.0
#: how long starting, settling or stopping the relay may take before it is given up on
_WAIT_SECONDS = 10.0
#: loop turns a release waits, at most, for the client's bytes already in its socket
_DRAIN_TURNS = 100


class ConnectionReader(Protocol):
    """Shown one connection's bytes: the client's as they arrive, the server's as they are
    passed on to the client."""

    def client_bytes(self, data: bytes) -> None: ...

    def server_bytes(self, data: bytes) -> None: ...


ReaderT = TypeVar("ReaderT", bound=ConnectionReader)


class _ServerSide(asyncio.Protocol):
    def __init__(self, relay: _Relay) -> None:
        self.relay = relay

    def data_received(self, data: bytes) -> None:
        self.relay.from_server(data)

    def eof_received(self) -> bool:
        self.relay.server_ended()
        return True

    def connection_lost(self, exc: Exception | None) -> None:
        self.relay.server_ended()


class _Relay(asyncio.Protocol):
    """One client connection and the connection to the server it opens."""

    def __init__(
        self,
        loop: asyncio.AbstractEventLoop,
        target: tuple[str, int],
        reader: ConnectionReader,
        holding: Callable[[], bool],
    ) -> None:
        self.loop = loop
        self.target = target
        self.reader = reader
        self._holding_wanted = holding
        self.client: asyncio.Transport | None = None
        self.server: asyncio.Transport | None = None
        self._to_server: list[bytes] = []  # before the server connection is open
        self._held: list[bytes] = []
        self._holding = False
        self._held_since = 0.0
        self._last_client_bytes = 0.0
        self._client_spoke = False  # since the server's bytes were last passed on
        self._server_done = False

    # the client's side
    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.client = transport
        self.loop.create_task(self._open())

    async def _open(self) -> None:
        try:
            transport, _ = await self.loop.create_connection(
                lambda: _ServerSide(self), *self.target
            )
        except OSError:
            if self.client is not None:
                self.client.close()
            return
        if self.client is None or self.client.is_closing():
            transport.close()  # the client left while the server was being reached
            return
        self.server = transport
        for data in self._to_server:
            transport.write(data)
        self._to_server.clear()

    def data_received(self, data: bytes) -> None:
        self.reader.client_bytes(data)
        self._client_spoke = True
        self._last_client_bytes = self.loop.time()
        if self.server is None:
            self._to_server.append(data)
        else:
            self.server.write(data)

    def eof_received(self) -> bool:
        if self.server is not None and self.server.can_write_eof():
            self.server.write_eof()
        return True

    def connection_lost(self, exc: Exception | None) -> None:
        if self.server is not None:
            self.server.close()

    # the server's side
    def from_server(self, data: bytes) -> None:
        self._held.append(data)
        if not self._holding:
            self._holding = True
            self._held_since = self.loop.time()
            if self._client_spoke and self._holding_wanted():
                self.loop.call_later(HOLD_SECONDS, self._release, _DRAIN_TURNS)
            else:  # the client has sent nothing since: no turn can end here
                self._release(0)

    def _release(self, turns_left: int) -> None:
        now = self.loop.time()
        quiet_until = self._last_client_bytes + HOLD_SECONDS
        if quiet_until > now and now - self._held_since < HOLD_LIMIT_SECONDS:
            # the client is still sending without having seen these bytes: hold on
            self.loop.call_at(quiet_until, self._release, turns_left)
            return
        # the client's bytes already in its socket were sent before it could see these:
        # they are read (and shown) first
        if turns_left and self.client is not None and _pending(self.client):
            self.loop.call_soon(self._release, turns_left - 1)
            return
        self._holding = False
        self._client_spoke = False
        held, self._held = self._held, []
        for data in held:
            self.reader.server_bytes(data)
            if self.client is not None and not self.client.is_closing():
                self.client.write(data)
        if self._server_done:
            self._close_client()

    def server_ended(self) -> None:
        self._server_done = True
        if not self._holding:
            self._close_client()

    def _close_client(self) -> None:
        if self.client is not None and not self.client.is_closing():
            self.client.close()

    def close(self) -> None:
        for transport in (self.client, self.server):
            if transport is not None:
                transport.close()


def _pending(transport: asyncio.Transport) -> int:
    """Bytes waiting in the transport's socket, not yet read."""
    sock: socket.socket | None = transport.get_extra_info("socket")
    if sock is None or transport.is_closing():
        return 0
    count = array.array("i", [0])
    try:
        fcntl.ioctl(sock.fileno(), termios.FIONREAD, count)
    except OSError:
        return 0
    return count[0]


class WireObserver(Generic[ReaderT]):
    """A relay to ``target``; each connection made to :attr:`address` gets a reader from
    ``new_reader``, kept in :attr:`readers` (closed connections' too). A context manager."""

    def __init__(self, target: tuple[str, int], new_reader: Callable[[], ReaderT]) -> None:
        self.target = target
        self._new_reader = new_reader
        self.readers: list[ReaderT] = []
        self.address: tuple[str, int] | None = None
        #: whether the server's bytes are held (while what crosses is counted; at other times
        #: the order of turns matters to nobody and the connections go at full speed)
        self.hold = True
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._server: asyncio.Server | None = None
        self._relays: list[_Relay] = []

    def start(self) -> tuple[str, int]:
        loop = self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=loop.run_forever, name="wire-observer", daemon=True)
        self._thread.start()
        try:
            server: asyncio.Server = self._call(loop.create_server(self._accept, LISTEN_HOST, 0))
        except BaseException:
            self.stop()
            raise
        self._server = server
        self.address = (LISTEN_HOST, server.sockets[0].getsockname()[1])
        return self.address

    def _accept(self) -> _Relay:
        assert self._loop is not None
        reader = self._new_reader()
        self.readers.append(reader)
        relay = _Relay(self._loop, self.target, reader, lambda: self.hold)
        self._relays.append(relay)
        return relay

    def settle(self) -> None:
        """Return once every byte a client has written so far has been shown to its reader,
        and nothing the server sent is still held. Bytes already in a socket are read in the
        loop's next turn, before a callback scheduled from within that turn runs."""

        async def settled() -> None:
            while True:
                await asyncio.sleep(0)
                await asyncio.sleep(0)
                if not any(relay._holding for relay in self._relays):
                    return
                await asyncio.sleep(HOLD_SECONDS / 5)

        if self._loop is not None:
            self._call(settled())

    def _call(self, awaitable: Any) -> Any:
        assert self._loop is not None

        async def awaited() -> Any:
            return await awaitable

        return asyncio.run_coroutine_threadsafe(awaited(), self._loop).result(_WAIT_SECONDS)

    def stop(self) -> None:
        loop, self._loop = self._loop, None
        if loop is None:
            return

        async def close_all() -> None:
            for relay in self._relays:
                relay.close()
            if self._server is not None:
                self._server.close()
                await self._server.wait_closed()

        try:
            asyncio.run_coroutine_threadsafe(close_all(), loop).result(_WAIT_SECONDS)
        finally:
            loop.call_soon_threadsafe(loop.stop)
            if self._thread is not None:
                self._thread.join(_WAIT_SECONDS)
            if not loop.is_running():  # else the thread is stuck; it is a daemon
                loop.close()
            self._relays.clear()

    @property
    def running(self) -> bool:
        return self._loop is not None

    def __enter__(self) -> WireObserver[ReaderT]:
        self.start()
        return self

    def __exit__(self, *exc_info: Any) -> None:
        self.stop()
