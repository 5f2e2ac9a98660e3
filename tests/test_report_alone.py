"""The report is drawn from the JSON: rendering imports no database driver and no backend,
nothing of ``implementations`` (no variant, not its registry) and no measuring code. The run's
JSON carries what the report needs of the backends, workloads and variants (its catalog)."""

from __future__ import annotations

import dataclasses
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from bench.report.chart_looks import variant_colors
from bench.report.document import render_report
from bench.results.catalog import Catalog
from bench.results.load import load_results

from helpers import REFERENCE, TESTS_DIR, bench, reference_run

#: the drivers and the backends that use them, everything of ``implementations`` (the variants,
#: their registry, the drivers' wrappers) and the measuring code (the workloads among it)
BLOCKED = sorted(
    {"psycopg", "asyncpg", "pymysql", "bench.backends", "implementations", "bench.measure"}
)
#: the report drawn (as ``python -m bench report`` draws it) with the blocked modules made
#: unimportable
BLOCKING_PROGRAM = """
import importlib.abc, sys
BLOCKED = {blocked!r}
def blocked(name):
    return any(name == b or name.startswith(b + ".") for b in BLOCKED)
class Block(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if blocked(name):
            raise ImportError(f"{{name}} is blocked: the report must not import it")
        return None
sys.meta_path.insert(0, Block())
from pathlib import Path
from bench.report.document import write_report
write_report(Path(sys.argv[1]))
print("loaded:", sorted(m for m in sys.modules if blocked(m)), file=sys.stderr)
"""
#: what the catalog holds since it carries the workloads and variants: an older run lacks them
WORKLOADS_AND_VARIANTS = ("workloads", "variants", "baseline_variant", "growth_variant")


def test_the_reference_renders_the_same_with_no_driver_variant_or_measuring_code_importable(
    tmp_path: Path,
) -> None:
    run = reference_run(tmp_path)
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
    catalog = harness["catalog"]
    assert catalog["backends"]["postgres"]["title"] == "PostgreSQL"
    assert catalog["sync_counterparts"]["orm_async"] == "orm"
    assert catalog["workloads"]["concurrent_requests"]["kind"] == "concurrent"
    descriptions = harness["workload_descriptions"]
    assert catalog["workloads"]["crud_create"]["description"] == descriptions["crud_create"]
    assert catalog["variants"]["orm"]["label"] == harness["variant_labels"]["orm"]
    assert list(catalog["variants"])[:2] == ["orm", "orm_lazy"]
    assert (catalog["baseline_variant"], catalog["growth_variant"]) == ("dbapi", "orm")


def test_a_catalog_without_the_workloads_and_variants_has_this_versions() -> None:
    older = Catalog.from_code().to_json()
    for key in WORKLOADS_AND_VARIANTS:
        del older[key]
    assert Catalog.from_json(older) == Catalog.from_code()


def test_the_baseline_growth_and_order_of_the_variants_are_the_catalogs(tmp_path: Path) -> None:
    results = load_results(reference_run(tmp_path))
    # the first screen's ORM column and its findings follow the catalog's growth variant
    bulk_insert = "- Bulk insert (`crud_create` at size 100): "
    assert f"{bulk_insert}`orm` takes " in render_report(results, [])
    results.catalog = dataclasses.replace(results.catalog, growth_variant="core")
    report = render_report(results, [])
    assert f"{bulk_insert}`core` takes " in report
    assert "): `orm` takes " not in report
    catalog = results.catalog
    reordered = dataclasses.replace(
        catalog, variants=dict(reversed(list(catalog.variants.items())))
    )
    names = ["orm", "dbapi"]
    assert variant_colors(names, catalog)["orm"] == variant_colors(names, reordered)["dbapi"]


@pytest.mark.parametrize(
    ("part", "value", "error"),
    [
        (("backends", "postgres", "title"), 3, "the catalog's backend 'postgres' is malformed"),
        (("workloads", "crud_read", "kind"), 3, "the catalog's workload 'crud_read' is malformed"),
        (("variants", "orm"), "ORM", "the catalog's variant 'orm' is malformed"),
        (("baseline_variant",), ["dbapi"], "the catalog's 'baseline_variant' is malformed"),
    ],
)
def test_a_malformed_catalog_is_one_line(
    tmp_path: Path, part: tuple[str, ...], value: object, error: str
) -> None:
    run = reference_run(tmp_path)
    document = json.loads((run / "benchmarks.json").read_text())
    *within, key = part
    entry = document["harness"]["catalog"]
    for name in within:
        entry = entry[name]
    entry[key] = value
    (run / "benchmarks.json").write_text(json.dumps(document))
    result = bench("report", str(run))
    assert result.returncode == 2
    assert result.stderr.strip().endswith(error)
