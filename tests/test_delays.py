"""Measured against projected (``run --rtt``): the error, the reason given where they disagree,
the crossover taken from measurements, and the results file that carries delayed cells."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from bench.report.delays import (
    Delayed,
    crossing_sentence,
    delayed_cells,
    measured_crossing,
    reasons,
)
from bench.report.document import render_report
from bench.results.load import load_results
from bench.results.model import CellResult, ReportError, Results

from helpers import bench
from synthetic import synthetic_run

MS = 1e-3


def cell(
    variant: str,
    median_ms: float,
    round_trips: int,
    *,
    rtt_ms: float | None = None,
    statements: int | None = None,
    workload: str = "crud_create",
    size: int = 100,
    connections: int = 0,
) -> CellResult:
    """A cell whose 10 rounds, in 10 passes, all took about ``median_ms``."""
    median = median_ms * MS
    durations = tuple(median * (1 + (index - 4.5) * 0.002) for index in range(10))
    return CellResult(
        workload=workload,
        variant=variant,
        backend="postgres",
        size=size,
        median=median,
        q1=median,
        q3=median,
        rounds=10,
        cursor_calls=1,
        db_statements=round_trips if statements is None else statements,
        round_trips=round_trips,
        rows=size,
        connections_opened=connections,
        durations=durations,
        passes=tuple(range(10)),
        pass_count=10,
        proxied=rtt_ms is not None,
        rtt_ms=rtt_ms or 0.0,
    )


def delayed(direct: CellResult, at_zero_ms: float, measured_ms: float, rtt_ms: float) -> Delayed:
    def again(median_ms: float, rtt: float) -> CellResult:
        return cell(
            direct.variant,
            median_ms,
            direct.round_trips,
            rtt_ms=rtt,
            statements=direct.db_statements,
            workload=direct.workload,
            size=direct.size,
            connections=direct.connections_opened,
        )

    return Delayed(direct, again(measured_ms, rtt_ms), again(at_zero_ms, 0.0))


def test_the_projection_and_its_error() -> None:
    check = delayed(cell("core", 2.0, 3), 2.1, 33.0, 10.0)
    assert check.projected == pytest.approx(32 * MS)
    assert check.error == pytest.approx(33 / 32 - 1)
    assert not check.disagrees
    assert check.waits == pytest.approx((33 - 2.1) / 10)


def test_the_proxy_s_own_cost_is_named_when_it_explains_the_difference() -> None:
    check = delayed(cell("orm", 2.0, 3), 6.0, 7.5, 1.0)  # projected 5 ms, +50 %
    assert check.disagrees
    assert reasons(check) == "the proxy's own cost (4.00 ms at 0 ms, 1.33 ms per round trip)"


def test_connecting_costs_round_trips_the_trace_does_not_see() -> None:
    direct = cell("nullpool", 3.0, 2, workload="connect_read_one", size=1, connections=1)
    # projected 23 ms; measured 63: 6 waits where the trace counts 2
    check = delayed(direct, 3.0, 63.0, 10.0)
    assert check.disagrees
    assert reasons(check) == (
        "connecting: 1 connection(s) opened, each about 4.0 round trips (TCP's handshake, "
        "the TLS request, start-up and authentication) that the protocol trace does not see"
    )


def test_pipelined_round_trips_are_told_apart() -> None:
    check = delayed(cell("dbapi", 5.0, 4, statements=102), 5.0, 25.0, 10.0)  # projected 45
    assert check.error == pytest.approx(25 / 45 - 1)
    assert "pipelined: 102 statements in 4 round trips" in reasons(check)
    assert "the delay cost 2.0 round-trip times" in reasons(check)


def test_a_wait_of_forty_milliseconds_is_taken_for_nagle_and_delayed_acks() -> None:
    check = delayed(cell("core", 2.0, 3), 2.0, 72.0, 10.0)
    assert "waits of about 40 ms, Nagle's algorithm meeting a delayed ACK" in reasons(check)


def test_what_is_left_is_given_per_round_trip_either_way() -> None:
    check = delayed(cell("core", 2.0, 3), 2.0, 8.0, 1.0)  # projected 5 ms; 3 ms left
    assert reasons(check).startswith("1.00 ms per round trip more than the delays account for")
    check = delayed(cell("core", 20.0, 3), 20.0, 14.0, 1.0)  # projected 23 ms; 9 ms less
    assert reasons(check).startswith("3.00 ms per round trip less than projected")


def test_a_slow_pipelined_cell_is_not_blamed_on_pipelining() -> None:
    check = delayed(cell("dbapi", 5.0, 4, statements=102), 5.0, 95.0, 10.0)  # 9 waits, not 4
    assert "pipelined" not in reasons(check)
    assert "Nagle" in reasons(check)


def test_many_round_trips_a_little_slower_each_are_not_nagle() -> None:
    check = delayed(cell("orm_lazy", 80.0, 103), 80.0, 1200.0, 10.0)  # projected 1110
    assert check.error == pytest.approx(1200 / 1110 - 1)
    many_slow = delayed(cell("orm_lazy", 80.0, 103), 80.0, 1400.0, 10.0)
    assert "Nagle" not in reasons(many_slow)
    assert reasons(many_slow).startswith("2.82 ms per round trip more")  # (1400 - 1110) / 103


def _measured_run() -> tuple[list[CellResult], list[CellResult]]:
    direct = [cell("dbapi", 5.0, 4, statements=102), cell("core", 6.0, 3), cell("orm", 15.0, 3)]
    delayed_cells = [
        cell("dbapi", 5.5, 4, rtt_ms=0.0, statements=102),
        cell("core", 6.5, 3, rtt_ms=0.0),
        cell("orm", 16.0, 3, rtt_ms=0.0),
        cell("dbapi", 9.0, 4, rtt_ms=1.0, statements=102),
        cell("core", 9.2, 3, rtt_ms=1.0),
        cell("orm", 18.5, 3, rtt_ms=1.0),
        cell("dbapi", 45.0, 4, rtt_ms=10.0, statements=102),
        cell("core", 36.0, 3, rtt_ms=10.0),
        cell("orm", 46.0, 3, rtt_ms=10.0),
    ]
    return direct, delayed_cells


def test_the_crossover_comes_from_the_measurements() -> None:
    direct, measured = _measured_run()
    crossing = measured_crossing(direct, measured)
    assert crossing is not None
    assert (crossing.fastest.variant, crossing.overtaker.variant) == ("dbapi", "core")
    assert (crossing.before, crossing.after) == (1 * MS, 10 * MS)
    # the lines through the measurements at 1 ms (gap +0.2) and 10 ms (gap -9) cross at
    assert crossing.estimate == pytest.approx((1 + 9 * 0.2 / 9.2) * MS)
    sentence = crossing_sentence(crossing, [1.0, 10.0])
    assert "`dbapi` is fastest direct, but from about 1.2 ms per round trip" in sentence
    assert "`core` is faster: at 10 ms it takes 0.80×" in sentence


def test_no_crossover_is_said_so() -> None:
    direct, measured = _measured_run()
    slower_core = [c for c in measured if c.variant != "core" or c.rtt_ms != 10.0]
    slower_core.append(cell("core", 50.0, 3, rtt_ms=10.0))
    crossing = measured_crossing(direct, slower_core)
    assert crossing is None
    assert "no style overtakes the fastest" in crossing_sentence(None, [1.0, 10.0])


def test_the_report_sets_measured_beside_projected() -> None:
    direct, measured = _measured_run()
    results = Results(
        cells=direct,
        datetime="2026-01-01",
        machine={},
        harness={
            "networked": {"postgres": True},
            "servers": {"postgres": {"version": "15", "round_trip_ms": "0.050"}},
        },
        delayed=measured,
    )
    assert len(delayed_cells(results, "postgres")) == 6
    report = render_report(results, [])
    section = report.split("### Measured through a delay proxy", 1)[1]
    assert (
        "| size | variant | round trips | direct | at 0 ms | at 1 ms: measured, projected, "
        "error | at 10 ms: measured, projected, error |" in section
    )
    # dbapi at 10 ms: measured 45.0 ms, projected 5 + 4 x 10 = 45.0 ms
    assert "| 100 | `dbapi` | 4 | 5.00 ms | 5.50 ms | 9.00 ms<br>9.00 ms, +0% |" in section
    assert "45.0 ms<br>45.0 ms, +0% |" in section
    # orm at 1 ms: 18.5 against 18.0
    assert "18.5 ms<br>18.0 ms, +3% |" in section
    assert "disagree by more than 20% in 0 of 6 cells." in section
    assert "Measured through the delay proxy: `dbapi` is fastest direct" in report
    assert "A round trip to this server, measured before the cells, takes 50.0 µs" in report
    # orm: 3 round trips x 50 µs of 15 ms, 1 %; dbapi: 4 x 50 µs of 5 ms, 4 %, the largest
    assert "the projection puts 200.0 µs of `dbapi`'s 5.00 ms on `crud_create`" in report
    assert "(4 round trips, 4%) on the round trips, the largest share, and 1% of `orm`'s" in report


def test_a_run_without_rtt_has_no_such_section() -> None:
    direct, _ = _measured_run()
    results = Results(direct, "2026-01-01", {}, {"networked": {"postgres": True}})
    report = render_report(results, [])
    assert "delay proxy" not in report


def _with_delayed_copies(path: Path, change: dict[str, Any] | None = None) -> None:
    """The synthetic run's cells again, as if through the proxy at 10 ms."""
    document = json.loads(path.read_text())
    copies = []
    for entry in document["benchmarks"]:
        copy = json.loads(json.dumps(entry))
        copy["extra_info"].update({"proxied": True, "rtt_ms": 10, **(change or {})})
        copy["name"] += "+10ms"
        copies.append(copy)
    document["benchmarks"] += copies
    path.write_text(json.dumps(document))


