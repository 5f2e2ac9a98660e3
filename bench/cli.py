"""The command line: ``python -m bench run|report|statements|list``.

Bad input ends with one line on stderr and exit status 2; an interrupted or failed run leaves
the previous ``benchmarks.json`` as it was.
"""

from __future__ import annotations

import argparse
import os
import shlex
import signal
import sys
import tempfile
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import ExitStack, contextmanager
from pathlib import Path
from typing import NoReturn

from bench.postgres import (
    URL_ENV,
    PostgresError,
    PostgresServer,
    PostgresUnavailable,
    provide_postgres,
    server_version,
)
from bench.workloads import DEFAULT_SIZES, QUICK_SIZES, WORKLOADS
from implementations.contract import BACKENDS
from implementations.registry import VARIANTS, load_variant

BENCHMARKS_DIR = Path(__file__).parent / "benchmarks"
DEFAULT_OUT = Path("results/latest")
RESULTS_FILE = "benchmarks.json"

EXIT_USAGE = 2
EXIT_FAILED = 1
EXIT_INTERRUPTED = 130


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
    from bench.fix_cells import parse_sizes

    try:
        return parse_sizes(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def _size(text: str) -> int:
    sizes = _sizes(text)
    if len(sizes) != 1:
        raise argparse.ArgumentTypeError(f"{text!r} is not one positive whole number")
    return sizes[0]


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
        "--postgres-url", help="use this PostgreSQL server (default: $BENCH_POSTGRES_URL)"
    )
    run.add_argument("--out", type=Path, default=DEFAULT_OUT, help=f"default {DEFAULT_OUT}")

    report = commands.add_parser("report", help="charts and REPORT.md from benchmarks.json")
    report.add_argument("results_dir", type=Path)

    statements = commands.add_parser("statements", help="the SQL each variant emits")
    statements.add_argument("--workload", required=True, type=_names("workload", tuple(WORKLOADS)))
    statements.add_argument("--backend", choices=BACKENDS, default="sqlite")
    statements.add_argument("--size", type=_size, default=3)
    statements.add_argument(
        "--variant", nargs="+", action="extend", type=_names("variant", tuple(VARIANTS))
    )
    statements.add_argument("--postgres-url", help="default: $BENCH_POSTGRES_URL")

    commands.add_parser("list", help="workloads, variants and backends")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    signal.signal(signal.SIGTERM, _terminate)
    try:
        args = build_parser().parse_args(argv)
        return int(COMMANDS[args.command](args))
    except UsageError as exc:
        print(f"bench: error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except KeyboardInterrupt:
        print("bench: interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED


def _terminate(signum: int, frame: object) -> None:
    # unwinds like Ctrl-C, so whatever was started is stopped on the way out
    raise KeyboardInterrupt


def _postgres_url(args: argparse.Namespace) -> str | None:
    return args.postgres_url or os.environ.get(URL_ENV) or None


@contextmanager
def _postgres(
    args: argparse.Namespace, required: bool, skipped: list[str] | None = None
) -> Iterator[PostgresServer | None]:
    """The PostgreSQL server for this command; None, with the reason added to ``skipped``,
    when it is not required and none can be had."""

    with ExitStack() as stack:
        try:
            server = stack.enter_context(
                provide_postgres(_postgres_url(args), note=lambda line: _say(f"postgres: {line}"))
            )
        except PostgresUnavailable as exc:
            if required:
                raise UsageError(str(exc)) from None
            _say(f"postgres: skipped: {exc}")
            if skipped is not None:
                skipped.append(str(exc))
            yield None
            return
        except PostgresError as exc:
            raise UsageError(str(exc)) from None
        try:
            version = server_version(server.url)
        except PostgresError as exc:
            raise UsageError(str(exc)) from None
        _say(f"postgres: PostgreSQL {version}, {server.provisioned_by}, at {server.masked_url}")
        yield server


def _say(line: str) -> None:
    print(line, file=sys.stderr, flush=True)


# --- run -----------------------------------------------------------------------------------------


def _writable_folder(folder: Path) -> Path:
    if folder.exists() and not folder.is_dir():
        raise UsageError(f"cannot write results to {folder}: it is a file, not a folder")
    try:
        folder.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=folder, prefix=".write-test-"):
            pass
    except OSError as exc:
        raise UsageError(f"cannot write results to {folder}: {exc.strerror or exc}") from None
    return folder


def command_run(args: argparse.Namespace) -> int:
    started = time.monotonic()
    out = _writable_folder(args.out)
    requested = BACKENDS if args.backend == "all" else (args.backend,)
    workloads = tuple(dict.fromkeys(args.workload or WORKLOADS))
    variants = tuple(dict.fromkeys(args.variant or VARIANTS))
    if not any(
        load_variant(variant).implements(workload) for workload in workloads for variant in variants
    ):
        raise UsageError(
            f"no selected variant implements the selected workloads ({', '.join(workloads)})"
        )
    command = _reproduce_command(args)

    pytest_args = [
        str(BENCHMARKS_DIR),
        "-q",
        "--benchmark-quiet",
        "-W",
        "ignore::pytest_benchmark.logger.PytestBenchmarkWarning",
        f"--bench-command={command}",
        *(f"--bench-workload={name}" for name in workloads),
        *(f"--bench-variant={name}" for name in variants),
    ]
    if args.sizes:
        pytest_args.append(f"--bench-sizes={','.join(map(str, args.sizes))}")
    if args.quick:
        pytest_args.append("--bench-quick")

    with ExitStack() as stack:
        backends = []
        for backend in requested:
            if backend == "postgres":
                skipped: list[str] = []
                server = stack.enter_context(
                    _postgres(args, required=args.backend == "postgres", skipped=skipped)
                )
                if server is None:
                    pytest_args += [f"--bench-note=PostgreSQL was skipped: {s}" for s in skipped]
                    continue
                pytest_args += [
                    f"--postgres-url={server.url.render_as_string(hide_password=False)}",
                    f"--postgres-provisioned-by={server.provisioned_by}",
                ]
            backends.append(backend)
        pytest_args += [f"--bench-backend={name}" for name in backends]

        partial = _partial_results_file(out)
        try:
            exit_code = _run_pytest([*pytest_args, f"--benchmark-json={partial}"])
            if exit_code != 0:
                return _run_failed(exit_code, out)
            os.replace(partial, out / RESULTS_FILE)
        finally:
            if os.path.exists(partial):
                os.unlink(partial)

    print(f"results: {out / RESULTS_FILE}")
    report_code = _write_report(out)
    print(f"duration: {_duration(time.monotonic() - started)}")
    return report_code


def _partial_results_file(folder: Path) -> str:
    """An empty file next to where the results go, with a normal file's permissions
    (mkstemp's are owner-only), renamed into place only when the run succeeds."""
    descriptor, path = tempfile.mkstemp(dir=folder, prefix=".benchmarks-", suffix=".json")
    os.close(descriptor)
    umask = os.umask(0)
    os.umask(umask)
    os.chmod(path, 0o666 & ~umask)
    return path


def _run_pytest(arguments: list[str]) -> int:
    import pytest

    return int(pytest.main(arguments))


def _run_failed(exit_code: int, out: Path) -> int:
    kept = (
        f"{out / RESULTS_FILE} was left as it was"
        if (out / RESULTS_FILE).exists()
        else "no results were written"
    )
    if exit_code == 2:  # pytest's "interrupted"
        _say(f"bench: interrupted; {kept}")
        return EXIT_INTERRUPTED
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
    return shlex.join(parts)


def _duration(seconds: float) -> str:
    minutes, seconds = divmod(seconds, 60)
    return f"{int(minutes)} min {seconds:.1f} s" if minutes else f"{seconds:.1f} s"


def _write_report(folder: Path) -> int:
    from bench.report import ReportError, write_report

    try:
        written = write_report(folder)
    except ReportError as exc:
        _say(f"bench: error: {exc}")
        return EXIT_USAGE
    print(f"report: {written}")
    return 0


# --- report, statements, list -------------------------------------------------------------------


def command_report(args: argparse.Namespace) -> int:
    return _write_report(args.results_dir)


def command_statements(args: argparse.Namespace) -> int:
    from bench.statements import print_statements

    variants = tuple(dict.fromkeys(args.variant or VARIANTS))
    with _postgres(args, required=True) if args.backend == "postgres" else _nothing() as server:
        print_statements(args.workload, args.backend, args.size, variants, server)
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
        print(f"  {name:<22}{variant.label()}\n  {'':<22}({scope})")
    print("\nbackends:")
    print(f"  {'sqlite':<22}a SQLite database file in a temporary folder (always available)")
    print(
        f"  {'postgres':<22}--postgres-url / $BENCH_POSTGRES_URL, else a testcontainers "
        "PostgresContainer, else a throwaway cluster from local server binaries"
    )
    return 0


COMMANDS: dict[str, Callable[[argparse.Namespace], int]] = {
    "run": command_run,
    "report": command_report,
    "statements": command_statements,
    "list": command_list,
}
