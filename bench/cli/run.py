"""``python -m bench run``: the run as one transaction. The selection is checked and built once,
the servers provided, the cells run by pytest (handed the selection and the servers as
plugins), the report drawn beside the new results in a staging folder, and all of it moved into
the output folder together; an interrupted or failed run leaves the previous results as they
were, and says so in one line.
"""

from __future__ import annotations

import argparse
import os
import shlex
import tempfile
import time
from collections.abc import Generator
from contextlib import ExitStack
from pathlib import Path

import pytest

from bench.backends import BACKENDS, LEFT_BEHIND, backend_types
from bench.backends.servers import ProvidedServers, Server
from bench.cli.servers import remove_left_behind_servers, server_for
from bench.cli.usage import EXIT_FAILED, EXIT_USAGE, UsageError, backends_of, say
from bench.measure.cells import runs_on
from bench.measure.sizes import DEFAULT_SIZES, MAX_WORKERS, QUICK_SIZES, sizes_for
from bench.measure.workloads import WORKLOADS
from bench.messages import first_line
from bench.plugin.selection import GivenSelection, Selection
from bench.results.output_folder import (
    REPORT_FILE,
    RESULTS_FILE,
    check_output_folder,
    files_made,
    locked_output_folder,
    staging_folder,
)
from bench.safety import stopping
from bench.safety.leftovers import owned_prefix
from implementations.registry import VARIANTS, load_variant

BENCHMARKS_DIR = Path(__file__).parent.parent / "benchmarks"

#: how the run has pytest run the cells
PYTEST_OPTIONS = (
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
)


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


def _measure(
    args: argparse.Namespace,
    out: Path,
    staging: Path,
    workloads: tuple[str, ...],
    variants: tuple[str, ...],
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
                server_for(kind, args, required=args.backend == kind.name, skipped=skipped)
            )
            if server is not None:
                servers[kind.name] = server
        selection = Selection.of(
            workloads=workloads,
            variants=variants,
            backends=[name for name in BACKENDS if name in servers],
            sizes=args.sizes,
            quick=args.quick,
            rtts=args.rtt or (),
            rates=args.rate or (),
            latency_budget_ms=args.latency_budget_ms,
            notes=skipped,
            command=_reproduce_command(args),
        )

        # pytest-benchmark's own storage (unused: the JSON goes where --out says)
        storage = stack.enter_context(
            tempfile.TemporaryDirectory(prefix=owned_prefix("bench-storage-"))
        )
        stack.callback(stopping.remove_at_once(Path(storage)))
        guard = _RunGuard()
        exit_code = _run_pytest(
            [
                str(BENCHMARKS_DIR),
                *PYTEST_OPTIONS,
                f"--benchmark-storage=file://{storage}",
                f"--benchmark-json={staging / RESULTS_FILE}",
            ],
            [guard, ProvidedServers(servers), GivenSelection(selection)],
        )
        if guard.refused:
            raise UsageError(guard.refused)
        for line in LEFT_BEHIND:
            say(f"bench: {line}")
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
        WORKLOADS[workload].implemented_by(load_variant(variant))
        for workload in workloads
        for variant in variants
    ):
        raise UsageError(
            f"no selected variant implements the selected workloads ({', '.join(workloads)})"
        )
    workloads = _with_sizes(workloads, args)
    backends = backend_types(None if args.backend == "all" else (args.backend,))
    if not any(runs_on(variant, kind.name) for variant in variants for kind in backends):
        raise UsageError(
            f"the selected variants ({', '.join(variants)}) run only on "
            + ", ".join(backends_of(variants[0]))
        )
    if args.rtt and not any(kind.networked for kind in backends):
        raise UsageError(
            "--rtt: no selected backend has a network to delay; choose from "
            + ", ".join(kind.name for kind in backend_types() if kind.networked)
        )

    published: list[bool] = []
    stopping.announce()
    with locked_output_folder(out, say), staging_folder(out) as staging:
        try:
            remove_left_behind_servers()
            failed = _measure(args, out, staging, workloads, variants)
            if failed is None:
                failed = _publish(staging, out, published)
        except KeyboardInterrupt:
            stopping.request()
            if published:
                say(f"bench: interrupted; {out / RESULTS_FILE} and its report hold the new run")
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
    usage error when none has (a concurrent workload's sizes are numbers of workers, an open
    loop's the rates of --rate), or when --rate or --latency-budget-ms has nothing to apply to."""
    sizes = args.sizes or (QUICK_SIZES if args.quick else DEFAULT_SIZES)
    rates = args.rate or ()
    if rates and not any(WORKLOADS[name].at_rate for name in workloads):
        at_rate = ", ".join(name for name, workload in WORKLOADS.items() if workload.at_rate)
        raise UsageError(f"--rate: the selected workloads do not include {at_rate}")
    if args.latency_budget_ms is not None and not rates:
        raise UsageError("--latency-budget-ms applies to the rates of --rate: give --rate too")

    def reason(name: str) -> str:
        if WORKLOADS[name].at_rate:
            return "its sizes are the rates of --rate"
        return f"its sizes are numbers of workers, 1 to {MAX_WORKERS}"

    kept = tuple(
        name
        for name in workloads
        if sizes_for(WORKLOADS[name], sizes, given=bool(args.sizes), quick=args.quick, rates=rates)
    )
    left_out = [name for name in workloads if name not in kept]
    if not kept:
        raise UsageError(
            f"--sizes {','.join(map(str, sizes))}: no size fits {left_out[0]} "
            f"({reason(left_out[0])})"
        )
    for name in left_out:
        # the open loop runs only when asked for with --rate: no line for it then
        if args.workload or not WORKLOADS[name].at_rate:
            say(f"bench: {name} is left out: {reason(name)}")
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
        say(f"bench: error: {exc}; {_kept(out)}")
        return EXIT_USAGE
    except OSError as exc:
        return _not_written(out, exc)
    return None


def _not_written(out: Path, error: OSError) -> int:
    kept = "the previous results were kept" if (out / RESULTS_FILE).exists() else "none exist"
    say(
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
        say(f"bench: interrupted; {kept}")
        return stopping.exit_status()
    if exit_code == 1:
        say(f"bench: some cells failed (see above); {kept}")
        return EXIT_FAILED
    if exit_code == 5:
        say(f"bench: error: nothing to run for this selection; {kept}")
        return EXIT_USAGE
    say(f"bench: error: the benchmark run stopped (pytest exit status {exit_code}); {kept}")
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
    if args.rate:
        parts += ["--rate", ",".join(map(str, args.rate))]
    if args.latency_budget_ms is not None:
        parts += ["--latency-budget-ms", f"{args.latency_budget_ms:g}"]
    return shlex.join(parts)


def _duration(seconds: float) -> str:
    minutes, seconds = divmod(seconds, 60)
    return f"{int(minutes)} min {seconds:.1f} s" if minutes else f"{seconds:.1f} s"
