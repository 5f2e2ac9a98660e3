"""The benchmark modules' fixtures: backends, the per-backend harness, the cell selection."""

pytest_plugins = ["bench.plugin.backends", "bench.plugin.harnesses", "bench.plugin.cells"]
