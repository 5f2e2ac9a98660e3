"""``python -m bench profile``: where one cell's time goes, by layer, with its heaviest
functions and its memory, as a person reads them in a terminal; ``--out FILE`` keeps the
samples as collapsed stacks, which speedscope (https://www.speedscope.app) and
``flamegraph.pl`` open.

The cell is verified first, then warmed up; its executions run from the workload's seed state
as the benchmark's do: some left alone (their wall and CPU time), then as many under the stack
sampler (their samples), then one traced for memory (:mod:`bench.measure.layers`,
:mod:`bench.measure.memory`).
"""

from __future__ import annotations

import argparse
import os
import tempfile
from pathlib import Path

from bench.backends import BackendType, backend_type
from bench.backends.servers import Server
from bench.cli.servers import on_one_server
from bench.cli.usage import UsageError, backends_of
from bench.measure.cells import Cell, Harness, VerificationError, check_result, runs_on
from bench.measure.groups import frozen_heap
from bench.measure.layers import LayerProfile, SamplerUnavailable, profile_layers
from bench.measure.memory import trace_memory
from bench.measure.workloads import WORKLOADS
from bench.results.record import LAYERS
from bench.safety import stopping
from implementations.registry import load_variant

#: executions before the measured ones: statement caches, the pool, the first connect
WARM_UP_EXECUTIONS = 3


def check_out_file(path: Path) -> None:
    """``--out`` names a new file in a folder that exists: nothing is overwritten."""
    if path.exists():
        raise UsageError(f"--out {path}: it exists; name a new file (nothing is overwritten)")
    folder = path.parent
    if not folder.is_dir():
        raise UsageError(f"--out {path}: the folder {folder} does not exist")
    if not os.access(folder, os.W_OK):
        raise UsageError(f"--out {path}: the folder {folder} is not writable")


def check_cell(workload: str, variant: str, kind: BackendType) -> None:
    if WORKLOADS[workload].kind == "concurrent":
        raise UsageError(
            f"{workload} runs on K workers, and profile watches one thread; "
            "profile another workload"
        )
    if not WORKLOADS[workload].implemented_by(load_variant(variant)):
        raise UsageError(f"{variant} does not implement {workload}")
    if not runs_on(variant, kind.name):
        raise UsageError(
            f"{variant} does not run on {kind.title}; it runs on {', '.join(backends_of(variant))}"
        )


def milliseconds(seconds: float) -> str:
    return f"{seconds * 1000:.3f}"


def describe(profile: LayerProfile, peak_bytes: int, rows: int, reads: bool) -> list[str]:
    layers = profile.time_by_layer()
    total = sum(layers.values())
    sampled = profile.sampled
    lines = [
        f"  {milliseconds(total)} ms per execution: the mean of {profile.executions} left "
        f"alone, {100 * (1 - layers['waiting'] / total):.0f} % of it on the CPU; its layers "
        f"from {sampled.sample_count} samples of {sampled.executions} more",
        "",
        f"  {'layer':<12}{'ms':>10}{'share':>8}",
    ]
    for layer in LAYERS:
        lines.append(
            f"  {layer:<12}{milliseconds(layers[layer]):>10}{100 * layers[layer] / total:>7.0f} %"
        )
    lines += ["", "  heaviest functions (of the samples on the CPU):"]
    for function, layer, share in sampled.heaviest_functions():
        lines.append(f"  {100 * share:6.1f} %  {layer:<11}{function}")
    per_row = f", {peak_bytes / rows:,.0f} bytes per row returned" if reads and rows else ""
    lines += ["", f"  memory: a peak of {peak_bytes:,} bytes in one execution{per_row}"]
    return lines


def profile_cell(
    cell: Cell, kind: BackendType, server: Server, seconds: float, out: Path | None
) -> None:
    workload = WORKLOADS[cell.workload]
    case = workload.case(cell.size)
    with kind.open(server) as backend:
        harness = Harness(backend)
        try:
            variant = load_variant(cell.variant)
            print(
                f"{cell.workload} at size {cell.size} on {kind.name} "
                f"{backend.describe()['version']}, {cell.variant}: {variant.label()}"
            )
            print(f"  how: {WORKLOADS[cell.workload].describe(variant)}")
            harness.verify(cell, case)
            run = harness.execution(cell)
            reset = (lambda: backend.reset(case.seed)) if workload.mutates else None

            def check(result: object) -> None:
                check_result(cell, case, result)

            for _ in range(WARM_UP_EXECUTIONS):
                stopping.raise_if_requested()
                if reset is not None:
                    reset()
                check(run(case.argument))
            backend.load_seed(case.seed)
            # the harness's own objects out of the collector's way, as in a run
            with frozen_heap():
                profile = profile_layers(run, case.argument, seconds, reset, check)
                peak = trace_memory(run, case.argument, reset, check)
        finally:
            harness.close()
    print("\n".join(describe(profile, peak, case.rows, workload.reads)))
    if out is not None:
        write_new_file(out, "".join(f"{line}\n" for line in profile.sampled.collapsed_stacks()))
        print(f"\nsamples: {out} (collapsed stacks: speedscope and flamegraph.pl open them)")


def write_new_file(path: Path, text: str) -> None:
    """``text`` into a new file at ``path``, whole or not at all: written beside it first,
    then linked to its name, which fails rather than replace a file made there meanwhile."""
    with tempfile.NamedTemporaryFile(
        "w", dir=path.parent, prefix=f".{path.name}.", delete=False
    ) as partial:
        partial.write(text)
    try:
        try:
            os.link(partial.name, path)
        except FileExistsError:
            raise UsageError(
                f"--out {path}: it exists; name a new file (nothing is overwritten)"
            ) from None
        except OSError:  # a file system without hard links
            if path.exists():
                raise UsageError(f"--out {path}: it exists; name a new file") from None
            os.rename(partial.name, path)
    finally:
        if os.path.exists(partial.name):
            os.unlink(partial.name)


def command_profile(args: argparse.Namespace) -> int:
    kind = backend_type(args.backend)
    check_cell(args.workload, args.variant, kind)
    out: Path | None = args.out
    if out is not None:
        check_out_file(out)
    size = args.size if WORKLOADS[args.workload].kind == "batch" else 1
    cell = Cell(args.workload, args.variant, kind.name, size)
    return on_one_server(
        kind,
        args,
        lambda server: profile_cell(cell, kind, server, args.seconds, out),
        failures=(VerificationError, SamplerUnavailable),
    )
