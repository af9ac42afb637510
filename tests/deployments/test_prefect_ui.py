"""The Prefect UI as a new user meets it, in headless Chromium against the real local server:
block logos load offline, the deployment's run form is a form (a Query / Table choice, the
connection field, drop-downs), and the Deployments page and a worker run show.

Screenshots go to .etl/screenshots/<time>/ on every run (the README's, in docs/screenshots/, are
taken from `make demo` by tests/deployments/demo_screenshots.py).
"""

from __future__ import annotations

import time
import uuid
from pathlib import Path

import pytest

from tests.conftest import unavailable
from tests.deployments import browser
from tests.deployments.conftest import ROOT, cli, write_job


@pytest.fixture(scope="module")
def driver():
    if reason := browser.missing():
        unavailable(f"headless Chromium cannot run: {reason}")
    with browser.chromium() as chromium:
        yield chromium


@pytest.fixture(scope="module")
def shots() -> Path:
    folder = ROOT / ".etl" / "screenshots" / time.strftime("%Y%m%d-%H%M%S")
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def _save(driver, shots: Path, name: str, height: int | None = None) -> None:
    if height:
        driver.set_window_size(1400, height)
    driver.save_screenshot(str(shots / f"{name}.png"))
    driver.set_window_size(1400, 1000)


def _texts(elements) -> list[str]:
    return [e.text.strip() for e in elements]


def _source_field(driver):
    """The form's Source field (looked up afresh: Vue re-renders it on a change)."""
    from selenium.webdriver.common.by import By

    fields = driver.find_elements(By.CSS_SELECTOR, ".schema-form-property")
    return next((f for f in fields if f.text.startswith("Source\n")), None)


def test_blocks_show_logos_and_the_run_form_is_a_form(project, worker, shop, dataset, services,
                                                      driver, shots):  # fmt: skip
    from selenium.webdriver.common.by import By

    from etl_bigquery.service.jobs import deployment_id

    ui = services.layout.prefect_api_url.removesuffix("/api")
    name = f"orders-{uuid.uuid4().hex[:6]}"
    job_file = write_job(
        project, name, shop, dataset, 'schedule:\n  daily: {at: "09:00"}\ntimezone: Europe/Warsaw\n'
    )
    cli("job", "apply", str(job_file), cwd=project)

    # Blocks page: the logos are served by the local server and load (no CDN, offline). The
    # session's other tests saved many blocks (the page shows ten at a time): search for this
    # test's two, which share a suffix.
    driver.get(f"{ui}/blocks")
    search = browser.wait_for(
        driver, lambda d: d.find_elements(By.CSS_SELECTOR, "input[placeholder='Search blocks']"),
        "the block search box",
    )[0]  # fmt: skip
    search.send_keys(shop["connection"].removeprefix("shop-"))
    logos = browser.wait_for(
        driver,
        lambda d: (
            (imgs := d.find_elements(By.CSS_SELECTOR, "img[src*='/etl-logos/']"))
            and all(d.execute_script("return arguments[0].complete", i) for i in imgs)
            and {i.get_attribute("src").rsplit("/", 1)[1] for i in imgs}
            == {"sql-connection.svg", "bigquery-destination.svg"}
            and imgs
        ),
        "the SQL connection and BigQuery destination logos",
    )
    for logo in logos:
        width = driver.execute_script("return arguments[0].naturalWidth", logo)
        assert width > 0, f"logo {logo.get_attribute('src')} did not load"
    _save(driver, shots, "blocks")

    # The deployment's custom run form.
    driver.get(f"{ui}/deployments/deployment/{deployment_id(name)}/run")
    source = browser.wait_for(driver, _source_field, "the Source field")
    # The first button group of the field is its own choice (Schema's str / None comes later).
    choice = source.find_element(By.CSS_SELECTOR, ".p-button-group").find_elements(
        By.TAG_NAME, "button"
    )
    assert _texts(choice) == ["Query", "Table", "Files"], "source is not a Query/Table/Files choice"
    assert not source.find_elements(By.CSS_SELECTOR, "[class*='json'], [class*='code']"), (
        "source is still a JSON box"
    )
    assert choice[1].get_attribute("aria-selected") == "true"  # the job's source is a table
    labels = _texts(driver.find_elements(By.CSS_SELECTOR, ".schema-form-property__label"))
    assert "Connection" in labels and "Table" in labels, labels
    connection = driver.execute_script(
        "const label = [...document.querySelectorAll('.schema-form-property__label')]"
        "  .find(l => l.textContent.trim() === 'Connection');"
        "const input = label.closest('.schema-form-property').querySelector('textarea, input');"
        "return input && input.value;"
    )
    assert connection == shop["connection"], connection
    assert "Name of an ETL SQL Connection block" in driver.page_source
    selects = {
        tuple(o.get_attribute("value") for o in s.find_elements(By.TAG_NAME, "option"))
        for s in driver.find_elements(By.CSS_SELECTOR, "select")
    }
    assert ("catalog", "transactional", "merge", "history") in selects, selects
    assert ("auto", "standard", "dataflow") in selects, selects
    _save(driver, shots, "run-form", height=2600)

    choice[0].click()
    browser.wait_for(
        driver,
        lambda d: "One SELECT statement" in getattr(_source_field(d), "text", ""),
        "the Query field after choosing Query",
    )
    _save(driver, shots, "run-form-query")

    # A worker run and the Deployments page with the schedule.
    ran = cli("job", "run", name, "--wait", "--timeout", "240", cwd=project)
    assert f"{name}: Completed" in ran, ran
    run_id = ran.split("flow run ")[1].split()[0].rstrip(";.")
    driver.get(f"{ui}/runs/flow-run/{run_id}")
    browser.wait_for(driver, lambda d: "Completed" in d.find_element(By.TAG_NAME, "body").text,
                     "the Completed run")  # fmt: skip
    _save(driver, shots, "flow-run")
    driver.get(f"{ui}/deployments")
    browser.wait_for(driver, lambda d: name in d.find_element(By.TAG_NAME, "body").text,
                     "the deployment in the list")  # fmt: skip
    _save(driver, shots, "deployments")


def test_logos_come_from_a_local_server_and_are_public_icons_elsewhere():
    from prefect.settings import PREFECT_API_URL, PREFECT_UI_URL, temporary_settings

    from etl_bigquery.blocks import BigQueryDestination, SqlConnection

    local = {PREFECT_API_URL: "http://127.0.0.1:4321/api", PREFECT_UI_URL: "http://127.0.0.1:4321"}
    with temporary_settings(updates=local):
        assert SqlConnection._to_block_type().logo_url is not None
        assert str(SqlConnection._logo_url) == "http://127.0.0.1:4321/etl-logos/sql-connection.svg"
        assert BigQueryDestination._logo_url.endswith("/etl-logos/bigquery-destination.svg")
    cloud = {PREFECT_API_URL: "https://api.prefect.cloud/api/accounts/a/workspaces/w",
             PREFECT_UI_URL: "https://app.prefect.cloud/account/a/workspace/w"}  # fmt: skip
    with temporary_settings(updates=cloud):
        assert SqlConnection._logo_url.startswith("https://")
        assert "etl-logos" not in SqlConnection._logo_url
    for svg in ("sql-connection.svg", "bigquery-destination.svg"):
        assert (ROOT / "etl_bigquery" / "resources" / "logos" / svg).read_text().startswith("<svg ")
