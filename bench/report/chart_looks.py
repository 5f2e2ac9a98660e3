"""How the report's charts look: each variant keeps one look in every chart, told apart in
colour and in greyscale print.

- A colour: the Okabe-Ito palette (told apart by colour-blind readers), then Paul Tol's. An
  asyncio variant wears its synchronous form's colour, so the two stand side by side.
- A bar pattern: none, or a hatch in white on a dark fill and black on a light one (a black
  hatch on a black bar would not show). An asyncio variant is hatched; a synchronous one is
  hatched too where a variant before it has the same pattern and a grey too close to its own,
  so no two bars look alike once printed in greyscale.
- A line style and a marker: no two variants share both, nor two of one colour a style.

And the parts every chart is built of: the figure and its panels, a title that fits, the
legend of the variants drawn, log-scaled axes."""

from __future__ import annotations

import math
import textwrap
from collections.abc import Iterable, Sequence
from itertools import chain, product
from typing import TYPE_CHECKING, Any, TypedDict

from bench.results.catalog import Catalog

if TYPE_CHECKING:
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

#: Okabe & Ito's colour-blind-safe palette, with the wine, indigo, teal and purple of Paul
#: Tol's muted scheme and a grey; ordered so that the catalog's first styles (the ORM, Core,
#: the raw driver) keep solid bars, and the light yellow (weak on white as a line) is late
PALETTE = (
    "#000000",
    "#D55E00",
    "#0072B2",
    "#009E73",
    "#CC79A7",
    "#56B4E9",
    "#E69F00",
    "#882255",
    "#999999",
    "#332288",
    "#F0E442",
    "#44AA99",
    "#AA4499",
)
#: a synchronous variant's patterns, the first that keeps it apart in greyscale
SYNC_HATCHES = ("", "..", "||", "--", "oo", "++", "**")
#: an asyncio variant's, the first form of a style starting at the first, the second at the
#: second, ...
ASYNC_HATCHES = ("//", "xx", "\\\\", "///", "xxx", "\\\\\\")
#: synchronous variants: the i-th takes the i-th line style and the i-th marker, both cycled
#: (distinct pairs for the first twenty)
LINE_STYLES = ("-", "--", "-.", ":")
MARKERS = ("o", "s", "^", "D", "v")
#: asyncio variants: markers of strokes, not filled, the k-th form of a style the k-th
ASYNC_MARKERS = ("x", "+", "*", "1", "2", "3")
ASYNC_LINE_STYLES = ("--", ":", "-.")
#: two variants with the same pattern must differ at least this much in grey (0 black to 1
#: white), about the step a greyscale print keeps apart side by side
GREY_STEP = 0.15
#: below this grey a pattern is drawn in white, above it in black
DARK = 0.5
#: the figure title's size in points, and the width of a character in ems, for wrapping it
TITLE_SIZE = 12.0
CHARACTER_WIDTH = 0.6


class Look(TypedDict):
    """A variant's look: its colour, its bars' pattern and the pattern's colour, its lines'
    style and marker."""

    color: str
    hatch: str
    hatch_color: str
    linestyle: str
    marker: str


#: each variant's look
Colors = dict[str, Look]


def grey(color: str) -> float:
    """A ``#RRGGBB`` colour's grey once printed in greyscale, 0 black to 1 white (ITU-R
    BT.601 luma, as Pillow's and most printers' conversions weigh it)."""
    red, green, blue = (int(color[i : i + 2], 16) / 255 for i in (1, 3, 5))
    return 0.299 * red + 0.587 * green + 0.114 * blue


