"""The command line: ``python -m bench run|report|compare|statements|list``.

Bad input ends with one line on stderr and exit status 2; an interrupted or failed run leaves
the previous ``benchmarks.json`` as it was.
"""

from __future__ import annotations

import argparse
import fcntl
import os
import shlex
import shutil
import signal
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Generator, Iterator, Sequence
from contextlib import ExitStack, contextmanager
from pathlib import Path
from typing import NoReturn

import pytest

from bench.backends import BACKENDS, LEFT_BEHIND, BackendType, backend_type, backend_types
from bench.backends.servers import ProvidedServers, Server, ServerError, ServerUnavailable
from bench.cells import runs_on
from bench.messages import first_line
from bench.network import parse_rtts
from bench.workloads import DEFAULT_SIZES, QUICK_SIZES, WORKLOADS, parse_sizes
from implementations.registry import VARIANTS, load_variant

BENCHMARKS_DIR = Path(__file__).parent / "benchmarks"
DEFAULT_OUT = Path("results/latest")
RESULTS_FILE = "benchmarks.json"
REPORT_FILE = "REPORT.md"
CHARTS_DIR = "charts"

EXIT_USAGE = 2
EXIT_FAILED = 1


class UsageError(Exception):
    """Bad input: one line for stderr, exit status 2."""


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:
        raise UsageError(message)


def _names(kind: str, known: Sequence[str]) -> Callable[[str], str]:
    def check(name: str) -> str:
        if name not in known:
            raise argparse.ArgumentTypeError(
                f"unknown {kind} {name!r}; choose from {', '.join(known)}"
            )
        return name

    check.__name__ = kind
    return check


