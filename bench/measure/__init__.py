"""Measuring: the workloads and their expectations, one cell and its checks, a group of cells
timed in alternation, counting, concurrency, and the network put between client and server."""
