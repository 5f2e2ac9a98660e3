"""Where a cell's time goes, by layer: executions of their own, untimed, watched by a stack
sampler (py-spy) from outside the process.

What is exact is measured on executions that nothing watches: the benchmark's timed rounds read
the CPU time of the thread that ran each (``time.thread_time``, read outside the timed
interval). An execution's median wall time splits into its CPU time and ``waiting`` (the time
off the CPU: the server, the network, the disk) as its rounds' did. Only the CPU time is shared
out between the layers, as the samples of other executions fell.

py-spy reads the process's Python stacks from another process, 400 times a second, and keeps
the samples in which the thread was running. It stops the process for each sample: reading it
while it runs (``--nonblocking``) failed on most samples of fast-changing code (the ORM's: 276
failed reads for 166 samples), and so undercounted the deep Python layers against the shallow
ones by 5 to 7 points on synthetic code. The stops slow the watched executions; at this rate,
evenly enough (1 to 3 points, see ``SAMPLE_RATE``), and their own timings are not used. An
in-process profiler hooked on every call (cProfile, pyinstrument) slowed the ORM's calls by 1.8
to 2 times and the raw driver's by 1.25: overstating every Python layer against C and I/O.

A sample belongs to the innermost frame of its stack that is in a known layer (the frames of
the standard library and of the harness belong to whatever called them), with two rules for
code compiled in C, which has no Python frame of its own:

- a sample whose innermost frame is at a line calling a DB-API method (``execute``,
  ``fetchall``, ``commit``, ...) is the driver's: the frame is waiting for that call, and only
  a compiled driver (``sqlite3``, with SQLite's engine in it) is called without a Python frame;
- a sample whose innermost frame is an asyncio transport handing bytes to its protocol is the
  driver's: asyncpg's protocol is compiled, and runs as the event loop's callback.

SQLAlchemy's own compiled parts (its result rows) show in the frame that called them: the
engine's, or the variant's as it iterates a result.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import functools
import gc
import linecache
import os
import re
import selectors
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bench.results.record import LAYERS
from bench.safety import stopping
from bench.safety.leftovers import owned_prefix

#: samples a second. Each stops the process for a moment; at 1000 a second the stops slowed
#: Python code more than C code, and a synthetic driver's share fell by 8 to 12 points; at 400,
#: by 1 to 3 (at 100, within 2 either way)
SAMPLE_RATE = 400
#: how long the sampler may take to attach, and to write its samples once stopped
SAMPLER_SECONDS = 15.0
#: a stack is what py-spy's raw format writes: frames, outermost first, as "function (file:line)"
Stack = tuple[str, ...]

#: where a frame's file lies, and its layer; the first match wins, from the top
_LAYER_OF_PATH: tuple[tuple[str, str], ...] = (
    # SQLAlchemy's bridge from its synchronous code to the event loop, through greenlet
    ("/sqlalchemy/util/_concurrency_py3k.py", "event_loop"),
    ("/sqlalchemy/ext/asyncio/session.py", "orm"),
    ("/sqlalchemy/ext/asyncio/scoping.py", "orm"),
    ("/sqlalchemy/orm/", "orm"),
    ("/sqlalchemy/", "core"),
    ("/greenlet/", "event_loop"),
    ("/asyncio/", "event_loop"),
    ("/selectors.py", "event_loop"),
    ("/psycopg/", "driver"),
    ("/psycopg_binary/", "driver"),
    ("/psycopg_c/", "driver"),
    ("/asyncpg/", "driver"),
    ("/pymysql/", "driver"),
    ("/sqlite3/", "driver"),
    ("/socket.py", "driver"),
    ("/ssl.py", "driver"),
    ("/implementations/", "variant"),
)
#: this module's file as frames name it, and the function every sampled execution runs in
_THIS_FILE = "bench/measure/layers.py"
_EXECUTION_FRAME = "_one_execution"
_FRAME = re.compile(r"^(?P<function>.*) \((?P<file>.*):(?P<line>\d+)\)$")
#: a line calling a DB-API method, or an asyncio transport calling its protocol
_CALLS_DRIVER = re.compile(
    r"\.(execute|executemany|fetchall|fetchone|fetchmany|commit|rollback)\(|\b_protocol\."
)


class SamplerUnavailable(Exception):
    """py-spy could not read this process (not installed, or not permitted); the message says
    why, in one line."""


def parse_frame(frame: str) -> tuple[str, str, int]:
    """A frame of py-spy's raw format: its function, file and line (0 when it has none)."""
    match = _FRAME.match(frame)
    if match is None:
        return frame, "", 0
    return match["function"], match["file"], int(match["line"])


