"""A TCP proxy that puts a network between the client and the database: each direction is
delayed by half the round-trip time asked for. It stands in for ``tc netem``, which these
machines' kernels lack.

Bytes read from one side at time t are written to the other at t + RTT/2, in the order they
were read, whatever else is in flight: a pipeline stays a pipeline (nothing waits for an
answer before the next bytes go). Opening a connection costs one round trip more, as TCP's
handshake does over a real network: the client's first bytes reach the server 1.5 RTT after
it called connect(), and the server's first reach the client no sooner than 2 RTT after.
Both sockets have Nagle's algorithm off (asyncio's default for TCP), as the drivers' own
sockets do.

It runs in a process of its own (``python -m bench.measure.proxy``), so that its work never
holds the benchmark's GIL; :class:`DelayProxy` starts and stops it. The process listens on 127.0.0.1
only, says its port on its first line of output, and exits when its standard input closes:
when the harness stops it, and also when the harness dies without stopping it.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import ctypes
import os
import selectors
import signal
import subprocess
import sys
import tempfile
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from typing import IO, Any

LISTEN_HOST = "127.0.0.1"
_PR_SET_TIMERSLACK = 29
#: how long the parent waits for the proxy process to say its port
START_TIMEOUT_S = 15.0


class ProxyError(Exception):
    """The proxy could not be started; one line for the user."""


# --- the proxy process -----------------------------------------------------------------------


class _DelayedSide(asyncio.Protocol):
    """One side of a proxied connection: what it receives goes to its peer after ``delay``."""

    def __init__(self, loop: asyncio.AbstractEventLoop, delay: float) -> None:
        self.loop = loop
        self.delay = delay
        self.transport: asyncio.Transport | None = None
        self.peer: _DelayedSide | None = None
        #: (due time, bytes) still to be written to the peer; None closes it
        self._pending: deque[tuple[float, bytes | None]] = deque()
        self._timer: asyncio.TimerHandle | None = None
        self._last_due = 0.0
        self.closed = False
        #: whether this side's socket has had its end of input, and been sent its end
        self.eof_in = False
        self.eof_out = False

    # what arrives on this side
    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport

    def data_received(self, data: bytes) -> None:
        self._forward(data)

    def eof_received(self) -> bool:
        self.eof_in = True
        self._forward(None)
        self._close_when_done()
        return True  # keep the other half open until the peer has had its bytes

    def _close_when_done(self) -> None:
        # both directions ended: free the socket now, not when the collector gets to it
        if self.eof_in and self.eof_out and self.transport is not None:
            self.transport.close()

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        self._forward(None)

    def _forward(self, data: bytes | None, extra_delay: float = 0.0) -> None:
        # never earlier than what came before: the order of the bytes is kept
        due = max(self.loop.time() + self.delay + extra_delay, self._last_due)
        self._last_due = due
        self._pending.append((due, data))
        self._schedule()

    def _schedule(self) -> None:
        if self._timer is not None or not self._pending or self.peer is None:
            return
        if self.peer.transport is None:
            return  # the peer's connection is not open yet; it calls _schedule when it is
        due = self._pending[0][0]
        if due <= self.loop.time():
            self._flush()
        else:
            self._timer = self.loop.call_at(due, self._flush)

    def _flush(self) -> None:
        self._timer = None
        peer = self.peer
        assert peer is not None and peer.transport is not None
        now = self.loop.time()
        while self._pending and self._pending[0][0] <= now:
            _, data = self._pending.popleft()
            if peer.transport.is_closing():
                self._pending.clear()
                break
            if data is None:
                if peer.transport.can_write_eof() and not self.closed:
                    peer.transport.write_eof()
                    peer.eof_out = True
                    peer._close_when_done()
                else:
                    peer.transport.close()
            else:
                peer.transport.write(data)
        self._schedule()

    # flow control: a peer that cannot keep up stops this side's reading
    def pause_writing(self) -> None:
        if self.peer is not None and self.peer.transport is not None:
            self.peer.transport.pause_reading()

    def resume_writing(self) -> None:
        if self.peer is not None and self.peer.transport is not None:
            self.peer.transport.resume_reading()


class _ClientSide(_DelayedSide):
    """The side the database client connected to; it opens the server side."""

    def __init__(
        self, loop: asyncio.AbstractEventLoop, delay: float, target: tuple[str, int]
    ) -> None:
        super().__init__(loop, delay)
        self.target = target
        self._opening: asyncio.Task[None] | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        super().connection_made(transport)
        server_side = _DelayedSide(self.loop, self.delay)
        server_side.peer, self.peer = self, server_side
        # what TCP's handshake costs over a real network: the client's first bytes reach the
        # server 1.5 round trips after it called connect(), and nothing the server says
        # (a greeting, where the server speaks first) reaches the client before 2
        accepted = self.loop.time()
        self._last_due = accepted + 3 * self.delay
        server_side._last_due = accepted + 4 * self.delay
        self._opening = self.loop.create_task(self._open(server_side))

    async def _open(self, server_side: _DelayedSide) -> None:
        try:
            await self.loop.create_connection(lambda: server_side, *self.target)
        except OSError:
            if self.transport is not None:
                self.transport.close()  # the client sees the server refuse it
            return
        self._schedule()
        server_side._schedule()


async def serve(target: tuple[str, int], rtt_ms: float, ready: Callable[[int], None]) -> None:
    """Proxy connections to ``target`` until standard input closes or a signal arrives."""
    loop = asyncio.get_running_loop()
    delay = rtt_ms / 2000
    server = await loop.create_server(
        lambda: _ClientSide(loop, delay, target), LISTEN_HOST, 0, reuse_address=True
    )
    port = server.sockets[0].getsockname()[1]
    stop: asyncio.Future[None] = loop.create_future()

    def finish() -> None:
        if not stop.done():
            stop.set_result(None)

    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, finish)
    stdin = os.fdopen(sys.stdin.fileno(), "rb", buffering=0, closefd=False)
    reader = asyncio.StreamReader()
    await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader), stdin)
    ready(port)

    async def parent_gone() -> None:
        while await reader.read(4096):
            pass
        finish()

    watcher = loop.create_task(parent_gone())
    try:
        await stop
    finally:
        watcher.cancel()
        server.close()


def new_event_loop() -> asyncio.AbstractEventLoop:
    # select() waits to the microsecond; epoll and poll round their timeouts up to a whole
    # millisecond, which would add up to 1 ms to a delay of 0.5 ms. A proxy has few sockets
    return asyncio.SelectorEventLoop(selectors.SelectSelector())


def _tighten_timer_slack() -> None:
    """Linux lets a sleep overrun by 50 µs by default (the timer slack), in each direction;
    the proxy asks for 1 µs, where the system allows it."""
    with contextlib.suppress(OSError, AttributeError):
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(_PR_SET_TIMERSLACK, 1000, 0, 0, 0)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m bench.measure.proxy", description="a TCP proxy that adds a round-trip time"
    )
    parser.add_argument("--target", required=True, help="HOST:PORT to forward to")
    parser.add_argument("--rtt-ms", type=float, required=True, help="round-trip time to add")
    arguments = parser.parse_args(argv)
    host, _, port = arguments.target.rpartition(":")
    if not host or not port.isdigit() or arguments.rtt_ms < 0:
        parser.error("--target must be HOST:PORT and --rtt-ms at least 0")

    def ready(listening: int) -> None:
        print(f"listening {LISTEN_HOST} {listening}", flush=True)

    _tighten_timer_slack()
    loop = new_event_loop()
    try:
        loop.run_until_complete(serve((host.strip("[]"), int(port)), arguments.rtt_ms, ready))
    finally:
        loop.close()
    return 0


# --- the harness's side ----------------------------------------------------------------------


@dataclass(frozen=True)
class ProxyAddress:
    host: str
    port: int


class DelayProxy:
    """A running proxy process in front of ``target`` that adds ``rtt_ms`` per round trip;
    a context manager, stopped (and its process gone) when it exits."""

    def __init__(self, target: tuple[str, int], rtt_ms: float) -> None:
        self.target = target
        self.rtt_ms = rtt_ms
        self._process: subprocess.Popen[str] | None = None
        self.address: ProxyAddress | None = None
        self._errors: IO[str] | None = None

    def start(self) -> ProxyAddress:
        host, port = self.target
        self._errors = tempfile.TemporaryFile("w+")  # noqa: SIM115 (closed by stop())
        self._process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "bench.measure.proxy",
                "--target",
                f"{host}:{port}",
                "--rtt-ms",
                repr(self.rtt_ms),
            ],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            # a file, not a pipe: a pipe nobody reads would stall the proxy once it filled
            stderr=self._errors,
            text=True,
            # Ctrl-C in the terminal goes to the harness, which stops the proxy itself
            start_new_session=True,
        )
        line = _first_line(self._process, START_TIMEOUT_S)
        parts = line.split()
        if len(parts) != 3 or parts[0] != "listening" or not parts[2].isdigit():
            error = self.stop() or line or "no output"
            raise ProxyError(f"the delay proxy did not start: {error}")
        self.address = ProxyAddress(parts[1], int(parts[2]))
        return self.address

    def stop(self) -> str:
        """Stop the process; what it said on stderr, if anything."""
        process, self._process = self._process, None
        if process is None:
            return ""
        with contextlib.suppress(OSError):
            if process.stdin is not None:
                process.stdin.close()  # the proxy exits when its standard input closes
        try:
            process.wait(timeout=5)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        if process.stdout is not None:
            process.stdout.close()
        errors = ""
        if self._errors is not None:
            self._errors.seek(0)
            errors = self._errors.read()
            self._errors.close()
            self._errors = None
        return errors.strip().splitlines()[-1] if errors.strip() else ""

    @property
    def running(self) -> bool:
        return self._process is not None and self._process.poll() is None

    @property
    def pid(self) -> int | None:
        return self._process.pid if self._process is not None else None

    def __enter__(self) -> DelayProxy:
        self.start()
        return self

    def __exit__(self, *exc_info: Any) -> None:
        self.stop()


def _first_line(process: subprocess.Popen[str], timeout: float) -> str:
    assert process.stdout is not None
    selector = selectors.DefaultSelector()
    selector.register(process.stdout, selectors.EVENT_READ)
    try:
        if not selector.select(timeout):
            return ""
    finally:
        selector.close()
    return process.stdout.readline().strip()


if __name__ == "__main__":
    sys.exit(main())
