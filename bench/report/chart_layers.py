"""The ``layers`` chart: where each style's median execution goes, one stacked bar per style,
one panel per workload of the section (:data:`~bench.report.where_time_goes.LAYER_WORKLOADS`)
and size (1 and 100, or the nearest the run has), each layer in the same colour everywhere."""

from __future__ import annotations

from typing import TYPE_CHECKING

from bench.report.chart_looks import Colors, new_figure, title
from bench.report.where_time_goes import LAYER_HEADINGS, LAYER_WORKLOADS, layer_sizes, layered
from bench.results.model import CellResult, Heading, variants_of
from bench.results.record import LAYERS

if TYPE_CHECKING:
    from matplotlib.figure import Figure

#: one colour per layer, told apart in grey too (light to dark), the same in every chart
LAYER_COLORS = {
    "orm": "#1b9e77",
    "core": "#7570b3",
    "event_loop": "#e7298a",
    "driver": "#d95f02",
    "variant": "#e6ab02",
    "waiting": "#bdbdbd",
}
LAYER_HATCHES = {
    "orm": "",
    "core": "//",
    "event_loop": "xx",
    "driver": "..",
    "variant": "",
    "waiting": "",
}
PANEL_SIZE = (6.5, 3.2)


def layers_chart(cells: list[CellResult], colors: Colors, heading: Heading) -> Figure | None:
    """``None`` when no cell of the section's workloads has its layers."""
    sizes = layer_sizes(cells)
    chosen = layered(cells)
    panels = [
        (workload, size)
        for workload in LAYER_WORKLOADS
        for size in sizes
        if any(c.workload == workload and c.size == size for c in chosen)
    ]
    if not panels:
        return None
    figure, rows, columns = new_figure(len(panels), len(sizes), PANEL_SIZE)
    for index, (workload, size) in enumerate(panels):
        axes = figure.add_subplot(rows, columns, index + 1)
        found = [c for c in chosen if c.workload == workload and c.size == size]
        variants = variants_of(found)
        by_variant = {c.variant: c for c in found}
        bottoms = [0.0] * len(variants)
        for layer in LAYERS:
            heights = [1000 * (by_variant[v].time_by_layer or {}).get(layer, 0.0) for v in variants]
            axes.bar(
                range(len(variants)),
                heights,
                bottom=bottoms,
                color=LAYER_COLORS[layer],
                hatch=LAYER_HATCHES[layer],
                edgecolor="white",
                linewidth=0.5,
                label=LAYER_HEADINGS[layer],
            )
            bottoms = [b + h for b, h in zip(bottoms, heights, strict=True)]
        axes.set_xticks(range(len(variants)), variants, rotation=35, ha="right", fontsize=7)
        axes.set_ylabel("ms per execution", fontsize=8)
        axes.set_title(f"{workload}, size {size}", fontsize=9)
        axes.tick_params(axis="y", labelsize=7)
    handles, labels = figure.axes[0].get_legend_handles_labels()
    figure.legend(handles, labels, loc="outside lower center", ncols=len(LAYERS), fontsize=8)
    title(
        figure,
        f"{heading.title}: where each style's median execution goes (CPU time shared out by "
        "a stack sampler's samples; waiting is the time off the CPU)",
    )
    return figure
