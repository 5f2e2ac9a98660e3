"""How every command ends and speaks: the usage error (one line, exit status 2), the exit
statuses, the lines said on stderr, and the backends a variant runs on as messages name them.
"""

from __future__ import annotations

import sys

from bench.backends import backend_types
from bench.measure.cells import runs_on

EXIT_USAGE = 2
EXIT_FAILED = 1


class UsageError(Exception):
    """Bad input: one line for stderr, exit status 2."""


def say(line: str) -> None:
    """A line on stderr, at once."""
    print(line, file=sys.stderr, flush=True)


def backends_of(variant: str) -> list[str]:
    """The titles of the backends a variant runs on."""
    return [kind.title for kind in backend_types() if runs_on(variant, kind.name)]
