"""The delay proxy (``run --rtt``): it keeps the bytes in order, delays each direction by half
the round-trip time asked for, passes a pipeline through without serialising it, survives a
client that leaves mid-message, and is gone when the run is."""

from __future__ import annotations

import json
import random
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from bench.backends import Backend, backend_types
from bench.measure.cells import Cell, Harness
from bench.measure.network import DelayedHarnesses, parse_rtts
from bench.measure.proxy import DelayProxy, ProxyError
from bench.measure.workloads import WORKLOADS

from helpers import bench, one_error_line, processes_under, throwaway_postgres_env


class EchoServer:
    """A TCP server that sends back what it receives, and notes when each chunk arrived."""

    def __init__(self) -> None:
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port = self.listener.getsockname()[1]
        self.arrivals: list[float] = []
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while True:
            try:
                connection, _ = self.listener.accept()
            except OSError:
                return
            connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            threading.Thread(target=self._echo, args=(connection,), daemon=True).start()

    def _echo(self, connection: socket.socket) -> None:
        with connection:
            while True:
                try:
                    data = connection.recv(65536)
                except OSError:
                    return
                if not data:
                    return
                self.arrivals.append(time.perf_counter())
                connection.sendall(data)

    def close(self) -> None:
        self.listener.close()


@pytest.fixture
def echo() -> Iterator[EchoServer]:
    server = EchoServer()
    yield server
    server.close()


def _connect(proxy: DelayProxy) -> socket.socket:
    assert proxy.address is not None
    client = socket.create_connection((proxy.address.host, proxy.address.port))
    client.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    return client


def _receive(client: socket.socket, length: int) -> bytes:
    received = b""
    while len(received) < length:
        chunk = client.recv(65536)
        assert chunk, "the proxy closed the connection"
        received += chunk
    return received


@pytest.mark.parametrize("rtt_ms", [0.0, 1.0])
def test_the_proxy_keeps_the_order_of_the_bytes(echo: EchoServer, rtt_ms: float) -> None:
    rng = random.Random(7)
    # chunks of every size, back to back, each numbered, so a swap would show
    chunks = [f"<{n}>".encode() + rng.randbytes(rng.randint(0, 3000)) for n in range(300)]
    sent = b"".join(chunks)
    with DelayProxy(("127.0.0.1", echo.port), rtt_ms) as proxy:
        client = _connect(proxy)
        with client:
            # read while sending: neither side's buffers need to hold it all
            received: list[bytes] = []
            reader = threading.Thread(
                target=lambda: received.append(_receive(client, len(sent))), daemon=True
            )
            reader.start()
            for chunk in chunks:
                client.sendall(chunk)
            reader.join(timeout=30)
    assert received == [sent]


def test_the_proxy_delays_each_direction_by_half_the_round_trip(echo: EchoServer) -> None:
    # the least of many exchanges: noise only ever adds time
    outbound, inbound = [], []
    with DelayProxy(("127.0.0.1", echo.port), 1.0) as proxy:
        client = _connect(proxy)
        with client:
            for _ in range(60):
                echo.arrivals.clear()
                started = time.perf_counter()
                client.sendall(b"ping")
                _receive(client, 4)
                back = time.perf_counter()
                outbound.append(echo.arrivals[0] - started)
                inbound.append(back - echo.arrivals[0])
    for direction in (outbound, inbound):
        assert 0.5e-3 <= min(direction) <= 0.8e-3, sorted(direction)[:5]


def test_the_first_bytes_pay_for_the_handshake_as_over_a_real_network(echo: EchoServer) -> None:
    with DelayProxy(("127.0.0.1", echo.port), 20.0) as proxy:
        started = time.perf_counter()
        client = _connect(proxy)
        with client:
            client.sendall(b"hello")
            _receive(client, 5)
            first = time.perf_counter() - started
            started = time.perf_counter()
            client.sendall(b"again")
            _receive(client, 5)
            second = time.perf_counter() - started
    # connect + first exchange: two round trips; then one
    assert 40e-3 <= first < 60e-3
    assert 20e-3 <= second < 30e-3


