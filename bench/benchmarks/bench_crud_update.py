"""crud_update: Change the email of N users out of 2N, found by primary key, in one transaction.

The ORM's unit of work loads the objects first; the other styles update by id directly.
"""

from bench.plugin.cells import benchmark_for

test_crud_update = benchmark_for("crud_update")
