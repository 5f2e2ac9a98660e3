"""The report's "across backends" section: where the networked backends' statement and
round-trip counts differ for the same cell, and what shapes each backend's counts."""

from __future__ import annotations

from bench.report.markdown import markdown_table
from bench.results.model import Results, at_size, reference_size, variants_of, workloads_of


def across_backends(results: Results) -> list[str]:
    """Where the networked backends' statement and round-trip counts differ for the same
    cell, at the reference size, and what shapes each backend's counts."""
    headings = [h for h in map(results.heading, results.backends) if h.networked]
    if len(headings) < 2:
        return []
    size = reference_size(results.cells)
    found = {
        (c.workload, c.variant, c.backend): c
        for c in at_size(results.cells, size)
        if c.is_projected
    }
    rows: list[list[str]] = []
    for workload in workloads_of(results.cells):
        # the variants with the same counts on every backend share a row
        shared: dict[tuple[str, ...], list[str]] = {}
        for variant in variants_of(results.cells):
            cells = [found.get((workload, variant, h.name)) for h in headings]
            present = [c for c in cells if c is not None]
            if len(present) < 2 or len({(c.db_statements, c.round_trips) for c in present}) < 2:
                continue
            figures = tuple(f"{c.db_statements} / {c.round_trips}" if c else "n/a" for c in cells)
            shared.setdefault(figures, []).append(f"`{variant}`")
        rows += [
            [f"`{workload}`", ", ".join(variants), *figures] for figures, variants in shared.items()
        ]
    if not rows:
        return []
    titles = " and ".join(h.title for h in headings)
    lines = [
        "### Across backends",
        "",
        f"Where {titles} differ in the database statements / round trips one execution "
        f"costs, at size {size}:",
        "",
        markdown_table(
            "| " + " | ".join(["workload", "variant", *(h.title for h in headings)]) + " |", rows
        ),
        "",
        "Why they differ:",
    ]
    for heading in headings:
        lines += [f"- {heading.title}: {note}." for note in heading.count_notes]
    return [*lines, ""]
