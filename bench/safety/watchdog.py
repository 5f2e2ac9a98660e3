"""Ending a throwaway server's processes and removing its folder, whoever asks.

The harness removes its servers itself when a run ends, fails or is interrupted. This module
also covers the harness being killed: each server folder gets a watchdog, this file run as a
small process of its own (in a session of its own, so a Ctrl-C in the terminal does not reach
it), which reads the folder's path from its stdin and then waits for the end of that stdin.
The harness never writes more, so the end comes when the harness closes the pipe or dies,
however it dies (SIGKILL too); the watchdog then ends whatever still serves the folder, removes
the server's shared memory and the folder, and exits. The folder's path is not on the
watchdog's command line, so that nothing looking for the folder's processes finds it.

Standard library only: it runs with ``python -I``, without the harness's dependencies.
"""

from __future__ import annotations

import contextlib
import ctypes
import ctypes.util
import os
import shutil
import signal
import sys
import time
from pathlib import Path

#: how long the servers get to quit on SIGQUIT (a PostgreSQL postmaster's immediate
#: shutdown, which also removes its shared memory) before they are killed
GRACE_SECONDS = 3.0
_IPC_RMID = 0


def clean_up(folder: Path, grace_seconds: float = GRACE_SECONDS) -> list[str]:
    """End every process serving ``folder``, remove the shared memory of a PostgreSQL server
    that lived there, and remove the folder; what was found, as phrases ("2 processes")."""
    found = []
    segment = shared_memory_of(folder)
    pids = processes_serving(folder)
    if pids:
        end_processes(pids, grace_seconds)
        found.append(f"{len(pids)} server process{'es' if len(pids) > 1 else ''}")
    if segment is not None and remove_shared_memory(*segment):
        found.append("a shared memory segment")
    if folder.exists():
        shutil.rmtree(folder, ignore_errors=True)
    return found


def end_processes(pids: list[int], grace_seconds: float) -> None:
    """SIGQUIT, then SIGKILL for those still there after the grace period."""
    for signal_number in (signal.SIGQUIT, signal.SIGKILL):
        for pid in pids:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.kill(pid, signal_number)
        deadline = time.monotonic() + grace_seconds
        while time.monotonic() < deadline:
            pids = [pid for pid in pids if is_alive(pid)]
            if not pids:
                return
            time.sleep(0.02)


def shared_memory_of(folder: Path) -> tuple[int, int] | None:
    """The System V shared memory segment (key, id) of the PostgreSQL server whose data
    folder is in ``folder``, from its postmaster.pid (line 7: key and id); None if none."""
    for pid_file in (*folder.glob("*/postmaster.pid"), folder / "postmaster.pid"):
        try:
            lines = pid_file.read_text().splitlines()
            key, segment_id = (int(part) for part in lines[6].split())
        except (OSError, IndexError, ValueError):
            continue
        return key, segment_id
    return None


def remove_shared_memory(key: int, segment_id: int) -> bool:
    """Remove the segment if it is still the one with that key (it goes when the last
    process using it has gone); whether it was there to remove."""
    for fields in _segments():
        if fields[0] == str(key) and fields[1] == str(segment_id):
            return _remove_segment(segment_id)
    return False


def remove_segments_created_by(pids: set[int]) -> int:
    """Remove the shared memory segments these processes created (a server's, or the one of
    the server initdb runs to bootstrap a cluster, which names it nowhere once initdb has
    removed its half-made folder); how many."""
    created = [int(fields[1]) for fields in _segments() if _creator(fields) in pids]
    return sum(_remove_segment(segment_id) for segment_id in created)


def _segments() -> list[list[str]]:
    """The System V shared memory segments, each as its fields in /proc/sysvipc/shm: key,
    shmid, perms, size, cpid, lpid, nattch, ..."""
    try:
        rows = Path("/proc/sysvipc/shm").read_text().splitlines()[1:]
    except OSError:
        return []
    return [fields for fields in map(str.split, rows) if len(fields) > 4]


def _creator(fields: list[str]) -> int | None:
    return int(fields[4]) if fields[4].isdigit() else None


def _remove_segment(segment_id: int) -> bool:
    libc = ctypes.CDLL(ctypes.util.find_library("c"), use_errno=True)
    return bool(libc.shmctl(segment_id, _IPC_RMID, None) == 0)


def proc_stat(pid: str) -> list[str] | None:
    """A process's /proc stat fields after its name: state, ppid, pgrp, ..."""
    try:
        return (Path("/proc") / pid / "stat").read_text().rsplit(")", 1)[1].split()
    except (OSError, IndexError):
        return None


def is_alive(pid: int) -> bool:
    fields = proc_stat(str(pid))
    return fields is not None and fields[0] != "Z"


def processes_serving(folder: Path) -> list[int]:
    """The living processes whose command line names this folder (Linux's /proc)."""
    needle = str(folder).encode()
    found = []
    for entry in Path("/proc").glob("[0-9]*"):
        try:
            command_line = (entry / "cmdline").read_bytes()
        except OSError:
            continue
        if needle in command_line and is_alive(int(entry.name)):
            found.append(int(entry.name))
    return found


def main() -> None:
    # a signal to the harness's group or session is not for the watchdog
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    folder = Path(sys.stdin.buffer.readline().decode().rstrip("\n"))
    while sys.stdin.buffer.read(4096):  # nothing more is written: this waits for the end
        pass
    if folder.is_absolute() and folder.name.startswith("bench-") and folder.exists():
        clean_up(folder)


if __name__ == "__main__":
    main()
