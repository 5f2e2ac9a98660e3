"""The report's workload tables, per backend: one table per workload, a row per size and a column
per variant, each entry its median, its ratio to the baseline with the 95 % interval and whether
it sends the same SQL, and its counts; the order of the styles last. Under a backend's tables,
once, why a style's SQL differs from the baseline's. And, once for the report, the guide to
reading them: what each figure and mark means, which variants a workload leaves out and which
sizes the default run skips."""

from __future__ import annotations

import itertools
from collections.abc import Sequence

from bench.report.markdown import markdown_table, markdown_text
from bench.report.server_cost import PLAN_NOTE, has_server_work
from bench.results.model import (
    CellResult,
    Comparison,
    Results,
    compare_cells,
    format_comparison,
    format_seconds,
    variants_of,
    workloads_of,
)

NOISY_MARK = "‡"
#: beside a ratio to the baseline: whether it compares the same SQL, or other SQL (a declared
#: difference)
SAME_SQL_MARK, OTHER_SQL_MARK = "=SQL", "≠SQL"
SAME_SQL = "same SQL"
#: how the order of two variants is written: told apart by the data, or not
ORDERED, UNORDERED = " < ", " ≈ "


def reading_guide(results: Results) -> list[str]:
    """How to read the tables: how each figure was measured, and what each mark says."""
    baseline = results.catalog.baseline_variant
    lines = [
        "### How to read the tables",
        "",
        "- Each cell was verified (result and table contents equal the workload's definition) "
        "before it was timed; counts come from a separate, untimed execution. The variants of "
        "one workload and size were timed together, their rounds in alternation, each round "
        "from the same database state.",
        "- An entry: pytest-benchmark's median over the cell's rounds "
        f"({NOISY_MARK}: the rounds spread widely, interquartile range over 25 % of the "
        f"median); its median over `{baseline}`'s with a 95 % interval from the alternated "
        "rounds (block bootstrap), `≈` where the interval holds 1 (the data cannot tell the "
        f"two apart), {SAME_SQL_MARK} where it sends the same SQL as `{baseline}`, "
        f"{OTHER_SQL_MARK} a declared difference (listed under the backend's tables); cursor "
        "calls / database statements / round trips of one execution. `fastest to slowest`: "
        "`≈` joins neighbours the data cannot order.",
    ]
    lines += [f"- {line}" for line in _coverage(results)]
    loops = [c.event_loop_s for c in results.cells if c.event_loop_s is not None]
    if loops:
        lines.append(
            "- An asyncio style's time includes its event loop's own cost of running one "
            f"execution ({format_seconds(min(loops))} to {format_seconds(max(loops))}), which "
            "no style's work is: the asyncio section takes it out."
        )
    if any(has_server_work(c) for c in results.cells):
        lines.append(f"- {PLAN_NOTE}")
    for heading in map(results.heading, results.backends):
        if not heading.networked:
            lines.append(
                f"- {heading.title} runs inside the application's process: its round trips "
                "are its statements, with no network to add (no projection)."
            )
    return [*lines, ""]


def _coverage(results: Results) -> list[str]:
    """Once for the report: the variants that implement only some workloads (absent from the
    others' tables), and the sizes the default run leaves out (— in the tables)."""
    lines = []
    workloads = workloads_of(results.cells)
    skipped: dict[str, set[str]] = {}
    for entry in results.harness.get("not_applicable", []):
        skipped.setdefault(entry["variant"], set()).add(entry["workload"])
    # variants missing the same workloads share an entry; each names the shorter list
    shared: dict[str, list[str]] = {}
    for variant in variants_of(results.cells):
        missing = [w for w in workloads if w in skipped.get(variant, set())]
        if not missing:
            continue
        done = [w for w in workloads if w not in missing]
        which = (
            "only " + ", ".join(f"`{w}`" for w in done)
            if len(done) <= len(missing)
            else "all but " + ", ".join(f"`{w}`" for w in missing)
        )
        shared.setdefault(which, []).append(f"`{variant}`")
    if shared:
        lines.append(
            "Not applicable: a variant absent from a workload's table does not implement it: "
            + "; ".join(f"{', '.join(names)}: {which}" for which, names in shared.items())
            + "."
        )
    limits = results.harness.get("size_limits", {})
    largest = max((c.size for c in results.cells if c.is_batch), default=0)
    cut: dict[int, list[str]] = {}
    for variant in variants_of(results.cells):
        if variant in limits and largest > limits[variant]:
            cut.setdefault(limits[variant], []).append(f"`{variant}`")
    if cut:
        lines.append(
            "Left out of the default sizes: "
            + ", ".join(f"{', '.join(names)} above size {size}" for size, names in cut.items())
            + " (ask with `--sizes`; — in the tables)."
        )
    return lines


