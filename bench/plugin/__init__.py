"""The pytest plugin that runs the cells under pytest-benchmark: the backends and harnesses as
session fixtures, the cells a run selects, one progress line per cell, the JSON's own section."""
