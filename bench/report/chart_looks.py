"""How the report's charts look: each variant keeps one colour (the Okabe-Ito palette, told apart
by colour-blind readers), one line style and one marker in every chart, so a second cue remains
where colours are close; an asyncio variant wears its synchronous form's colour, hatched and
dashed. And the parts every chart is built of: the figure and its panels, the legend of the
variants drawn, log-scaled axes."""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from bench.results.catalog import Catalog

if TYPE_CHECKING:
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

#: Okabe & Ito's colour-blind-safe palette, a grey, and the wine of Paul Tol's muted scheme:
#: ten variants, ten colours (past them, bars are hatched as well)
PALETTE = (
    "#000000",
    "#E69F00",
    "#56B4E9",
    "#009E73",
    "#D55E00",
    "#0072B2",
    "#CC79A7",
    "#F0E442",
    "#999999",
    "#882255",
    "#44AA99",
    "#AA4499",
    "#332288",
)
LINE_STYLES = ("-", "--", "-.", ":")
MARKERS = ("o", "s", "^", "D", "v")
#: how an asyncio variant's bars and lines differ from its synchronous form's, whose colour
#: it keeps: the first of a style's asyncio forms, the second, ...
ASYNC_LOOKS = (("//", "--", "x"), ("xx", ":", "+"), ("..", "-.", "*"))

#: each variant's colour, line style and marker
Colors = dict[str, dict[str, Any]]


def variant_colors(variants: Sequence[str], catalog: Catalog) -> Colors:
    """The same look for a variant in every chart: by its place in the catalog's order. An
    asyncio variant takes the colour of its synchronous form, hatched and dashed, so the two
    stand side by side."""
    order = catalog.variant_order()
    known = [name for name in order if name in variants]
    others = [name for name in variants if name not in order]
    looks: Colors = {}
    forms: dict[str, int] = {}
    for name in [*known, *others]:
        counterpart = catalog.sync_counterpart(name)
        if counterpart in looks:
            assert counterpart is not None
            hatch, linestyle, marker = ASYNC_LOOKS[forms.get(counterpart, 0) % len(ASYNC_LOOKS)]
            forms[counterpart] = forms.get(counterpart, 0) + 1
            looks[name] = {
                "color": looks[counterpart]["color"],
                "linestyle": linestyle,
                "marker": marker,
                "hatch": hatch,
            }
            continue
        index = len(looks) - sum(forms.values())
        looks[name] = {
            "color": PALETTE[index % len(PALETTE)],
            "linestyle": LINE_STYLES[index % len(LINE_STYLES)],
            "marker": MARKERS[index % len(MARKERS)],
            "hatch": "" if index < len(PALETTE) else "\\\\",
        }
    return looks


def line_look(style: dict[str, Any]) -> dict[str, Any]:
    """A variant's look as line properties."""
    return {key: style[key] for key in ("color", "linestyle", "marker")}


def new_figure(
    panels: int, columns: int, panel_size: tuple[float, float]
) -> tuple[Figure, int, int]:
    """A figure of ``panels`` panels of ``panel_size`` inches, in up to ``columns`` columns;
    its rows and columns."""
    from matplotlib.figure import Figure

    rows = max(1, math.ceil(panels / columns))
    columns = min(columns, max(panels, 1))
    figure = Figure(
        figsize=(panel_size[0] * columns, panel_size[1] * rows + 0.8), layout="constrained"
    )
    return figure, rows, columns


def variant_legend(
    figure: Figure, variants: Sequence[str], colors: Colors, lines: bool = False
) -> None:
    """A legend of the variants drawn, and only those."""
    from matplotlib.lines import Line2D
    from matplotlib.patches import Patch

    handles: list[Any] = [
        Line2D([], [], label=v, **line_look(colors[v]))
        if lines
        else Patch(facecolor=colors[v]["color"], hatch=colors[v]["hatch"], label=v)
        for v in variants
    ]
    figure.legend(
        handles=handles,
        loc="outside lower center",
        ncols=min(len(variants), 6),
        title="variant",
        fontsize=8,
    )


def log_scale(axes: Axes, *axis_names: str) -> None:
    # log axes without minor ticks: the minor ticks add nothing read here and most of the
    # drawing time
    from matplotlib.ticker import NullLocator

    if "x" in axis_names:
        axes.set_xscale("log")
        axes.xaxis.set_minor_locator(NullLocator())
    if "y" in axis_names:
        axes.set_yscale("log")
        axes.yaxis.set_minor_locator(NullLocator())
