"""The report's decision table, per backend: one row per question a service asks of its data
access (one small request, a read of an object with its children, a bulk insert, the N+1
pattern, an update), one column per main style, and in each cell what a reader decides on: the
milliseconds of one unit of work on this server and at 1 ms per round trip (measured through
the delay proxy where the run has such cells, else projected), the time over the raw driver's
with its 95 % interval, and the round trips. Below it, one sentence per question: the ORM
against the raw driver (for N+1, the lazy loader against the right one) here and at 1 ms per
round trip, each ratio with its interval.

Which workload, size and variants answer each question is declared once, in :data:`QUESTIONS`
and :data:`COLUMNS`: the report's editorial choice, stated under the table by the cells
themselves (each names its workload and size, and its variant where the column holds more than
one). A style the run lacks is left out of the table.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

from bench.report.text import plural
from bench.results.model import (
    CellResult,
    Comparison,
    Results,
    compare_cells,
    format_comparison,
    reference_size,
)
from bench.results.statistics import shifted_ratio_intervals

#: the network round-trip time the first screen quotes, in milliseconds
QUOTED_RTT_MS = 1.0
#: beside a time at the quoted round-trip time: projected (median + round trips x RTT), or
#: measured through the delay proxy (``run --rtt``)
PROJECTED_MARK, MEASURED_MARK = "*", "†"
#: beside a ratio whose 95 % interval holds 1: the data cannot tell the two apart
ALIKE_MARK = "≈"


@dataclass(frozen=True)
class Question:
    """A question a service asks, and the cells that answer it."""

    label: str
    workload: str
    #: None: the run's reference size (its largest batch size, 100 when run)
    size: int | None
    #: the ORM's right form for this question (the column "ORM, right form")
    right_form: str
    #: the variant in the ORM column; None: the catalog's growth variant (``orm``)
    orm: str | None = None
    #: whether every unit of work of it writes (and so pays a durable commit)
    writes: bool = False
    #: the finding compares the ORM column with the right form rather than with the baseline
    against_right_form: bool = False


#: one row each; the right form is what an ORM user should write for that question
QUESTIONS = (
    Question("one small request", "crud_read", 1, right_form="orm_bulk"),
    # one object: its children in the same SELECT
    Question("an object with its children", "parent_child_read", 1, right_form="orm_joined"),
    Question("bulk insert", "crud_create", None, right_form="orm_bulk", writes=True),
    # a page of ten objects: the lazy loader's 1 + N SELECTs against selectinload's two
    Question(
        "N+1: a page of objects with children",
        "parent_child_read",
        10,
        right_form="orm",
        orm="orm_lazy",
        against_right_form=True,
    ),
    Question("update one row", "crud_update", 1, right_form="orm_bulk", writes=True),
)


@dataclass(frozen=True)
class Column:
    """A column of the table: a fixed variant, or the ORM's (which varies by question)."""

    header: str
    #: the variant it holds; None for the ORM's columns, whose variant the question names
    variant: str | None = None
    #: "orm" or "right form" for the ORM's columns
    role: str = ""


#: ``baseline`` stands for the catalog's baseline variant (the raw driver)
COLUMNS = (
    Column("`dbapi`", "baseline"),
    Column("`asyncpg`", "asyncpg"),
    Column("`core`", "core"),
    Column("ORM", role="orm"),
    Column("ORM, right form", role="right form"),
    Column("asyncio ORM (`orm_asyncpg`)", "orm_asyncpg"),
)


def question_size(question: Question, results: Results, backend: str) -> int:
    """The question's size; where the run lacks it (``--quick`` runs 1 and 50), the next size
    up the run has, else its largest: an N+1 page of 10 read at 50 still shows the pattern,
    read at 1 it would not."""
    timed = [c for c in results.for_backend(backend) if not c.is_concurrent]
    if question.size is None:
        # a run of concurrent cells only has no reference size, and no cell to answer with
        return reference_size(timed) if timed else 0
    sizes = sorted({c.size for c in timed if c.workload == question.workload})
    if not sizes or question.size in sizes:
        return question.size
    return next((size for size in sizes if size > question.size), sizes[-1])


