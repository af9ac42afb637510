"""Headless Chromium (Debian's package, never a downloaded browser), driven by Selenium."""

from __future__ import annotations

import re
import shutil
import tempfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

FAILURES = Path(__file__).resolve().parents[2] / ".etl" / "screenshots" / "failures"
CHROMIUM = Path("/usr/bin/chromium")
CHROMEDRIVER = Path("/usr/bin/chromedriver")
FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
    "--disable-dev-shm-usage",
    "--window-size=1400,1100",
)


def missing() -> str | None:
    """Why the browser cannot run here, or None."""
    for path in (CHROMIUM, CHROMEDRIVER):
        if not path.exists():
            return f"{path} is missing (`make test` installs chromium and chromium-driver)"
    try:
        import selenium  # noqa: F401
    except ImportError:
        return "selenium is not installed (run `make setup`)"
    return None


@contextmanager
def chromium() -> Iterator[Any]:
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    profile = tempfile.mkdtemp(prefix="etl-chromium-")
    options = webdriver.ChromeOptions()
    options.binary_location = str(CHROMIUM)
    for flag in (*FLAGS, f"--user-data-dir={profile}"):
        options.add_argument(flag)
    driver = webdriver.Chrome(options=options, service=Service(str(CHROMEDRIVER)))
    try:
        yield driver
    finally:
        driver.quit()
        shutil.rmtree(profile, ignore_errors=True)


def wait_for(driver: Any, condition: Callable[[Any], Any], what: str, timeout: float = 30) -> Any:
    """Wait for an element or a state of the page (the UI is a Vue app: never for a time)."""
    from selenium.common.exceptions import StaleElementReferenceException, TimeoutException
    from selenium.webdriver.support.ui import WebDriverWait

    try:
        return WebDriverWait(
            driver, timeout, poll_frequency=0.2,
            ignored_exceptions=(StaleElementReferenceException,),
        ).until(condition)  # fmt: skip
    except TimeoutException:
        failure = FAILURES / f"{re.sub(r'[^a-z0-9]+', '-', what.lower()).strip('-')}.png"
        failure.parent.mkdir(parents=True, exist_ok=True)
        driver.save_screenshot(str(failure))
        raise AssertionError(
            f"the page never showed {what}; at {driver.current_url} (screenshot: {failure})"
        ) from None
