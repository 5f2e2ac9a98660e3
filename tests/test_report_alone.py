"""The report is drawn from the JSON: rendering imports no database driver and no variant.
The run's JSON carries what the report needs of the backends and variants (its catalog)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

from bench.results.catalog import Catalog
from implementations.registry import VARIANTS

from helpers import TESTS_DIR, bench

REFERENCE = Path(__file__).parent.parent / "results" / "reference"
#: the drivers, and every module a variant lives in
BLOCKED = sorted(
    {"psycopg", "asyncpg", "pymysql", "implementations.drivers"}
    | {target.partition(":")[0] for target in VARIANTS.values()}
)
#: the report drawn (as ``python -m bench report`` draws it) with the blocked modules made
#: unimportable
BLOCKING_PROGRAM = """
import importlib.abc, sys
BLOCKED = {blocked!r}
class Block(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if any(name == b or name.startswith(b + ".") for b in BLOCKED):
            raise ImportError(f"{{name}} is blocked: the report must not import it")
        return None
sys.meta_path.insert(0, Block())
from pathlib import Path
from bench.report.document import write_report
write_report(Path(sys.argv[1]))
loaded = sorted(m for m in sys.modules if any(m == b or m.startswith(b + ".") for b in BLOCKED))
print("loaded:", loaded, file=sys.stderr)
"""


def _reference_with_catalog(folder: Path) -> Path:
    """The published reference run, its JSON given the catalog this version writes (it was
    made before the JSON carried one)."""
    run = folder / "run"
    run.mkdir()
    document = json.loads((REFERENCE / "benchmarks.json").read_text())
    document["harness"]["catalog"] = Catalog.from_code().to_json()
    (run / "benchmarks.json").write_text(json.dumps(document))
    return run


def test_the_reference_renders_the_same_with_no_driver_or_variant_importable(
    tmp_path: Path,
) -> None:
    run = _reference_with_catalog(tmp_path)
    blocked_run = tmp_path / "blocked"
    shutil.copytree(run, blocked_run)
    assert bench("report", str(run)).returncode == 0
    result = subprocess.run(
        [sys.executable, "-c", BLOCKING_PROGRAM.format(blocked=BLOCKED), str(blocked_run)],
        capture_output=True, text=True, timeout=300,
        env={**os.environ, "PYTHONPATH": os.pathsep.join([str(TESTS_DIR), *sys.path])},
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert "loaded: []" in result.stderr
    assert (blocked_run / "REPORT.md").read_text() == (run / "REPORT.md").read_text()
    assert (blocked_run / "REPORT.md").read_text() == (REFERENCE / "REPORT.md").read_text()


def test_a_run_writes_the_catalog_the_report_reads(
    quick_run: tuple[Path, subprocess.CompletedProcess[str]],
) -> None:
    out, _ = quick_run
    harness = json.loads((out / "benchmarks.json").read_text())["harness"]
    assert Catalog.from_json(harness["catalog"]) == Catalog.from_code()
    assert harness["catalog"]["backends"]["postgres"]["title"] == "PostgreSQL"
    assert harness["catalog"]["sync_counterparts"]["orm_async"] == "orm"


def test_a_malformed_catalog_is_one_line(tmp_path: Path) -> None:
    run = _reference_with_catalog(tmp_path)
    document = json.loads((run / "benchmarks.json").read_text())
    document["harness"]["catalog"]["backends"]["postgres"]["title"] = 3
    (run / "benchmarks.json").write_text(json.dumps(document))
    result = bench("report", str(run))
    assert result.returncode == 2
    assert result.stderr.strip().endswith("the catalog's backend 'postgres' is malformed")
