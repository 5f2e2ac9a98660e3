"""The report's first screen: where the run comes from in two lines, what a cell of the decision
tables says, the caveats every table shares (the machine; the projection to a network, a lower
bound), then per backend (those with a network first) its decision table
(:mod:`bench.report.decision`), a sentence per question with its intervals, and its server's
durability: how it was set up, and what a durable commit costs where the run measured it."""

from __future__ import annotations

from bench.report.decision import (
    ALIKE_MARK,
    MEASURED_MARK,
    PROJECTED_MARK,
    QUESTIONS,
    QUOTED_RTT_MS,
    decision_findings,
    decision_table,
    writing_questions,
)
from bench.report.markdown import markdown_text
from bench.report.provenance import headline_provenance
from bench.report.text import calibration
from bench.results.model import Results

#: the server settings that decide whether a commit waits for the disk, and their values with
#: which it does not (compared in lower case)
RELAXED_SETTINGS = {
    "fsync": ("off",),
    "synchronous_commit": ("off",),
    "full_page_writes": ("off",),
    "innodb_flush_log_at_trx_commit": ("0", "2"),
    "innodb_doublewrite": ("0", "off"),
    # SQLite's NORMAL syncs at checkpoints only, in WAL mode
    "synchronous": ("off", "normal", "0", "1"),
}


def first_screen_order(results: Results) -> list[str]:
    """The backends with a network first (where a service's database lives), then the rest,
    each group in the harness's order."""
    return sorted(results.backends, key=lambda b: not results.heading(b).networked)


def first_screen(results: Results) -> list[str]:
    """The report's opening: title and provenance, the legend, then each backend's table."""
    lines = ["# Data-access benchmark report", "", *headline_provenance(results), ""]
    tables = {b: decision_table(results, b) for b in first_screen_order(results)}
    if not any(tables.values()):
        return [
            *lines,
            "This run holds none of the cells that answer the first screen's questions ("
            + "; ".join(
                f"{q.label}: `{q.workload}` at "
                + (f"size {q.size}" if q.size is not None else "size 100, or its largest")
                for q in QUESTIONS
            )
            + "): its tables are in the [Details](#details).",
            "",
        ]
    lines += [legend(results), "", *shared_caveats(results), ""]
    for backend, table in tables.items():
        if not table:
            continue
        lines += [f"## {results.heading(backend).title}", "", *table, ""]
        lines += [f"- {line}" for line in decision_findings(results, backend)]
        lines += ["", *durability_caveat(results, backend), ""]
    return lines


def legend(results: Results) -> str:
    baseline = results.catalog.baseline_variant
    networked = any(results.heading(b).networked for b in results.backends)
    measured = (
        f"; {MEASURED_MARK} measured through a delay proxy"
        if any(c.rtt_ms == QUOTED_RTT_MS for c in results.delayed)
        else ""
    )
    at_rtt = (
        f" · at {QUOTED_RTT_MS:g} ms per round trip ({PROJECTED_MARK} projected: median + "
        f"round trips × {QUOTED_RTT_MS:g} ms{measured})"
        if networked
        else ""
    )
    return (
        f"Which style for a service? Each cell: milliseconds per unit of work on this server"
        f"{at_rtt} · time over `{baseline}`'s [95 % interval] ({ALIKE_MARK}: the data cannot "
        "tell them apart) · round trips (rt). A cell names its variant where the column holds "
        "several; the workloads, variants and sizes are in the [Glossary](#glossary)."
    )


def shared_caveats(results: Results) -> list[str]:
    """The caveats every table below shares: the machine, and the projection to a network
    (where a backend has one); each backend's durability follows its table."""
    lines = [machine_caveat(results)]
    if any(results.heading(b).networked for b in results.backends):
        lines.append(network_caveat(results))
    return lines


def machine_caveat(results: Results) -> str:
    """The machine's cores, shared by the client and a server on it, and its noise."""
    cpu = results.machine.get("cpu")
    cores = cpu.get("count") if isinstance(cpu, dict) else None
    shared = (
        f"{markdown_text(cores)} cores, shared by the client and any server on this machine"
        if cores is not None
        else "the client and any server on this machine share its cores"
    )
    figures = calibration(results.harness)
    noise = (
        ""
        if figures is None
        else f"; a fixed CPU loop spread {figures.spread:.0%} of its median "
        f"({figures.verdict}) and moved {figures.change:+.0%} from the start of the run to "
        "its end"
    )
    return (
        f"Caveat, the machine: {shared}{noise}. Times move with the machine; ratios measured "
        "in alternation much less."
    )


def durability_caveat(results: Results, backend: str) -> list[str]:
    """How durable the server's commits were, and what a durable commit adds where the run
    measured it (``commit_ms`` and ``durable_commit_ms`` of its ``servers`` entry)."""
    server = results.harness.get("servers", {}).get(backend)
    if not isinstance(server, dict):
        return []
    settings = [
        (name, value)
        for name, value in server.items()
        if name in RELAXED_SETTINGS and isinstance(value, (str, int, float))
    ]
    shown = ", ".join(f"`{name}` {markdown_text(value)}" for name, value in settings)
    relaxed = [name for name, value in settings if str(value).lower() in RELAXED_SETTINGS[name]]
    if relaxed:
        text = (
            f"Caveat, durability: the server ran with {shown}: a commit does not wait for the "
            "disk, so every write is cheaper here than on a durable production server."
        )
    elif settings:
        text = f"Caveat, durability: the server ran with {shown}."
    else:
        text = "Caveat, durability: the run did not record the server's durability settings."
    commit, durable = _number(server.get("commit_ms")), _number(server.get("durable_commit_ms"))
    writes = writing_questions(results, backend)
    if commit is not None and durable is not None:
        text += (
            f" One small commit took {commit:.3g} ms as the server ran and {durable:.3g} ms "
            f"with durable settings: add about {durable - commit:.2g} ms to every unit of work "
            "that writes" + (f" ({', '.join(writes)})." if writes else ".")
        )
    else:
        note = server.get("durable_commit_note")
        text += " What a durable commit adds was not measured" + (
            f": {markdown_text(note)}." if isinstance(note, str) and note else " in this run."
        )
    return [text]


def network_caveat(results: Results) -> str:
    measured = [
        results.heading(backend).title
        for backend in first_screen_order(results)
        if any(c.backend == backend and c.rtt_ms == QUOTED_RTT_MS for c in results.delayed)
    ]
    return (
        f"Caveat, the network: at {QUOTED_RTT_MS:g} ms per round trip the projection "
        f"({PROJECTED_MARK}) is a lower bound: every round trip costs a little more than the "
        "RTT, an N+1 pattern pays more than the RTT for each, and connecting's TCP and "
        "authentication round trips are not counted. Measure (`run --rtt`, or against the real "
        "server) where a decision rests on less than about a fifth of the projected time"
        + (f"; this run did on {', '.join(measured)} ({MEASURED_MARK})." if measured else ".")
    )


def _number(value: object) -> float | None:
    """A figure of the servers entry (written as text, like ``round_trip_ms``)."""
    if isinstance(value, bool) or not isinstance(value, (str, int, float)):
        return None
    try:
        number = float(value)
    except ValueError:
        return None
    return number if number >= 0 else None
