"""parent_child_append: Add 2 posts to each of N users that already have 5.

Appending through the ORM relationship loads each collection first; inserting with the
user id does not.
"""

from bench.plugin.cells import benchmark_for

test_parent_child_append = benchmark_for("parent_child_append")
