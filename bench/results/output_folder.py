"""The folder a run's results go to (``--out``), and what the harness may do there.

The harness owns only what it wrote: ``benchmarks.json``, ``REPORT.md``, ``REPORT.html``, the
charts it drew and a screenshot of the page where one was made, listed in a hidden manifest
(:data:`MANIFEST`). A new run or report replaces
those and nothing else. A folder that holds anything else is refused, naming one such file,
unless the user passes ``--force`` (then the harness writes beside those files and replaces
only the ones of the same name). ``/``, the home folder, and the published reference run
(outside ``tox -e reference``) are refused whatever the flags.

Everything is made in a hidden staging folder inside the output folder first, then moved into
place together (:func:`publish`): an interrupted or failed run leaves the previous results as
they were.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import re
import shutil
import signal
import tempfile
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

from bench.safety import stopping

RESULTS_FILE = "benchmarks.json"
REPORT_FILE = "REPORT.md"
REPORT_PAGE = "REPORT.html"
#: a screenshot of the page (``python -m bench.report.screenshot``), where one was made
REPORT_SCREENSHOT = "report-html.png"
CHARTS_DIR = "charts"
#: the files of the folder that the last run or report wrote, one relative path per line
MANIFEST = ".bench-files"
#: who holds an output folder: written by the run holding it, removed when it ends
HOLDER_FILE = ".running"
#: the hidden folders a run or report works in, removed when it ends
WORK_PREFIXES = (".run-", ".report-", ".previous-")
#: set by ``tox -e reference``: the one way to write the published reference run
REFERENCE_ENV = "BENCH_WRITE_REFERENCE"
REFERENCE_PARTS = ("results", "reference")
#: the charts of a folder without a manifest (a run made before it existed, or a checkout of
#: the published reference run): ``<backend>-<kind>.png``
_CHART_KINDS = (
    "median-time",
    "statements",
    "scaling",
    "projected-rtt",
    "concurrency",
    "measured-rtt",
    "layers",
)
_LEGACY_CHART = re.compile(rf"[a-z0-9_]+-(?:{'|'.join(_CHART_KINDS)})\.png")


class FolderRefused(Exception):
    """The output folder cannot or must not be written to; one line for the user."""


def check_output_folder(folder: Path, force: bool, option: str = "--out") -> None:
    """Refuse, before anything runs, a folder the results could not or must not be written
    to; create nothing yet. ``option`` names where the folder was given ("" for the report's
    folder of results)."""
    resolved = folder.resolve()
    if resolved == Path(resolved.anchor) or resolved == Path.home().resolve():
        raise FolderRefused(
            f"{option or 'report'} {folder}: refusing to write results into "
            + ("the root folder" if resolved == Path(resolved.anchor) else "the home folder")
            + "; choose a folder of their own, e.g. results/latest"
        )
    if resolved.parts[-2:] == REFERENCE_PARTS and not os.environ.get(REFERENCE_ENV):
        raise FolderRefused(
            f"{option or 'report'} {folder}: that is the published reference run; remake it with "
            f"`tox -e reference` (which sets {REFERENCE_ENV}=1), or choose another folder"
        )
    existing = nearest_existing(folder)
    problem = None
    if not existing.is_dir():
        problem = f"{existing} is a file, not a folder"
    elif not os.access(existing, os.W_OK | os.X_OK):
        problem = f"{existing} is not writable"
    elif (folder / RESULTS_FILE).is_dir():
        problem = f"{folder / RESULTS_FILE} is a folder"
    if problem:
        what = "results to" if option else "the report into"
        raise FolderRefused(f"cannot write {what} {folder}: {problem}")
    if folder.is_dir() and not force:
        foreign = foreign_files(folder)
        if foreign:
            others = f" and {len(foreign) - 1} more" if len(foreign) > 1 else ""
            instead = f"choose an empty or new folder for {option}, or " if option else ""
            raise FolderRefused(
                f"{folder} holds {foreign[0]}{others}, which no run of the harness wrote; "
                f"{instead}pass --force to write beside them (they are never deleted)"
            )


def nearest_existing(path: Path) -> Path:
    """``path`` or its nearest ancestor that exists: where creating it would start."""
    while not path.exists() and path != path.parent:
        path = path.parent
    return path


def owned_files(folder: Path) -> list[str]:
    """The files in ``folder`` the harness wrote (relative paths): those its manifest lists,
    or, in a folder without one (written before the manifest existed, or a checkout of the
    published reference run, which git keeps without it), the results, the report, its page
    and the page's screenshot, and the charts the harness names so."""
    manifest = folder / MANIFEST
    if manifest.is_file():
        listed = manifest.read_text().splitlines()
        return [name for name in listed if name and _inside(name) and (folder / name).is_file()]
    if not (folder / RESULTS_FILE).is_file():
        return []
    named = (RESULTS_FILE, REPORT_FILE, REPORT_PAGE, REPORT_SCREENSHOT)
    owned = [name for name in named if (folder / name).is_file()]
    charts = folder / CHARTS_DIR
    if charts.is_dir():
        owned += [
            f"{CHARTS_DIR}/{chart.name}"
            for chart in sorted(charts.iterdir())
            if chart.is_file() and _LEGACY_CHART.fullmatch(chart.name)
        ]
    return owned


def foreign_files(folder: Path) -> list[str]:
    """What ``folder`` holds that the harness did not write (relative paths, sorted; a folder
    with nothing in it counts as one entry)."""
    owned = set(owned_files(folder))
    foreign = []
    for path in sorted(folder.rglob("*")):
        name = path.relative_to(folder).as_posix()
        top = name.split("/", 1)[0]
        if top in (MANIFEST, HOLDER_FILE) or top.startswith(WORK_PREFIXES):
            continue
        # a folder counts by what it holds, unless it is empty (the charts' may be)
        is_folder = path.is_dir() and not path.is_symlink()
        if is_folder and (name == CHARTS_DIR or any(path.iterdir())):
            continue
        if name not in owned:
            foreign.append(name)
    return foreign


