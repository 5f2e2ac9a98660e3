"""parent_child_read: Load N users out of 2N with all their posts as nested records.

The loader strategy is the point: lazy loading (N+1), selectinload, joinedload, one JOIN.
"""

from bench.plugin.cells import benchmark_for

test_parent_child_read = benchmark_for("parent_child_read")
