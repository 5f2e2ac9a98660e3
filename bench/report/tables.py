"""The report's workload tables, per backend: each workload's times with their ratios to the
baseline and the order of the styles, then its counts, with notes on the SQL each style sends,
the variants that do not implement it and the sizes left out; and the guide to reading them
that opens the report (what each figure and mark means)."""

from __future__ import annotations

import itertools
from collections import defaultdict
from collections.abc import Sequence

from bench.report.markdown import markdown_table, markdown_text
from bench.results.model import (
    CellResult,
    Comparison,
    Results,
    compare_cells,
    format_comparison,
    format_seconds,
    variants_of,
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
    return [
        "How to read it: each cell was verified (result and table contents equal the "
        "workload's definition) before it was timed; counts come from a separate, untimed "
        "execution. The variants of one workload and size were timed together, their rounds "
        "in alternation, each round starting from the same database state. A time is "
        "pytest-benchmark's median over a cell's rounds; under it, the median over the raw "
        f"driver's (`{baseline}`) with a 95 % interval from the alternated rounds (block "
        f"bootstrap). `≈` marks a ratio whose interval holds 1: on this machine the data "
        f"cannot tell that style from `{baseline}`. {_event_loop_note(results)}"
        f"{NOISY_MARK} marks a cell whose rounds spread "
        "widely (interquartile range over 25 % of the median). `fastest to slowest` orders "
        "the styles; `≈` there joins neighbours the data cannot order."
        + "".join(
            f" On {heading.title} round trips equal database statements: there is no network."
            for heading in map(results.heading, results.backends)
            if not heading.networked
        ),
        "",
    ]


def _event_loop_note(results: Results) -> str:
    """What an asyncio style's time holds besides its work, where the run has any."""
    loops = [c.event_loop_s for c in results.cells if c.event_loop_s is not None]
    if not loops:
        return ""
    return (
        "An asyncio style's time includes its event loop's own cost of running one execution "
        f"({format_seconds(min(loops))} to {format_seconds(max(loops))}), which no style's "
        "work is: the section on the asyncio styles takes it out. "
    )


def ranking(cells: Sequence[CellResult]) -> str:
    """The variants of one group from fastest to slowest; ``≈`` where the interval of two
    neighbours' ratio holds 1, so the data cannot order them."""
    ordered = sorted(cells, key=lambda c: c.median)
    text = f"`{ordered[0].variant}`" if ordered else ""
    for faster, slower in itertools.pairwise(ordered):
        apart = not compare_cells(slower, faster).indistinguishable
        text += f"{ORDERED if apart else UNORDERED}`{slower.variant}`"
    return text


def _timing_entry(cell: CellResult | None) -> str:
    if cell is None:
        return "—"
    text = format_seconds(cell.median) + (NOISY_MARK if cell.noisy else "")
    if cell.ratio_to_dbapi is not None and cell.ratio_ci95 is not None:
        comparison = Comparison(cell.ratio_to_dbapi, *cell.ratio_ci95)
        mark = " ≈" if comparison.indistinguishable else ""
        text += f"<br>{format_comparison(comparison)}{mark}"
        if cell.sql_vs_dbapi is not None:
            text += f" {SAME_SQL_MARK if cell.sql_vs_dbapi == SAME_SQL else OTHER_SQL_MARK}"
    return text


def sql_notes(cells: Sequence[CellResult], baseline: str) -> list[str]:
    """Below a workload's table: which variants send the same SQL as the baseline, and why
    the others' differs."""
    markers: dict[str, str] = {}
    for cell in cells:
        if cell.sql_vs_dbapi is not None:
            markers.setdefault(cell.variant, cell.sql_vs_dbapi)
    if not markers:
        return []
    same = [f"`{v}`" for v, marker in markers.items() if marker == SAME_SQL]
    lines = [
        f"SQL against `{baseline}` ({SAME_SQL_MARK}, {OTHER_SQL_MARK} beside each ratio): "
        + (f"the same SQL: {', '.join(same)}." if same else "no variant sends the same SQL.")
    ]
    by_reason: dict[str, list[str]] = {}
    for variant, marker in markers.items():
        if marker != SAME_SQL:
            by_reason.setdefault(marker, []).append(f"`{variant}`")
    lines += [
        f"- {', '.join(names)}, other SQL: {markdown_text(why)}."
        for why, names in by_reason.items()
    ]
    return [*lines, ""]


def workload_tables(results: Results, backend: str, workload: str) -> list[str]:
    """A workload's tables: times and ratios, then counts; one row per size, the variants as
    columns; the variants that do not implement it in one line below."""
    cells = [c for c in results.for_backend(backend) if c.workload == workload]
    variants = variants_of(cells)
    sizes = sorted({c.size for c in cells})
    header = "| size | " + " | ".join(f"`{v}`" for v in variants) + " | fastest to slowest |"
    timing_rows = []
    count_rows = []
    for size in sizes:
        row = [results.lookup(workload, v, backend, size) for v in variants]
        present = [c for c in row if c is not None]
        timing_rows.append([str(size), *(_timing_entry(c) for c in row), ranking(present)])
        count_rows.append(
            [
                str(size),
                *(
                    "—" if c is None else f"{c.cursor_calls} / {c.db_statements} / {c.round_trips}"
                    for c in row
                ),
            ]
        )
    lines = [
        f"#### `{workload}`",
        "",
        markdown_table(header, timing_rows),
        "",
        *sql_notes(cells, results.catalog.baseline_variant),
        "Cursor calls / database statements / round trips per execution:",
        "",
        markdown_table("| size | " + " | ".join(f"`{v}`" for v in variants) + " |", count_rows),
        "",
    ]
    missing = not_applicable(results).get(workload, [])
    if missing:
        lines += ["Not applicable: " + ", ".join(f"`{v}`" for v in missing) + ".", ""]
    limits = results.harness.get("size_limits", {})
    cut = [
        f"`{v}` above size {limits[v]}" for v in variants if max(sizes) > limits.get(v, max(sizes))
    ]
    if cut:
        lines += [
            "Left out of the default sizes: " + ", ".join(cut) + " (ask with `--sizes`).",
            "",
        ]
    return lines


def not_applicable(results: Results) -> dict[str, list[str]]:
    found: dict[str, list[str]] = defaultdict(list)
    for entry in results.harness.get("not_applicable", []):
        found[entry["workload"]].append(entry["variant"])
    return found
