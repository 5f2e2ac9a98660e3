"""The command line: ``python -m bench run|report|compare|statements|list``.

Bad input ends with one line on stderr and exit status 2; an interrupted or failed run leaves
the previous ``benchmarks.json`` as it was.
"""

from __future__ import annotations

import argparse
import os
import shlex
import sys
import tempfile
import time
from collections.abc import Callable, Generator, Iterator, Sequence
from contextlib import ExitStack, contextmanager
from pathlib import Path
from typing import NoReturn

import pytest

from bench.backends import BACKENDS, LEFT_BEHIND, BackendType, backend_type, backend_types
from bench.backends.servers import (
    ProvidedServers,
    Server,
    ServerError,
    ServerUnavailable,
)
from bench.measure.cells import runs_on
from bench.measure.network import parse_rtts
from bench.measure.workloads import (
    DEFAULT_SIZES,
    MAX_WORKERS,
    QUICK_SIZES,
    WORKLOADS,
    parse_sizes,
    sizes_for,
)
from bench.messages import first_line
from bench.results.output_folder import (
    REPORT_FILE,
    RESULTS_FILE,
    FolderRefused,
    check_output_folder,
    files_made,
    locked_output_folder,
    staging_folder,
)
from bench.safety import stopping
from bench.safety.leftovers import owned_prefix, remove_left_behind
from implementations.registry import VARIANTS, load_variant

BENCHMARKS_DIR = Path(__file__).parent.parent / "benchmarks"
DEFAULT_OUT = Path("results/latest")

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