def test_a_pipeline_stays_a_pipeline(echo: EchoServer) -> None:
    with DelayProxy(("127.0.0.1", echo.port), 20.0) as proxy:
        client = _connect(proxy)
        with client:
            client.sendall(b"x")
            _receive(client, 1)  # the handshake's round trip is behind us
            for _ in range(50):
                client.sendall(b"0123456789")
                time.sleep(0.001)  # each its own segment, read by the proxy on its own
            last_sent = time.perf_counter()
            _receive(client, 500)
            after_last = time.perf_counter() - last_sent
    # the echoes of 50 messages, sent over 50 ms, are all back one round trip after the last
    # was sent; a proxy that waited for each answer before passing on the next would take 50
    assert 20e-3 * 0.5 <= after_last < 1.5 * 20e-3


def test_the_proxy_survives_a_client_that_leaves_mid_message(echo: EchoServer) -> None:
    with DelayProxy(("127.0.0.1", echo.port), 1.0) as proxy:
        for _ in range(3):
            rude = _connect(proxy)
            rude.sendall(b"half a mess")
            # an abortive close: the proxy sees a reset, not an orderly end
            rude.setsockopt(
                socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00"
            )
            rude.close()
        time.sleep(0.05)
        assert proxy.running
        client = _connect(proxy)
        with client:
            client.sendall(b"still here")
            assert _receive(client, 10) == b"still here"


def _listening(port: int) -> list[str]:
    """The local addresses (hex, as the kernel lists them) listening on ``port``."""
    found = []
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            lines = Path(table).read_text().splitlines()[1:]
        except OSError:
            continue
        for line in lines:
            local, state = line.split()[1], line.split()[3]
            address, _, hex_port = local.rpartition(":")
            if state == "0A" and int(hex_port, 16) == port:
                found.append(address)
    return found


def test_the_proxy_listens_on_loopback_only_and_is_gone_when_stopped(echo: EchoServer) -> None:
    proxy = DelayProxy(("127.0.0.1", echo.port), 1.0)
    address = proxy.start()
    pid = proxy.pid
    assert _listening(address.port) == ["0100007F"]  # 127.0.0.1, and nothing else
    proxy.stop()
    assert _listening(address.port) == []
    assert pid is not None and not Path(f"/proc/{pid}").exists()  # stopped and reaped
    with pytest.raises(OSError):
        socket.create_connection((address.host, address.port), timeout=1).close()


def test_connections_that_end_cleanly_free_their_sockets(echo: EchoServer) -> None:
    with DelayProxy(("127.0.0.1", echo.port), 0.0) as proxy:
        descriptors = Path(f"/proc/{proxy.pid}/fd")
        before = len(list(descriptors.iterdir()))
        for _ in range(200):
            client = _connect(proxy)
            client.sendall(b"bye")
            _receive(client, 3)
            client.shutdown(socket.SHUT_WR)
            assert client.recv(10) == b""  # the server's end reached the client
            client.close()
        time.sleep(0.2)
        assert len(list(descriptors.iterdir())) <= before + 4


def test_a_server_that_refuses_closes_the_client() -> None:
    with socket.create_server(("127.0.0.1", 0)) as taken:
        port = taken.getsockname()[1]
    with DelayProxy(("127.0.0.1", port), 1.0) as proxy:
        client = _connect(proxy)
        with client:
            client.settimeout(5)
            client.sendall(b"anyone?")
            assert client.recv(10) == b""
        assert proxy.running


