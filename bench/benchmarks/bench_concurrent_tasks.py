"""concurrent_tasks: the 160 requests of concurrent_requests shared by K asyncio tasks on one
event loop (K = 1, 4, 16), with a pool of K connections: the asyncio styles under concurrency.
"""

from bench.plugin.cells import benchmark_for

test_concurrent_tasks = benchmark_for("concurrent_tasks")