def variant_colors(variants: Sequence[str], catalog: Catalog) -> Colors:
    """The same look for a variant in every chart: by its place in the catalog's order."""
    order = catalog.variant_order()
    names = [name for name in order if name in variants]
    names += [name for name in variants if name not in order]
    looks: Colors = {}
    forms: dict[str, int] = {}
    line_looks: set[tuple[str, str]] = set()
    synchronous = 0
    for name in names:
        hatches: Sequence[str]
        counterpart = catalog.sync_counterpart(name)
        if counterpart in looks:
            assert counterpart is not None
            form = forms[counterpart] = forms.get(counterpart, 0) + 1
            color = looks[counterpart]["color"]
            hatches = _rotated(ASYNC_HATCHES, form - 1)
            lines = [
                (style, marker)
                for marker in _rotated(ASYNC_MARKERS, form - 1)
                for style in _rotated(ASYNC_LINE_STYLES, form - 1)
            ]
        else:
            color = PALETTE[synchronous % len(PALETTE)]
            hatches = SYNC_HATCHES
            lines = [
                (LINE_STYLES[i % len(LINE_STYLES)], MARKERS[i % len(MARKERS)])
                for i in range(synchronous, synchronous + len(LINE_STYLES) * len(MARKERS))
            ]
            synchronous += 1
        hatch = _apart_in_grey(color, hatches, looks.values())
        # a line style of its own among its colour's, for lines drawn without markers
        styles = {look["linestyle"] for look in looks.values() if look["color"] == color}
        lines = sorted(lines, key=lambda look: look[0] in styles)
        # past the preferred looks, any line style and marker no variant wears yet
        linestyle, marker = next(
            look for look in chain(lines, _all_line_looks()) if look not in line_looks
        )
        line_looks.add((linestyle, marker))
        looks[name] = Look(
            color=color,
            hatch=hatch,
            hatch_color="#FFFFFF" if grey(color) < DARK else "#000000",
            linestyle=linestyle,
            marker=marker,
        )
    return looks


def _rotated(items: Sequence[str], start: int) -> list[str]:
    start %= len(items)
    return [*items[start:], *items[:start]]


def _apart_in_grey(color: str, hatches: Sequence[str], taken: Iterable[Look]) -> str:
    """The first pattern no variant before wears with a grey too close to ``color``'s
    (past every pattern, hatches doubled: a denser pattern of the same stroke)."""
    taken = list(taken)
    for repeat in range(1, len(taken) + 2):
        for hatch in (h * repeat for h in hatches):
            if all(
                look["hatch"] != hatch or abs(grey(look["color"]) - grey(color)) >= GREY_STEP
                for look in taken
            ):
                return hatch
    raise AssertionError("unreachable: a pattern denser than every one taken is free")


def _all_line_looks() -> Iterable[tuple[str, str]]:
    return product((*LINE_STYLES, *ASYNC_LINE_STYLES), (*MARKERS, *ASYNC_MARKERS))


def line_look(style: Look) -> dict[str, Any]:
    """A variant's look as line properties."""
    return {"color": style["color"], "linestyle": style["linestyle"], "marker": style["marker"]}


def bar_look(style: Look) -> dict[str, Any]:
    """A variant's look as bar properties: the pattern takes the edge's colour, and the edge
    itself is not drawn."""
    return {
        "facecolor": style["color"],
        "hatch": style["hatch"],
        "edgecolor": style["hatch_color"],
        "linewidth": 0,
    }


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


def title(figure: Figure, text: str) -> None:
    """The figure's title, wrapped to the figure's width (constrained layout makes room for
    the lines, but never wraps one)."""
    width_points = figure.get_figwidth() * 72
    characters = max(20, int(width_points / (TITLE_SIZE * CHARACTER_WIDTH)))
    figure.suptitle(textwrap.fill(text, characters), fontsize=TITLE_SIZE)


def variant_legend(
    figure: Figure,
    variants: Sequence[str],
    colors: Colors,
    lines: bool = False,
    extra: Sequence[Any] = (),
) -> None:
    """A legend of the variants drawn, and only those (and ``extra`` handles after them)."""
    from matplotlib.lines import Line2D
    from matplotlib.patches import Patch

    handles: list[Any] = [
        Line2D([], [], label=v, **line_look(colors[v]))
        if lines
        else Patch(label=v, **bar_look(colors[v]))
        for v in variants
    ]
    handles += extra
    figure.legend(
        handles=handles,
        loc="outside lower center",
        ncols=min(len(handles), 6),
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