def layer_of_file(path: str) -> str | None:
    for fragment, layer in _LAYER_OF_PATH:
        if fragment in path:
            return layer
    return None


def _calls_driver(path: str, line: int) -> bool:
    return bool(line) and _CALLS_DRIVER.search(linecache.getline(path, line)) is not None


def execution_frames(stack: Stack) -> Stack | None:
    """The frames of a sample inside an execution (those below :func:`_one_execution`), or
    None for a sample of the harness's own work between executions (a reset). A sample in a
    greenlet has only the greenlet's frames, and only executions run greenlets."""
    for index, frame in enumerate(stack):
        function, path, _ = parse_frame(frame)
        if path.endswith(_THIS_FILE):
            if function == _EXECUTION_FRAME:
                return stack[index + 1 :]
            if index == len(stack) - 1 or not parse_frame(stack[index + 1])[1].endswith(_THIS_FILE):
                return None  # in the sampling loop, not in an execution
    return stack


def layer_of_stack(stack: Stack) -> str | None:
    """The layer a sample belongs to, or None for one of the harness's own work."""
    frames = execution_frames(stack)
    if frames is None:
        return None
    innermost = True
    for frame in reversed(frames):
        _, path, line = parse_frame(frame)
        if innermost and _calls_driver(path, line):
            return "driver"
        innermost = False
        layer = layer_of_file(path)
        if layer is not None:
            return layer
    return None


def _py_spy() -> str:
    """The py-spy beside this Python (the environment's), or the one on PATH."""
    beside = Path(sys.executable).with_name("py-spy")
    if beside.exists():
        return str(beside)
    found = shutil.which("py-spy")
    if found is None:
        raise SamplerUnavailable("py-spy is not installed (pip install py-spy)")
    return found


def _allow_reading_by_children() -> None:
    """Where the kernel lets a process read only its descendants' memory (Yama's ptrace
    scope 1, Ubuntu's default), let this process's children read it: py-spy is a child."""
    if not sys.platform.startswith("linux"):
        return
    name = ctypes.util.find_library("c")
    if name is None:
        return
    pr_set_ptracer, pr_set_ptracer_any = 0x59616D61, ctypes.c_ulong(-1).value
    ctypes.CDLL(name, use_errno=True).prctl(pr_set_ptracer, pr_set_ptracer_any, 0, 0, 0)


