"""The report, drawn from a run's JSON alone: one module per section, the charts, the
comparison of two runs, and the document that puts them together."""
