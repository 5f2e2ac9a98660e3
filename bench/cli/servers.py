"""A command's servers: each backend's server provided for the command (a required one or
nothing, an optional one or a line saying why it was skipped), with the line that says where it
came from; and what runs that were killed left behind, removed first. A command that works on
one server (statements, profile) runs in :func:`on_one_server`.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager

from bench.backends import BackendType
from bench.backends.provide import GivenUrlError, provide
from bench.backends.servers import Server, ServerError, ServerUnavailable
from bench.cli.usage import EXIT_FAILED, UsageError, say
from bench.messages import first_line
from bench.safety import stopping
from bench.safety.leftovers import remove_left_behind


def on_one_server(
    kind: BackendType,
    args: argparse.Namespace,
    action: Callable[[Server], None],
    failures: tuple[type[BaseException], ...],
) -> int:
    """Run ``action`` on the backend's server (required), provided once what killed runs left
    behind is removed; a Ctrl-C a finalizer swallowed still stops it. One of ``failures``, or
    the driver's error, ends it with one line and status 1."""
    stopping.announce()
    if kind.needs_server:
        remove_left_behind_servers()
    with server_for(kind, args, required=True, skipped=[]) as server:
        assert server is not None
        try:
            action(server)
            stopping.raise_if_requested()
        except failures as exc:
            say(f"bench: error: {first_line(exc)}")
            return EXIT_FAILED
        except kind.driver_errors as exc:
            say(f"bench: error: {kind.title}: {first_line(exc)}")
            return EXIT_FAILED
    return 0


@contextmanager
def server_for(
    kind: BackendType, args: argparse.Namespace, required: bool, skipped: list[str]
) -> Iterator[Server | None]:
    """The backend's server for this command; None, with the reason added to ``skipped``,
    when it is not required and none can be had."""
    with ExitStack() as stack:
        try:
            server = stack.enter_context(
                provide(
                    kind,
                    getattr(args, f"{kind.name}_url", None),
                    note=lambda line: _note(args, f"{kind.name}: {line}"),
                )
            )
        except ServerUnavailable as exc:
            if required:
                raise UsageError(str(exc)) from None
            say(f"{kind.name}: skipped: {exc}")
            skipped.append(f"{kind.title} was skipped: {exc}")
            yield None
            return
        except GivenUrlError as exc:
            raise UsageError(f"{exc.source}: {exc}") from None
        except ServerError as exc:
            raise UsageError(str(exc)) from None
        where = f", at {server.masked_url}" if server.masked_url else ""
        say(f"{kind.name}: {kind.title} {server.version}, {server.provisioned_by}{where}")
        yield server


def _note(args: argparse.Namespace, line: str) -> None:
    """A line worth saying only when asked to be verbose."""
    if getattr(args, "verbose", False):
        say(line)


def remove_left_behind_servers() -> None:
    """What runs that were killed left in the temporary folder, removed before this one
    starts servers of its own."""
    for removed in remove_left_behind():
        say(f"bench: removed {removed}, left by a run that was killed")
