"""A wire observer: a relay between database clients and a server that shows every byte, each
direction in the order it crossed, to a reader of each connection's own. It counts what a
driver without a protocol trace of its own (asyncpg) sends and receives.

It is the delay proxy's relay (:mod:`bench.proxy`) with no delay, run on an event loop in a
thread of the harness's own process: it only ever carries the counted executions, which are
untimed, and the harness reads its counts directly. It listens on 127.0.0.1 only.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable
from typing import Any, Generic, TypeVar

from bench.proxy import LISTEN_HOST, ConnectionTap, ProxyAddress, _ClientSide, new_event_loop

ReaderT = TypeVar("ReaderT", bound=ConnectionTap)
#: how long starting or settling the relay may take before it is given up on
_WAIT_SECONDS = 10.0


class WireObserver(Generic[ReaderT]):
    """A relay to ``target``; each connection made to :attr:`address` gets a reader from
    ``new_reader``, kept in :attr:`readers` (closed connections' too). A context manager."""

    def __init__(self, target: tuple[str, int], new_reader: Callable[[], ReaderT]) -> None:
        self.target = target
        self._new_reader = new_reader
        self.readers: list[ReaderT] = []
        self.address: ProxyAddress | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._server: asyncio.Server | None = None
        self._sides: list[_ClientSide] = []

    def start(self) -> ProxyAddress:
        loop = self._loop = new_event_loop()
        self._thread = threading.Thread(target=loop.run_forever, name="wire-observer", daemon=True)
        self._thread.start()
        server = self._call(loop.create_server(self._accept, LISTEN_HOST, 0))
        self._server = server
        self.address = ProxyAddress(LISTEN_HOST, server.sockets[0].getsockname()[1])
        return self.address

    def _accept(self) -> _ClientSide:
        assert self._loop is not None
        reader = self._new_reader()
        self.readers.append(reader)
        side = _ClientSide(self._loop, 0.0, self.target, reader)
        self._sides.append(side)
        return side

    def settle(self) -> None:
        """Return once every byte a client has written so far has been read and shown to its
        reader (and passed on). Bytes already in a socket are read in the loop's next turn,
        before a callback scheduled from within that turn runs: two turns suffice."""

        async def two_turns() -> None:
            await asyncio.sleep(0)
            await asyncio.sleep(0)

        if self._loop is not None:
            self._call(two_turns())

    def _call(self, awaitable: Any) -> Any:
        assert self._loop is not None
        return asyncio.run_coroutine_threadsafe(_awaited(awaitable), self._loop).result(
            _WAIT_SECONDS
        )

    def stop(self) -> None:
        loop, self._loop = self._loop, None
        if loop is None:
            return

        async def close_all() -> None:
            if self._server is not None:
                self._server.close()
            for side in self._sides:
                for transport in (side.transport, side.peer.transport if side.peer else None):
                    if transport is not None:
                        transport.close()
            await asyncio.sleep(0)  # the transports' closing callbacks run

        try:
            asyncio.run_coroutine_threadsafe(close_all(), loop).result(_WAIT_SECONDS)
        finally:
            loop.call_soon_threadsafe(loop.stop)
            if self._thread is not None:
                self._thread.join(_WAIT_SECONDS)
            loop.close()
            self._sides.clear()

    @property
    def running(self) -> bool:
        return self._loop is not None

    def __enter__(self) -> WireObserver[ReaderT]:
        self.start()
        return self

    def __exit__(self, *exc_info: Any) -> None:
        self.stop()


async def _awaited(awaitable: Any) -> Any:
    return await awaitable
