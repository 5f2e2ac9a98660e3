"""The report's charts, one set per backend, drawn with matplotlib's headless Agg backend, each
in a module of its family:

- :mod:`bench.report.chart_bars`: ``median-time`` (each variant's time as a multiple of the
  raw driver's, with the ratio's 95 % interval, on a linear axis) and ``statements`` (what one
  execution sends, each bar labelled with its count);
- :mod:`bench.report.chart_network`: ``projected-rtt`` (median + round trips × RTT from 0 to
  2 ms, each line labelled with its value at 10 ms) and ``measured-rtt`` (the same through the
  delay proxy, after ``run --rtt``);
- :mod:`bench.report.chart_growth`: ``scaling`` (time against size, log-log) and
  ``concurrency`` (throughput and p99 latency against the number of workers) and ``capacity``
  (requests on a schedule: the rate achieved and p99 against the rate they arrived at);
- :mod:`bench.report.chart_layers`: ``layers`` (each style's median execution stacked by
  layer, from the ORM to the time off the CPU).

The look of each variant, and the parts the charts are built of, are in
:mod:`bench.report.chart_looks`; the drawing of them in worker processes, in
:mod:`bench.report.drawing`.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from bench.report.chart_bars import median_time, statements
from bench.report.chart_growth import capacity, concurrency, scaling
from bench.report.chart_layers import layers_chart
from bench.report.chart_looks import Colors
from bench.report.chart_network import projection
from bench.results.model import CellResult, Heading

if TYPE_CHECKING:
    from matplotlib.figure import Figure


#: the chart of the cells run through the delay proxy, drawn from them as well as the direct
#: cells (the others, in :data:`CHARTS`, from the direct cells alone)
MEASURED_RTT = "measured-rtt"

#: each chart's name (its file is ``<backend>-<name>.png``) and how it is drawn
CHARTS: tuple[tuple[str, Callable[[list[CellResult], Colors, Heading], Figure | None]], ...] = (
    ("median-time", median_time),
    ("statements", statements),
    ("scaling", scaling),
    ("projected-rtt", projection),
    ("concurrency", concurrency),
    ("capacity", capacity),
    ("layers", layers_chart),
)
