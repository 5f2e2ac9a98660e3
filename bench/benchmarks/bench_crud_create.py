"""crud_create: Insert N users in one transaction and commit; every variant returns the new ids.

ORM and Core use an ordered RETURNING; the raw driver reads each id back (lastrowid on
SQLite, executemany with returning=True on PostgreSQL).
"""

from bench.fix_cells import benchmark_for

test_crud_create = benchmark_for("crud_create")
