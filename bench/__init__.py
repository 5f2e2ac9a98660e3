"""The benchmark harness: backends, counting, the pytest-benchmark modules, report and CLI."""