def _inside(name: str) -> bool:
    """Whether a manifest's entry names a file inside the folder (not ``../x`` or ``/x``)."""
    parts = Path(name).parts
    return bool(parts) and not Path(name).is_absolute() and ".." not in parts


@contextmanager
def locked_output_folder(folder: Path, say: Callable[[str], None]) -> Iterator[Path]:
    """The output folder, created if need be, held by this run alone (an exclusive lock on
    the folder itself) until the run ends; removed again if the run left nothing in it. What
    a run that was killed left in it is removed first, and ``say`` tells the user."""
    created = not folder.exists()
    try:
        folder.mkdir(parents=True, exist_ok=True)
        descriptor = os.open(folder, os.O_RDONLY | os.O_DIRECTORY)
    except OSError as exc:
        raise FolderRefused(f"cannot write results to {folder}: {exc.strerror or exc}") from None
    holder = folder / HOLDER_FILE
    held = False
    forget_folder = stopping.remove_at_once(folder, only_if_empty=True) if created else None
    try:
        try:
            fcntl.flock(descriptor, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            try:
                who = holder.read_text().strip() or "which has not said who it is yet"
            except OSError:
                who = "which has not said who it is yet"
            raise FolderRefused(
                f"{folder} is in use by another run ({who}); wait for it or choose another --out"
            ) from None
        held = True
        for left in sorted(folder.iterdir()):
            if left.name.startswith(WORK_PREFIXES) and left.is_dir():
                shutil.rmtree(left, ignore_errors=True)
                say(f"bench: removed {left}, left by a run that was killed")
        forget_holder = stopping.remove_at_once(holder)
        started = time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime())
        try:
            holder.write_text(f"pid {os.getpid()}, started {started}\n")
        except OSError as exc:
            with contextlib.suppress(OSError):  # a read-only folder refuses this too
                holder.unlink(missing_ok=True)
            raise FolderRefused(
                f"cannot write results to {folder}: {exc.strerror or exc}"
            ) from None
        try:
            yield folder
        finally:
            with contextlib.suppress(OSError):
                holder.unlink(missing_ok=True)
            forget_holder()
    finally:
        # only the run that held the folder removes it: another may have created it as well
        if held and created and not any(folder.iterdir()):
            with contextlib.suppress(OSError):
                folder.rmdir()
        if forget_folder is not None:
            forget_folder()
        os.close(descriptor)


@contextmanager
def staging_folder(out: Path, prefix: str = ".run-") -> Iterator[Path]:
    """A hidden folder in ``out`` where the run's results, report and charts are made, before
    they replace the previous ones together; removed at the end, whatever happened."""
    try:
        staging = Path(tempfile.mkdtemp(prefix=prefix, dir=out))
    except OSError as exc:
        raise FolderRefused(f"cannot write results to {out}: {exc.strerror or exc}") from None
    forget = stopping.remove_at_once(staging)
    try:
        yield staging
    finally:
        shutil.rmtree(staging, ignore_errors=True)
        forget()


def files_made(staging: Path) -> list[str]:
    """The files made in a staging folder (relative paths, sorted)."""
    return sorted(
        path.relative_to(staging).as_posix() for path in staging.rglob("*") if path.is_file()
    )


def publish(staging: Path, folder: Path, names: Sequence[str], keep: Sequence[str] = ()) -> None:
    """Move the files ``names`` (relative paths) from ``staging`` into ``folder`` as one unit,
    replacing the files the harness wrote there before (its manifest's), and write the new
    manifest: ``names`` and ``keep`` (earlier files that stay, such as the results under a
    new report). Nothing else in the folder is touched.

    The old files are set aside first; if a move fails, every new one is taken back and every
    old one restored. Ctrl-C and SIGTERM wait until it is done (they would otherwise land
    between two moves). If even the restoring fails, the old ones stay in the hidden folder
    they were set aside in, which the error names."""
    (staging / MANIFEST).write_text("".join(f"{name}\n" for name in sorted({*names, *keep})))
    incoming = [*names, MANIFEST]
    with _signals_held():
        replaced = sorted({*owned_files(folder), *names} - set(keep))
        aside = Path(tempfile.mkdtemp(prefix=".previous-", dir=folder))
        set_aside: list[str] = []
        moved: list[str] = []
        try:
            for name in [*replaced, MANIFEST]:
                if (folder / name).is_file():
                    _move(folder / name, aside / name)
                    set_aside.append(name)
            for name in incoming:
                _move(staging / name, folder / name)
                moved.append(name)
        except OSError as exc:
            try:
                for name in moved:
                    _move(folder / name, staging / name)
                for name in set_aside:
                    _move(aside / name, folder / name)
            except OSError:
                raise OSError(
                    exc.errno, f"{exc.strerror}; the previous files are kept in {aside}"
                ) from exc
            shutil.rmtree(aside, ignore_errors=True)
            raise
        shutil.rmtree(aside, ignore_errors=True)
        charts = folder / CHARTS_DIR
        if charts.is_dir() and not any(charts.iterdir()):
            charts.rmdir()


def _move(source: Path, target: Path) -> None:
    target.parent.mkdir(parents=True, exist_ok=True)
    source.rename(target)


@contextmanager
def _signals_held() -> Iterator[None]:
    held = {signal.SIGINT, signal.SIGTERM}
    previous = signal.pthread_sigmask(signal.SIG_BLOCK, held)
    try:
        yield
    finally:
        signal.pthread_sigmask(signal.SIG_SETMASK, previous)
