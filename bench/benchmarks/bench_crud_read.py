"""crud_read: Fetch N users by primary key out of 2N and return their data as records."""

from bench.plugin.cells import benchmark_for

test_crud_read = benchmark_for("crud_read")
