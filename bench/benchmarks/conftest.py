"""The benchmark modules' plugins: the cells, the connection-slot preflight, the backends and
the per-backend harness, the selection, the progress lines and the JSON's own section.

Each is listed after the plugins it imports, so that pytest finds none of them imported before
it is registered."""

pytest_plugins = [
    "bench.plugin.cells",
    "bench.plugin.connections",
    "bench.plugin.backends",
    "bench.plugin.harnesses",
    "bench.plugin.options",
    "bench.plugin.progress",
    "bench.plugin.json_header",
]
