"""``python -m bench compare RUN_A RUN_B``: what changed between two runs, cell by cell.

For every cell in both runs: the median in each, and the median over the raw driver's in each.
A change is marked only where it is larger than the noise of both runs: where the 95 % interval
of the figure in one run and that in the other do not overlap. Medians move with the machine
(the calibration loop in each run's header shows how much); ratios to ``dbapi``, measured in
alternation within each run, move much less, and are what to read after an upgrade.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from bench.report.text import noise_lines
from bench.results.load import load_results
from bench.results.model import CellResult, Results, compare_cells, format_seconds
from bench.results.statistics import median_interval

Interval = tuple[float, float]
#: ratios that differ by less than this between two runs agree
AGREEMENT = 0.10


@dataclass(frozen=True)
class Change:
    """One figure of one cell in both runs, with their intervals."""

    before: float
    after: float
    before_interval: Interval
    after_interval: Interval

    @property
    def relative(self) -> float:
        return self.after / self.before - 1

    @property
    def beyond_noise(self) -> bool:
        """The two intervals do not overlap."""
        return (
            self.after_interval[0] > self.before_interval[1]
            or self.after_interval[1] < self.before_interval[0]
        )

    def describe(self) -> str:
        mark = (" ▲ slower" if self.relative > 0 else " ▼ faster") if self.beyond_noise else ""
        return f"{self.relative:+.0%}{mark}"


@dataclass(frozen=True)
class CellChange:
    key: tuple[str, str, str, int]
    median: Change
    ratio: Change | None


def _median_interval(cell: CellResult) -> Interval:
    sample = cell.sample
    if sample is None:  # no rounds in the JSON: no noise can be told, so no change is marked
        return 0.0, math.inf
    return median_interval(sample, cell.pass_count)


def _ratio_change(before: CellResult, after: CellResult) -> Change | None:
    if (
        before.ratio_to_dbapi is None
        or after.ratio_to_dbapi is None
        or before.ratio_ci95 is None
        or after.ratio_ci95 is None
    ):
        return None
    return Change(before.ratio_to_dbapi, after.ratio_to_dbapi, before.ratio_ci95, after.ratio_ci95)


def _key(cell: CellResult) -> tuple[str, str, str, int]:
    return (cell.backend, cell.workload, cell.variant, cell.size)


def changes(before: Results, after: Results) -> list[CellChange]:
    """The cells both runs have, in the second run's order."""
    earlier = {_key(cell): cell for cell in before.cells}
    found = []
    for cell in after.cells:
        previous = earlier.get(_key(cell))
        if previous is None:
            continue
        found.append(
            CellChange(
                _key(cell),
                Change(
                    previous.median, cell.median, _median_interval(previous), _median_interval(cell)
                ),
                _ratio_change(previous, cell),
            )
        )
    return found


