"""A style whose parts are known, for the stack sampler's test (tests/test_layers.py): an
"ORM" and a "Core" of deep, call-heavy Python in files under ``sqlalchemy/``, its own code, a
compiled driver's work (SQLite counting through a recursive query) and a sleep; each part times
itself. Run as a program (``python synthetic_layers.py ROOT``) it writes the style's files under
ROOT and prints, as JSON, the layers' shares the sampler found and the parts' own, in a process
of its own: a process with more threads makes the sampler's stops longer (each stops them all)."""

from __future__ import annotations

import importlib.util
import json
import sqlite3
import sys
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType

from bench.measure.layers import _executions, sample_layers

PARTS = ("orm", "core", "variant", "driver", "waiting")

#: many short calls, deep: as the ORM's and Core's code runs (a stack that changes fast)
_PYTHON_WORK = """
def {name}(n):
    total = 0
    for i in range(n // 20):
        total += _nested(i, 20)
    return total


def _nested(i, depth):
    if depth == 0:
        return i
    return _step(i) + _nested(i, depth - 1)


def _step(i):
    return i * 2 + 1
"""

_STYLE = """
import time

from synthetic_core import core_work
from synthetic_orm import orm_work

#: the wall seconds each part took, over the executions since it was last emptied
seconds = {}


def own_work(n):
    total = 0
    for i in range(n):
        total += i % 7
    return total


def driver_work(plan):
    return plan.cursor.execute(plan.query, (plan.rows,)).fetchall()


def waiting(plan):
    time.sleep(plan.sleep)


def timed(part, run, *arguments):
    started = time.perf_counter()
    run(*arguments)
    seconds[part] = seconds.get(part, 0.0) + time.perf_counter() - started


def heavy(plan):
    timed("orm", orm_work, plan.orm)
    timed("core", core_work, plan.core)
    timed("variant", own_work, plan.own)
    timed("driver", driver_work, plan)
    timed("waiting", waiting, plan)


def light(plan):
    driver_work(plan)
    waiting(plan)
"""


@dataclass(frozen=True)
class Plan:
    cursor: sqlite3.Cursor
    query: str
    rows: int
    orm: int
    core: int
    own: int
    sleep: float


def _load(name: str, path: Path, source: str) -> ModuleType:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(source)
    spec = importlib.util.spec_from_file_location(name, path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    import sys

    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


def load_style(root: Path) -> tuple[ModuleType, Plan]:
    _load("synthetic_orm", root / "sqlalchemy" / "orm" / "synthetic_orm.py",
          _PYTHON_WORK.format(name="orm_work"))  # fmt: skip
    _load("synthetic_core", root / "sqlalchemy" / "synthetic_core.py",
          _PYTHON_WORK.format(name="core_work"))  # fmt: skip
    style = _load("synthetic_style", root / "implementations" / "synthetic_style.py", _STYLE)
    cursor = sqlite3.connect(":memory:").cursor()
    query = (
        "WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c WHERE x < ?) "
        "SELECT count(*) FROM c"
    )
    return style, Plan(cursor, query, 20_000, orm=40_000, core=25_000, own=30_000, sleep=0.004)


def _shares(seconds: dict[str, float], layers: tuple[str, ...]) -> dict[str, float]:
    total = sum(seconds[layer] for layer in layers)
    return {layer: seconds[layer] / total for layer in layers}


def measured_split(style: ModuleType, plan: Plan) -> dict[str, object]:
    """The layers' shares the sampler found, and the parts' own, in executions nothing
    watched taken right after the sampled ones (the machine's speed drifts too much to
    compare with another moment's)."""
    sampled = sample_layers(style.heavy, plan, seconds=3.0)
    style.seconds.clear()
    executions, wall, cpu = _executions(style.heavy, plan, 1.0, None, None)
    layers = sampled.time_by_layer(wall / executions, cpu / executions)
    return {
        "found": _shares(layers, PARTS),
        "truth": _shares(style.seconds, PARTS),
        "layers": layers,
        "mean_wall": wall / executions,
        "samples": sampled.sample_count,
    }


if __name__ == "__main__":
    print(json.dumps(measured_split(*load_style(Path(sys.argv[1])))))
