"""The charts, read back from matplotlib's artists before they are saved: every variant drawn
has a look of its own, in colour and in greyscale; the error bars are the 95 % intervals the
report quotes; ratios and counts are read on linear axes, a bar cut at the top of one says its
value; the network charts span 0 to 2 ms; every title and label fits inside its figure."""

from __future__ import annotations

import dataclasses
import json
import math
import re
from itertools import combinations
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.container import BarContainer, ErrorbarContainer
from matplotlib.figure import Figure
from matplotlib.patches import Patch
from matplotlib.text import Text

from bench.report import chart_bars, chart_growth, chart_looks, chart_network, charts
from bench.report.chart_bars import BASELINE_LINE
from bench.report.chart_looks import GREY_STEP, grey
from bench.report.chart_network import FAR_RTT_MS, RTT_MARK, RTT_RANGE_MS
from bench.report.text import plural
from bench.results.catalog import Catalog
from bench.results.load import load_results
from bench.results.model import (
    CellResult,
    Heading,
    Results,
    compare_cells,
    format_seconds,
    reference_size,
    units_per_second_interval,
    variants_of,
)
from bench.results.statistics import median_interval

from synthetic import synthetic_run

REFERENCE = Path(__file__).parent.parent / "results" / "reference"
#: how close a value read back from an artist must be to the one computed from the JSON (the
#: error bars are stored as a bar's height less its extent below, and so on)
EXACT = 1e-9
#: the fewest pixels one more statement or round trip adds to a bar
ONE_MORE_PIXELS = 5
#: a pattern shows on its bar when their greys differ by this much at least
PATTERN_CONTRAST = 0.35


@pytest.fixture(scope="module")
def reference() -> Results:
    return load_results(REFERENCE)


def _delayed(cells: list[CellResult]) -> list[CellResult]:
    """Cells as ``run --rtt 1,10`` would add them (through the proxy at 0, 1 and 10 ms),
    each a little slower than its projection."""
    delayed = []
    for cell in cells:
        for rtt in (0.0, 1.0, 10.0):
            extra = cell.round_trips * rtt / 1000 * 1.1 + 1e-4
            delayed.append(
                dataclasses.replace(
                    cell,
                    proxied=True,
                    rtt_ms=rtt,
                    median=cell.median + extra,
                    durations=tuple(d + extra for d in cell.durations),
                )
            )
    return delayed


def _measured(reference: Results) -> list[CellResult]:
    """The PostgreSQL cells the made-up ``--rtt`` run measured again through the proxy."""
    return [
        c
        for c in reference.for_backend("postgres")
        if c.workload in ("crud_read", "parent_child_read") and c.size in (1, 100)
    ]


@pytest.fixture(scope="module")
def drawn(reference: Results) -> dict[tuple[str, str], Figure]:
    """Every chart of the reference run, laid out and drawn as it is saved; and the
    measured-rtt chart of PostgreSQL's, with delayed cells made up for two workloads."""
    colors = chart_looks.variant_colors(variants_of(reference.cells), reference.catalog)
    figures: dict[tuple[str, str], Figure] = {}
    for backend in reference.backends:
        cells, heading = reference.for_backend(backend), reference.heading(backend)
        for name, chart in charts.CHARTS:
            figure = chart(cells, colors, heading)
            if figure is not None:
                figures[(backend, name)] = figure
    figure = chart_network.measured_projection(
        reference.for_backend("postgres"),
        _delayed(_measured(reference)),
        colors,
        reference.heading("postgres"),
    )
    assert figure is not None
    figures[("postgres", charts.MEASURED_RTT)] = figure
    for figure in figures.values():
        FigureCanvasAgg(figure).draw()  # type: ignore[no-untyped-call]
    return figures


def _label(artist: Any) -> str:
    return str(artist.get_label())


def _error_bars(container: Any) -> list[tuple[float, float, float]]:
    """An error-bar container's points: each x with its bar's low and high end."""
    assert isinstance(container, ErrorbarContainer)
    data = container.lines[0]
    assert data is not None
    segments = container.lines[2][0].get_segments()
    return [
        (x, low, high)
        for x, ((_, low), (_, high)) in zip(_data(data.get_xdata()), segments, strict=True)
    ]


