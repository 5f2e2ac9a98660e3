"""The pytest-benchmark modules: one per workload. ``python -m bench run`` runs them."""