class StackSampler:
    """py-spy sampling this process while the ``with`` block runs; :attr:`stacks` then holds
    the samples of the thread that entered it, each stack with its count."""

    def __init__(self, rate: int = SAMPLE_RATE) -> None:
        self.rate = rate
        self.stacks: Counter[Stack] = Counter()
        self._process: subprocess.Popen[str] | None = None
        self._folder: str | None = None

    def __enter__(self) -> StackSampler:
        command = _py_spy()
        _allow_reading_by_children()
        self._thread = threading.get_native_id()
        # named as the run's other temporary folders: a killed run's is removed by the next
        # run, and a second Ctrl-C removes it at once
        self._folder = tempfile.mkdtemp(prefix=owned_prefix("bench-stacks-"))
        self._forget_folder = stopping.remove_at_once(Path(self._folder))
        self._output = os.path.join(self._folder, "stacks.txt")
        # py-spy stops on the terminal's Ctrl-C as this process does, and ends when it ends
        self._process = subprocess.Popen(
            [
                command,
                "record",
                "--pid",
                str(os.getpid()),
                "--rate",
                str(self.rate),
                "--format",
                "raw",
                "--output",
                self._output,
                "--full-filenames",
                "--threads",
            ],
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            text=True,
        )
        try:
            self._wait_until_sampling(self._process)
        except BaseException:
            self._end()
            self._remove_folder()
            raise
        return self

    def _wait_until_sampling(self, process: subprocess.Popen[str]) -> None:
        assert process.stdout is not None
        with selectors.DefaultSelector() as selector:
            selector.register(process.stdout, selectors.EVENT_READ)
            if not selector.select(SAMPLER_SECONDS):
                raise SamplerUnavailable(f"py-spy did not start in {SAMPLER_SECONDS:g} s")
        line = process.stdout.readline()
        if line.startswith("py-spy> Sampling process"):
            return
        said = [line, *process.stdout.readlines()]
        reason = next((text.strip() for text in said if text.strip()), "no reason given")
        raise SamplerUnavailable(f"py-spy cannot read this process: {reason}")

    def __exit__(self, *exc_info: object) -> None:
        self._end()
        if exc_info[0] is None:
            self.stacks = self._read()
        self._remove_folder()

    def _end(self) -> None:
        process, self._process = self._process, None
        if process is None:
            return
        if process.poll() is None:
            process.send_signal(signal.SIGINT)
        try:
            process.communicate(timeout=SAMPLER_SECONDS)
        except subprocess.TimeoutExpired:
            process.kill()
            process.communicate()

    def _read(self) -> Counter[Stack]:
        mine = f"thread ({self._thread})"
        stacks: Counter[Stack] = Counter()
        try:
            with open(self._output, encoding="utf-8") as lines:
                for text in lines:
                    frames, _, count = text.rstrip("\n").rpartition(" ")
                    stack = tuple(frames.split(";"))
                    if stack and stack[0].startswith(mine) and count.isdigit():
                        stacks[stack[1:]] += int(count)
        except FileNotFoundError:
            raise SamplerUnavailable("py-spy wrote no samples") from None
        return stacks

    def _remove_folder(self) -> None:
        if self._folder is not None:
            shutil.rmtree(self._folder, ignore_errors=True)
            self._forget_folder()
            self._folder = None


@dataclass
class LayerSampling:
    """The run's stack sampling: once py-spy could not read the process, why (and the cells
    after are not sampled either)."""

    unavailable: str | None = None


@dataclass(frozen=True)
class LayerSamples:
    """The samples of the thread that ran a cell's executions under the sampler (the harness's
    own work left out), and how many executions they were taken in."""

    samples: Mapping[Stack, int]
    executions: int

    @functools.cached_property
    def by_layer(self) -> Counter[str]:
        """The samples of each layer (every stack read once, however often it is asked)."""
        by_layer: Counter[str] = Counter()
        for stack, count in self.samples.items():
            layer = layer_of_stack(stack)
            if layer is not None:
                by_layer[layer] += count
        return by_layer

    @property
    def sample_count(self) -> int:
        return sum(self.by_layer.values())

    def time_by_layer(self, seconds: float, cpu_seconds: float) -> dict[str, float]:
        """An execution of ``seconds`` (wall) of which ``cpu_seconds`` on the CPU, in layers:
        the CPU time shared out as the samples fell, the rest ``waiting``. They add up to
        ``seconds``."""
        by_layer = self.by_layer
        total = sum(by_layer.values())
        if not total:
            # no sample landed in the executions: their CPU time cannot be shared out
            raise SamplerUnavailable("py-spy took no sample of the executions")
        cpu = min(cpu_seconds, seconds)
        layers = dict.fromkeys(LAYERS, 0.0)
        for layer, count in by_layer.items():
            layers[layer] = cpu * count / total
        layers["waiting"] = seconds - cpu
        return layers

    def heaviest_functions(self, count: int = 15) -> list[tuple[str, str, float]]:
        """The functions the CPU samples landed in (their own code and the C code they call
        directly): the function with its file, its layer and its share of the samples."""
        by_function: Counter[tuple[str, str]] = Counter()
        layers: dict[tuple[str, str], str] = {}
        for stack, samples in self.samples.items():
            layer = layer_of_stack(stack)
            if layer is None or not stack:
                continue
            function, path, _ = parse_frame(stack[-1])
            key = (function, _short_path(path))
            by_function[key] += samples
            layers[key] = layer
        total = sum(by_function.values()) or 1
        return [
            (f"{function} ({path})", layers[(function, path)], samples / total)
            for (function, path), samples in by_function.most_common(count)
        ]

    def collapsed_stacks(self) -> Iterator[str]:
        """The samples in the collapsed-stack format that speedscope and flamegraph.pl read:
        one line per stack, frames outermost first, then its count."""
        for stack, count in sorted(self.samples.items()):
            frames = execution_frames(stack)
            if frames and layer_of_stack(stack) is not None:
                yield f"{';'.join(frames)} {count}"