def _data(values: Any) -> list[float]:
    """A line's x or y data as floats."""
    return [float(value) for value in np.asarray(values)]


def _of(drawn: dict[tuple[str, str], Figure], name: str) -> list[tuple[str, Figure]]:
    return [(backend, figure) for (backend, chart), figure in drawn.items() if chart == name]


def test_every_chart_of_the_reference_is_drawn(drawn: dict[tuple[str, str], Figure]) -> None:
    expected = {(b, name) for b in ("sqlite", "postgres", "mariadb") for name, _ in charts.CHARTS}
    expected.remove(("sqlite", "projected-rtt"))  # no network: no projection
    # the reference was made without --rate (a run's capacity chart: tests/test_worker_kinds.py)
    expected -= {(b, "capacity") for b in ("sqlite", "postgres", "mariadb")}
    assert set(drawn) == {*expected, ("postgres", charts.MEASURED_RTT)}


# -- looks ---------------------------------------------------------------------------------


def test_every_registered_variant_looks_apart_in_colour_and_in_grey() -> None:
    from implementations.registry import VARIANTS, load_variant

    looks = chart_looks.variant_colors(list(VARIANTS), Catalog.from_code())
    assert len({(look["color"], look["hatch"]) for look in looks.values()}) == len(VARIANTS)
    # lines: no two share a style and a marker, so they part in greyscale as well; nor two
    # of one colour a style, so they part where a line is drawn without its markers
    assert len({(look["linestyle"], look["marker"]) for look in looks.values()}) == len(VARIANTS)
    assert len({(look["color"], look["linestyle"]) for look in looks.values()}) == len(VARIANTS)
    for (first, one), (second, other) in combinations(looks.items(), 2):
        if one["hatch"] == other["hatch"]:
            assert abs(grey(one["color"]) - grey(other["color"])) >= GREY_STEP, (first, second)
    for variant, look in looks.items():
        # the pattern shows: never black on black (the asyncio ORM's bars once were)
        if look["hatch"]:
            assert abs(grey(look["hatch_color"]) - grey(look["color"])) >= PATTERN_CONTRAST
        counterpart = load_variant(variant).sync_counterpart
        if counterpart is not None:  # an asyncio variant: its synchronous form's colour, hatched
            assert look["color"] == looks[counterpart]["color"]
            assert look["hatch"] and look["hatch"] != looks[counterpart]["hatch"]


def test_looks_stay_apart_past_the_palette() -> None:
    # variants the catalog does not know, more than there are colours
    names = [f"style_{index}" for index in range(3 * len(chart_looks.PALETTE))]
    looks = chart_looks.variant_colors(names, Catalog.from_code())
    assert list(looks) == names
    assert len({(look["color"], look["hatch"]) for look in looks.values()}) == len(names)
    assert len({(look["linestyle"], look["marker"]) for look in looks.values()}) == len(names)
    for one, other in combinations(looks.values(), 2):
        if one["hatch"] == other["hatch"]:
            assert abs(grey(one["color"]) - grey(other["color"])) >= GREY_STEP


def _bar_looks(figure: Figure) -> dict[str, tuple[Any, ...]]:
    looks: dict[str, tuple[Any, ...]] = {}
    for axes in figure.axes:
        for container in axes.containers:
            if isinstance(container, BarContainer):
                patch = container.patches[0]
                look = (tuple(patch.get_facecolor()), patch.get_hatch())
                assert looks.setdefault(_label(container), look) == look
    return looks


def _line_looks(figure: Figure) -> dict[str, tuple[Any, ...]]:
    looks: dict[str, tuple[Any, ...]] = {}
    for axes in figure.axes:
        for line in axes.get_lines():
            label = _label(line)
            if not label.startswith("_"):
                variant = label.split(":")[0]
                look = (line.get_color(), line.get_linestyle(), line.get_marker())
                assert looks.setdefault(variant, look) == look
        for container in axes.containers:
            if isinstance(container, ErrorbarContainer) and not _label(container).startswith("_"):
                line = container.lines[0]
                assert line is not None
                look = (line.get_color(), line.get_linestyle(), line.get_marker())
                assert looks.setdefault(_label(container), look) == look
    return looks


