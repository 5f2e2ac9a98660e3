"""Words and sentences that more than one part of the report, and the comparison of two runs,
write the same way: a count with its noun, and the machine's noise over the run."""

from __future__ import annotations

from typing import Any

from bench.results.model import format_seconds


def plural(count: int, noun: str) -> str:
    return f"{count} {noun}" if count == 1 else f"{count} {noun}s"


def noise_lines(harness: dict[str, Any]) -> list[str]:
    """The machine's load and speed at the start and end of the run."""
    noise = harness.get("noise") or {}
    start, end = noise.get("start"), noise.get("end")
    if not (isinstance(start, dict) and isinstance(end, dict)):
        return []
    try:
        before, after = start["calibration"], end["calibration"]
        change = after["median_s"] / before["median_s"] - 1
        return [
            f"Machine noise: load average {_load(start)} at the start and {_load(end)} at the "
            f"end; a fixed CPU loop took {format_seconds(before['median_s'])} (interquartile "
            f"range {before['iqr_s'] / before['median_s']:.0%}) before the cells and "
            f"{format_seconds(after['median_s'])} ({after['iqr_s'] / after['median_s']:.0%}) "
            f"after, {change:+.0%}. Times between runs move with these; ratios measured in "
            "one run much less.",
            "",
        ]
    # a field of another type than the harness writes (a text where a number was): no line
    except (KeyError, TypeError, ValueError, ZeroDivisionError):
        return []


def _load(state: dict[str, Any]) -> str:
    return " / ".join(f"{value:.2f}" for value in state.get("load_average", []))
