"""Servers run from binaries installed on this machine: each in a temporary folder of its own,
as an unprivileged user (the servers refuse root), each binary in a process group of its own,
ended whatever state it is in; a watchdog per folder (:mod:`bench.safety.watchdog`) ends them if
the harness is killed, and :func:`kill_now` is the second Ctrl-C's shortcut."""

from __future__ import annotations

import os
import pwd
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from contextlib import suppress
from pathlib import Path
from typing import Any

from bench.backends.servers import ProviderUnavailable
from bench.safety import stopping, watchdog
from bench.safety.leftovers import owned_prefix
from bench.safety.watchdog import (
    is_alive,
    proc_stat,
    processes_serving,
    remove_segments_created_by,
    remove_shared_memory,
)


def server_user(names: Sequence[str] = ("nobody",)) -> pwd.struct_passwd | None:
    """The unprivileged user to run a server as when the harness runs as root; None when it
    does not."""
    if os.geteuid() != 0:
        return None
    for name in names:
        try:
            return pwd.getpwnam(name)
        except KeyError:
            continue
    raise ProviderUnavailable(f"running as root and no unprivileged user ({', '.join(names)})")


#: what is running on the harness's behalf, for :func:`kill_now`
_RUNNING_GROUPS: set[int] = set()
_SERVER_FOLDERS: set[Path] = set()


class ServerFolder:
    """A temporary folder for one throwaway server, owned by the user the server runs as, and
    the server binaries run there. :meth:`remove` ends every process still serving it; a
    watchdog (:mod:`bench.safety.watchdog`) does the same if the harness is killed."""

    def __init__(self, prefix: str, user: pwd.struct_passwd | None) -> None:
        self.path = Path(tempfile.mkdtemp(prefix=owned_prefix(prefix)))
        self.user = user
        #: the process groups of the binaries run
        self.process_groups: list[int] = []
        self.interrupted = False
        _SERVER_FOLDERS.add(self.path)
        if user is not None:
            os.chown(self.path, user.pw_uid, user.pw_gid)
        self.path.chmod(0o700)
        self._watchdog = _start_watchdog(self.path)

    def own(self, path: Path) -> None:
        """Give a file the harness wrote here to the server's user."""
        if self.user is not None:
            os.chown(path, self.user.pw_uid, self.user.pw_gid)

    def spawn(self, command: Sequence[str], output: Any) -> subprocess.Popen[bytes]:
        """Start a binary as the server's user, in a process group of its own: an interruption
        kills the whole group, and Ctrl-C in a terminal reaches only us, so we stop it."""
        as_user: dict[str, Any] = {}
        if self.user is not None:
            as_user = {"user": self.user.pw_uid, "group": self.user.pw_gid, "extra_groups": []}
        try:
            process = subprocess.Popen(
                list(command),
                stdin=subprocess.DEVNULL,
                stdout=output,
                stderr=subprocess.STDOUT,
                cwd=self.path,
                # the caller's temporary folder may be closed to the server's user
                env={**os.environ, "TMPDIR": str(self.path)},
                start_new_session=True,
                **as_user,
            )
        except OSError as exc:
            raise ProviderUnavailable(f"{Path(command[0]).name} failed: {exc}") from None
        self.process_groups.append(process.pid)
        _RUNNING_GROUPS.add(process.pid)
        return process

    def run(self, command: Sequence[str], timeout: float = 120) -> None:
        """Run a binary to its end; ProviderUnavailable with its last line of output when it
        fails."""
        name = Path(command[0]).name
        with tempfile.TemporaryFile() as output:
            process = self.spawn(command, output)
            try:
                returncode = process.wait(timeout=timeout)
            except BaseException:
                self.interrupted = True
                started = set(_living_members(process.pid))
                end_process_group(process.pid, process)
                process.wait()
                remove_segments_created_by(started)
                raise
            finally:
                _RUNNING_GROUPS.discard(process.pid)
            if returncode != 0:
                output.seek(0)
                lines = output.read().decode(errors="replace").strip().splitlines()
                errors = [line for line in lines if "error" in line.lower()]
                detail = (errors or lines or [f"exit status {returncode}"])[-1].strip()
                raise ProviderUnavailable(f"{name} failed: {detail}")

    def end_processes(self) -> None:
        """End every process group started here and any process still serving the folder
        (a server launched by an interrupted tool, before it said its pid, is found so)."""
        for group in self.process_groups:
            end_process_group(group)
            _RUNNING_GROUPS.discard(group)
        for attempt in range(3 if self.interrupted else 1):
            for pid in processes_serving(self.path):
                _end_process(pid)
            if attempt < 2 and self.interrupted:
                time.sleep(0.1)

    def remove(self) -> None:
        segment = watchdog.shared_memory_of(self.path)
        self.end_processes()
        if segment is not None:  # a postmaster that was killed leaves it behind
            remove_shared_memory(*segment)
        _SERVER_FOLDERS.discard(self.path)
        shutil.rmtree(self.path, ignore_errors=True)
        _stop_watchdog(self._watchdog)