def test_no_two_variants_drawn_share_a_look(drawn: dict[tuple[str, str], Figure]) -> None:
    for (backend, name), figure in drawn.items():
        bars, lines = _bar_looks(figure), _line_looks(figure)
        assert bars or lines, (backend, name)
        for looks in (bars, lines):
            assert len(set(looks.values())) == len(looks), (backend, name, looks)
        # and the legend shows each variant as it is drawn
        for legend in figure.legends:
            for handle, text in zip(legend.legend_handles, legend.get_texts(), strict=True):
                if isinstance(handle, Patch) and text.get_text() in bars:
                    look = (tuple(handle.get_facecolor()), handle.get_hatch())
                    assert look == bars[text.get_text()], (backend, name)


# -- median-time ---------------------------------------------------------------------------


def _panel_size(axes: Any) -> int:
    return int(str(axes.get_title()).removeprefix("size "))


def _bars(axes: Any) -> list[tuple[str, Any, Any]]:
    """Each bar of a panel: its variant, its patch, and its error bar's segment (or None)."""
    found = []
    for container in axes.containers:
        if isinstance(container, BarContainer):
            segments: list[Any] = [None] * len(container.patches)
            if container.errorbar is not None:
                segments = list(container.errorbar.lines[2][0].get_segments())
            found += [
                (_label(container), patch, segment)
                for patch, segment in zip(container.patches, segments, strict=True)
            ]
    return found


def _workload_at(axes: Any, patch: Any) -> str:
    """The workload of the group a bar stands in: the first line of its tick label."""
    group: int = round(patch.get_x() + patch.get_width() / 2)
    labels = [str(label.get_text()) for label in axes.get_xticklabels()]
    return labels[group].split("\n")[0]


def test_median_time_shows_ratios_to_the_baseline_with_the_intervals_the_report_quotes(
    reference: Results, drawn: dict[tuple[str, str], Figure]
) -> None:
    baseline = reference.catalog.baseline_variant
    for backend, figure in _of(drawn, "median-time"):
        expected = {
            (c.workload, c.variant, c.size)
            for c in reference.for_backend(backend)
            if not c.is_concurrent
            and c.variant != baseline
            and reference.lookup(c.workload, baseline, backend, c.size)
        }
        seen = set()
        for axes in figure.axes:
            assert axes.get_yscale() == "linear" and axes.get_ylim()[0] == 0
            size = _panel_size(axes)
            at_one = [_data(x.get_ydata()) for x in axes.get_lines() if _label(x) == BASELINE_LINE]
            assert at_one == [[1, 1]]
            for variant, patch, segment in _bars(axes):
                workload = _workload_at(axes, patch)
                cell = reference.lookup(workload, variant, backend, size)
                base = reference.lookup(workload, baseline, backend, size)
                assert cell is not None and base is not None
                comparison = compare_cells(cell, base)
                assert comparison.known
                assert patch.get_height() == pytest.approx(comparison.ratio, rel=EXACT)
                # the 95 % interval of the ratio, as the report quotes it: not the quartiles
                (x_low, low), (x_high, high) = segment
                assert x_low == x_high == pytest.approx(patch.get_x() + patch.get_width() / 2)
                assert (low, high) == pytest.approx((comparison.low, comparison.high), rel=EXACT)
                seen.add((workload, variant, size))
        assert seen == expected, backend


def test_a_bar_cut_at_the_top_of_its_axis_says_its_value(
    drawn: dict[tuple[str, str], Figure],
) -> None:
    cut = 0
    for backend, figure in [*_of(drawn, "median-time"), *_of(drawn, "statements")]:
        for axes in figure.axes:
            top = axes.get_ylim()[1]
            texts = [(text.get_position()[0], text.get_text()) for text in axes.texts]
            for _, patch, segment in _bars(axes):
                center = patch.get_x() + patch.get_width() / 2
                said = [t for x, t in texts if x == pytest.approx(center)]
                if patch.get_height() <= top:
                    assert not any(t.startswith("↑") for t in said)
                    continue
                cut += 1
                value = patch.get_height()
                label = f"↑ {value:.1f}×" if segment is not None else f"↑ {value:.0f}"
                assert len(said) == 1 and said[0].startswith(label), (backend, said, label)
    assert cut > 0  # the reference has its N+1 pattern and its connection per request