def test_the_proxy_exits_when_the_harness_dies_without_stopping_it(echo: EchoServer) -> None:
    # the proxy's parent is gone the moment its standard input closes
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "bench.measure.proxy",
            "--target",
            f"127.0.0.1:{echo.port}",
            "--rtt-ms",
            "1",
        ],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    assert process.stdout is not None and process.stdout.readline().startswith("listening ")
    assert process.stdin is not None
    process.stdin.close()
    assert process.wait(timeout=5) == 0
    process.stdout.close()


def test_a_proxy_that_cannot_start_says_why() -> None:
    with pytest.raises(ProxyError, match="did not start"):
        DelayProxy(("no host here", 1), -1.0).start()


def test_round_trip_times_are_parsed_or_refused() -> None:
    assert parse_rtts("10,1,1") == (1.0, 10.0)
    assert parse_rtts("0.5") == (0.5,)
    for bad in ("", "a", "-1", "1,nan", "5000", "0"):
        with pytest.raises(ValueError):
            parse_rtts(bad)


# --- through a real server ---------------------------------------------------------------------


@pytest.mark.postgres
def test_a_pipelined_executemany_keeps_its_round_trips_through_the_proxy(
    postgres_backend: Backend, postgres_harness: Harness
) -> None:
    # dbapi's crud_update at size 100 is psycopg's executemany: 100 UPDATEs, pipelined
    cell = Cell("crud_update", "dbapi", "postgres", 100)
    case = WORKLOADS["crud_update"].case(100)
    direct = postgres_harness.count(cell, case)
    delayed = DelayedHarnesses(postgres_backend)
    try:
        through = delayed.get(10.0)
        proxied = through.count(cell, case)
        run = through.variant("dbapi").crud_update
        timings = []
        for _ in range(3):
            postgres_backend.reset(case.seed)
            started = time.perf_counter()
            run(case.argument)
            timings.append(time.perf_counter() - started)
        elapsed = min(timings)
    finally:
        delayed.close()
    assert direct.db_statements > 100 > direct.round_trips
    assert (proxied.db_statements, proxied.round_trips) == (
        direct.db_statements,
        direct.round_trips,
    )
    # the delay costs about as many round-trip times as the trace counts turns (the rest is
    # the client's and the server's work), far from one per statement
    assert direct.round_trips * 10e-3 <= elapsed < (direct.round_trips + 5) * 10e-3


@pytest.mark.postgres
def test_a_routed_backend_reaches_the_same_database(postgres_backend: Backend) -> None:
    target = postgres_backend.tcp_address()
    assert target is not None
    with DelayProxy(target, 0.0) as proxy:
        assert proxy.address is not None
        routed = postgres_backend.routed_to(proxy.address.host, proxy.address.port)
        assert routed.url.port == proxy.address.port != postgres_backend.url.port
        schemas = []
        for backend in (postgres_backend, routed):
            connection = backend.connect_dbapi()
            try:
                cursor = connection.cursor()
                cursor.execute("SELECT current_schema(), inet_server_port()")
                schemas.append(cursor.fetchall())
            finally:
                connection.close()
    assert schemas[0] == schemas[1]  # the same schema on the same server


@pytest.mark.postgres
def test_the_distance_to_the_server_is_the_least_select_1(postgres_backend: Backend) -> None:
    seconds = postgres_backend.round_trip_seconds(exchanges=50)
    target = postgres_backend.tcp_address()
    assert target is not None
    with DelayProxy(target, 5.0) as proxy:
        assert proxy.address is not None
        routed = postgres_backend.routed_to(proxy.address.host, proxy.address.port)
        delayed = routed.round_trip_seconds(exchanges=20)
    assert 0 < seconds < 5e-3 <= delayed < 5e-3 + seconds + 2e-3


# --- the command line -------------------------------------------------------------------------


def _proxy_processes(tmpdir: Path) -> list[int]:
    """The living proxy processes started by runs whose TMPDIR is ``tmpdir``."""
    found = []
    for entry in Path("/proc").glob("[0-9]*"):
        try:
            command = (entry / "cmdline").read_bytes()
            environment = (entry / "environ").read_bytes().split(b"\0")
        except OSError:
            continue
        if b"bench.measure.proxy" in command and f"TMPDIR={tmpdir}".encode() in environment:
            found.append(int(entry.name))
    return found


