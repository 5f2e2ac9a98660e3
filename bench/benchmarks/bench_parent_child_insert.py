"""parent_child_insert: insert N users, each with 5 blog posts, in one transaction.

The posts need the ids the database gives the users, so those come back first."""

from bench.plugin.cells import benchmark_for

test_parent_child_insert = benchmark_for("parent_child_insert")
