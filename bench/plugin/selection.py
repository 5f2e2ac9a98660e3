"""The cells a run covers, as one typed :class:`Selection`, whose names, sizes and round-trip
times are checked here and nowhere else.

``python -m bench run`` builds it and hands it to the pytest session as a plugin
(:class:`GivenSelection`); ``pytest bench/benchmarks`` run directly builds it from the
``--bench-*`` options through the same checks (:mod:`bench.plugin.options`). Either way the
session keeps it in ``config.stash[SELECTION]``.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field

import pytest

from bench.backends import BACKENDS, backend_type
from bench.measure.cells import PROFILES, Cell, Profile, runs_on
from bench.measure.groups import DEFAULT_LATENCY_BUDGET_MS
from bench.measure.network import parse_rtts
from bench.measure.sizes import DEFAULT_SIZES, QUICK_SIZES, parse_rates, parse_sizes, sizes_for
from bench.measure.workloads import WORKLOADS
from implementations.registry import VARIANTS, load_variant


class SelectionError(argparse.ArgumentTypeError):
    """A name, size, round-trip time or rate that cannot be selected: one line, without the
    option it came from; ``kind`` says which (``workload``, ``variant``, ``backend``,
    ``sizes``, ``rtt``, ``rate``, ``latency-budget-ms``). Being argparse's own type error, the
    command line shows it as ``argument --OPTION: ...``; the pytest options as
    ``--bench-KIND: ...``."""

    def __init__(self, message: str, kind: str) -> None:
        super().__init__(message)
        self.kind = kind


def _known(kind: str) -> tuple[str, ...]:
    """The names of a kind, as registered now (a test may register a variant of its own)."""
    registries: dict[str, Mapping[str, object]] = {
        "workload": WORKLOADS,
        "variant": VARIANTS,
        "backend": BACKENDS,
    }
    return tuple(registries[kind])


def _unknown(what: str, kind: str) -> SelectionError:
    return SelectionError(f"unknown {what}; choose from {', '.join(_known(kind))}", kind)


def name_check(kind: str) -> Callable[[str], str]:
    """The check of one name of a kind (``workload``, ``variant``): the name itself, or
    SelectionError ("unknown workload 'x'; choose from ..."). The command line's type for each
    name given."""

    def check(name: str) -> str:
        if name not in _known(kind):
            raise _unknown(f"{kind} {name!r}", kind)
        return name

    check.__name__ = kind
    return check


def check_names(kind: str, names: Sequence[str]) -> None:
    """SelectionError naming every unknown name at once ("unknown x, y; choose from ...")."""
    unknown = [name for name in names if name not in _known(kind)]
    if unknown:
        raise _unknown(", ".join(unknown), kind)


def sizes_of(text: str) -> tuple[int, ...]:
    """ "1,100,1000" -> (1, 100, 1000); SelectionError for anything else."""
    try:
        return parse_sizes(text)
    except ValueError as exc:
        raise SelectionError(str(exc), "sizes") from None


def rates_of(text: str) -> tuple[int, ...]:
    """ "200,400,..." -> (200, 400, 800, ...), requests a second; SelectionError otherwise."""
    try:
        return parse_rates(text)
    except ValueError as exc:
        raise SelectionError(str(exc), "rate") from None


def latency_budget_of(text: str) -> float:
    """ "50" -> 50.0 ms, a positive number; SelectionError otherwise."""
    try:
        budget = float(text)
    except ValueError:
        budget = 0.0
    if not budget > 0 or budget == float("inf"):
        raise SelectionError(
            f"{text!r} is not a positive number of milliseconds", "latency-budget-ms"
        )
    return budget


def rtts_of(text: str) -> tuple[float, ...]:
    """ "1,10" -> (1.0, 10.0), round-trip times in ms; SelectionError for anything else."""
    try:
        return parse_rtts(text)
    except ValueError as exc:
        raise SelectionError(str(exc), "rtt") from None


@dataclass(frozen=True)
class Selection:
    """The cells a run covers. Its names are checked when it is made (SelectionError); its
    sizes and round-trip times come parsed by :func:`sizes_of` and :func:`rtts_of`."""

    workloads: tuple[str, ...] = tuple(WORKLOADS)
    variants: tuple[str, ...] = tuple(VARIANTS)
    backends: tuple[str, ...] = tuple(BACKENDS)
    sizes: tuple[int, ...] = DEFAULT_SIZES
    profile: Profile = PROFILES["default"]
    notes: tuple[str, ...] = field(default=())
    #: whether the sizes were asked for (then every variant runs at every one of them)
    sizes_given: bool = False
    #: the round-trip times (ms) the networked backends' cells also run at, through a delay
    #: proxy; with any, also at 0 ms through it (the proxy's own cost)
    rtts: tuple[float, ...] = ()
    #: the rates (requests a second) the open loop runs at, lowest first (none: it does not
    #: run), and the p99 latency in ms a style must keep to at one rate to run at the next
    rates: tuple[int, ...] = ()
    latency_budget_ms: float = DEFAULT_LATENCY_BUDGET_MS
    #: the command that makes this run again, when ``python -m bench run`` made it
    command: str | None = None

    def __post_init__(self) -> None:
        check_names("workload", self.workloads)
        check_names("variant", self.variants)
        check_names("backend", self.backends)

    @classmethod
    def of(
        cls,
        *,
        workloads: Sequence[str] = (),
        variants: Sequence[str] = (),
        backends: Sequence[str] = (),
        sizes: Sequence[int] | None = None,
        quick: bool = False,
        rtts: Sequence[float] = (),
        rates: Sequence[int] = (),
        latency_budget_ms: float | None = None,
        notes: Sequence[str] = (),
        command: str | None = None,
    ) -> Selection:
        """The selection of these names (none: every one), these sizes (none: the defaults,
        fewer when quick), with the quick profile or the default one."""
        return cls(
            workloads=tuple(workloads) or tuple(WORKLOADS),
            variants=tuple(variants) or tuple(VARIANTS),
            backends=tuple(dict.fromkeys(backends)) or tuple(BACKENDS),
            sizes=tuple(sizes) if sizes else (QUICK_SIZES if quick else DEFAULT_SIZES),
            profile=PROFILES["quick" if quick else "default"],
            notes=tuple(notes),
            sizes_given=bool(sizes),
            rtts=tuple(rtts),
            rates=tuple(rates),
            latency_budget_ms=latency_budget_ms or DEFAULT_LATENCY_BUDGET_MS,
            command=command,
        )

    def cells(self, workload: str) -> list[Cell]:
        if workload not in self.workloads:
            return []
        # the variants of one size form a group, timed together in alternation
        return [
            Cell(workload, variant, backend, size, rtt)
            for backend in self.backends
            for rtt in self.delays(backend)
            for size in sizes_for(
                WORKLOADS[workload],
                self.sizes,
                self.sizes_given,
                self.profile.name == "quick",
                self.rates,
            )
            for variant in self.variants
            if WORKLOADS[workload].implemented_by(load_variant(variant))
            and runs_on(variant, backend)
            and self._runs_at(variant, workload, size)
        ]

    def delays(self, backend: str) -> tuple[float | None, ...]:
        """None (direct), then the proxy's round-trip times, where the backend has a network."""
        if not self.rtts or not backend_type(backend).networked:
            return (None,)
        return (None, *sorted({0.0, *self.rtts}))

    def _runs_at(self, variant: str, workload: str, size: int) -> bool:
        # a style's largest default size is a batch size: not a number of workers or a rate
        largest = load_variant(variant).largest_default_size
        return (
            self.sizes_given
            or largest is None
            or WORKLOADS[workload].kind != "batch"
            or size <= largest
        )

    def size_limits(self) -> dict[str, int]:
        """The variants the default sizes were cut for, and their largest size."""
        limits = {}
        for variant in self.variants:
            largest = load_variant(variant).largest_default_size
            if not self.sizes_given and largest is not None and max(self.sizes) > largest:
                limits[variant] = largest
        return limits

    def not_applicable(self) -> list[dict[str, str]]:
        return [
            {"workload": workload, "variant": variant}
            for workload in self.workloads
            for variant in self.variants
            if not WORKLOADS[workload].implemented_by(load_variant(variant))
        ]


class GivenSelection:
    """A pytest plugin handed in by ``python -m bench run``: the selection it built, which the
    session uses instead of the ``--bench-*`` options."""

    def __init__(self, selection: Selection) -> None:
        self.selection = selection

    @staticmethod
    def find(plugins: Iterable[object]) -> Selection | None:
        """The selection one of a session's plugins hands in, if any does."""
        for plugin in plugins:
            if isinstance(plugin, GivenSelection):
                return plugin.selection
        return None


SELECTION = pytest.StashKey[Selection]()
