"""The command line: ``python -m bench run|report|compare|statements|profile|list``, parsed
and dispatched here, with the small commands (report, compare, list); the run is
:mod:`bench.cli.run`, the statements :mod:`bench.cli.statements`, the profile
:mod:`bench.cli.profile`.

Bad input ends with one line on stderr and exit status 2; an interrupted or failed run leaves
the previous ``benchmarks.json`` as it was.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import NoReturn

from bench.backends import BACKENDS, backend_types
from bench.backends.provide import URL_METAVAR, url_options
from bench.cli.profile import command_profile
from bench.cli.run import command_run
from bench.cli.statements import command_statements
from bench.cli.usage import EXIT_FAILED, EXIT_USAGE, UsageError, backends_of, say
from bench.measure.sizes import DEFAULT_SIZES, QUICK_SIZES
from bench.measure.workloads import WORKLOADS
from bench.plugin.selection import latency_budget_of, name_check, rates_of, rtts_of, sizes_of
from bench.results.output_folder import (
    RESULTS_FILE,
    FolderRefused,
    check_output_folder,
    locked_output_folder,
)
from bench.safety import stopping
from implementations.registry import VARIANTS, load_variant

DEFAULT_OUT = Path("results/latest")


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:
        raise UsageError(message)


def _folder(text: str) -> Path:
    if not text.strip():
        raise argparse.ArgumentTypeError("an empty path is not a folder")
    return Path(text)


def _size(text: str) -> int:
    sizes = sizes_of(text)
    if len(sizes) != 1:
        raise argparse.ArgumentTypeError(f"{text!r} is not one positive whole number")
    return sizes[0]


def _seconds(text: str) -> float:
    try:
        seconds = float(text)
    except ValueError:
        seconds = -1.0
    if not 0 < seconds <= 600:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number of seconds from 0 to 600")
    return seconds


def _add_server_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "-v",
        "--verbose",
        action="store_true",
        help="also say which ways of getting a server were passed over, and why",
    )
    for option in url_options():
        parser.add_argument(option.flag, dest=option.dest, metavar=URL_METAVAR, help=option.help)


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
    run.add_argument("--workload", nargs="+", action="extend", type=name_check("workload"))
    run.add_argument("--variant", nargs="+", action="extend", type=name_check("variant"))
    run.add_argument(
        "--sizes",
        type=sizes_of,
        help=f"comma-separated sizes (default {','.join(map(str, DEFAULT_SIZES))}; "
        f"--quick: {','.join(map(str, QUICK_SIZES))})",
    )
    run.add_argument("--quick", action="store_true", help="fewer sizes and rounds")
    run.add_argument(
        "--rtt",
        type=rtts_of,
        metavar="MS,...",
        help="also run the networked backends' cells through a proxy that adds these "
        "round-trip times in ms (and 0, its own cost), e.g. 1,10",
    )
    run.add_argument(
        "--rate",
        type=rates_of,
        metavar="R,...",
        help="also run requests_at_rate: requests arriving R a second on a fixed schedule "
        "(an open loop), at each rate given; a list ending in ... goes on by the same factor, "
        "each style until its p99 latency passes the budget, e.g. 200,400,...",
    )
    run.add_argument(
        "--latency-budget-ms",
        type=latency_budget_of,
        metavar="MS",
        help="the p99 latency a style must keep to at one rate to be run at the next (default 50)",
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
    statements.add_argument("--workload", required=True, type=name_check("workload"))
    statements.add_argument("--backend", choices=tuple(BACKENDS), default=next(iter(BACKENDS)))
    statements.add_argument("--size", type=_size, default=3)
    statements.add_argument("--variant", nargs="+", action="extend", type=name_check("variant"))
    _add_server_options(statements)

    profile = commands.add_parser("profile", help="where one cell's time goes, by layer")
    profile.add_argument("--workload", required=True, type=name_check("workload"))
    profile.add_argument("--variant", required=True, type=name_check("variant"))
    profile.add_argument("--backend", choices=tuple(BACKENDS), default=next(iter(BACKENDS)))
    profile.add_argument("--size", type=_size, default=100)
    profile.add_argument(
        "--seconds",
        type=_seconds,
        default=2.0,
        help="of executions left alone, and as long again under the sampler (default 2)",
    )
    profile.add_argument(
        "--out",
        type=_folder,
        metavar="FILE",
        help="a new file for the samples, as collapsed stacks (speedscope, flamegraph.pl)",
    )
    _add_server_options(profile)

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


# --- report, compare, list ---------------------------------------------------------------------


def command_report(args: argparse.Namespace) -> int:
    from bench.report.document import ReportError, write_report

    folder: Path = args.results_dir
    try:
        if (folder / RESULTS_FILE).is_file():  # else the missing results are the error
            check_output_folder(folder, force=args.force, option="")
        # a run writing into the folder must not have its report replaced under it
        with locked_output_folder(folder, say) if folder.is_dir() else _nothing():
            written = write_report(folder)
    except ReportError as exc:
        say(f"bench: error: {exc}")
        return EXIT_USAGE
    print(f"report: {written}")
    return 0


def command_compare(args: argparse.Namespace) -> int:
    from bench.report.compare import compare_runs
    from bench.report.document import ReportError

    try:
        print(compare_runs(args.run_a, args.run_b), end="")
    except ReportError as exc:
        say(f"bench: error: {exc}")
        return EXIT_USAGE
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
        implemented = [w for w in WORKLOADS if WORKLOADS[w].implemented_by(variant)]
        scope = "all workloads" if len(implemented) == len(WORKLOADS) else ", ".join(implemented)
        where = backends_of(name)
        if len(where) < len(BACKENDS):
            scope += f"; on {', '.join(where)} only"
        print(f"  {name:<22}{variant.label()}\n  {'':<22}({scope})")
    print("\nbackends:")
    for kind in backend_types():
        print(f"  {kind.name:<22}{kind.title}\n  {'':<22}({kind.provisioning})")
    return 0


COMMANDS: dict[str, Callable[[argparse.Namespace], int]] = {
    "run": command_run,
    "report": command_report,
    "compare": command_compare,
    "statements": command_statements,
    "profile": command_profile,
    "list": command_list,
}
