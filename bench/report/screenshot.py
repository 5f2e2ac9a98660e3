"""``python -m bench.report.screenshot DIR``: a screenshot of ``DIR/REPORT.html`` as headless
Chromium shows it, saved as ``DIR/report-html.png`` (the README shows the reference's).

It needs what the page's tests need, none of which a run needs: Selenium (the test
dependencies: ``pip install -e '.[test]'``), and Chromium with its driver (Debian:
``apt-get install chromium chromium-driver``). Neither is downloaded: the browser and the
driver are the ones installed, found on the ``PATH``. The screenshot joins the files the
harness owns in the folder (its manifest), so a later run replaces it and no check refuses it;
a new report of the same results keeps it (:func:`bench.report.document.write_report`).

The browser part is here for the tests too (``tests/test_report_html.py``): Chromium is started
headless with a fixed window, and with its console and network logs kept, so a test can read
what the page logged and every request it made.
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING
from urllib.parse import urlencode

from bench.results.output_folder import (
    REPORT_PAGE,
    REPORT_SCREENSHOT,
    FolderRefused,
    check_output_folder,
    locked_output_folder,
    owned_files,
    publish,
    staging_folder,
)

if TYPE_CHECKING:
    from selenium.webdriver.chrome.webdriver import WebDriver

#: the browser's window: the page's first screen as the README shows it
WINDOW = (1440, 1200)
#: the view the screenshot shows: PostgreSQL, reading users with their posts (where the styles
#: differ most: the N+1 pattern, joined and select-in loading), 1 ms per round trip
SCREENSHOT_VIEW = {
    "backend": "postgres",
    "workload": "parent_child_read",
    "size": "100",
    "rtt": "1",
}
_BROWSERS = ("chromium", "chromium-browser", "google-chrome")
_DRIVERS = ("chromedriver",)


class BrowserMissing(Exception):
    """Chromium, its driver or Selenium is not installed; one line saying which and how."""


def find_browser() -> tuple[str, str]:
    """The installed Chromium and chromedriver (paths), or BrowserMissing."""
    browser = next((path for name in _BROWSERS if (path := shutil.which(name))), None)
    driver = next((path for name in _DRIVERS if (path := shutil.which(name))), None)
    if browser is None or driver is None:
        missing = " and ".join(
            name
            for name, found in (("chromium", browser), ("chromedriver", driver))
            if found is None
        )
        raise BrowserMissing(
            f"{missing} not found on the PATH (Debian: apt-get install chromium chromium-driver)"
        )
    try:
        import selenium  # noqa: F401
    except ImportError:
        raise BrowserMissing(
            "Selenium is not installed (it is a test dependency: pip install -e '.[test]')"
        ) from None
    return browser, driver


@contextmanager
def headless_chromium(window: tuple[int, int] = WINDOW) -> Iterator[WebDriver]:
    """Headless Chromium through its driver, with a fixed window and its console and
    network (performance) logs kept; quit at the end."""
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    browser, driver_path = find_browser()
    options = webdriver.ChromeOptions()
    options.binary_location = browser
    for argument in (
        "--headless=new",
        f"--window-size={window[0]},{window[1]}",
        "--hide-scrollbars",
        "--force-device-scale-factor=1",
        "--disable-gpu",
        "--disable-dev-shm-usage",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--disable-extensions",
        "--lang=en-US",
    ):
        options.add_argument(argument)
    if hasattr(os, "geteuid") and os.geteuid() == 0:
        # Chromium refuses to run as root with its sandbox
        options.add_argument("--no-sandbox")
    options.set_capability("goog:loggingPrefs", {"browser": "ALL", "performance": "ALL"})
    # the driver given by its path: Selenium Manager (which would download one) is not used
    service = Service(executable_path=driver_path)
    driver = webdriver.Chrome(options=options, service=service)
    try:
        driver.set_page_load_timeout(60)
        yield driver
    finally:
        driver.quit()


def page_url(page: Path, view: dict[str, str] | None = None) -> str:
    """The page's file: URL, opening at ``view`` (backend, workload, size, rtt in ms)."""
    url = page.resolve().as_uri()
    return f"{url}#{urlencode(view)}" if view else url


def wait_until_drawn(driver: WebDriver) -> None:
    """Until the page has drawn its view and the browser has painted it."""
    from selenium.webdriver.support.ui import WebDriverWait

    WebDriverWait(driver, 30).until(
        lambda d: d.execute_script("return document.body.dataset.ready === 'true'")
    )
    driver.execute_async_script(
        "const done = arguments[arguments.length - 1];"
        "requestAnimationFrame(() => requestAnimationFrame(() => done(true)));"
    )


def save_screenshot(page: Path, png: Path, view: dict[str, str] | None = None) -> None:
    """Open ``page`` in headless Chromium at ``view`` and save what it shows as ``png``."""
    with headless_chromium() as driver:
        driver.get(page_url(page, view))
        wait_until_drawn(driver)
        if not driver.save_screenshot(str(png)):
            raise OSError(f"Chromium could not save {png}")


def screenshot_report(folder: Path) -> Path:
    """``folder/report-html.png`` of ``folder/REPORT.html``, made in a staging folder and
    published as one of the harness's files; its path."""
    page = folder / REPORT_PAGE
    if not page.is_file():
        raise FolderRefused(
            f"{page} does not exist: make it with `python -m bench report {folder}`"
        )
    check_output_folder(folder, force=False, option="")
    # as a report does: no run may replace the page under it
    with (
        locked_output_folder(folder, _say),
        staging_folder(folder, prefix=".report-") as staging,
    ):
        save_screenshot(page, staging / REPORT_SCREENSHOT, SCREENSHOT_VIEW)
        kept = [name for name in owned_files(folder) if name != REPORT_SCREENSHOT]
        publish(staging, folder, [REPORT_SCREENSHOT], keep=kept)
    return folder / REPORT_SCREENSHOT


def _say(line: str) -> None:
    print(line, file=sys.stderr)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m bench.report.screenshot",
        description="Save a screenshot of RESULTS_DIR/REPORT.html, as headless Chromium shows "
        f"it, as RESULTS_DIR/{REPORT_SCREENSHOT}.",
    )
    parser.add_argument("results_dir", type=Path, metavar="RESULTS_DIR")
    args = parser.parse_args(argv)
    try:
        written = screenshot_report(args.results_dir)
    except (BrowserMissing, FolderRefused) as exc:
        _say(f"bench: error: {exc}")
        return 2
    except OSError as exc:
        _say(f"bench: error: cannot write the screenshot into {args.results_dir}: {exc}")
        return 1
    except Exception as exc:
        if not type(exc).__module__.startswith("selenium."):
            raise
        # Chromium or its driver failed: their own first line says how
        _say(f"bench: error: Chromium: {str(exc).strip().splitlines()[0] if str(exc) else exc!r}")
        return 1
    print(f"screenshot: {written}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