def ranking(cells: Sequence[CellResult]) -> str:
    """The variants of one group from fastest to slowest; ``≈`` where the interval of two
    neighbours' ratio holds 1, so the data cannot order them."""
    ordered = sorted(cells, key=lambda c: c.median)
    text = f"`{ordered[0].variant}`" if ordered else ""
    for faster, slower in itertools.pairwise(ordered):
        apart = not compare_cells(slower, faster).indistinguishable
        text += f"{ORDERED if apart else UNORDERED}`{slower.variant}`"
    return text


def counts(cell: CellResult) -> str:
    return f"{cell.cursor_calls} / {cell.db_statements} / {cell.round_trips}"


def _entry(cell: CellResult | None) -> str:
    if cell is None:
        return "—"
    text = format_seconds(cell.median) + (NOISY_MARK if cell.noisy else "")
    if cell.ratio_to_dbapi is not None and cell.ratio_ci95 is not None:
        comparison = Comparison(cell.ratio_to_dbapi, *cell.ratio_ci95)
        mark = " ≈" if comparison.indistinguishable else ""
        text += f"<br>{format_comparison(comparison)}{mark}"
        if cell.sql_vs_dbapi is not None:
            text += f" {SAME_SQL_MARK if cell.sql_vs_dbapi == SAME_SQL else OTHER_SQL_MARK}"
    return f"{text}<br>{counts(cell)}"


def workload_table(results: Results, backend: str, workload: str) -> list[str]:
    """A workload's table: one row per size, the variants as columns, the order last."""
    cells = [c for c in results.for_backend(backend) if c.workload == workload]
    variants = variants_of(cells)
    rows = []
    for size in sorted({c.size for c in cells}):
        row = [results.lookup(workload, v, backend, size) for v in variants]
        present = [c for c in row if c is not None]
        rows.append([str(size), *(_entry(c) for c in row), ranking(present)])
    header = (
        f"| `{workload}` size | "
        + " | ".join(f"`{v}`" for v in variants)
        + " | fastest to slowest |"
    )
    return [markdown_table(header, rows), ""]


def sql_differences(results: Results, backend: str) -> list[str]:
    """Under a backend's tables, once: why each style that sends other SQL than the baseline
    does; a reason's styles that differ on the same workloads share a line."""
    baseline = results.catalog.baseline_variant
    cells = results.for_backend(backend)
    # reason -> variant -> the workloads where the variant gives that reason
    found: dict[str, dict[str, list[str]]] = {}
    for workload in workloads_of(cells):
        for cell in cells:
            if cell.workload == workload and cell.sql_vs_dbapi not in (None, SAME_SQL):
                where = found.setdefault(str(cell.sql_vs_dbapi), {}).setdefault(cell.variant, [])
                if workload not in where:
                    where.append(workload)
    if not found:
        return []
    lines = [f"Where a style sends other SQL than `{baseline}` ({OTHER_SQL_MARK}), and why:"]
    for why, by_variant in found.items():
        groups: dict[tuple[str, ...], list[str]] = {}
        for variant, workloads in by_variant.items():
            groups.setdefault(tuple(workloads), []).append(variant)
        for shared, variants in groups.items():
            lines.append(
                f"- {', '.join(f'`{v}`' for v in variants)} on "
                f"{', '.join(f'`{w}`' for w in shared)}: {markdown_text(why)}."
            )
    return [*lines, ""]