def test_statements_are_counted_on_linear_axes_each_bar_labelled(
    drawn: dict[tuple[str, str], Figure],
) -> None:
    for backend, figure in _of(drawn, "statements"):
        for axes in figure.axes:
            assert axes.get_yscale() == "linear" and axes.get_ylim()[0] == 0
            # one more statement or round trip is a bar visibly taller: 3 and 4 differ
            (_, three), (_, four) = axes.transData.transform([(0, 3), (0, 4)])
            assert four - three >= ONE_MORE_PIXELS, backend
            texts = {
                (round(text.get_position()[0], 9), text.get_text().removeprefix("↑ "))
                for text in axes.texts
            }
            for _, patch, _ in _bars(axes):
                center = round(patch.get_x() + patch.get_width() / 2, 9)
                assert (center, f"{patch.get_height():.0f}") in texts


# -- projected-rtt and measured-rtt ----------------------------------------------------------


def test_the_projection_spans_0_to_2_ms_and_labels_each_line_with_10_ms(
    reference: Results, drawn: dict[tuple[str, str], Figure]
) -> None:
    for backend, figure in _of(drawn, "projected-rtt"):
        size = reference_size(reference.for_backend(backend))
        for axes in figure.axes:
            assert axes.get_xlim() == RTT_RANGE_MS
            workload = axes.get_title().split(":")[0]
            legend = axes.get_legend()
            assert legend is not None
            labels = [text.get_text() for text in legend.get_texts()]
            assert labels
            for label in labels:
                variant = label.split(":")[0]
                cell = reference.lookup(workload, variant, backend, size)
                assert cell is not None
                far = format_seconds(cell.projected(FAR_RTT_MS / 1000))
                assert label == (
                    f"{variant}: {plural(cell.round_trips, 'round trip')}; {far} at 10 ms"
                )
            intervals = [c for c in axes.containers if isinstance(c, ErrorbarContainer)]
            assert len(intervals) == len(labels)
            for container in intervals:
                variant = _label(container).removeprefix("_").split(" ")[0]
                cell = reference.lookup(workload, variant, backend, size)
                assert cell is not None and cell.sample is not None
                low, high = median_interval(cell.sample, cell.pass_count)
                ((x, bottom), (_, top)) = container.lines[2][0].get_segments()[0]
                assert x == 1.0
                assert (bottom, top) == pytest.approx(
                    (low * 1000 + cell.round_trips, high * 1000 + cell.round_trips), rel=EXACT
                )


def test_measured_rtt_spans_0_to_2_ms_with_the_far_rtts_beside(
    reference: Results, drawn: dict[tuple[str, str], Figure]
) -> None:
    figure = drawn[("postgres", charts.MEASURED_RTT)]
    delayed = _delayed(_measured(reference))
    titles = [axes.get_title() for axes in figure.axes]
    assert titles[:2] == ["crud_read, size 1", "crud_read, size 1, to 10 ms"]
    for axes in figure.axes:
        far = axes.get_title().endswith("to 10 ms")
        spans = {
            (_data(line.get_xdata())[0], _data(line.get_xdata())[-1])
            for line in axes.get_lines()
            if line.get_label() != RTT_MARK
        }
        lines = {span for span in spans if span[0] != span[1]}  # the projections, not points
        assert lines == {(0.0, 10.0 if far else RTT_RANGE_MS[1])}, axes.get_title()
        # the points measured beyond a panel's range are left to the panel beside it
        points = {span[0] for span in spans if span[0] == span[1]}
        assert points == ({0.0, 1.0, 10.0} if far else {0.0, 1.0}), axes.get_title()
        # each with the 95 % interval of its median
        found = re.match(r"(\w+), size (\d+)", axes.get_title())
        assert found is not None
        workload, size = found[1], int(found[2])
        for container in axes.containers:
            assert isinstance(container, ErrorbarContainer)
            variant, rtt = _label(container).removeprefix("_").removesuffix(" ms").split(" at ")
            key = (workload, variant, "postgres", size)
            point = next(d for d in delayed if d.key == key and d.rtt_ms == float(rtt))
            assert point.sample is not None
            ((_, low), (_, high)) = container.lines[2][0].get_segments()[0]
            interval = median_interval(point.sample, point.pass_count)
            assert (low / 1000, high / 1000) == pytest.approx(interval, rel=EXACT)


