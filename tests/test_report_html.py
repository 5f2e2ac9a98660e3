"""REPORT.html in a real browser: headless Chromium (Debian's ``chromium``, driven through
``chromium-driver`` by Selenium). The reference run's page loads with no console error and no
request beyond its own file, its filters change what it shows, the SQL panel opens from a row,
and a screenshot is saved.

Without Chromium, its driver or Selenium the tests are skipped, saying which is missing;
with ``BENCH_REQUIRE_BROWSER=1`` (as CI sets it) they fail instead.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

REQUIRE_BROWSER = "BENCH_REQUIRE_BROWSER"
if not os.environ.get(REQUIRE_BROWSER):
    pytest.importorskip("selenium", reason="Selenium is not installed (pip install -e '.[test]')")

from selenium.webdriver.chrome.webdriver import WebDriver  # noqa: E402
from selenium.webdriver.common.by import By  # noqa: E402
from selenium.webdriver.common.keys import Keys  # noqa: E402
from selenium.webdriver.support.ui import Select  # noqa: E402

from bench.report.page import write_page  # noqa: E402
from bench.report.screenshot import (  # noqa: E402
    WINDOW,
    BrowserMissing,
    find_browser,
    headless_chromium,
    page_url,
    wait_until_drawn,
)
from bench.results.load import load_results  # noqa: E402
from bench.results.output_folder import (  # noqa: E402
    MANIFEST,
    REPORT_PAGE,
    REPORT_SCREENSHOT,
    foreign_files,
    owned_files,
)

from helpers import bench  # noqa: E402

ROOT = Path(__file__).parent.parent
REFERENCE = ROOT / "results" / "reference"
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def require_browser() -> None:
    """Skip the test when Chromium or its driver is missing; fail it where CI asks for them."""
    try:
        find_browser()
    except BrowserMissing as exc:
        if os.environ.get(REQUIRE_BROWSER):
            pytest.fail(f"{exc}; {REQUIRE_BROWSER} is set, so the browser tests must run")
        pytest.skip(str(exc))


@pytest.fixture(scope="module")
def driver() -> Iterator[WebDriver]:
    """One headless Chromium for the module's tests."""
    require_browser()
    with headless_chromium() as browser:
        yield browser