def _start_watchdog(folder: Path) -> subprocess.Popen[bytes] | None:
    """The process that removes ``folder``'s server if the harness dies; None where it cannot
    be started (the harness still removes the server itself)."""
    try:
        process = subprocess.Popen(
            [sys.executable, "-I", watchdog.__file__],
            stdin=subprocess.PIPE,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,
        )
        assert process.stdin is not None
        process.stdin.write(f"{folder}\n".encode())
        process.stdin.flush()
    except OSError:
        return None
    return process


def _stop_watchdog(process: subprocess.Popen[bytes] | None) -> None:
    """Close the watchdog's pipe (the folder is gone: it finds nothing to do) and reap it."""
    if process is None:
        return
    with suppress(OSError):
        assert process.stdin is not None
        process.stdin.close()
    try:
        process.wait(timeout=10)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


def kill_now() -> str:
    """Kill, without waiting, every server process the harness started, and remove their
    shared memory and folders: what a second Ctrl-C does instead of the orderly clean-up.
    What was killed, for its last line ("" for nothing)."""
    found = len(_RUNNING_GROUPS) + len(_SERVER_FOLDERS)
    started = {pid for group in _RUNNING_GROUPS for pid in _living_members(group)}
    for group in list(_RUNNING_GROUPS):
        with suppress(ProcessLookupError, PermissionError):
            os.killpg(group, signal.SIGKILL)
    remove_segments_created_by(started)  # initdb's bootstrap server's, say
    for folder in list(_SERVER_FOLDERS):
        # no grace: killed at once; the segment goes when the server's last process does
        watchdog.clean_up(folder, grace_seconds=0.0)
    return "the servers it had started were killed" if found else ""


stopping.at_once(kill_now)


def last_log_lines(log: Path, count: int = 2) -> str:
    """A server log's last lines, without their timestamps, on one line."""
    try:
        lines = [line.strip() for line in log.read_text(errors="replace").splitlines()]
    except OSError:
        return ""
    kept = [line.split("] ", 1)[-1] for line in lines if line][-count:]
    return " / ".join(kept)


def end_process_group(group: int, leader: subprocess.Popen[bytes] | None = None) -> None:
    """End a process group; ``leader``, the Popen of its first process, is reaped on the way
    (an unreaped leader still counts as a member of the group)."""

    def alive() -> bool:
        if leader is not None:
            leader.poll()
        return bool(_living_members(group))

    _end(lambda signal_number: os.killpg(group, signal_number), alive)


def _end_process(pid: int) -> None:
    _end(lambda signal_number: os.kill(pid, signal_number), lambda: is_alive(pid))


def _end(
    send: Callable[[int], None], alive: Callable[[], bool], grace_seconds: float = 1.0
) -> None:
    """Ask to quit at once (SIGQUIT: a postmaster's immediate shutdown), then kill what is
    still there after the grace period."""
    for signal_number in (signal.SIGQUIT, signal.SIGKILL):
        try:
            send(signal_number)
        except ProcessLookupError:
            return
        deadline = time.monotonic() + grace_seconds
        while time.monotonic() < deadline:
            if not alive():
                return
            time.sleep(0.02)


def _living_members(group: int) -> list[int]:
    """The processes of a group that have not exited (zombies waiting to be reaped have)."""
    members = []
    for entry in Path("/proc").glob("[0-9]*"):
        fields = proc_stat(entry.name)
        if fields is not None and fields[2] == str(group) and fields[0] != "Z":
            members.append(int(entry.name))
    return members


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])