# -- every chart ------------------------------------------------------------------------------


def test_every_title_and_label_fits_inside_its_figure(
    drawn: dict[tuple[str, str], Figure],
) -> None:
    for (backend, name), figure in drawn.items():
        renderer = figure.canvas.get_renderer()  # type: ignore[attr-defined]
        # everything drawn: what matplotlib lays out (tick labels in view included)
        drawn_box = figure.get_tightbbox(renderer).transformed(figure.dpi_scale_trans)
        assert _inside(drawn_box, figure.bbox), (backend, name)
        texts = [t for t in figure.findobj(Text) if t.get_text() == figure.get_suptitle()]
        assert len(texts) == 1  # the title
        for axes in figure.axes:
            texts += [axes.title, axes.xaxis.label, axes.yaxis.label]
            # a bar's label stays in its panel, off the panel above
            for text in axes.texts:
                extent = text.get_window_extent(renderer)
                assert _inside(extent, axes.bbox), (backend, name, text.get_text())
            legend = axes.get_legend()
            texts += legend.get_texts() if legend else []
        for legend in figure.legends:
            texts += legend.get_texts()
        assert texts
        for text in texts:
            if text.get_visible() and text.get_text():
                extent = text.get_window_extent(renderer)
                assert _inside(extent, figure.bbox), (backend, name, text.get_text())


def _inside(inner: Any, outer: Any) -> bool:
    # half a pixel's rounding
    return bool(
        inner.x0 >= outer.x0 - 0.5
        and inner.x1 <= outer.x1 + 0.5
        and inner.y0 >= outer.y0 - 0.5
        and inner.y1 <= outer.y1 + 0.5
    )


def test_scaling_error_bars_are_the_medians_95_percent_intervals(
    reference: Results, drawn: dict[tuple[str, str], Figure]
) -> None:
    for backend, figure in _of(drawn, "scaling"):
        for axes in figure.axes:
            assert axes.get_xscale() == axes.get_yscale() == "log"
            for container in axes.containers:
                for size, low, high in _error_bars(container):
                    cell = reference.lookup(axes.get_title(), _label(container), backend, int(size))
                    assert cell is not None and cell.sample is not None
                    interval = median_interval(cell.sample, cell.pass_count)
                    assert (low / 1000, high / 1000) == pytest.approx(interval, rel=EXACT)


def test_the_concurrency_charts_error_bars_are_the_throughputs_95_percent_intervals(
    reference: Results, drawn: dict[tuple[str, str], Figure]
) -> None:
    for backend, figure in _of(drawn, "concurrency"):
        throughput = figure.axes[0]
        workload = throughput.get_title().split(":")[0]
        assert throughput.containers
        for container in throughput.containers:
            for workers, low, high in _error_bars(container):
                cell = reference.lookup(workload, _label(container), backend, int(workers))
                assert cell is not None
                interval = units_per_second_interval(cell)
                assert interval is not None
                assert (low, high) == pytest.approx(interval, rel=EXACT)


# -- legends, labels and panels (the first three moved from test_report.py) -----------------


def _cells_for_charts(tmp_path: Path) -> list[CellResult]:
    """Cells of two workloads over two sizes, and of connect_read_one (one size only)."""
    path = synthetic_run(
        tmp_path,
        {
            ("crud_read", 1): {"orm": 1e-3, "core": 6e-4, "dbapi": 3e-4},
            ("crud_read", 100): {"orm": 5e-3, "core": 3e-3, "dbapi": 1e-3},
            ("parent_child_read", 100): {"orm_lazy": 9e-2, "orm": 2e-2, "dbapi": 1e-2},
            ("connect_read_one", 1): {"engine_per_use": 9e-3, "nullpool": 2e-3, "dbapi": 1e-4},
        },
        seed=11,
    )
    document = json.loads(path.read_text())
    for entry in document["benchmarks"]:
        info = entry["extra_info"]
        info["round_trips"] = {"orm_lazy": 103, "orm": 1}.get(info["variant"], 2)
    path.write_text(json.dumps(document))
    return load_results(tmp_path).cells


