"""A command's servers: each backend's server provided for the command (a required one or
nothing, an optional one or a line saying why it was skipped), with the line that says where it
came from; and what runs that were killed left behind, removed first.
"""

from __future__ import annotations

import argparse
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager

from bench.backends import BackendType
from bench.backends.provide import GivenUrlError, provide
from bench.backends.servers import Server, ServerError, ServerUnavailable
from bench.cli.usage import UsageError, say
from bench.safety.leftovers import remove_left_behind


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
