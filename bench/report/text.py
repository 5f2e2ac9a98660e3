"""Words and sentences that more than one part of the report, and the comparison of two runs,
write the same way: a count with its noun, and the machine's noise over the run with a word on
whether it was quiet enough to trust."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from bench.results.model import format_seconds
from bench.results.statistics import NOISY_IQR


def plural(count: int, noun: str) -> str:
    return f"{count} {noun}" if count == 1 else f"{count} {noun}s"


@dataclass(frozen=True)
class Calibration:
    """A fixed CPU loop timed before the cells and after them: the machine's speed and noise."""

    before_s: float
    before_iqr: float
    after_s: float
    after_iqr: float
    load_before: str
    load_after: str

    @property
    def change(self) -> float:
        return self.after_s / self.before_s - 1

    @property
    def spread(self) -> float:
        """The wider of the two interquartile ranges, as a share of its median."""
        return max(self.before_iqr, self.after_iqr)

    @property
    def verdict(self) -> str:
        """Whether the spread is a worry, against the threshold that marks a noisy cell."""
        if self.spread <= NOISY_IQR:
            return f"steady: a cell counts as noisy past {NOISY_IQR:.0%}"
        return (
            f"noisy: past the {NOISY_IQR:.0%} at which a cell counts as noisy, so this run's "
            "times, and less its ratios, are less sure"
        )


def calibration(harness: dict[str, Any]) -> Calibration | None:
    """The run's calibration figures; None where the JSON lacks them (or holds other types)."""
    noise = harness.get("noise") or {}
    start, end = noise.get("start"), noise.get("end")
    if not (isinstance(start, dict) and isinstance(end, dict)):
        return None
    try:
        before, after = start["calibration"], end["calibration"]
        return Calibration(
            float(before["median_s"]),
            float(before["iqr_s"]) / float(before["median_s"]),
            float(after["median_s"]),
            float(after["iqr_s"]) / float(after["median_s"]),
            _load(start),
            _load(end),
        )
    # a field of another type than the harness writes (a text where a number was): no figure
    except (KeyError, TypeError, ValueError, ZeroDivisionError):
        return None


def noise_lines(harness: dict[str, Any]) -> list[str]:
    """The machine's load and speed at the start and end of the run, and whether the loop's
    spread is a worry."""
    figures = calibration(harness)
    if figures is None:
        return []
    return [
        f"Machine noise: load average {figures.load_before} at the start and "
        f"{figures.load_after} at the end; a fixed CPU loop took "
        f"{format_seconds(figures.before_s)} (interquartile range {figures.before_iqr:.0%} of "
        f"it) before the cells and {format_seconds(figures.after_s)} "
        f"({figures.after_iqr:.0%}) after, {figures.change:+.0%}: {figures.verdict}. Times "
        "between runs move with these; ratios measured in one run much less.",
        "",
    ]


def _load(state: dict[str, Any]) -> str:
    return " / ".join(f"{float(value):.2f}" for value in state.get("load_average", []))
