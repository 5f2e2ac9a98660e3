"""concurrent_processes: the 160 requests of concurrent_requests shared by K worker processes
(K = 1, 2, 4), each with its own interpreter and connection, as a pre-fork server runs a
synchronous application: the GIL of one process no longer caps the styles.
"""

from bench.plugin.cells import benchmark_for

test_concurrent_processes = benchmark_for("concurrent_processes")
