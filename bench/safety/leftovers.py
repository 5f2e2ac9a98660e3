"""The temporary folders a run makes, named so that a later run can tell those of a run that
was killed, and remove them.

A run's temporary folders (its servers', pytest-benchmark's storage, matplotlib's settings when
the home folder is not writable, the stack sampler's samples) carry the process id of the run
that made them. A watchdog removes a server's folder when the run dies
(:mod:`bench.safety.watchdog`); whatever is left still, because the watchdog was killed too,
goes the next time a run starts.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

from bench.safety.watchdog import clean_up, is_alive

#: the temporary folders a run makes, by prefix
TEMPORARY_PREFIXES = (
    "bench-postgres-",
    "bench-mariadb-",
    "bench-storage-",
    "bench-matplotlib-",
    "bench-stacks-",
)


def owned_prefix(prefix: str) -> str:
    """A temporary folder's name prefix that says which process made it."""
    return f"{prefix}{os.getpid()}-"


def remove_left_behind(temporary: Path | None = None) -> list[str]:
    """Remove what runs that were killed left in the temporary folder: their servers'
    processes, shared memory and folders, and their other temporary folders. One phrase per
    folder removed."""
    temporary = temporary or Path(tempfile.gettempdir())
    removed = []
    for prefix in TEMPORARY_PREFIXES:
        for folder in sorted(temporary.glob(f"{prefix}*")):
            owner = folder.name[len(prefix) :].split("-", 1)[0]
            if not owner.isdigit() or not folder.is_dir() or _process_exists(int(owner)):
                continue
            found = clean_up(folder, grace_seconds=1.0)
            removed.append(f"{folder}" + (f" ({', '.join(found)})" if found else ""))
    return removed


def _process_exists(pid: int) -> bool:
    """Whether the process lives (one of another user's too); a reused id counts as alive,
    which leaves a folder for later rather than removing one in use."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return is_alive(pid)
