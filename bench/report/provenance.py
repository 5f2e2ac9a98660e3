"""Where the report's figures come from: the machine, the versions and the harness's commit the
run had, the command that reproduces it, the run's notes and the machine's noise over it; and,
per backend, the server it ran against.

Every text here comes from the JSON, which anyone can edit: each is written so that it shows
itself and cannot end its code block, table row or line and start markup of its own.
"""

from __future__ import annotations

import os

from bench.report.markdown import markdown_code, markdown_code_block, markdown_text
from bench.report.text import noise_lines
from bench.results.model import Results


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
        f"{text(cpu.get('count', os.cpu_count()))} CPUs, {text(machine.get('system', '?'))} "
        f"{text(machine.get('release', ''))}, "
        f"{text(machine.get('python_implementation', 'Python'))} "
        f"{text(machine.get('python_version', '?'))}.",
        "",
        "| component | version |",
        "| --- | --- |",
        *(f"| {text(name)} | {text(version)} |" for name, version in versions.items()),
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
    """The server a backend's cells ran against, as the run described it."""
    server = results.harness.get("servers", {}).get(backend, {})
    if not server:
        return []
    return [
        "Server: "
        + ", ".join(f"{markdown_text(k)} {markdown_code(v)}" for k, v in server.items())
        + ".",
        "",
    ]


def _source(source: dict[str, object]) -> str:
    if not source.get("commit"):
        return "the harness's commit is unknown (not run from a git checkout of it)"
    state = "with uncommitted changes" if source.get("dirty") else "clean"
    return f"harness commit {markdown_code(str(source['commit'])[:12])} ({state})"
