"""The report's "what the server did" section: per backend, the server's own account of one
execution of each style (rows read and written, buffer pages, log bytes) at the reference size,
and under each figure what it would cost under two billing models relative to the raw driver, in
one table; then the workloads where one style makes the server read or write rows that another
does not, with why: how the style does the workload, or, where the styles send the same SQL, the
server's plan (said once for the report, :data:`PLAN_NOTE`).

Every figure comes from the JSON (the counted execution's ``server_*`` and ``wal_bytes``
measures); where a backend keeps no such account, the section says n/a and why. No provider's
prices: a billing model is a unit of work, and the costs are ratios to the baseline (``dbapi``).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

from bench.report.markdown import markdown_table, markdown_text
from bench.results.model import (
    CellResult,
    Results,
    at_size,
    reference_size,
    variants_of,
    workloads_of,
)

NOT_AVAILABLE = "n/a"
#: what a style that sends the baseline's SQL records
SAME = "same SQL"


@dataclass(frozen=True)
class BillingModel:
    """A unit of work a database service might bill by, and how many a cell used."""

    name: str
    description: str
    units: Callable[[CellResult], int | None]


def _rows(cell: CellResult) -> int | None:
    if cell.server_rows_read is None or cell.server_rows_written is None:
        return None
    return cell.server_rows_read + cell.server_rows_written


BILLING_MODELS = (
    BillingModel("per row", "each row read or written is one unit", _rows),
    BillingModel(
        "per page", "each buffer page the execution touched is one unit", lambda c: c.server_blocks
    ),
)


def has_server_work(cell: CellResult) -> bool:
    return cell.server_rows_read is not None or cell.server_blocks is not None


def server_section(results: Results, backend: str) -> list[str]:
    """The section for one backend: the figures with their relative costs, and the styles
    that make the server read or write other rows."""
    cells = results.for_backend(backend)
    if not cells:
        return []
    size = reference_size(cells)
    measured = [c for c in at_size(cells, size) if has_server_work(c)]
    notes = results.catalog.server_work_notes_of(backend)
    lines = ["#### What the server did", ""]
    if not measured:
        reason = " ".join(notes) or "this run recorded no server figures for it"
        return [*lines, f"{NOT_AVAILABLE}: {reason.removeprefix(NOT_AVAILABLE + ': ')}.", ""]
    variants = variants_of(measured)
    baseline = results.catalog.baseline_variant
    models = " / ".join(model.name for model in BILLING_MODELS)
    lines += [
        f"The server's own account of one execution at size {size} (`connect_read_one` and "
        "`concurrent_requests` of one unit of work), from its statistics counters before and "
        "after the counted (untimed) execution: rows read / rows written / buffer pages "
        f"(blocks) / log (WAL) bytes; under it, the cost relative to `{baseline}` under two "
        f"billing models ({models}): "
        + "; ".join(f"{model.name}, {model.description}" for model in BILLING_MODELS)
        + ". Log bytes are in neither model. Every style is counted from the state its timed "
        "rounds start from (the seed freshly loaded and vacuumed, one execution before): rows "
        "repeat exactly from run to run; pages and log bytes, which also depend on where the "
        "tables' files have free space, have differed by up to a fifth: read smaller "
        "differences as noise.",
        "",
        work_table(measured, variants, baseline),
        "",
        "Where the figures come from: " + "; ".join(notes) + ".",
        "",
    ]
    differences = row_differences(measured, baseline)
    lines += ["What the styles make the server do differently:"]
    lines += [f"- {line}" for line in differences] or [
        "- Every style reads and writes the same rows on every workload.",
    ]
    return [*lines, ""]


def _figure(value: int | None) -> str:
    return NOT_AVAILABLE if value is None else str(value)


def _header(variants: Sequence[str]) -> str:
    return "| workload | " + " | ".join(f"`{v}`" for v in variants) + " |"


def _by_workload(cells: Sequence[CellResult]) -> dict[str, dict[str, CellResult]]:
    found: dict[str, dict[str, CellResult]] = {}
    for workload in workloads_of(cells):
        found[workload] = {c.variant: c for c in cells if c.workload == workload}
    return found


def _workload_rows(
    cells: Sequence[CellResult],
    variants: Sequence[str],
    baseline: str,
    entry: Callable[[CellResult, CellResult | None], str],
) -> list[list[str]]:
    """One row per workload: each variant's entry (given its cell and the baseline's), or a
    dash."""
    rows = []
    for workload, of_variant in _by_workload(cells).items():
        baseline_cell = of_variant.get(baseline)
        entries = [
            "—" if (cell := of_variant.get(variant)) is None else entry(cell, baseline_cell)
            for variant in variants
        ]
        rows.append([f"`{workload}`", *entries])
    return rows


def work_table(cells: Sequence[CellResult], variants: Sequence[str], baseline: str) -> str:
    """Per workload and style: the server's figures, and under them the relative costs."""

    def figures(cell: CellResult, baseline_cell: CellResult | None) -> str:
        text = " / ".join(
            _figure(value)
            for value in (
                cell.server_rows_read,
                cell.server_rows_written,
                cell.server_blocks,
                cell.wal_bytes,
            )
        )
        if baseline_cell is None:
            return text
        return (
            text
            + "<br>"
            + " / ".join(
                relative(model.units(cell), model.units(baseline_cell), baseline)
                for model in BILLING_MODELS
            )
        )

    return markdown_table(_header(variants), _workload_rows(cells, variants, baseline, figures))


