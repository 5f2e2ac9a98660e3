"""crud_create: Insert N users in one transaction and commit; every variant returns the new ids.

ORM and Core use an ordered RETURNING; the raw driver reads the ids back its own way
(lastrowid on SQLite, executemany with returning=True on PostgreSQL, one multi-row
INSERT ... RETURNING on MariaDB).
"""

from bench.plugin.cells import benchmark_for

test_crud_create = benchmark_for("crud_create")
