"""Running ``python -m bench`` as a user does, and other helpers of the tests."""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest

from bench.backends import Backend, backend_types
from bench.measure.cells import Cell, Harness, VerificationError, case_for, check_state, runs_on

TESTS_DIR = Path(__file__).parent


def bench(
    *arguments: str, cwd: Path | None = None, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    """``python -m bench ...`` in a process of its own."""
    return subprocess.run(
        [sys.executable, "-m", "bench", *arguments],
        cwd=cwd,
        env={**os.environ, **(env or {})},
        capture_output=True,
        text=True,
        timeout=600,
    )


def bench_patched(
    setup: str, *arguments: str, cwd: Path | None = None, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    """``python -m bench`` with ``setup`` run first in the same process (to register a test
    variant or narrow the PostgreSQL providers), the tests folder importable."""
    program = f"import sys\n{setup}\nfrom bench.cli import main\nsys.exit(main(sys.argv[1:]))"
    return subprocess.run(
        [sys.executable, "-c", program, *arguments],
        cwd=cwd,
        env={**os.environ, "PYTHONPATH": str(TESTS_DIR), **(env or {})},
        capture_output=True,
        text=True,
        timeout=600,
    )


def benchmarks(folder: Path) -> list[dict[str, Any]]:
    """The cells of the run in ``folder``, as its ``benchmarks.json`` holds them."""
    document = json.loads((folder / "benchmarks.json").read_text())
    entries: list[dict[str, Any]] = document["benchmarks"]
    return entries


def one_error_line(result: subprocess.CompletedProcess[str]) -> str:
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, result.stderr
    assert "Traceback" not in result.stderr
    return lines[0]


def free_port() -> int:
    """A loopback port nothing listens on (for an unreachable URL)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def processes_under(folder: Path, name: bytes = b"") -> list[int]:
    """The living processes whose command line names ``folder`` (and ``name``)."""
    found = []
    for entry in Path("/proc").glob("[0-9]*"):
        try:
            command = (entry / "cmdline").read_bytes()
            state = (entry / "stat").read_text().rsplit(")", 1)[1].split()[0]
        except (OSError, IndexError):
            continue
        if str(folder).encode() in command and name in command and state != "Z":
            found.append(int(entry.name))
    return found


def shared_memory_segments() -> set[tuple[str, str]]:
    """The System V shared memory segments (key, id) on this machine."""
    rows = Path("/proc/sysvipc/shm").read_text().splitlines()[1:]
    return {(row.split()[0], row.split()[1]) for row in rows}


def throwaway_postgres_env(tmpdir: Path) -> dict[str, str]:
    """The environment of a run that must start a PostgreSQL server of its own: no server URL,
    and its temporary files (the server's folder among them) in ``tmpdir``."""
    env = {key: value for key, value in os.environ.items() if key != "BENCH_POSTGRES_URL"}
    env["TMPDIR"] = str(tmpdir)
    return env


@contextmanager
def server_tmpdir(unavailable_reason: str | None, require_env: str, prefix: str) -> Iterator[Path]:
    """A temporary folder for the runs a test starts, so that the servers they start (and only
    those) can be found by it; under /tmp, where the server's unprivileged user can reach it
    (pytest's own folders are private to root). Skips, or fails when ``require_env`` is set,
    where the server's binaries are missing."""
    if unavailable_reason is not None:
        if os.environ.get(require_env):
            pytest.fail(unavailable_reason)
        pytest.skip(unavailable_reason)
    folder = Path(tempfile.mkdtemp(prefix=prefix, dir="/tmp"))
    folder.chmod(0o755)
    try:
        yield folder
    finally:
        for pid in processes_under(folder):  # should be none; never leave them
            os.kill(pid, signal.SIGKILL)
        shutil.rmtree(folder, ignore_errors=True)


def per_backend(pairs: Iterable[tuple[str, str]]) -> list[Any]:
    """(backend, workload, variant) parameters, for the ``backend`` fixture (indirectly) and
    the pairs given, on each backend the variant runs on (an asyncio variant needs its
    driver)."""
    return [
        pytest.param(
            kind.name,
            workload,
            variant,
            marks=[getattr(pytest.mark, kind.name)] if kind.needs_server else [],
            id=f"{kind.name}-{workload}-{variant}",
        )
        for kind in backend_types()
        for workload, variant in pairs
        if runs_on(variant, kind.name)
    ]


#: the published reference run
REFERENCE = Path(__file__).parent.parent / "results" / "reference"


def reference_run(folder: Path) -> Path:
    """A copy of the published reference run in ``folder``, its JSON given the catalog this
    version writes (older reference runs carry none, or an older one)."""
    from bench.results.catalog import Catalog

    run = folder / "run"
    run.mkdir()
    document = json.loads((REFERENCE / "benchmarks.json").read_text())
    document["harness"]["catalog"] = Catalog.from_code().to_json()
    (run / "benchmarks.json").write_text(json.dumps(document))
    return run


def check_lost_updates_caught(harness: Harness, backend: Backend, cell: Cell) -> None:
    """The planted style that reads without locking (``broken_variants:ReadsWithoutLocking``)
    at the cell's K: right with one worker; with more, requests for the same user at once read
    the same revision, and both the records read and the rows say so."""
    case = case_for(cell)
    if cell.size == 1:
        harness.verify(cell, case)
        return
    with pytest.raises(VerificationError, match="the variant returned"):
        harness.verify(cell, case)
    with pytest.raises(VerificationError, match=r"user_account holds .*\+r1@"):
        check_state(cell, backend, case)
