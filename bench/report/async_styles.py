"""The report's comparison of the asyncio styles with their synchronous forms (``orm_async``
with ``orm``, ``asyncpg`` with ``dbapi``, ...): per backend, at size 1 and the reference size,
each asyncio variant's median with the event loop's own cost taken out, its ratio to the
synchronous form timed in the same passes, and what each sent (statements, round trips,
protocol messages).

An asyncio execution is timed as ``loop.run_until_complete(unit of work)``. The loop's own cost
of that call (measured on a coroutine that awaits nothing, ``event_loop_s``) is no style's
work: it is subtracted from every round of the asyncio variant before the ratio and its
interval are computed.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from bench.report.markdown import markdown_table
from bench.results.model import (
    CellResult,
    Comparison,
    Results,
    format_comparison,
    format_seconds,
    reference_size,
    variants_of,
    workloads_of,
)
from bench.results.statistics import indistinguishable, ratio_less_overhead

#: the protocol messages the table lists, in the order a statement sends them
MESSAGES = ("Parse", "Bind", "Execute", "Sync", "Query")


@dataclass(frozen=True)
class AsyncPair:
    """An asyncio variant's cell and its synchronous form's, of one group."""

    cell: CellResult
    sync: CellResult

    @property
    def loop_seconds(self) -> float:
        return self.cell.event_loop_s or 0.0

    def comparison(self) -> Comparison:
        """The asyncio median, loop's cost taken out, over the synchronous one, with the
        interval of the alternated rounds (each round less the loop's cost)."""
        sample, other = self.cell.sample, self.sync.sample
        if sample is None or other is None or self.cell.pass_count != self.sync.pass_count:
            ratio = (self.cell.median - self.loop_seconds) / self.sync.median
            return Comparison(ratio, math.nan, math.nan)
        # the run recorded the same figure (ratio_to_sync) with the same function
        ratio, (low, high) = ratio_less_overhead(
            sample, other, self.loop_seconds, self.cell.pass_count
        )
        return Comparison(ratio, low, high)


def async_pairs(results: Results, backend: str, size: int) -> list[AsyncPair]:
    pairs = []
    for cell in results.for_backend(backend):
        counterpart = results.catalog.sync_counterpart(cell.variant)
        if cell.size != size or counterpart is None:
            continue
        sync = results.lookup(cell.workload, counterpart, backend, size)
        if sync is not None:
            pairs.append(AsyncPair(cell, sync))
    return pairs


def async_findings(results: Results, backend: str) -> list[str]:
    """One sentence per asyncio variant: its ratio to its synchronous form over the workloads
    at the reference size, and where it sends other round trips."""
    cells = results.for_backend(backend)
    if not cells:
        return []
    size = reference_size(cells)
    pairs = async_pairs(results, backend, size)
    lines = []
    for variant in variants_of(pair.cell for pair in pairs):
        own = [pair for pair in pairs if pair.cell.variant == variant]
        comparisons = [pair.comparison() for pair in own]
        ratios = [c.ratio for c in comparisons]
        slower = sum(c.known and c.low > 1 for c in comparisons)
        faster = sum(c.known and c.high < 1 for c in comparisons)
        alike = len(comparisons) - slower - faster
        loops = [pair.loop_seconds for pair in own]
        text = (
            f"`{variant}` against `{own[0].sync.variant}` at size {size}, the event loop's "
            f"own cost ({format_seconds(min(loops))}–{format_seconds(max(loops))} an execution) "
            f"taken out: {min(ratios):.2f}× to {max(ratios):.2f}× over {len(own)} workloads; "
            f"slower in {slower}, faster in {faster}, indistinguishable in {alike}."
        )
        differ = [
            f"`{pair.cell.workload}` {pair.cell.round_trips} against {pair.sync.round_trips}"
            for pair in own
            if pair.cell.round_trips != pair.sync.round_trips
        ]
        text += (
            " Round trips differ in " + ", ".join(differ) + "."
            if differ
            else " It makes the same round trips in every workload."
        )
        # where the two do the work another way, the ratio compares the ways as well as the
        # drivers: the furthest from 1 is quoted with each style's own words
        furthest, _ = max(
            zip(own, comparisons, strict=True), key=lambda item: abs(math.log(item[1].ratio))
        )
        sends_otherwise = (furthest.cell.db_statements, furthest.cell.protocol_messages) != (
            furthest.sync.db_statements,
            furthest.sync.protocol_messages,
        )
        if furthest.cell.how != furthest.sync.how and sends_otherwise:
            text += (
                f" On `{furthest.cell.workload}` the two do the work differently: "
                f"`{variant}` {furthest.cell.how}; `{furthest.sync.variant}` {furthest.sync.how}."
            )
        lines.append(text)
    return lines


def async_section(results: Results, backend: str) -> list[str]:
    """The section for one backend: the asyncio variants beside their synchronous forms."""
    cells = results.for_backend(backend)
    if not cells:
        return []
    sizes = sorted({1, reference_size(cells)})
    rows = []
    for size in sizes:
        pairs = async_pairs(results, backend, size)
        for workload in workloads_of(pair.cell for pair in pairs):
            for pair in (p for p in pairs if p.cell.workload == workload):
                rows.append(_row(pair))
    if not rows:
        return []
    return [
        "### Asyncio styles beside their synchronous forms",
        "",
        "Each asyncio variant ran its executions on an event loop of its own, made before any "
        "timing; a timed execution is `loop.run_until_complete(unit of work)`. The loop's own "
        "cost of that call (`loop`: the median of the same call on a coroutine that awaits "
        "nothing) is taken out of each of its rounds before the ratio to the synchronous form, "
        "which was timed in the same passes. Counts are asyncio / synchronous; asyncpg's come "
        "from its protocol messages on the wire (it has no libpq trace).",
        "",
        markdown_table(
            "| size | workload | variant | median | loop | vs | ratio, loop out | "
            "statements | round trips | " + " / ".join(MESSAGES) + " |",
            rows,
        ),
        "",
    ]


def _row(pair: AsyncPair) -> list[str]:
    cell, sync = pair.cell, pair.sync
    comparison = pair.comparison()
    apart = comparison.known and not indistinguishable((comparison.low, comparison.high))
    return [
        str(cell.size),
        f"`{cell.workload}`",
        f"`{cell.variant}`",
        format_seconds(cell.median),
        format_seconds(pair.loop_seconds),
        f"`{sync.variant}`",
        format_comparison(comparison) + ("" if apart else " ≈"),
        f"{cell.db_statements} / {sync.db_statements}",
        f"{cell.round_trips} / {sync.round_trips}",
        f"{_messages(cell)} vs {_messages(sync)}",
    ]


def _messages(cell: CellResult) -> str:
    if cell.protocol_messages is None:
        return "n/a"
    return " / ".join(str(cell.protocol_messages.get(name, 0)) for name in MESSAGES)
