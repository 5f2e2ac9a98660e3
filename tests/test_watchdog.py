"""The watchdog of a throwaway server's folder, and the removal of what a killed run left: with
a stand-in server (a process whose command line names the folder) and a real System V shared
memory segment, named in a postmaster.pid as PostgreSQL names it."""

from __future__ import annotations

import ctypes
import ctypes.util
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from bench.backends.local_servers import ServerFolder
from bench.safety import watchdog
from bench.safety.leftovers import remove_left_behind

from helpers import processes_under, shared_memory_segments

_IPC_PRIVATE = 0
_IPC_CREAT = 0o1000
_IPC_RMID = 0


@pytest.fixture
def segment() -> Iterator[tuple[int, int]]:
    """A shared memory segment of one page, with a key of its own: (key, id)."""
    libc = ctypes.CDLL(ctypes.util.find_library("c"), use_errno=True)
    key = 0x0BE0C000 + os.getpid() % 0x1000
    segment_id = libc.shmget(key, 4096, _IPC_CREAT | 0o600)
    assert segment_id >= 0, os.strerror(ctypes.get_errno())
    yield key, segment_id
    libc.shmctl(segment_id, _IPC_RMID, None)


def _server_folder(parent: Path, name: str, segment: tuple[int, int] | None) -> Path:
    """A folder as a PostgreSQL server leaves it: data/postmaster.pid naming the segment."""
    folder = parent / name
    (folder / "data").mkdir(parents=True)
    if segment is not None:
        key, segment_id = segment
        lines = ["1", str(folder / "data"), "0", "5432", "", "127.0.0.1", f"{key} {segment_id}"]
        (folder / "data" / "postmaster.pid").write_text("\n".join(lines) + "\n")
    return folder


def _stand_in_server(folder: Path) -> subprocess.Popen[bytes]:
    """A process serving the folder, as the harness finds servers: by their command line
    (once it shows: between fork and exec the child still has the test's)."""
    process = subprocess.Popen(
        [sys.executable, "-c", "import time; time.sleep(120)", str(folder)],
        start_new_session=True,
    )
    deadline = time.monotonic() + 10
    while process.pid not in processes_under(folder):
        assert time.monotonic() < deadline, "the stand-in server never started"
        time.sleep(0.01)
    return process


def _until_gone(process: subprocess.Popen[bytes], seconds: float = 10) -> bool:
    deadline = time.monotonic() + seconds
    while process.poll() is None:
        if time.monotonic() > deadline:
            return False
        time.sleep(0.02)
    return True


def test_clean_up_ends_the_server_removes_its_shared_memory_and_its_folder(
    tmp_path: Path, segment: tuple[int, int]
) -> None:
    folder = _server_folder(tmp_path, "bench-postgres-1-x", segment)
    server = _stand_in_server(folder)
    key, segment_id = segment
    assert (f"{key}", f"{segment_id}") in shared_memory_segments()
    found = watchdog.clean_up(folder, grace_seconds=1.0)
    assert found == ["1 server process", "a shared memory segment"]
    assert _until_gone(server)
    assert (f"{key}", f"{segment_id}") not in shared_memory_segments()
    assert not folder.exists()


def test_the_watchdog_acts_when_the_pipe_from_the_harness_closes(tmp_path: Path) -> None:
    folder = _server_folder(tmp_path, "bench-postgres-1-y", None)
    server = _stand_in_server(folder)
    guard = subprocess.Popen(
        [sys.executable, "-I", watchdog.__file__], stdin=subprocess.PIPE, start_new_session=True
    )
    assert guard.stdin is not None
    guard.stdin.write(f"{folder}\n".encode())
    guard.stdin.flush()
    time.sleep(0.3)
    assert server.poll() is None and folder.exists()  # nothing happens while the pipe is open
    guard.stdin.close()  # as when the harness dies, however it dies
    assert guard.wait(timeout=15) == 0
    assert _until_gone(server)
    assert not folder.exists()


def test_a_server_folder_has_a_watchdog_that_is_gone_with_it() -> None:
    folder = ServerFolder("bench-postgres-", None)
    guard = folder._watchdog
    assert guard is not None and guard.poll() is None
    assert folder.path.name.startswith(f"bench-postgres-{os.getpid()}-")
    folder.remove()
    assert guard.poll() is not None  # reaped, not left running
    assert not folder.path.exists()


def test_what_a_killed_run_left_is_removed_and_what_a_living_one_holds_is_kept(
    tmp_path: Path, segment: tuple[int, int]
) -> None:
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    left = _server_folder(tmp_path, f"bench-postgres-{dead.pid}-abc", segment)
    server = _stand_in_server(left)
    (tmp_path / f"bench-storage-{dead.pid}-def").mkdir()
    living = tmp_path / f"bench-storage-{os.getpid()}-ghi"
    living.mkdir()
    unnamed = tmp_path / "bench-storage-jkl"  # an older version's: whose, nobody can tell
    unnamed.mkdir()
    removed = remove_left_behind(tmp_path)
    assert removed == [
        f"{left} (1 server process, a shared memory segment)",
        str(tmp_path / f"bench-storage-{dead.pid}-def"),
    ]
    assert _until_gone(server)
    assert processes_under(left) == []
    assert sorted(p.name for p in tmp_path.iterdir()) == [living.name, unnamed.name]
