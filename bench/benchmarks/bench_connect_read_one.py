"""connect_read_one: one small unit of work, read one user by id, with connecting timed.

Compares an engine per unit of work, NullPool, a pooled engine, and raw connections opened
per use or kept open.
"""

from bench.plugin.cells import benchmark_for

test_connect_read_one = benchmark_for("connect_read_one")
