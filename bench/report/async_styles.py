"""The report's comparison of the asyncio styles with their synchronous forms (``orm_async``
with ``orm``, ``asyncpg`` with ``dbapi``, ...): per backend, at size 1 and the reference size,
each asyncio variant's ratio to its synchronous form timed in the same passes, the event loop's
own cost taken out, and its round trips where they differ; then a sentence per variant over the
workloads, which names the ones that prepare their statements once (no ``Parse`` sent).

An asyncio execution is timed as ``loop.run_until_complete(unit of work)``. The loop's own cost
of that call (measured on a coroutine that awaits nothing, ``event_loop_s``) is no style's
work: it is subtracted from every round of the asyncio variant before the ratio and its
interval are computed.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from bench.report.markdown import markdown_table, markdown_text
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
    at the reference size (the loop's cost taken out), and where it sends other round trips."""
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
        text = (
            f"`{variant}` against `{own[0].sync.variant}` at size {size}: {min(ratios):.2f}× "
            f"to {max(ratios):.2f}× over {len(own)} workloads; slower in {slower}, faster in "
            f"{faster}, indistinguishable in {alike}."
        )
        differ = [
            f"`{pair.cell.workload}` {pair.cell.round_trips} against {pair.sync.round_trips}"
            for pair in own
            if pair.cell.round_trips != pair.sync.round_trips
        ]
        text += (
            " Round trips differ in " + ", ".join(differ) + "."
            if differ
            else " The same round trips in every workload."
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
                f"`{variant}` {markdown_text(furthest.cell.how)}; `{furthest.sync.variant}` "
                f"{markdown_text(furthest.sync.how)}."
            )
        text += _prepared_once(own)
        lines.append(text)
    return lines


def _prepared_once(pairs: list[AsyncPair]) -> str:
    """Where the asyncio variant never sends a Parse and its synchronous form does: it
    prepares each statement once per connection."""
    own = [pair.cell.protocol_messages for pair in pairs]
    theirs = [pair.sync.protocol_messages for pair in pairs]
    if any(m is None for m in own) or not any(m and m.get("Parse") for m in theirs):
        return ""
    if any(m and m.get("Parse") for m in own):
        return ""
    return " It sends no `Parse`: each statement is prepared once per connection and reused."


def async_section(results: Results, backend: str) -> list[str]:
    """The section for one backend: each asyncio variant over its synchronous form, per
    workload at size 1 and the reference size, then a sentence per variant."""
    cells = results.for_backend(backend)
    if not cells:
        return []
    sizes = sorted({1, reference_size(cells)})
    found: dict[tuple[str, str, int], AsyncPair] = {}
    for size in sizes:
        for pair in async_pairs(results, backend, size):
            found[(pair.cell.workload, pair.cell.variant, size)] = pair
    if not found:
        return []
    pairs = list(found.values())
    variants = variants_of(pair.cell for pair in pairs)
    sync_of = {v: results.catalog.sync_counterpart(v) for v in variants}
    loops = [pair.loop_seconds for pair in pairs]
    rows = [
        [
            f"`{workload}`",
            *(
                " · ".join(_entry(found.get((workload, variant, size))) for size in sizes)
                for variant in variants
            ),
        ]
        for workload in workloads_of(pair.cell for pair in pairs)
    ]
    at = " · ".join(f"size {size}" for size in sizes)
    return [
        "#### Asyncio styles beside their synchronous forms",
        "",
        "Each asyncio variant ran on an event loop of its own; a timed execution is "
        "`loop.run_until_complete(unit of work)`. The loop's own cost of that call (the median "
        "of the same call on a coroutine that awaits nothing, "
        f"{format_seconds(min(loops))} to {format_seconds(max(loops))}) is taken out of each "
        "round before the ratio to the synchronous form, timed in the same passes. Each entry: "
        f"the ratio at {at}, with the round trips where the two differ (asyncpg's counted on "
        "the wire).",
        "",
        markdown_table(
            "| workload | " + " | ".join(f"`{v}` / `{sync_of[v]}`" for v in variants) + " |",
            rows,
        ),
        "",
        *(f"- {line}" for line in async_findings(results, backend)),
        "",
    ]


def _entry(pair: AsyncPair | None) -> str:
    if pair is None:
        return "—"
    comparison = pair.comparison()
    apart = comparison.known and not indistinguishable((comparison.low, comparison.high))
    text = format_comparison(comparison) + ("" if apart else " ≈")
    if pair.cell.round_trips != pair.sync.round_trips:
        text += f" ({pair.cell.round_trips} rt / {pair.sync.round_trips})"
    return text