def test_without_a_network_there_is_no_projection_and_no_round_trip_panel(tmp_path: Path) -> None:
    cells = _cells_for_charts(tmp_path)
    colors = chart_looks.variant_colors(variants_of(cells), Catalog.from_code())
    heading = Heading("sqlite", "SQLite", networked=False)
    assert chart_network.projection(cells, colors, heading) is None
    figure = chart_bars.statements(cells, colors, heading)
    assert figure is not None
    assert [axes.get_ylabel().split("\n")[0] for axes in figure.axes] == [
        "cursor calls (client side)",
        "statements the database ran",
    ]


def _legend_labels(figure: Any) -> list[str]:
    return [text.get_text() for text in figure.legends[0].get_texts()]


def _panel_labels(axes: Any) -> list[str]:
    """A projection panel's lines: each variant with its round trips (what it comes to at
    10 ms follows)."""
    return [text.get_text().split(";")[0] for text in axes.get_legend().get_texts()]


def test_a_legend_lists_only_the_variants_drawn(tmp_path: Path) -> None:
    cells = _cells_for_charts(tmp_path)
    colors = chart_looks.variant_colors(variants_of(cells), Catalog.from_code())
    heading = Heading("postgres", "PostgreSQL", networked=True)
    # connect_read_one runs at one size: no line in the scaling chart, so not in its legend
    figure = chart_growth.scaling(cells, colors, heading)
    assert figure is not None
    assert _legend_labels(figure) == ["orm", "core", "dbapi"]
    projected = chart_network.projection(cells, colors, heading)
    assert projected is not None
    # connect_read_one is not projected: its variants stay out of the panels' legends too
    drawn = {label.split(":")[0] for axes in projected.axes for label in _panel_labels(axes)}
    assert drawn == {"orm", "orm_lazy", "core", "dbapi"}
    # median-time: the baseline is the line at 1, the others bars
    ratios = chart_bars.median_time(cells, colors, heading)
    assert ratios is not None
    assert _legend_labels(ratios) == [
        "orm",
        "orm_lazy",
        "core",
        "engine_per_use",
        "nullpool",
        "dbapi (= 1)",
    ]


def test_labels_count_one_round_trip_in_the_singular(tmp_path: Path) -> None:
    assert plural(1, "round trip") == "1 round trip"
    assert plural(2, "round trip") == "2 round trips"
    cells = _cells_for_charts(tmp_path)
    figure = chart_network.projection(
        cells,
        chart_looks.variant_colors(variants_of(cells), Catalog.from_code()),
        Heading("p", "P", networked=True),
    )
    assert figure is not None
    labels = [label for axes in figure.axes for label in _panel_labels(axes)]
    assert "orm: 1 round trip" in labels and "dbapi: 2 round trips" in labels
    assert not any(label.endswith(" 1 round trips") for label in labels)


def test_many_round_trips_get_a_panel_of_their_own(tmp_path: Path) -> None:
    cells = _cells_for_charts(tmp_path)
    figure = chart_network.projection(
        cells,
        chart_looks.variant_colors(variants_of(cells), Catalog.from_code()),
        Heading("p", "P", networked=True),
    )
    assert figure is not None
    panels = {axes.get_title(): axes for axes in figure.axes}
    main = _panel_labels(panels["parent_child_read"])
    assert main == ["orm: 1 round trip", "dbapi: 2 round trips"]  # orm_lazy left out
    own = _panel_labels(panels["parent_child_read: many round trips"])
    assert "orm_lazy: 103 round trips" in own
    assert "crud_read: many round trips" not in panels


def test_a_group_without_its_baseline_draws_no_ratio(tmp_path: Path) -> None:
    cells = [c for c in _cells_for_charts(tmp_path) if not (c.variant == "dbapi" and c.size == 1)]
    figure = chart_bars.median_time(
        cells,
        chart_looks.variant_colors(variants_of(cells), Catalog.from_code()),
        Heading("p", "P", networked=True),
    )
    assert figure is not None
    assert [axes.get_title() for axes in figure.axes] == ["size 100"]
    assert math.isfinite(figure.axes[0].get_ylim()[1])