def column_variant(column: Column, question: Question, results: Results) -> str:
    """The variant a column holds on a question's row."""
    catalog = results.catalog
    if column.role == "orm":
        return question.orm or catalog.growth_variant
    if column.role == "right form":
        return question.right_form
    assert column.variant is not None
    return catalog.baseline_variant if column.variant == "baseline" else column.variant


def _header_variant(column: Column, results: Results) -> str | None:
    """The variant a column's header names, if it names one."""
    if column.variant is None:
        return None
    return results.catalog.baseline_variant if column.variant == "baseline" else column.variant


def answering_cell(
    results: Results, backend: str, question: Question, column: Column
) -> CellResult | None:
    variant = column_variant(column, question, results)
    size = question_size(question, results, backend)
    return results.lookup(question.workload, variant, backend, size)


def measured_at(results: Results, cell: CellResult, rtt_ms: float) -> CellResult | None:
    """The cell measured through the delay proxy at ``rtt_ms``, where the run has it."""
    for delayed in results.delayed:
        if delayed.key == cell.key and delayed.rtt_ms == rtt_ms:
            return delayed
    return None


def time_at_rtt(results: Results, cell: CellResult, rtt_ms: float) -> tuple[float, bool]:
    """Seconds of one unit of work at ``rtt_ms`` per round trip, and whether measured."""
    measured = measured_at(results, cell, rtt_ms)
    if measured is not None:
        return measured.median, True
    return cell.projected(rtt_ms / 1000), False


def compare_at_rtt(
    results: Results, cell: CellResult, other: CellResult, rtt_ms: float
) -> Comparison:
    """cell over other at ``rtt_ms`` per round trip, with its 95 % interval: both measured
    through the delay proxy where the run has both, else both projected (the interval from
    the same alternated rounds, each shifted by its round trips x RTT)."""
    measured = measured_at(results, cell, rtt_ms), measured_at(results, other, rtt_ms)
    if measured[0] is not None and measured[1] is not None:
        return compare_cells(measured[0], measured[1])
    shift = cell.round_trips * rtt_ms / 1000, other.round_trips * rtt_ms / 1000
    ratio = (cell.median + shift[0]) / (other.median + shift[1])
    samples = cell.sample, other.sample
    if samples[0] is None or samples[1] is None or cell.pass_count != other.pass_count:
        return Comparison(ratio, math.nan, math.nan)
    ((low, high),) = shifted_ratio_intervals(samples[0], samples[1], cell.pass_count, [shift])
    return Comparison(ratio, low, high)


def format_ms(seconds: float) -> str:
    """Milliseconds to three significant digits: 0.892, 2.06, 13.6, 264, 1234."""
    value = seconds * 1000
    text = f"{value:#.3g}".rstrip(".") if value < 1000 else f"{value:.0f}"
    return f"{text} ms"


def ratio_text(comparison: Comparison) -> str:
    """A ratio with its interval, and the mark where the interval holds 1."""
    mark = f" {ALIKE_MARK}" if comparison.known and comparison.indistinguishable else ""
    return format_comparison(comparison) + mark


def cell_text(results: Results, cell: CellResult, baseline: CellResult | None, named: bool) -> str:
    """One entry of the table: the time here, at the quoted round-trip time where there is a
    network, over the baseline's with its interval, and the round trips."""
    parts = [format_ms(cell.median)]
    if results.heading(cell.backend).networked:
        seconds, measured = time_at_rtt(results, cell, QUOTED_RTT_MS)
        mark = MEASURED_MARK if measured else PROJECTED_MARK
        parts.append(f"{format_ms(seconds)}@{QUOTED_RTT_MS:g}ms{mark}")
    if baseline is not None and cell is not baseline:
        parts.append(ratio_text(compare_cells(cell, baseline)))
    parts.append(f"{cell.round_trips} rt")
    text = " · ".join(parts)
    return f"`{cell.variant}` {text}" if named else text


