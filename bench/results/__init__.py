"""A run's results: a cell's record, declared once; reading ``benchmarks.json`` back; the
catalog the report draws on; the output folder the files are published into."""