def test_rtt_needs_a_networked_backend(tmp_path: Path) -> None:
    result = bench("run", "--backend", "sqlite", "--rtt", "1", "--out", str(tmp_path / "out"))
    assert result.returncode == 2
    assert "--rtt: no selected backend has a network to delay" in one_error_line(result)
    result = bench("run", "--backend", "postgres", "--rtt", "fast", "--out", str(tmp_path / "o"))
    assert result.returncode == 2
    assert "not a comma-separated list of round-trip times" in one_error_line(result)


@pytest.mark.postgres
def test_a_quick_run_with_rtt_on_a_throwaway_server_leaves_nothing_running(
    tmp_path: Path, own_tmpdir: Path
) -> None:
    env = throwaway_postgres_env(own_tmpdir)
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "bench",
            "run",
            "--backend",
            "postgres",
            "--quick",
            "--rtt",
            "1,10",
            "--workload",
            "crud_create",
            "--variant",
            "core",
            "dbapi",
            "--sizes",
            "1",
            "--out",
            "out",
        ],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stderr
    assert _proxy_processes(own_tmpdir) == []
    assert processes_under(own_tmpdir) == []
    assert list(own_tmpdir.iterdir()) == []
    document = json.loads((tmp_path / "out" / "benchmarks.json").read_text())
    cells = {
        (b["extra_info"]["variant"], b["extra_info"]["proxied"], b["extra_info"]["rtt_ms"]): b[
            "extra_info"
        ]
        for b in document["benchmarks"]
    }
    assert set(cells) == {
        (variant, proxied, rtt)
        for variant in ("core", "dbapi")
        for proxied, rtt in ((False, 0), (True, 0), (True, 1), (True, 10))
    }
    for (variant, _, _), info in cells.items():
        direct = cells[(variant, False, 0)]
        # the proxy passes bytes, not statements: the counts through it are the direct ones
        assert (info["db_statements"], info["round_trips"]) == (
            direct["db_statements"],
            direct["round_trips"],
        )
    assert document["harness"]["rtts_ms"] == [1, 10]
    assert float(document["harness"]["servers"]["postgres"]["round_trip_ms"]) > 0
    report = (tmp_path / "out" / "REPORT.md").read_text()
    assert "### Measured through a delay proxy" in report
    assert (tmp_path / "out" / "charts" / "postgres-measured-rtt.png").is_file()
    assert "postgres+10ms" in result.stdout  # the progress lines name the delay


#: the backends with a network, which a proxy can stand in front of
NETWORKED_PARAMS = [
    pytest.param(kind.name, marks=getattr(pytest.mark, kind.name))
    for kind in backend_types()
    if kind.networked
]


@pytest.mark.parametrize("name", NETWORKED_PARAMS)
def test_through_the_proxy_every_networked_backend_counts_the_same_statements(
    request: pytest.FixtureRequest, name: str
) -> None:
    backend: Backend = request.getfixturevalue(f"{name}_backend")
    harness: Harness = request.getfixturevalue(f"{name}_harness")
    delayed = DelayedHarnesses(backend)
    try:
        through = delayed.get(1.0)
        for workload, variant in (("crud_create", "dbapi"), ("parent_child_read", "orm")):
            cell = Cell(workload, variant, name, 3)
            case = WORKLOADS[workload].case(3)
            direct, proxied = harness.count(cell, case), through.count(cell, case)
            # (bytes may differ: psycopg names the statements it prepares by a counter of
            # its connection, which has run more or fewer statements before)
            assert (proxied.db_statements, proxied.round_trips) == (
                direct.db_statements,
                direct.round_trips,
            )
    finally:
        delayed.close()
