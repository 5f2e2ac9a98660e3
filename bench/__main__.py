"""``python -m bench``: see :mod:`bench.cli`."""

import gc
import signal
import sys


def _interrupted_while_starting(signum: int, frame: object) -> None:
    # a signal before the command line's own handlers are in place (the imports take a
    # moment): end quietly, as a later one would, not with a KeyboardInterrupt traceback
    print("bench: interrupted", file=sys.stderr)
    sys.exit(128 + signum)


for _signal in (signal.SIGINT, signal.SIGTERM):
    signal.signal(_signal, _interrupted_while_starting)

from bench.cli import main  # noqa: E402  (after the handlers, on purpose)

status = main()
# the run is over and its status known: a signal that lands now (a second Ctrl-C during the
# interpreter's shutdown, where Python puts back the default handlers) must not turn the
# status into a death by that signal
for _signal in (signal.SIGINT, signal.SIGTERM):
    signal.signal(_signal, signal.SIG_IGN)
# what a run at large sizes leaves in memory (an interrupted execution's 600000 ORM objects)
# would be collected, one object at a time, on the way out: seconds the user waits for nothing
gc.freeze()
sys.exit(status)