_FORCE_HELP = (
    "write into a folder that also holds files no run wrote (they are kept; files of the "
    "same name as the results, report and charts are replaced)"
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
    run.add_argument("--force", action="store_true", help=_FORCE_HELP)

    report = commands.add_parser("report", help="charts and REPORT.md from benchmarks.json")
    report.add_argument("results_dir", type=_folder)
    report.add_argument("--force", action="store_true", help=_FORCE_HELP)

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
    try:
        stopping.install()
        try:
            args = build_parser().parse_args(argv)
            status = int(COMMANDS[args.command](args))
            sys.stdout.flush()  # here, where a reader gone away is caught, not at exit
            return status
        finally:
            stopping.settle()
    except (UsageError, FolderRefused) as exc:
        print(f"bench: error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except KeyboardInterrupt:
        stopping.request()
        print("bench: interrupted", file=sys.stderr)
        return stopping.exit_status()
    except BrokenPipeError:
        # the reader went away (`python -m bench list | head`): stop quietly, and keep
        # Python's own final flush of stdout from failing again
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return EXIT_FAILED


class _RunGuard:
    """pytest plugin: end the session before the next cell once a signal came in, and catch
    a failure to write the results (a full disk) or a selection refused before any cell ran
    (a server short of connection slots) so that each becomes one line, not pytest's
    traceback or its own error line."""

    def __init__(self) -> None:
        self.save_error: OSError | None = None
        self.refused: str | None = None

    @pytest.hookimpl(wrapper=True)
    def pytest_collection_finish(self, session: pytest.Session) -> Generator[None, None, None]:
        try:
            return (yield)
        except pytest.UsageError as exc:
            self.refused = str(exc)
            raise pytest.UsageError() from None  # said once, by the command line

    @pytest.hookimpl(tryfirst=True)
    def pytest_runtest_protocol(self, item: pytest.Item) -> bool | None:
        if stopping.requested():
            item.session.shouldstop = "interrupted by a signal"
            return True
        return None

    @pytest.hookimpl(wrapper=True)
    def pytest_runtest_call(self, item: pytest.Item) -> Generator[None, None, None]:
        try:
            return (yield)
        except KeyboardInterrupt:
            # ends the session as Ctrl-C does, without the traceback pytest would describe
            # first: its arguments' reprs (a case of 100000 rows) took seconds to make
            stopping.request()
            raise pytest.exit.Exception(
                "interrupted by a signal", returncode=pytest.ExitCode.INTERRUPTED
            ) from None

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


def _remove_left_behind() -> None:
    """What runs that were killed left in the temporary folder, removed before this one
    starts servers of its own."""
    for removed in remove_left_behind():
        _say(f"bench: removed {removed}, left by a run that was killed")


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
        storage = stack.enter_context(
            tempfile.TemporaryDirectory(prefix=owned_prefix("bench-storage-"))
        )
        stack.callback(stopping.remove_at_once(Path(storage)))
        guard = _RunGuard()
        exit_code = _run_pytest(
            [
                *pytest_args,
                f"--benchmark-storage=file://{storage}",
                f"--benchmark-json={staging / RESULTS_FILE}",
            ],
            [guard, ProvidedServers(servers)],
        )
        if guard.refused:
            raise UsageError(guard.refused)
        for line in LEFT_BEHIND:
            _say(f"bench: {line}")
        if stopping.requested() or exit_code != 0:
            return _run_failed(exit_code, out)
        if guard.save_error is not None:
            return _not_written(out, guard.save_error)
    return None


def command_run(args: argparse.Namespace) -> int:
    started = time.monotonic()
    out: Path = args.out
    check_output_folder(out, force=args.force)
    workloads = tuple(dict.fromkeys(args.workload or WORKLOADS))
    variants = tuple(dict.fromkeys(args.variant or VARIANTS))
    if not any(
        load_variant(variant).implements(workload) for workload in workloads for variant in variants
    ):
        raise UsageError(
            f"no selected variant implements the selected workloads ({', '.join(workloads)})"
        )
    workloads = _with_sizes(workloads, args)
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
        # its garbage collections at the end took seconds after a run at large sizes; the
        # exceptions a finalizer raises go to Python's own hook (see bench.safety.stopping)
        "-p",
        "no:unraisableexception",
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
    stopping.announce()
    with locked_output_folder(out, _say), staging_folder(out) as staging:
        try:
            _remove_left_behind()
            failed = _measure(args, out, staging, pytest_args)
            if failed is None:
                failed = _publish(staging, out, published)
        except KeyboardInterrupt:
            stopping.request()
            if published:
                _say(f"bench: interrupted; {out / RESULTS_FILE} and its report hold the new run")
                return stopping.exit_status()
            failed = _run_failed(2, out)
    if failed is not None:
        return failed
    print(f"results: {out / RESULTS_FILE}")
    print(f"report: {out / REPORT_FILE}")
    print(f"duration: {_duration(time.monotonic() - started)}")
    return 0


def _with_sizes(workloads: tuple[str, ...], args: argparse.Namespace) -> tuple[str, ...]:
    """The selected workloads that have a size to run at, before any server is started; a
    usage error when none has (a concurrent workload's sizes are numbers of workers)."""
    sizes = args.sizes or (QUICK_SIZES if args.quick else DEFAULT_SIZES)
    kept = tuple(
        name
        for name in workloads
        if sizes_for(WORKLOADS[name], sizes, given=bool(args.sizes), quick=args.quick)
    )
    left_out = [name for name in workloads if name not in kept]
    reason = f"its sizes are numbers of workers, 1 to {MAX_WORKERS}"
    if not kept:
        raise UsageError(
            f"--sizes {','.join(map(str, sizes))}: no size fits {left_out[0]} ({reason})"
        )
    for name in left_out:
        _say(f"bench: {name} is left out: {reason}")
    return kept


def _publish(staging: Path, out: Path, published: list[bool]) -> int | None:
    """The report and charts drawn beside the new results, then all three moved into OUT
    together; None when done (``published`` then says so), else the exit status (nothing in
    OUT changed)."""
    from bench.report.document import ReportError, draw_report
    from bench.results.load import load_results
    from bench.results.output_folder import publish

    try:
        os.chmod(staging / RESULTS_FILE, _ordinary_file_mode())
        draw_report(load_results(staging), staging)
        publish(staging, out, files_made(staging))
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
        if stopping.requested():
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
    if stopping.requested() or exit_code == 2:  # pytest's "interrupted"
        _say(f"bench: interrupted; {kept}")
        return stopping.exit_status()
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
    from bench.report.document import ReportError, write_report

    folder: Path = args.results_dir
    try:
        if (folder / RESULTS_FILE).is_file():  # else the missing results are the error
            check_output_folder(folder, force=args.force, option="")
        # a run writing into the folder must not have its report replaced under it
        with locked_output_folder(folder, _say) if folder.is_dir() else _nothing():
            written = write_report(folder)
    except ReportError as exc:
        _say(f"bench: error: {exc}")
        return EXIT_USAGE
    print(f"report: {written}")
    return 0


def command_compare(args: argparse.Namespace) -> int:
    from bench.report.compare import compare_runs
    from bench.report.document import ReportError

    try:
        print(compare_runs(args.run_a, args.run_b), end="")
    except ReportError as exc:
        _say(f"bench: error: {exc}")
        return EXIT_USAGE
    return 0


def command_statements(args: argparse.Namespace) -> int:
    from bench.cli.statements import print_statements

    variants = tuple(dict.fromkeys(args.variant or VARIANTS))
    if not any(load_variant(variant).implements(args.workload) for variant in variants):
        raise UsageError(f"no selected variant implements {args.workload}")
    kind = backend_type(args.backend)
    if not any(runs_on(variant, kind.name) for variant in variants):
        raise UsageError(
            f"the selected variants ({', '.join(variants)}) do not run on {kind.title}; "
            f"{variants[0]} runs on {', '.join(_backends_of(variants[0]))}"
        )
    stopping.announce()
    if kind.needs_server:
        _remove_left_behind()
    with _server(kind, args, required=True, skipped=[]) as server:
        assert server is not None
        try:
            print_statements(args.workload, kind, args.size, variants, server)
            # a Ctrl-C lost in a finalizer: the statements were not all shown
            stopping.raise_if_requested()
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
