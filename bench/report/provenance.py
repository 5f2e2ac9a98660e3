"""Where the report's figures come from: in two lines at the top, the date, the machine and the
harness's commit, with links to the HTML page and the details; in the details, the machine, the
versions and the commit the run had, the command that reproduces it, the run's notes and the
machine's noise over it; and, per backend, the server it ran against.

Every text here comes from the JSON, which anyone can edit: each is written so that it shows
itself and cannot end its code block, table row or line and start markup of its own.
"""

from __future__ import annotations

from datetime import datetime

from bench.report.markdown import markdown_code, markdown_code_block, markdown_text
from bench.report.text import noise_lines
from bench.results.model import Results

#: the page beside REPORT.md that lets a reader explore every figure
HTML_REPORT = "REPORT.html"


def headline_provenance(results: Results) -> list[str]:
    """Two lines: when and where the run was made, and where to read further."""
    machine = results.machine
    cpu = machine.get("cpu", {}) if isinstance(machine.get("cpu"), dict) else {}
    brand = cpu.get("brand_raw") or machine.get("processor") or "?"
    return [
        f"{_when(results.datetime)} on {markdown_code(machine.get('node', '?'))} "
        f"({markdown_text(brand)}, {markdown_text(cpu.get('count', '?'))} cores), "
        f"{_source(results.harness.get('source', {}))}.",
        f"Explore every figure in [{HTML_REPORT}]({HTML_REPORT}); the tables behind this page "
        "are in the [Details](#details).",
    ]


def run_provenance(results: Results) -> list[str]:
    """The machine, the versions, the commit and command, the notes and the noise."""
    harness = results.harness
    machine = results.machine
    versions = harness.get("versions", {})
    cpu = machine.get("cpu", {}) if isinstance(machine.get("cpu"), dict) else {}
    text = markdown_text
    lines = [
        f"Run at {text(results.datetime)} on {markdown_code(machine.get('node', '?'))}: "
        f"{text(cpu.get('brand_raw', machine.get('processor', '?')))}, "
        f"{text(cpu.get('count', '?'))} CPUs, {text(machine.get('system', '?'))} "
        f"{text(machine.get('release', ''))}, "
        f"{text(machine.get('python_implementation', 'Python'))} "
        f"{text(machine.get('python_version', '?'))}.",
        "Versions: "
        + ", ".join(f"{text(name)} {text(version)}" for name, version in versions.items())
        + ".",
        "",
        f"Code: {_source(harness.get('source', {}))}. "
        f"Profile: {text(harness.get('profile', '?'))}. Reproduce with:",
        "",
        *markdown_code_block(harness.get("command") or "python -m bench run --backend all"),
        "",
    ]
    if harness.get("notes"):
        lines += [f"> {text(note)}" for note in harness["notes"]] + [""]
    return lines + noise_lines(harness)


def server_provenance(results: Results, backend: str) -> list[str]:
    """The server a backend's cells ran against, as the run described it: one line."""
    server = results.harness.get("servers", {}).get(backend, {})
    if not server:
        return []
    return [
        "Server: "
        + ", ".join(f"{markdown_text(k)} {markdown_code(v)}" for k, v in server.items())
        + "."
    ]


def _when(stamp: str) -> str:
    """The run's date and time to the minute, or the JSON's text as it is."""
    try:
        moment = datetime.fromisoformat(stamp)
    except ValueError:
        return markdown_text(stamp)
    return moment.strftime("%Y-%m-%d %H:%M %Z").strip()


def _source(source: dict[str, object]) -> str:
    if not source.get("commit"):
        return "the harness's commit is unknown (not run from a git checkout of it)"
    state = "with uncommitted changes" if source.get("dirty") else "clean"
    return f"harness commit {markdown_code(str(source['commit'])[:12])} ({state})"