def relative(units: int | None, baseline_units: int | None, baseline: str) -> str:
    """A style's units over the baseline's (the raw driver's); where the baseline used none,
    the units themselves."""
    if units is None or baseline_units is None:
        return NOT_AVAILABLE
    if baseline_units == 0:
        return "1.00×" if units == 0 else f"+{units} (`{baseline}` 0)"
    return f"{units / baseline_units:.2f}×"


#: beside styles that send the baseline's SQL and still read other rows
ANOTHER_PLAN = "the same SQL as `{baseline}`, planned otherwise by the server"
#: said once in the report: rows read follow the server's plan as well as the SQL
PLAN_NOTE = (
    "What the server did: rows read count the server's plan as well as the SQL: on tables this "
    "small it may read by a sequential scan what an index reads row by row (a whole table where "
    "a few rows were asked for); and where the server counts the foreign key's checks, each row "
    "inserted into `user_blog_post` reads its user from `user_account`, by index (one row) or "
    "by a sequential scan up to the matching row. Styles that send the same SQL differ only by "
    "the plans the server chose."
)


def row_differences(cells: Sequence[CellResult], baseline: str) -> list[str]:
    """Per workload, the styles grouped by the rows they make the server read (or write), and
    why: how each style whose SQL differs does the workload, in its own words, and the
    server's plan where styles sending the baseline's SQL differ among themselves."""
    lines = []
    for workload, of_variant in _by_workload(cells).items():
        size = next(iter(of_variant.values())).size
        for verb, counted in (
            ("read", {v: c.server_rows_read for v, c in of_variant.items()}),
            ("written", {v: c.server_rows_written for v, c in of_variant.items()}),
        ):
            known = {v: n for v, n in counted.items() if n is not None}
            if len(set(known.values())) < 2:
                continue
            by_count: dict[int, list[str]] = {}
            for variant, count in sorted(known.items(), key=lambda item: item[1]):
                by_count.setdefault(count, []).append(f"`{variant}`")
            groups = "; ".join(f"{count} by {_join(names)}" for count, names in by_count.items())
            lines.append(
                f"`{workload}` at size {size}, rows {verb}: {groups}. Why: "
                f"{_why(of_variant, known, baseline)}."
            )
    return lines


def _why(of_variant: dict[str, CellResult], known: dict[str, int], baseline: str) -> str:
    same = [v for v in known if v == baseline or of_variant[v].sql_vs_dbapi == SAME]
    base_count = known.get(baseline)
    hows: dict[str, list[str]] = {}
    for variant in known:
        if variant in same or known[variant] == base_count or not of_variant[variant].how:
            continue
        hows.setdefault(of_variant[variant].how, []).append(f"`{variant}`")
    parts = [f"{_join(names)}: {markdown_text(how)}" for how, names in hows.items()]
    if len({known[v] for v in same}) > 1:
        parts.append(ANOTHER_PLAN.format(baseline=baseline))
    return "; ".join(parts) or "their SQL differs from the baseline's"


def _join(names: Sequence[str]) -> str:
    return names[0] if len(names) == 1 else ", ".join(names[:-1]) + " and " + names[-1]