def decision_columns(results: Results, backend: str) -> list[Column]:
    """The columns with at least one cell on this backend."""
    return [
        column
        for column in COLUMNS
        if any(answering_cell(results, backend, q, column) for q in QUESTIONS)
    ]


def question_label(question: Question, results: Results, backend: str) -> str:
    size = question_size(question, results, backend)
    return f"{question.label} (`{question.workload}`, {size})"


def decision_table(results: Results, backend: str) -> list[str]:
    """The table's lines (header, separator, one row per question the run can answer)."""
    columns = decision_columns(results, backend)
    baseline_column = next((c for c in columns if c.variant == "baseline"), None)
    rows = []
    for question in QUESTIONS:
        cells = [answering_cell(results, backend, question, c) for c in columns]
        if not any(cells):
            continue
        baseline = (
            answering_cell(results, backend, question, baseline_column)
            if baseline_column is not None
            else None
        )
        entries = []
        for column, cell in zip(columns, cells, strict=True):
            if cell is None:
                entries.append("—")
                continue
            named = _header_variant(column, results) != cell.variant
            entries.append(cell_text(results, cell, baseline, named))
        rows.append([question_label(question, results, backend), *entries])
    if not rows:
        return []
    header = "| question (workload, size) | " + " | ".join(c.header for c in columns) + " |"
    separator = "|" + "|".join(" --- " for _ in range(len(columns) + 1)) + "|"
    return [header, separator, *("| " + " | ".join(row) + " |" for row in rows)]


def decision_findings(results: Results, backend: str) -> list[str]:
    """One sentence per question: the ORM column's style over the baseline's (for N+1, over
    the right form's), here and, where there is a network, at the quoted round-trip time;
    each ratio with its interval."""
    networked = results.heading(backend).networked
    orm_column = next(c for c in COLUMNS if c.role == "orm")
    right_column = next(c for c in COLUMNS if c.role == "right form")
    baseline_column = next(c for c in COLUMNS if c.variant == "baseline")
    lines = []
    for question in QUESTIONS:
        cell = answering_cell(results, backend, question, orm_column)
        against = right_column if question.against_right_form else baseline_column
        other = answering_cell(results, backend, question, against)
        if cell is None or other is None or cell.variant == other.variant:
            continue
        here = compare_cells(cell, other)
        extra = cell.median - other.median
        text = (
            f"{_capitalised(question.label)} (`{question.workload}` at size {cell.size}): "
            f"`{cell.variant}` takes {ratio_text(here)} `{other.variant}`'s time here "
            f"({'+' if extra >= 0 else '-'}{format_ms(abs(extra))} a unit of work)"
        )
        if networked:
            at_rtt = compare_at_rtt(results, cell, other, QUOTED_RTT_MS)
            how = "measured" if _both_measured(results, (cell, other)) else "projected"
            text += f", {ratio_text(at_rtt)} at {QUOTED_RTT_MS:g} ms per round trip ({how})"
        trips = (
            f"{plural(cell.round_trips, 'round trip')} each"
            if cell.round_trips == other.round_trips
            else f"{cell.round_trips} round trips against {other.round_trips}"
        )
        lines.append(f"{text}; {trips}.")
    return lines


def _both_measured(results: Results, cells: Sequence[CellResult]) -> bool:
    return all(measured_at(results, c, QUOTED_RTT_MS) is not None for c in cells)


def _capitalised(text: str) -> str:
    return text[:1].upper() + text[1:]


def writing_questions(results: Results, backend: str) -> list[str]:
    """The labels of the questions whose units of work write, as the table shows them."""
    return [q.label for q in QUESTIONS if q.writes and _answered(results, backend, q)]


def _answered(results: Results, backend: str, question: Question) -> bool:
    return any(answering_cell(results, backend, question, c) for c in COLUMNS)