def render_comparison(before: Results, after: Results, names: Sequence[str]) -> str:
    found = changes(before, after)
    lines = [f"# {names[0]} → {names[1]}", ""]
    for name, results in zip(names, (before, after), strict=True):
        noise = noise_lines(results.harness)
        versions = results.harness.get("versions", {})
        lines.append(
            f"{name}: run at {results.datetime}; "
            + ", ".join(f"{k} {v}" for k, v in versions.items() if k != "pytest-benchmark")
        )
        if noise:
            lines.append(noise[0])
        lines.append("")
    lines += [
        "A change marked ▲ or ▼ is larger than the noise of both runs: the 95 % intervals of "
        "the figure in the two runs do not overlap. Medians move with the machine; the ratios "
        "to dbapi were measured in alternation within each run and move much less.",
        "",
        "| backend | workload | size | variant | median A | median B | change "
        "| ratio to dbapi A | ratio to dbapi B | change |",
        "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    for change in found:
        backend, workload, variant, size = change.key
        ratio = change.ratio
        lines.append(
            f"| {backend} | {workload} | {size} | {variant} "
            f"| {format_seconds(change.median.before)} | {format_seconds(change.median.after)} "
            f"| {change.median.describe()} "
            + (
                f"| {ratio.before:.2f}× | {ratio.after:.2f}× | {ratio.describe()} |"
                if ratio is not None
                else "| — | — | — |"
            )
        )
    medians_moved = sum(c.median.beyond_noise for c in found)
    ratios = [c.ratio for c in found if c.ratio is not None]
    ratios_moved = sum(r.beyond_noise for r in ratios)
    close = sum(abs(r.relative) <= AGREEMENT for r in ratios)
    lines += [
        "",
        f"Beyond the noise of both runs: {medians_moved} of {len(found)} medians and "
        f"{ratios_moved} of {len(ratios)} ratios to dbapi changed.",
    ]
    if ratios:
        lines.append(
            f"Ratios to dbapi within {AGREEMENT:.0%} of each other in the two runs: {close} of "
            f"{len(ratios)} ({close / len(ratios):.0%})."
        )
    lines += _order_changes(before, after, names)
    only = _unmatched(before, after, names)
    if only:
        lines += ["", *only]
    return "\n".join(lines) + "\n"


def order_changes(before: Results, after: Results) -> list[OrderChange]:
    """Every pair of variants of a group that the two runs put in different orders."""
    found = []
    groups = sorted({cell.group for cell in after.cells})
    for backend, workload, size in groups:
        pairs = []
        for cell in after.cells:
            if cell.group != (backend, workload, size):
                continue
            previous = before.lookup(workload, cell.variant, backend, size)
            if previous is not None:
                pairs.append((previous, cell))
        for (a_before, a_after), (b_before, b_after) in itertools.combinations(pairs, 2):
            if (a_before.median < b_before.median) == (a_after.median < b_after.median):
                continue
            found.append(
                OrderChange(
                    (backend, workload, size),
                    (a_after.variant, b_after.variant),
                    compare_cells(a_before, b_before).indistinguishable,
                    compare_cells(a_after, b_after).indistinguishable,
                )
            )
    return found


@dataclass(frozen=True)
class OrderChange:
    group: tuple[str, str, int]
    variants: tuple[str, str]
    #: whether each run called the two indistinguishable
    tied_before: bool
    tied_after: bool


def _order_changes(before: Results, after: Results, names: Sequence[str]) -> list[str]:
    changed = order_changes(before, after)
    if not changed:
        return ["No two variants of a group changed order between the runs."]
    explained = sum(c.tied_before or c.tied_after for c in changed)
    lines = [
        f"{len(changed)} pairs of variants changed order between the runs; {explained} of them "
        "were called indistinguishable in at least one run:",
        "",
    ]
    for change in changed:
        backend, workload, size = change.group
        tied = [
            name
            for name, t in zip(names, (change.tied_before, change.tied_after), strict=True)
            if t
        ]
        lines.append(
            f"- {backend} {workload} {size}: `{change.variants[0]}` and `{change.variants[1]}` "
            + (f"(indistinguishable in {' and '.join(tied)})" if tied else "(told apart in both)")
        )
    return lines


def _unmatched(before: Results, after: Results, names: Sequence[str]) -> list[str]:
    lines = []
    for name, results, other in ((names[0], before, after), (names[1], after, before)):
        theirs = {_key(c) for c in other.cells}
        alone = [k for k in (_key(c) for c in results.cells) if k not in theirs]
        if alone:
            lines.append(
                f"Only in {name}: " + ", ".join(f"{w} {v} {b} {s}" for b, w, v, s in alone) + "."
            )
    return lines


def compare_runs(first: Path, second: Path) -> str:
    """The comparison of two runs' folders; a ReportError for either that cannot be read."""
    before, after = load_results(first), load_results(second)
    return render_comparison(before, after, (str(first), str(second)))
