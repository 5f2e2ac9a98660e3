"""concurrent_requests: 160 small requests shared by K worker threads (K = 1, 4, 16).

Each request reads one user by id and writes its email revised from the one read, in one
transaction; pairs of requests for the same user meet when K is large enough. Throughput,
per-request latency percentiles and SQLite's lock errors and retries go to extra_info.
"""

from bench.plugin.cells import benchmark_for

test_concurrent_requests = benchmark_for("concurrent_requests")
