"""The benchmark modules' fixtures: backends, the per-backend harness, the cell selection."""

pytest_plugins = ["bench.fix_backends", "bench.fix_harness", "bench.fix_cells"]
