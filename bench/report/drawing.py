"""Drawing the report's charts into PNG files: every backend's set, in worker processes (as many
as the machine has cores, up to two: a chart takes up to two seconds), with matplotlib's
settings and font cache in a temporary folder of the run's own where the home folder cannot
hold them."""

from __future__ import annotations

import multiprocessing
import os
import shutil
import signal
import tempfile
from collections.abc import Iterator
from concurrent.futures import ProcessPoolExecutor
from contextlib import ExitStack, contextmanager
from pathlib import Path

from bench.report.chart_looks import variant_colors
from bench.report.chart_network import measured_projection
from bench.report.charts import CHARTS, MEASURED_RTT
from bench.results.model import Results, variants_of
from bench.results.output_folder import nearest_existing
from bench.safety import stopping
from bench.safety.leftovers import owned_prefix

DPI = 100

#: the run being drawn, for the processes that draw it (inherited when they fork)
_DRAWING: tuple[Results, Path] | None = None


def draw_charts(results: Results, folder: Path) -> list[Path]:
    """Every backend's charts as PNG files in ``folder``; their paths. Drawn by as many
    processes as the machine has cores, up to two: a chart takes up to two seconds."""
    global _DRAWING
    settings = ExitStack()
    jobs = [
        (backend, name)
        for backend in results.backends
        for name in (*(name for name, _ in CHARTS), MEASURED_RTT)
    ]
    _DRAWING = (results, folder)
    try:
        settings.enter_context(_matplotlib_settings_folder())
        workers = min(2, os.cpu_count() or 1)
        if workers > 1 and "fork" in multiprocessing.get_all_start_methods():
            context = multiprocessing.get_context("fork")
            with ProcessPoolExecutor(workers, mp_context=context, initializer=_drawer) as pool:
                drawn = list(pool.map(_draw_one, jobs))
        else:
            drawn = [_draw_one(job) for job in jobs]
    finally:
        _DRAWING = None
        settings.close()
    return [path for path in drawn if path is not None]


@contextmanager
def _matplotlib_settings_folder() -> Iterator[None]:
    """Where the home folder cannot hold matplotlib's settings and font cache, a temporary
    folder of the run's own, removed afterwards (matplotlib would warn four times and leave
    folders of its own in the temporary folder)."""
    if os.environ.get("MPLCONFIGDIR") or _writable_home_settings():
        yield
        return
    folder = tempfile.mkdtemp(prefix=owned_prefix("bench-matplotlib-"))
    forget = stopping.remove_at_once(Path(folder))
    os.environ["MPLCONFIGDIR"] = folder
    try:
        yield
    finally:
        del os.environ["MPLCONFIGDIR"]
        shutil.rmtree(folder, ignore_errors=True)
        forget()


def _writable_home_settings() -> bool:
    """Whether matplotlib can keep its settings and cache where it looks by default."""
    home = Path.home()
    for variable, default in (("XDG_CONFIG_HOME", ".config"), ("XDG_CACHE_HOME", ".cache")):
        folder = Path(os.environ.get(variable) or home / default) / "matplotlib"
        existing = nearest_existing(folder)
        if not (existing.is_dir() and os.access(existing, os.W_OK | os.X_OK)):
            return False
    return True


def _drawer() -> None:
    # a Ctrl-C goes to the whole process group: the parent, which stops the report, handles it
    signal.signal(signal.SIGINT, signal.SIG_IGN)


def _draw_one(job: tuple[str, str]) -> Path | None:
    import matplotlib

    matplotlib.use("Agg")
    assert _DRAWING is not None
    results, folder = _DRAWING
    backend, name = job
    cells = results.for_backend(backend)
    heading = results.heading(backend)
    colors = variant_colors(variants_of(results.cells), results.catalog)
    if name == MEASURED_RTT:
        delayed = [c for c in results.delayed if c.backend == backend]
        figure = measured_projection(cells, delayed, colors, heading)
    else:
        figure = dict(CHARTS)[name](cells, colors, heading)
    if figure is None:
        return None
    path = folder / f"{backend}-{name}.png"
    figure.savefig(path, dpi=DPI)
    return path