def test_delayed_cells_load_apart_from_the_direct_ones(tmp_path: Path) -> None:
    path = synthetic_run(tmp_path, {("crud_create", 100): {"core": 1e-3, "dbapi": 5e-4}}, seed=1)
    _with_delayed_copies(path)
    results = load_results(tmp_path)
    assert [(c.variant, c.proxied) for c in results.cells] == [("core", False), ("dbapi", False)]
    assert [(c.variant, c.rtt_ms) for c in results.delayed] == [("core", 10.0), ("dbapi", 10.0)]


@pytest.mark.parametrize(
    "change", [{"rtt_ms": -1}, {"rtt_ms": "10"}, {"proxied": "yes"}, {"proxied": False}]
)
def test_a_malformed_delay_is_refused_in_one_line(tmp_path: Path, change: dict[str, Any]) -> None:
    path = synthetic_run(tmp_path, {("crud_create", 100): {"core": 1e-3, "dbapi": 5e-4}}, seed=1)
    _with_delayed_copies(path, change)
    with pytest.raises(ReportError, match="malformed rtt_ms"):
        load_results(tmp_path)


def test_a_delayed_cell_twice_is_refused(tmp_path: Path) -> None:
    path = synthetic_run(tmp_path, {("crud_create", 100): {"core": 1e-3, "dbapi": 5e-4}}, seed=1)
    _with_delayed_copies(path)
    _with_delayed_copies(path)
    result = bench("report", str(tmp_path))
    assert result.returncode != 0
    assert "appears twice" in result.stderr and "at 10 ms through the proxy" in result.stderr
