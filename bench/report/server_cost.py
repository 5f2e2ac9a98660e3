"""The report's "what the server did" section: per backend, the server's own account of one
execution of each style (rows read and written, buffer pages, log bytes) at the reference size,
what it would cost under two billing models relative to the raw driver, and the workloads where
one style makes the server read or write rows that another does not.

Every figure comes from the JSON (the counted execution's ``server_*`` and ``wal_bytes``
measures); where a backend keeps no such account, the section says n/a and why. No provider's
prices: a billing model is a unit of work, and the costs are ratios to the baseline (``dbapi``).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

from bench.report.markdown import markdown_table
from bench.results.model import (
    CellResult,
    Results,
    at_size,
    reference_size,
    variants_of,
    workloads_of,
)

NOT_AVAILABLE = "n/a"


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
    """The section for one backend: the table, the relative costs and the differences."""
    cells = results.for_backend(backend)
    if not cells:
        return []
    size = reference_size(cells)
    measured = [c for c in at_size(cells, size) if has_server_work(c)]
    notes = results.catalog.server_work_notes_of(backend)
    lines = ["### What the server did", ""]
    if not measured:
        reason = " ".join(notes) or "this run recorded no server figures for it"
        return [*lines, f"{NOT_AVAILABLE}: {reason.removeprefix(NOT_AVAILABLE + ': ')}.", ""]
    variants = variants_of(measured)
    baseline = results.catalog.baseline_variant
    lines += [
        f"The server's own account of one execution at size {size}, from its statistics "
        "counters before and after the counted (untimed) execution: rows read / rows written / "
        "buffer pages (blocks) / log (WAL) bytes.",
        "",
        work_table(measured, variants, baseline),
        "",
        "Where the figures come from:",
        "",
        *(f"- {note}." for note in notes),
        "",
    ]
    lines += relative_costs(measured, variants, baseline)
    differences = row_differences(measured, size)
    lines += ["What the styles make the server do differently:", ""]
    lines += [f"- {line}" for line in differences] or [
        f"- At size {size} every style reads and writes the same rows on every workload.",
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
    needs_baseline: bool = False,
) -> list[list[str]]:
    """One row per workload: each variant's entry (given its cell and the baseline's), or a
    dash."""
    rows = []
    for workload, of_variant in _by_workload(cells).items():
        baseline_cell = of_variant.get(baseline)
        if needs_baseline and baseline_cell is None:
            continue
        entries = [
            "—" if (cell := of_variant.get(variant)) is None else entry(cell, baseline_cell)
            for variant in variants
        ]
        rows.append([f"`{workload}`", *entries])
    return rows


def work_table(cells: Sequence[CellResult], variants: Sequence[str], baseline: str) -> str:
    def figures(cell: CellResult, baseline_cell: CellResult | None) -> str:
        return " / ".join(
            _figure(value)
            for value in (
                cell.server_rows_read,
                cell.server_rows_written,
                cell.server_blocks,
                cell.wal_bytes,
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


def relative_costs(
    cells: Sequence[CellResult], variants: Sequence[str], baseline: str
) -> list[str]:
    """Each billing model's units, as ratios to the baseline's, per workload and style."""
    if baseline not in variants:
        return []
    lines = [
        f"Relative cost under two billing models, as ratios to `{baseline}` "
        "(rows model / pages model): "
        + "; ".join(f"{model.name}: {model.description}" for model in BILLING_MODELS)
        + ". Log bytes are in neither model. Every style is counted from the state its timed "
        "rounds start from (the seed freshly loaded and vacuumed, one execution before): the "
        "rows repeat exactly from run to run; pages and log bytes, which also depend on where "
        "the tables' files have free space, have differed by up to a fifth: read smaller "
        "differences as noise.",
        "",
    ]

    def ratios(cell: CellResult, baseline_cell: CellResult | None) -> str:
        assert baseline_cell is not None
        return " / ".join(
            relative(model.units(cell), model.units(baseline_cell), baseline)
            for model in BILLING_MODELS
        )

    rows = _workload_rows(cells, variants, baseline, ratios, needs_baseline=True)
    return [*lines, markdown_table(_header(variants), rows), ""]


def row_differences(cells: Sequence[CellResult], size: int) -> list[str]:
    """Per workload, the styles that make the server read (or write) more rows than the
    style that needs fewest, and how they do the workload, in their own words."""
    lines = []
    for workload, of_variant in _by_workload(cells).items():
        for verb, counted in (
            ("reads", {v: c.server_rows_read for v, c in of_variant.items()}),
            ("writes", {v: c.server_rows_written for v, c in of_variant.items()}),
        ):
            known = {v: n for v, n in counted.items() if n is not None}
            if len(set(known.values())) < 2:
                continue
            fewest = min(known.values())
            least = [f"`{v}`" for v, n in known.items() if n == fewest]
            more = sorted(((n, v) for v, n in known.items() if n > fewest), reverse=True)
            styles = "; ".join(
                f"`{v}` {verb} {n} rows ({n / fewest:.1f}×)" if fewest else f"`{v}` {verb} {n} rows"
                for n, v in more
            )
            why = " ".join(f"`{v}`: {of_variant[v].how}." for _, v in more if of_variant[v].how)
            lines.append(
                f"`{workload}` at size {size}: {styles}, where {_join(least)} "
                f"{verb.removesuffix('s') if len(least) > 1 else verb} {fewest}."
                + (f" How: {why}" if why else "")
            )
    return lines


def _join(names: Sequence[str]) -> str:
    return names[0] if len(names) == 1 else ", ".join(names[:-1]) + " and " + names[-1]