@pytest.fixture(scope="module")
def reference_page(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The reference run's page, rendered into a folder of its own."""
    folder = tmp_path_factory.mktemp("reference")
    shutil.copy(REFERENCE / "benchmarks.json", folder / "benchmarks.json")
    return write_page(load_results(folder), folder)


def logged(driver: WebDriver, kind: str = "browser") -> list[dict[str, Any]]:
    """What the browser logged since its log was last read: its console ("browser"), or its
    DevTools events ("performance", the network's among them)."""
    entries: list[dict[str, Any]] = driver.get_log(kind)  # type: ignore[no-untyped-call]
    return entries


def open_page(driver: WebDriver, page: Path, **view: str) -> None:
    driver.get("about:blank")
    logged(driver)  # what an earlier page logged is not this one's
    logged(driver, "performance")
    driver.get(page_url(page, view or None))
    wait_until_drawn(driver)


def requests_made(driver: WebDriver) -> list[str]:
    """Every request the browser sent since the logs were last read, from its network log
    (the page's own file included), and every one it failed or refused."""
    urls = []
    for entry in logged(driver, "performance"):
        message = json.loads(entry["message"])["message"]
        if message["method"] == "Network.requestWillBeSent":
            urls.append(message["params"]["request"]["url"])
        elif message["method"] == "Network.loadingFailed":
            reason = message["params"].get("blockedReason") or message["params"].get("errorText")
            urls.append(f"failed: {reason}")
    return urls


def shown_rows(driver: WebDriver) -> list[str]:
    rows = driver.find_elements(By.CSS_SELECTOR, "#cells tbody tr")
    return [row.get_attribute("data-variant") or "" for row in rows]


def chart_labels(driver: WebDriver, chart: str) -> Any:
    return driver.execute_script(f"return Chart.getChart('{chart}').data.labels")


def chart_series(driver: WebDriver, chart: str) -> Any:
    return driver.execute_script(
        f"return Chart.getChart('{chart}').data.datasets.map(d => d.label)"
    )


def first_time(driver: WebDriver, variant: str) -> str:
    row = driver.find_element(By.CSS_SELECTOR, f"#cells tr[data-variant={variant}]")
    return str(row.find_elements(By.TAG_NAME, "td")[1].text)


def test_the_reference_page_loads_with_no_console_error_and_no_request(
    driver: WebDriver, reference_page: Path, tmp_path: Path
) -> None:
    open_page(driver, reference_page)
    console = logged(driver)
    assert console == [], console
    # the browser sent no request but for the page itself, and refused none
    assert requests_made(driver) == [reference_page.resolve().as_uri()]
    assert driver.execute_script("return performance.getEntriesByType('resource').length") == 0
    # it drew: the table, three charts
    assert "dbapi" in shown_rows(driver)
    assert all(
        driver.execute_script(f"return Chart.getChart('{c}') !== undefined")
        for c in ("chart-time", "chart-rtt", "chart-size")
    )
    screenshot = tmp_path / "reference-page.png"
    assert driver.save_screenshot(str(screenshot))
    assert screenshot.read_bytes().startswith(PNG_SIGNATURE)
    assert driver.get_window_size()["width"] == WINDOW[0]


def test_a_request_the_page_did_not_plan_would_be_refused_and_seen(
    driver: WebDriver, reference_page: Path, tmp_path: Path
) -> None:
    """The checks above can fail: an image from the network, planted in the page, is refused
    by its Content-Security-Policy, the refusal is in the console, and the attempt in the
    network log."""
    planted = tmp_path / REPORT_PAGE
    planted.write_text(
        reference_page.read_text().replace(
            "<main>", '<img src="http://192.0.2.1/tracker.png" alt=""><main>', 1
        )
    )
    open_page(driver, planted)
    console = logged(driver)
    assert any(
        e["level"] == "SEVERE" and "Content Security Policy" in e["message"] for e in console
    ), console
    # the network log sees the attempt, and the browser's refusal of it
    made = requests_made(driver)
    assert "http://192.0.2.1/tracker.png" in made
    assert "failed: csp" in made


def test_the_filters_change_what_is_shown(driver: WebDriver, reference_page: Path) -> None:
    open_page(driver, reference_page, workload="parent_child_read", size="100", rtt="1")
    postgres = shown_rows(driver)
    assert {"asyncpg", "orm_lazy", "dbapi"} <= set(postgres)
    assert chart_labels(driver, "chart-time") == postgres
    assert "projected" in first_time(driver, "orm")
    # a backend: its variants, in the table and the charts
    Select(driver.find_element(By.ID, "backend")).select_by_value("sqlite")
    sqlite = shown_rows(driver)
    assert "dbapi" in sqlite and "asyncpg" not in sqlite
    assert chart_labels(driver, "chart-time") == sqlite
    assert "asyncpg" not in chart_series(driver, "chart-size")
    # SQLite has no network: no round-trip time applies
    assert driver.find_element(By.ID, "rtt").get_attribute("disabled") is not None
    assert "projected" not in first_time(driver, "orm")
    # back on PostgreSQL: the round-trip time moves the figures and says they are projected
    Select(driver.find_element(By.ID, "backend")).select_by_value("postgres")
    at_one = first_time(driver, "orm")
    slider = driver.find_element(By.ID, "rtt")
    slider.send_keys(Keys.END)
    at_ten = first_time(driver, "orm")
    assert at_ten != at_one and "projected" in at_ten
    assert "10 ms" in driver.find_element(By.ID, "rtt-value").text
    slider.send_keys(Keys.HOME)
    assert "projected" not in first_time(driver, "orm")
    # a size and a workload
    Select(driver.find_element(By.ID, "size")).select_by_value("10")
    assert "size 10" in driver.find_element(By.ID, "title-table").text
    Select(driver.find_element(By.ID, "workload")).select_by_value("crud_update")
    assert "orm_lazy" not in shown_rows(driver)
    # a variant hidden: gone from the table and the charts
    driver.find_element(By.CSS_SELECTOR, "#variant-boxes input[data-variant=core]").click()
    assert "core" not in shown_rows(driver)
    assert "core" not in chart_labels(driver, "chart-time")
    assert "core" not in chart_series(driver, "chart-size")
    assert logged(driver) == []


def test_the_sql_panel_opens_from_a_row_beside_dbapi(
    driver: WebDriver,
    quick_run: tuple[Path, subprocess.CompletedProcess[str]],
    tmp_path: Path,
) -> None:
    folder, result = quick_run
    assert result.returncode == 0, result.stderr
    open_page(driver, folder / REPORT_PAGE, workload="parent_child_read", size="50")
    driver.find_element(By.CSS_SELECTOR, "#cells tr[data-variant=orm] button.sql-open").click()
    panel = driver.find_element(By.ID, "sql-panel")
    assert panel.get_attribute("open") is not None
    assert driver.find_element(By.ID, "sql-left").text.startswith("orm: ")
    assert driver.find_element(By.ID, "sql-right-body").text.startswith("dbapi: ")
    mine = [e.text for e in driver.find_elements(By.CSS_SELECTOR, "#sql-left li .sql")]
    theirs = [e.text for e in driver.find_elements(By.CSS_SELECTOR, "#sql-right-body li .sql")]
    # orm loads the posts by selectinload, a second SELECT; dbapi reads one join
    assert len(mine) == 2 and all(sql.startswith("SELECT ") for sql in mine)
    assert "FROM user_blog_post WHERE" in mine[1]
    assert len(theirs) == 1 and "LEFT OUTER JOIN" in theirs[0]
    assert Select(driver.find_element(By.ID, "sql-other")).first_selected_option.text == "dbapi"
    assert driver.save_screenshot(str(tmp_path / "sql-panel.png"))
    driver.find_element(By.ID, "sql-close").click()
    assert panel.get_attribute("open") is None
    assert logged(driver) == []


def test_without_recorded_sql_the_panel_says_where_to_see_it(
    driver: WebDriver, tmp_path: Path
) -> None:
    shutil.copy(REFERENCE / "benchmarks.json", tmp_path / "benchmarks.json")
    document = json.loads((tmp_path / "benchmarks.json").read_text())
    document["benchmarks"] = [
        entry
        for entry in document["benchmarks"]
        if entry["extra_info"]["backend"] == "sqlite"
        and entry["extra_info"]["workload"] == "crud_read"
    ]
    for entry in document["benchmarks"]:
        entry["extra_info"].pop("sql_sent", None)
    (tmp_path / "benchmarks.json").write_text(json.dumps(document))
    page = write_page(load_results(tmp_path), tmp_path)
    open_page(driver, page, backend="sqlite", workload="crud_read", size="10")
    driver.find_element(By.CSS_SELECTOR, "#cells tr[data-variant=core] button.sql-open").click()
    text = driver.find_element(By.ID, "sql-left").text
    assert "SQL not recorded in this run; see python -m bench statements --workload crud_read" in (
        text
    )


def test_the_screenshot_command_saves_the_page_as_one_of_the_runs_files(
    quick_run: tuple[Path, subprocess.CompletedProcess[str]], tmp_path: Path
) -> None:
    require_browser()
    folder = tmp_path / "run"
    shutil.copytree(quick_run[0], folder)
    result = subprocess.run(
        [sys.executable, "-m", "bench.report.screenshot", str(folder)],
        capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == f"screenshot: {folder / REPORT_SCREENSHOT}"
    assert (folder / REPORT_SCREENSHOT).read_bytes().startswith(PNG_SIGNATURE)
    assert REPORT_SCREENSHOT in owned_files(folder)
    # a new report of the same results keeps it; the folder stays the harness's own
    assert bench("report", str(folder)).returncode == 0
    assert REPORT_SCREENSHOT in (folder / MANIFEST).read_text().splitlines()
    assert (folder / REPORT_SCREENSHOT).is_file()
    # a checkout of the reference run has no manifest: the screenshot is still the harness's
    (folder / MANIFEST).unlink()
    assert foreign_files(folder) == []
