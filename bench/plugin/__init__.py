"""The pytest plugin that runs the cells under pytest-benchmark, one module per job: the
selection (:mod:`~bench.plugin.selection`, made from the options by :mod:`~bench.plugin.options`),
the cells (:mod:`~bench.plugin.cells`), the connection-slot preflight
(:mod:`~bench.plugin.connections`), the backends and harnesses as session fixtures
(:mod:`~bench.plugin.backends`, :mod:`~bench.plugin.harnesses`), one progress line per cell
(:mod:`~bench.plugin.progress`) and the JSON's own section (:mod:`~bench.plugin.json_header`)."""
