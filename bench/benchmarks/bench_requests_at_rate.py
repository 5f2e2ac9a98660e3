"""requests_at_rate: the same requests arriving R a second on a fixed schedule (an open loop,
run only with ``--rate``), served by worker processes or asyncio tasks; each latency counts
from the request's scheduled start, so the time it queued is in it.
"""

from bench.plugin.cells import benchmark_for

test_requests_at_rate = benchmark_for("requests_at_rate")