def _short_path(path: str) -> str:
    """A file as a reader knows it: from its package down (``sqlalchemy/orm/loading.py``)."""
    for marker in ("/site-packages/", "/dist-packages/", "/lib/python"):
        if marker in path:
            tail = path.split(marker, 1)[1]
            return tail.split("/", 1)[1] if marker == "/lib/python" and "/" in tail else tail
    parts = Path(path).parts
    for anchor in ("implementations", "bench"):
        if anchor in parts:
            return "/".join(parts[parts.index(anchor) :])
    return path


def sample_layers(
    run: Callable[[Any], Any],
    argument: Any,
    seconds: float,
    before_each: Callable[[], None] | None = None,
    check: Callable[[Any], None] | None = None,
    rate: int = SAMPLE_RATE,
) -> LayerSamples:
    """Executions of ``run(argument)`` under the sampler until they have taken ``seconds``,
    ``before_each`` (a reset) before each, its samples left out; ``check`` sees each result."""
    with StackSampler(rate) as sampler:
        executions, _, _ = _executions(run, argument, seconds, before_each, check)
    return LayerSamples(sampler.stacks, executions)


@dataclass(frozen=True)
class LayerProfile:
    """A cell's time by layer, measured on its own: executions left alone (their mean wall
    and CPU seconds), then executions under the sampler (their samples)."""

    executions: int
    seconds: float
    cpu_seconds: float
    sampled: LayerSamples

    def time_by_layer(self) -> dict[str, float]:
        return self.sampled.time_by_layer(self.seconds, self.cpu_seconds)


def profile_layers(
    run: Callable[[Any], Any],
    argument: Any,
    seconds: float,
    before_each: Callable[[], None] | None = None,
    check: Callable[[Any], None] | None = None,
    rate: int = SAMPLE_RATE,
) -> LayerProfile:
    """The time by layer of ``run(argument)`` with no timed rounds to take it from: executions
    left alone for ``seconds``, then under the sampler for ``seconds``."""
    executions, wall, cpu = _executions(run, argument, seconds, before_each, check)
    sampled = sample_layers(run, argument, seconds, before_each, check, rate)
    return LayerProfile(executions, wall / executions, cpu / executions, sampled)


def _executions(
    run: Callable[[Any], Any],
    argument: Any,
    seconds: float,
    before_each: Callable[[], None] | None,
    check: Callable[[Any], None] | None,
) -> tuple[int, float, float]:
    """Executions until they have taken ``seconds`` (at least one): their number, and their
    wall and CPU seconds."""
    executions = 0
    wall = cpu = 0.0
    while executions == 0 or wall < seconds:
        if before_each is not None:
            before_each()
        # as before every timed round: no garbage of the last execution left to collect
        gc.collect()
        result, wall_seconds, cpu_seconds = _one_execution(run, argument)
        wall += wall_seconds
        cpu += cpu_seconds
        executions += 1
        if check is not None:
            check(result)
    return executions, wall, cpu


def _one_execution(run: Callable[[Any], Any], argument: Any) -> tuple[Any, float, float]:
    """One execution, its wall and CPU seconds: the samples in this frame are the execution's."""
    # the wall clock's reads enclose the CPU clock's: a read of the thread's CPU clock takes a
    # system call, which would otherwise count as CPU time beyond the wall time
    started = time.perf_counter()
    cpu_started = time.thread_time()
    result = run(argument)
    cpu_seconds = time.thread_time() - cpu_started
    return result, time.perf_counter() - started, cpu_seconds
