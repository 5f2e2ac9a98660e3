"""The network between the variants and a server: a delay proxy in front of each networked
backend for the cells run at an added round-trip time (``run --rtt``), and the harnesses
whose connections go through them.

A delayed cell runs on the same database as the direct cells: only the variants' engines and
driver connections go through the proxy (:meth:`~bench.backends.Backend.routed_to`); the
harness's reset and checks keep their direct connection, so no setup pays the delay.
"""

from __future__ import annotations

from contextlib import ExitStack

from bench.backends import Backend
from bench.measure.cells import Harness
from bench.measure.proxy import DelayProxy, ProxyError

#: the largest round-trip time ``--rtt`` takes: a second, past any real network's
MAX_RTT_MS = 1000.0


def parse_rtts(text: str) -> tuple[float, ...]:
    """ "1,10" -> (1.0, 10.0), in milliseconds; ValueError for anything else."""
    try:
        rtts = sorted({float(part) for part in text.split(",") if part.strip()})
    except ValueError:
        rtts = []
    if not rtts or rtts[0] < 0 or any(rtt != rtt for rtt in rtts):
        raise ValueError(
            f"{text!r} is not a comma-separated list of round-trip times in milliseconds"
        )
    if not rtts[-1]:
        raise ValueError(
            "give a round-trip time above 0 (the cells through the proxy at 0 ms, its own "
            "cost, run with any)"
        )
    if rtts[-1] > MAX_RTT_MS:
        raise ValueError(
            f"{rtts[-1]:g} ms is more than the largest round-trip time, {MAX_RTT_MS:g}"
        )
    return tuple(rtts)


class DelayedHarnesses:
    """A backend's harnesses, one per round-trip time, each with its connections through a
    proxy of its own; started on first use, and all stopped by :meth:`close`."""

    def __init__(self, backend: Backend) -> None:
        self.backend = backend
        self._harnesses: dict[float, Harness] = {}
        self._stack = ExitStack()

    def get(self, rtt_ms: float) -> Harness:
        backend = self.backend
        if rtt_ms not in self._harnesses:
            target = backend.tcp_address()
            if target is None:
                raise ProxyError(
                    f"{backend.type.title} is not reached over TCP here, so no delay proxy can "
                    "sit in front of it"
                )
            proxy = self._stack.enter_context(DelayProxy(target, rtt_ms))
            assert proxy.address is not None
            harness = Harness(backend.routed_to(proxy.address.host, proxy.address.port))
            # closed before its proxy stops: the stack unwinds in reverse
            self._stack.callback(harness.close)
            self._harnesses[rtt_ms] = harness
        return self._harnesses[rtt_ms]

    def close(self) -> None:
        self._harnesses.clear()
        self._stack.close()