def _sizes(text: str) -> tuple[int, ...]:
    try:
        return parse_sizes(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def _rtts(text: str) -> tuple[float, ...]:
    try:
        return parse_rtts(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def _folder(text: str) -> Path:
    if not text.strip():
        raise argparse.ArgumentTypeError("an empty path is not a folder")
    return Path(text)


def _size(text: str) -> int:
    sizes = _sizes(text)
    if len(sizes) != 1:
        raise argparse.ArgumentTypeError(f"{text!r} is not one positive whole number")
    return sizes[0]


def _add_server_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "-v",
        "--verbose",
        action="store_true",
        help="also say which ways of getting a server were passed over, and why",
    )
    for kind in backend_types():
        if kind.url_option:
            parser.add_argument(
                kind.url_option,
                dest=f"{kind.name}_url",
                metavar="URL",
                help=f"use this {kind.title} server (default: ${kind.url_env})",
            )


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="python -m bench",
        description="Compare SQLAlchemy ORM, Core and raw DB-API data access.",
    )
    commands = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)

    run = commands.add_parser("run", help="run the benchmarks and write the results and report")
    run.add_argument("--backend", choices=(*BACKENDS, "all"), default="all")
    run.add_argument(
        "--workload", nargs="+", action="extend", type=_names("workload", tuple(WORKLOADS))
    )
    run.add_argument(
        "--variant", nargs="+", action="extend", type=_names("variant", tuple(VARIANTS))
    )
    run.add_argument(
        "--sizes",
        type=_sizes,
        help=f"comma-separated sizes (default {','.join(map(str, DEFAULT_SIZES))}; "
        f"--quick: {','.join(map(str, QUICK_SIZES))})",
    )
    run.add_argument("--quick", action="store_true", help="fewer sizes and rounds")
    run.add_argument(
        "--rtt",
        type=_rtts,
        metavar="MS,...",
        help="also run the networked backends' cells through a proxy that adds these "
        "round-trip times in ms (and 0, its own cost), e.g. 1,10",
    )
    _add_server_options(run)
    run.add_argument("--out", type=_folder, default=DEFAULT_OUT, help=f"default {DEFAULT_OUT}")

    report = commands.add_parser("report", help="charts and REPORT.md from benchmarks.json")
    report.add_argument("results_dir", type=_folder)

    compare = commands.add_parser(
        "compare", help="what changed between two runs, cell by cell, beyond their noise"
    )
    compare.add_argument("run_a", type=_folder, metavar="RUN_A")
    compare.add_argument("run_b", type=_folder, metavar="RUN_B")

    statements = commands.add_parser("statements", help="the SQL each variant emits")
    statements.add_argument("--workload", required=True, type=_names("workload", tuple(WORKLOADS)))
    statements.add_argument("--backend", choices=tuple(BACKENDS), default=next(iter(BACKENDS)))
    statements.add_argument("--size", type=_size, default=3)
    statements.add_argument(
        "--variant", nargs="+", action="extend", type=_names("variant", tuple(VARIANTS))
    )
    _add_server_options(statements)

    commands.add_parser("list", help="workloads, variants and backends")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    for signal_number in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signal_number, _stop)
    if STOP.is_set():  # a signal came while the handlers of __main__ were in place
        return _interrupted_status()
    try:
        args = build_parser().parse_args(argv)
        status = int(COMMANDS[args.command](args))
        sys.stdout.flush()  # here, where a reader gone away is caught, not at exit
        return status
    except UsageError as exc:
        print(f"bench: error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except KeyboardInterrupt:
        print("bench: interrupted", file=sys.stderr)
        return _interrupted_status()
    except BrokenPipeError:
        # the reader went away (`python -m bench list | head`): stop quietly, and keep
        # Python's own final flush of stdout from failing again
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return EXIT_FAILED


#: set by Ctrl-C or SIGTERM, and never cleared: a run that saw it does not publish results
STOP = threading.Event()
#: the signal that stopped the run: the exit status is 128 + its number (130, 143)
_SIGNALLED = [signal.SIGINT]


def _interrupted_status() -> int:
    return 128 + int(_SIGNALLED[0])


def _stop(signum: int, frame: object) -> None:
    """Unwind like Ctrl-C, so whatever was started is stopped on the way out. The event
    stays set, for Python drops a KeyboardInterrupt raised inside a garbage-collection
    callback; a second signal stops at once (:func:`_stop_now`)."""
    STOP.set()
    _SIGNALLED[0] = signal.Signals(signum)
    signal.signal(signal.SIGINT, _stop_now)
    signal.signal(signal.SIGTERM, _stop_now)
    raise KeyboardInterrupt


def _stop_now(signum: int, frame: object) -> None:
    """The second signal: kill what the harness started, without waiting for it to shut
    down, remove its folders and the run's unpublished files, and exit."""
    from bench.backends.servers import kill_now

    killed = kill_now()
    for path in _REMOVE_AT_ONCE:
        if path.is_dir():
            shutil.rmtree(path, ignore_errors=True)
        else:
            path.unlink(missing_ok=True)
    print(
        "bench: stopped at once" + ("; the servers it had started were killed" if killed else ""),
        file=sys.stderr,
    )
    os._exit(_interrupted_status())


#: what a second signal removes on its way out: the run's staging folder and its holder note
_REMOVE_AT_ONCE: list[Path] = []


class _RunGuard:
    """pytest plugin: end the session before the next cell once a signal came in, and catch
    a failure to write the results (a full disk) so that it becomes one line, not pytest's
    internal-error traceback."""

    def __init__(self) -> None:
        self.save_error: OSError | None = None

    @pytest.hookimpl(tryfirst=True)
    def pytest_runtest_protocol(self, item: pytest.Item) -> bool | None:
        if STOP.is_set():
            item.session.shouldstop = "interrupted by a signal"
            return True
        return None

    @pytest.hookimpl(wrapper=True, tryfirst=True)
    def pytest_sessionfinish(self, session: pytest.Session) -> Generator[None, None, None]:
        try:
            yield
        except OSError as exc:  # pytest-benchmark saves its JSON here
            self.save_error = exc


def _given_url(kind: BackendType, args: argparse.Namespace) -> tuple[str | None, str]:
    """The server URL to use for a backend, and where it came from (for messages)."""
    given = getattr(args, f"{kind.name}_url", None)
    if given:
        return given, kind.url_option or ""
    if kind.url_env and os.environ.get(kind.url_env):
        return os.environ[kind.url_env], kind.url_env
    return None, ""


@contextmanager
def _server(
    kind: BackendType, args: argparse.Namespace, required: bool, skipped: list[str]
) -> Iterator[Server | None]:
    """The backend's server for this command; None, with the reason added to ``skipped``,
    when it is not required and none can be had."""
    url, source = _given_url(kind, args)
    with ExitStack() as stack:
        try:
            server = stack.enter_context(
                kind.provide(url, note=lambda line: _note(args, f"{kind.name}: {line}"))
            )
        except ServerUnavailable as exc:
            if required:
                raise UsageError(str(exc)) from None
            _say(f"{kind.name}: skipped: {exc}")
            skipped.append(f"{kind.title} was skipped: {exc}")
            yield None
            return
        except ServerError as exc:
            raise UsageError(f"{source}: {exc}" if source else str(exc)) from None
        where = f", at {server.masked_url}" if server.masked_url else ""
        _say(f"{kind.name}: {kind.title} {server.version}, {server.provisioned_by}{where}")
        yield server


def _note(args: argparse.Namespace, line: str) -> None:
    """A line worth saying only when asked to be verbose."""
    if getattr(args, "verbose", False):
        _say(line)


def _say(line: str) -> None:
    print(line, file=sys.stderr, flush=True)


# --- run -----------------------------------------------------------------------------------------


def _check_output_folder(folder: Path) -> None:
    """Refuse, before anything runs, an output folder the results could not be written to;
    create nothing yet."""
    existing = folder
    while not existing.exists() and existing != existing.parent:
        existing = existing.parent
    problem = None
    if not existing.is_dir():
        problem = f"{existing} is a file, not a folder"
    elif not os.access(existing, os.W_OK | os.X_OK):
        problem = f"{existing} is not writable"
    elif (folder / RESULTS_FILE).is_dir():
        problem = f"{folder / RESULTS_FILE} is a folder"
    if problem:
        raise UsageError(f"cannot write results to {folder}: {problem}")


#: who holds an output folder: written by the run holding it, removed when it ends
HOLDER_FILE = ".running"


@contextmanager
def _locked_output_folder(folder: Path) -> Iterator[Path]:
    """The output folder, created if need be, held by this run alone (an exclusive lock on
    the folder itself) until the run ends; removed again if the run left nothing in it."""
    created = not folder.exists()
    try:
        folder.mkdir(parents=True, exist_ok=True)
        descriptor = os.open(folder, os.O_RDONLY | os.O_DIRECTORY)
    except OSError as exc:
        raise UsageError(f"cannot write results to {folder}: {exc.strerror or exc}") from None
    holder = folder / HOLDER_FILE
    held = False
    try:
        try:
            fcntl.flock(descriptor, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            try:
                who = holder.read_text().strip() or "which has not said who it is yet"
            except OSError:
                who = "which has not said who it is yet"
            raise UsageError(
                f"{folder} is in use by another run ({who}); wait for it or choose another --out"
            ) from None
        held = True
        _REMOVE_AT_ONCE.append(holder)
        started = time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime())
        try:
            holder.write_text(f"pid {os.getpid()}, started {started}\n")
        except OSError as exc:
            holder.unlink(missing_ok=True)
            raise UsageError(f"cannot write results to {folder}: {exc.strerror or exc}") from None
        try:
            yield folder
        finally:
            holder.unlink(missing_ok=True)
    finally:
        # only the run that held the folder removes it: another may have created it as well
        if held and created and not any(folder.iterdir()):
            folder.rmdir()
        os.close(descriptor)


def _measure(
    args: argparse.Namespace, out: Path, staging: Path, pytest_args: list[str]
) -> int | None:
    """Provision the backends and run the cells, writing the results into ``staging``. None
    when every cell passed, else the exit status."""
    requested = backend_types(None if args.backend == "all" else (args.backend,))
    with ExitStack() as stack:
        servers: dict[str, Server] = {}
        skipped: list[str] = []
        # servers first: when one cannot be had, its error is the only line printed
        for kind in sorted(requested, key=lambda kind: not kind.needs_server):
            server = stack.enter_context(
                _server(kind, args, required=args.backend == kind.name, skipped=skipped)
            )
            if server is not None:
                servers[kind.name] = server
        pytest_args += [f"--bench-note={reason}" for reason in skipped]
        pytest_args += [f"--bench-backend={name}" for name in BACKENDS if name in servers]

        # pytest-benchmark's own storage (unused: the JSON goes where --out says)
        storage = stack.enter_context(tempfile.TemporaryDirectory(prefix="bench-storage-"))
        guard = _RunGuard()
        exit_code = _run_pytest(
            [
                *pytest_args,
                f"--benchmark-storage=file://{storage}",
                f"--benchmark-json={staging / RESULTS_FILE}",
            ],
            [guard, ProvidedServers(servers)],
        )
        for line in LEFT_BEHIND:
            _say(f"bench: {line}")
        if STOP.is_set() or exit_code != 0:
            return _run_failed(exit_code, out)
        if guard.save_error is not None:
            return _not_written(out, guard.save_error)
    return None


def command_run(args: argparse.Namespace) -> int:
    started = time.monotonic()
    out: Path = args.out
    _check_output_folder(out)
    workloads = tuple(dict.fromkeys(args.workload or WORKLOADS))
    variants = tuple(dict.fromkeys(args.variant or VARIANTS))
    if not any(
        load_variant(variant).implements(workload) for workload in workloads for variant in variants
    ):
        raise UsageError(
            f"no selected variant implements the selected workloads ({', '.join(workloads)})"
        )
    backends = backend_types(None if args.backend == "all" else (args.backend,))
    if not any(runs_on(variant, kind.name) for variant in variants for kind in backends):
        raise UsageError(
            f"the selected variants ({', '.join(variants)}) run only on "
            + ", ".join(_backends_of(variants[0]))
        )

    pytest_args = [
        str(BENCHMARKS_DIR),
        "-q",
        # short tracebacks: a long one prints each frame's arguments, a connection string too
        "--tb=short",
        "--benchmark-quiet",
        "-W",
        "ignore::pytest_benchmark.logger.PytestBenchmarkWarning",
        f"--bench-command={_reproduce_command(args)}",
        *(f"--bench-workload={name}" for name in workloads),
        *(f"--bench-variant={name}" for name in variants),
    ]
    if args.sizes:
        pytest_args.append(f"--bench-sizes={','.join(map(str, args.sizes))}")
    if args.quick:
        pytest_args.append("--bench-quick")
    if args.rtt:
        requested = backend_types(None if args.backend == "all" else (args.backend,))
        if not any(kind.networked for kind in requested):
            raise UsageError(
                "--rtt: no selected backend has a network to delay; choose from "
                + ", ".join(kind.name for kind in backend_types() if kind.networked)
            )
        pytest_args.append(f"--bench-rtt={','.join(f'{rtt:g}' for rtt in args.rtt)}")

    published: list[bool] = []
    with _locked_output_folder(out), _staging_folder(out) as staging:
        try:
            failed = _measure(args, out, staging, pytest_args)
            if failed is None:
                failed = _publish(staging, out, published)
        except KeyboardInterrupt:
            STOP.set()
            if published:
                _say(f"bench: interrupted; {out / RESULTS_FILE} and its report hold the new run")
                return _interrupted_status()
            failed = _run_failed(2, out)
    if failed is not None:
        return failed
    print(f"results: {out / RESULTS_FILE}")
    print(f"report: {out / REPORT_FILE}")
    print(f"duration: {_duration(time.monotonic() - started)}")
    return 0


@contextmanager
def _staging_folder(out: Path) -> Iterator[Path]:
    """A hidden folder in OUT where the run's results, report and charts are made, before
    they replace the previous ones together; removed at the end, whatever happened."""
    try:
        staging = Path(tempfile.mkdtemp(prefix=".run-", dir=out))
    except OSError as exc:
        raise UsageError(f"cannot write results to {out}: {exc.strerror or exc}") from None
    _REMOVE_AT_ONCE.append(staging)
    try:
        yield staging
    finally:
        shutil.rmtree(staging, ignore_errors=True)


def _publish(staging: Path, out: Path, published: list[bool]) -> int | None:
    """The report and charts drawn beside the new results, then all three moved into OUT
    together; None when done (``published`` then says so), else the exit status (nothing in
    OUT changed)."""
    from bench.report import ReportError, draw_report, replace_together
    from bench.results import load_results

    try:
        os.chmod(staging / RESULTS_FILE, _ordinary_file_mode())
        draw_report(load_results(staging), staging)
        replace_together(staging, out, (RESULTS_FILE, REPORT_FILE, CHARTS_DIR))
        published.append(True)
    except ReportError as exc:
        _say(f"bench: error: {exc}; {_kept(out)}")
        return EXIT_USAGE
    except OSError as exc:
        return _not_written(out, exc)
    return None


def _not_written(out: Path, error: OSError) -> int:
    kept = "the previous results were kept" if (out / RESULTS_FILE).exists() else "none exist"
    _say(
        f"bench: error: the results could not be written to {out}: "
        f"{error.strerror or first_line(error)}; {kept}"
    )
    return EXIT_USAGE


def _ordinary_file_mode() -> int:
    """What the user's umask gives a new file (pytest-benchmark's is that already; the staging
    folder's is owner-only)."""
    umask = os.umask(0)
    os.umask(umask)
    return 0o666 & ~umask


def _run_pytest(arguments: list[str], plugins: list[object]) -> int:
    try:
        return int(pytest.main(arguments, plugins=plugins))
    except Exception:
        # pytest can fail while describing an interruption (the traceback of a frame in
        # compiled code has no line number); its session was still finished and torn down
        if STOP.is_set():
            return int(pytest.ExitCode.INTERRUPTED)
        raise


def _kept(out: Path) -> str:
    return (
        f"{out / RESULTS_FILE} was left as it was"
        if (out / RESULTS_FILE).exists()
        else "no results were written"
    )


def _run_failed(exit_code: int, out: Path) -> int:
    kept = _kept(out)
    if STOP.is_set() or exit_code == 2:  # pytest's "interrupted"
        _say(f"bench: interrupted; {kept}")
        return _interrupted_status()
    if exit_code == 1:
        _say(f"bench: some cells failed (see above); {kept}")
        return EXIT_FAILED
    if exit_code == 5:
        _say(f"bench: error: nothing to run for this selection; {kept}")
        return EXIT_USAGE
    _say(f"bench: error: the benchmark run stopped (pytest exit status {exit_code}); {kept}")
    return EXIT_FAILED


def _reproduce_command(args: argparse.Namespace) -> str:
    parts = ["python", "-m", "bench", "run", "--backend", args.backend]
    if args.workload:
        parts += ["--workload", *dict.fromkeys(args.workload)]
    if args.variant:
        parts += ["--variant", *dict.fromkeys(args.variant)]
    if args.sizes:
        parts += ["--sizes", ",".join(map(str, args.sizes))]
    if args.quick:
        parts.append("--quick")
    if args.rtt:
        parts += ["--rtt", ",".join(f"{rtt:g}" for rtt in args.rtt)]
    return shlex.join(parts)


def _duration(seconds: float) -> str:
    minutes, seconds = divmod(seconds, 60)
    return f"{int(minutes)} min {seconds:.1f} s" if minutes else f"{seconds:.1f} s"


# --- report, statements, list -------------------------------------------------------------------


def command_report(args: argparse.Namespace) -> int:
    from bench.report import ReportError, write_report

    folder: Path = args.results_dir
    try:
        # a run writing into the folder must not have its report replaced under it
        with _locked_output_folder(folder) if folder.is_dir() else _nothing():
            written = write_report(folder)
    except ReportError as exc:
        _say(f"bench: error: {exc}")
        return EXIT_USAGE
    print(f"report: {written}")
    return 0


def command_compare(args: argparse.Namespace) -> int:
    from bench.compare import compare_runs
    from bench.report import ReportError

    try:
        print(compare_runs(args.run_a, args.run_b), end="")
    except ReportError as exc:
        _say(f"bench: error: {exc}")
        return EXIT_USAGE
    return 0


def command_statements(args: argparse.Namespace) -> int:
    from bench.statements import print_statements

    variants = tuple(dict.fromkeys(args.variant or VARIANTS))
    if not any(load_variant(variant).implements(args.workload) for variant in variants):
        raise UsageError(f"no selected variant implements {args.workload}")
    kind = backend_type(args.backend)
    if not any(runs_on(variant, kind.name) for variant in variants):
        raise UsageError(
            f"the selected variants ({', '.join(variants)}) do not run on {kind.title}; "
            f"{variants[0]} runs on {', '.join(_backends_of(variants[0]))}"
        )
    with _server(kind, args, required=True, skipped=[]) as server:
        assert server is not None
        try:
            print_statements(args.workload, kind, args.size, variants, server)
        except AssertionError as exc:  # a variant that failed its verification
            _say(f"bench: error: {first_line(exc)}")
            return EXIT_FAILED
        except kind.driver_errors as exc:
            _say(f"bench: error: {kind.title}: {first_line(exc)}")
            return EXIT_FAILED
    return 0


@contextmanager
def _nothing() -> Iterator[None]:
    yield None


def command_list(args: argparse.Namespace) -> int:
    print("workloads:")
    for workload in WORKLOADS.values():
        print(f"  {workload.name:<22}{workload.description}")
    print("\nvariants:")
    for name in VARIANTS:
        variant = load_variant(name)
        implemented = [w for w in WORKLOADS if variant.implements(w)]
        scope = "all workloads" if len(implemented) == len(WORKLOADS) else ", ".join(implemented)
        where = _backends_of(name)
        if len(where) < len(BACKENDS):
            scope += f"; on {', '.join(where)} only"
        print(f"  {name:<22}{variant.label()}\n  {'':<22}({scope})")
    print("\nbackends:")
    for kind in backend_types():
        print(f"  {kind.name:<22}{kind.title}\n  {'':<22}({kind.provisioning})")
    return 0


def _backends_of(variant: str) -> list[str]:
    """The titles of the backends a variant runs on."""
    return [kind.title for kind in backend_types() if runs_on(variant, kind.name)]


COMMANDS: dict[str, Callable[[argparse.Namespace], int]] = {
    "run": command_run,
    "report": command_report,
    "compare": command_compare,
    "statements": command_statements,
    "list": command_list,
}
