"""The report's input: names read from the JSON are names, and the run's own texts (its command,
versions, machine, notes) show as themselves in REPORT.md, whatever they hold."""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from bench.report.markdown import markdown_code, markdown_code_block, markdown_text
from bench.results.load import load_results
from bench.results.model import ReportError

from helpers import bench, one_error_line
from synthetic import synthetic_run

#: a command whose lines would close a ``` fence and start a heading of their own
COMMAND = "python -m bench run --backend sqlite\n```\n# injected\n````\nrm -rf ~ `echo`"
VERSION = "2.0 | <script>alert(1)</script>"


def _run(folder: Path, change: Callable[[dict[str, Any]], None] | None = None) -> Path:
    """A small valid run in ``folder`` (two variants of one workload), changed by ``change``."""
    medians = {("crud_read", size): {"orm": 1e-3, "dbapi": 3e-4} for size in (1, 100)}
    path = synthetic_run(folder, medians, seed=1)
    if change is not None:
        document = json.loads(path.read_text())
        change(document)
        path.write_text(json.dumps(document))
    return folder


def code_blocks(markdown: str) -> tuple[list[list[str]], list[str]]:
    """The fenced code blocks' lines as CommonMark reads them (a fence: up to three spaces,
    then three or more backticks; closed by backticks alone, at least as many), and the lines
    outside every block."""
    blocks: list[list[str]] = []
    outside: list[str] = []
    fence = 0
    for line in markdown.split("\n"):
        match = re.fullmatch(r" {0,3}(`{3,})(.*)", line)
        if not fence:
            if match and "`" not in match[2]:
                fence = len(match[1])
                blocks.append([])
            else:
                outside.append(line)
        elif match and len(match[1]) >= fence and not match[2].strip(" \t"):
            fence = 0
        else:
            blocks[-1].append(line)
    return blocks, outside


# --- names ------------------------------------------------------------------------------------


def _set_info(key: str, value: Any) -> Callable[[dict[str, Any]], None]:
    def change(document: dict[str, Any]) -> None:
        document["benchmarks"][0]["extra_info"][key] = value

    return change


@pytest.mark.parametrize(
    ("change", "field", "value"),
    [
        (_set_info("workload", "crud_read\n"), "workload", "crud_read\n"),
        (_set_info("variant", "orm\n"), "variant", "orm\n"),
        (_set_info("backend", "sqlite\n"), "backend", "sqlite\n"),
        (_set_info("variant", "Orm"), "variant", "Orm"),
        (
            lambda d: d["harness"].update(not_applicable=[{"workload": "x", "variant": "orm\n"}]),
            "variant",
            "orm\n",
        ),
    ],
)
def test_a_name_with_a_newline_is_refused_in_one_line(
    tmp_path: Path, change: Callable[[dict[str, Any]], None], field: str, value: str
) -> None:
    folder = _run(tmp_path, change)
    result = bench("report", str(folder))
    assert result.returncode == 2
    line = one_error_line(result)  # also: no traceback
    assert f"malformed {field}: {value!r}" in line
    assert sorted(p.name for p in folder.iterdir()) == ["benchmarks.json"]


def test_the_error_stays_one_line_whatever_the_benchmark_is_called(tmp_path: Path) -> None:
    def change(document: dict[str, Any]) -> None:
        document["benchmarks"][0]["name"] = "test_x\n# injected"
        document["benchmarks"][0]["extra_info"]["backend"] = "x" * 1000

    with pytest.raises(ReportError) as error:
        load_results(_run(tmp_path, change))
    message = str(error.value)
    assert "\n" not in message and "'test_x\\n# injected'" in message
    assert "malformed backend: 'xxx" in message and len(message) < 400


def test_a_well_formed_name_the_registry_does_not_know_is_reported(tmp_path: Path) -> None:
    # results of a test variant, or of an older version of the harness
    results = load_results(_run(tmp_path, _set_info("variant", "broken")))
    assert "broken" in {cell.variant for cell in results.cells}


# --- the run's texts in REPORT.md -----------------------------------------------------------


def _crafted(document: dict[str, Any]) -> None:
    document["harness"].update(
        command=COMMAND,
        profile="default\n## injected profile",
        notes=["first\n# injected note", "<img src=x onerror=alert(1)>"],
        versions={"sqlalchemy": VERSION, "sqlite\n| injected | row |": "3.45"},
        servers={
            "sqlite": {
                "journal_mode": "wal`\n# injected server",
                "x|y": "<b>",
                "synchronous": "OFF <i>\n# injected setting",
                "durable_commit_note": "not `here`\n# injected note",
            }
        },
        source={"commit": "`abc\n# injected", "dirty": False},
    )
    document["machine_info"]["node"] = "host`\n# injected node"
    document["machine_info"]["system"] = "Linux <script>"
    document["datetime"] = "2026\n# injected datetime"
    for entry in document["benchmarks"]:
        if entry["extra_info"]["variant"] == "orm":
            entry["extra_info"]["sql_vs_dbapi"] = "a <b>JOIN</b>\n# injected reason"


