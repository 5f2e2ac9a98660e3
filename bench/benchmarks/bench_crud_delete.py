"""crud_delete: Delete N users out of 2N by primary key in one transaction."""

from bench.plugin.cells import benchmark_for

test_crud_delete = benchmark_for("crud_delete")
