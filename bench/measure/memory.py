"""What memory one execution of a cell takes: an execution of its own, untimed, traced by
:mod:`tracemalloc`.

Tracing starts just before the execution, so only the memory it allocates is traced: the peak
is the most that execution held at once (the rows it fetched, the objects it made of them, an
ORM session's identity map and each object's instance state), above what the process held
before. Memory the C code of a driver takes with ``malloc`` (libpq's result buffers) is not
Python's allocator's and is not traced.
"""

from __future__ import annotations

import gc
import tracemalloc
from collections.abc import Callable
from typing import Any


def trace_memory(
    run: Callable[[Any], Any],
    argument: Any,
    before: Callable[[], None] | None = None,
    check: Callable[[Any], None] | None = None,
) -> int:
    """The peak bytes of one execution of ``run(argument)`` under tracemalloc, ``before`` (a
    reset) untraced; ``check`` sees its result."""
    if before is not None:
        before()
    gc.collect()
    if tracemalloc.is_tracing():  # another tracer's figures would not be this execution's
        raise RuntimeError("tracemalloc is already tracing")
    tracemalloc.start()
    try:
        result = run(argument)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    if check is not None:
        check(result)
    return peak