@pytest.fixture(scope="module")
def crafted_report(tmp_path_factory: pytest.TempPathFactory) -> str:
    folder = _run(tmp_path_factory.mktemp("crafted"), _crafted)
    result = bench("report", str(folder))
    assert result.returncode == 0, result.stderr
    return (folder / "REPORT.md").read_text()


def test_a_command_with_fences_stays_inside_its_code_block(crafted_report: str) -> None:
    blocks, outside = code_blocks(crafted_report)
    assert blocks == [COMMAND.split("\n")]
    # and no other text of the JSON began a line (a heading) of its own
    assert not [line for line in outside if "injected" in line.lstrip("> ").split(" ")[0]]
    assert not [line for line in outside if line.lstrip("> ").startswith("# injected")]


def test_versions_with_pipes_and_html_keep_their_line_whole(crafted_report: str) -> None:
    versions = r"sqlalchemy 2.0 \| \<script>alert(1)\</script>, sqlite \| injected \| row \| 3.45."
    assert f"Versions: {versions}" in crafted_report.split("\n")
    # no raw HTML but the tables' own <br>: any other < that could open a tag is escaped, or
    # inside code
    _, outside = code_blocks(crafted_report)
    text = re.sub(r"(`+)(?!`).*?(?<!`)\1(?!`)", "", "\n".join(outside))
    assert not re.search(r"(?<!\\)<(?!br>)[a-z/!?]", text, re.IGNORECASE)
    # no raw HTML but the tables' own <br>: any other < that could open a tag is escaped, or
    # inside code
    _, outside = code_blocks(crafted_report)
    text = re.sub(r"(`+)(?!`).*?(?<!`)\1(?!`)", "", "\n".join(outside))
    assert not re.search(r"(?<!\\)<(?!br>)[a-z/!?]", text, re.IGNORECASE)


def test_the_machine_profile_notes_servers_and_sql_notes_stay_on_their_lines(
    crafted_report: str,
) -> None:
    lines = crafted_report.split("\n")
    assert lines[2].startswith("2026 # injected datetime on ``host` # injected node`` (")
    run_at = "Run at 2026 # injected datetime on ``host` # injected node``: "
    details = next(line for line in lines if line.startswith(run_at))
    assert "Linux \\<script>" in details
    assert "harness commit `` `abc # injec `` (clean)" in crafted_report
    assert "Profile: default ## injected profile. Reproduce with:" in crafted_report
    assert "> first # injected note" in lines
    assert "> \\<img src=x onerror=alert(1)>" in lines
    assert "- Server: journal_mode ``wal` # injected server``, x\\|y `<b>`, " in "\n".join(lines)
    assert "- `orm` on `crud_read`: a \\<b>JOIN\\</b> # injected reason." in lines


def test_the_durability_caveat_shows_the_server_s_texts_as_themselves(crafted_report: str) -> None:
    caveat = next(line for line in crafted_report.split("\n") if "Caveat, durability" in line)
    assert "`synchronous` OFF \\<i> # injected setting" in caveat
    assert "was not measured: not \\`here\\` # injected note." in caveat


# --- the helpers ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("3.40.1", "3.40.1"),  # versions and names read as they are
        ("journal_mode", "journal_mode"),
        ("a | b", r"a \| b"),
        ("line\nbreak\r\n", "line break"),
        ("<script>", r"\<script>"),
        ("&lt;", r"\&lt;"),
        ("`code` *em* _em_ [link](x) ~del~", r"\`code\` \*em\* \_em\_ \[link\](x) \~del\~"),
        ("# heading", r"\# heading"),
        ("> quote", r"\> quote"),
        ("- item", r"\- item"),
        ("1. item", r"1\. item"),
        ("back\\slash", r"back\\slash"),
        (3, "3"),
    ],
)
def test_markdown_text_shows_the_value_itself(value: object, expected: str) -> None:
    assert markdown_text(value) == expected


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("vm", "`vm`"),
        ("a`b", "``a`b``"),
        ("``x", "``` ``x ```"),
        (" x ", "`  x  `"),
        ("x\ny", "`x y`"),
        ("", "` `"),
    ],
)
def test_markdown_code_is_fenced_longer_than_its_backticks(value: str, expected: str) -> None:
    assert markdown_code(value) == expected


def test_a_code_block_is_fenced_longer_than_its_backticks() -> None:
    assert markdown_code_block("python -m bench run") == ["```", "python -m bench run", "```"]
    assert markdown_code_block("a\r\n```\n# b\r`````") == [
        "``````",
        "a",
        "```",
        "# b",
        "`````",
        "``````",
    ]
