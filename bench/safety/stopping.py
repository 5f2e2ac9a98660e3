"""Stopping on Ctrl-C or SIGTERM.

The first signal unwinds the run like Ctrl-C (a KeyboardInterrupt), so whatever it started is
stopped on the way out, and sets a flag that stays set: Python drops a KeyboardInterrupt raised
inside a garbage-collection callback, so the run also checks the flag between cells and between
rounds (:func:`raise_if_requested`). A second signal, a second or more after the first, stops at
once: it kills what the harness started, removes what it wrote, and exits.

A second signal sooner than that is the same request sent twice: a terminal sends Ctrl-C to the
whole foreground group, so a wrapper such as tox receives it as well and passes it on.

Nothing here takes a lock (not even ``print``'s): a handler can run while the main thread is
inside another handler, or in the middle of writing to stderr.
"""

from __future__ import annotations

import contextlib
import logging
import os
import shutil
import signal
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

#: a second signal sooner than this after the first is the same request, sent again
SAME_REQUEST_SECONDS = 1.0
SIGNALS = (signal.SIGINT, signal.SIGTERM)


class _Request:
    """Whether a stop was requested, by which signal and when; plain attributes, no lock."""

    def __init__(self) -> None:
        self.requested = False
        #: a stop at once is under way: later signals change nothing
        self.at_once = False
        self.signal_number = int(signal.SIGINT)
        self.at = 0.0


_REQUEST = _Request()
#: whether the first signal says that a second stops at once: only once there is something
#: to stop (servers, a run), not for a command that ends by itself in a moment
_ANNOUNCE = [False]
#: whether the first signal unwinds (raises KeyboardInterrupt): from :func:`install` until
#: :func:`settle`, while the command line is there to catch it
_UNWINDS = [False]
#: a copy of stderr made before pytest's output capture replaces it, so that what is said
#: while a cell runs reaches the terminal
_STDERR: list[int] = []
#: what a stop at once does before it exits: kill the servers, remove the run's files
_AT_ONCE: list[Callable[[], str]] = []
_REMOVE_AT_ONCE: list[tuple[Path, bool]] = []


def install() -> None:
    """Handle SIGINT and SIGTERM from now on (the command line's first step, inside the
    block that catches KeyboardInterrupt)."""
    _UNWINDS[0] = True
    if not _STDERR:
        with contextlib.suppress(OSError, ValueError, AttributeError):
            _STDERR.append(os.dup(sys.stderr.fileno()))
    for signal_number in SIGNALS:
        signal.signal(signal_number, _on_signal)
    previous_hook = sys.unraisablehook

    def quiet_when_stopping(unraisable: Any) -> None:
        # the KeyboardInterrupt that landed in a finalizer: the flag carries the stop
        if _REQUEST.requested and isinstance(unraisable.exc_value, KeyboardInterrupt):
            return
        previous_hook(unraisable)

    sys.unraisablehook = quiet_when_stopping
    # nor what asyncio says of the tasks the stop cut short ("Task exception was never
    # retrieved", logged when a driver's task is collected at exit)
    logging.getLogger("asyncio").addFilter(_QuietWhenStopping())


class _QuietWhenStopping(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        return not _REQUEST.requested


def settle() -> None:
    """The command is over: a signal from now on is noted, not raised (nothing would catch
    the KeyboardInterrupt; Python would end by the signal instead of the command's status)."""
    _UNWINDS[0] = False


def announce() -> None:
    """From now on, the first signal says that a second one stops at once."""
    _ANNOUNCE[0] = True


def requested() -> bool:
    return _REQUEST.requested


def request(signal_number: int = signal.SIGINT) -> None:
    """Note a stop that did not come through the handler (a KeyboardInterrupt raised before
    it was installed)."""
    if not _REQUEST.requested:
        _REQUEST.at = time.monotonic()
        _REQUEST.signal_number = int(signal_number)
        _REQUEST.requested = True


def raise_if_requested() -> None:
    """Unwind now if a stop was requested (where the KeyboardInterrupt may have been lost)."""
    if _REQUEST.requested:
        raise KeyboardInterrupt


def exit_status() -> int:
    """128 + the signal's number: 130 for Ctrl-C, 143 for SIGTERM."""
    return 128 + _REQUEST.signal_number


def say(line: str) -> None:
    """A line on the terminal's stderr, without a lock, past pytest's capture."""
    data = (line + "\n").encode(errors="replace")
    with contextlib.suppress(OSError):
        os.write(_STDERR[0] if _STDERR else 2, data)


def at_once(action: Callable[[], str]) -> None:
    """Register what a stop at once does first; the action returns what it did ("" if
    nothing), for the last line."""
    _AT_ONCE.append(action)


def remove_at_once(path: Path, only_if_empty: bool = False) -> Callable[[], None]:
    """Remove ``path`` (a file, or a folder with what it holds, or only when it is empty) if
    the run is stopped at once, after what was registered later; call the returned function
    when the path is gone or no longer the run's to remove."""
    entry = (path, only_if_empty)
    _REMOVE_AT_ONCE.append(entry)

    def forget() -> None:
        if entry in _REMOVE_AT_ONCE:
            _REMOVE_AT_ONCE.remove(entry)

    return forget


def _on_signal(signum: int, frame: object) -> None:
    now = time.monotonic()
    if not _REQUEST.requested:
        # the time first: a second signal landing between the two lines sees a recent request
        _REQUEST.at = now
        _REQUEST.signal_number = signum
        _REQUEST.requested = True
        if _ANNOUNCE[0]:
            say("bench: stopping; a second Ctrl-C stops at once")
        if _UNWINDS[0]:
            raise KeyboardInterrupt
        return
    if _REQUEST.at_once or now - _REQUEST.at < SAME_REQUEST_SECONDS:
        return
    _REQUEST.at_once = True
    _stop_now()


def _stop_now() -> None:
    """Kill what the harness started, without waiting for it to shut down, remove the run's
    unpublished files, and exit."""
    done = []
    for action in list(_AT_ONCE):
        try:
            what = action()
        except Exception:  # exit whatever happens
            what = ""
        if what:
            done.append(what)
    for path, only_if_empty in list(reversed(_REMOVE_AT_ONCE)):
        try:
            if only_if_empty:
                path.rmdir()
            elif path.is_dir() and not path.is_symlink():
                shutil.rmtree(path, ignore_errors=True)
            else:
                path.unlink(missing_ok=True)
        except OSError:
            pass
    say("bench: stopped at once" + "".join(f"; {what}" for what in done))
    os._exit(exit_status())
