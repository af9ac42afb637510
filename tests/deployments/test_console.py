"""The web console (ui_extension) in headless Chromium, against the session's Prefect server
with real runs of the etl-job flow: the KPI cards equal what the Prefect API reports, a failed
run shows its failed stage, a job created in the wizard becomes a deployment that runs on the
process worker, and the basics of accessibility hold (labels, keyboard).

Screenshots of every page go to .etl/screenshots/console/ (ETL_CONSOLE_DOCS=1 writes them to
docs/console/ instead, the README's set).
"""

from __future__ import annotations

import contextvars
import os
import threading
import uuid
from collections.abc import Iterator

import pytest

from tests.conftest import free_port, unavailable
from tests.deployments import browser
from tests.deployments.conftest import ROOT, wait_until
from tests.integration.helpers import apply, job_spec, run

SHOTS = ROOT / (
    "docs/console" if os.environ.get("ETL_CONSOLE_DOCS") else ".etl/screenshots/console"
)


@pytest.fixture(scope="module")
def driver():
    if reason := browser.missing():
        unavailable(f"headless Chromium cannot run: {reason}")
    with browser.chromium() as chromium:
        chromium.set_window_size(1400, 1000)
        yield chromium


@pytest.fixture(scope="module")
def console(services, project) -> Iterator[str]:
    """The console app served by uvicorn in this process, on a free port."""
    import uvicorn

    from etl_bigquery.ui_extension.app import create_app

    port = free_port()
    server = uvicorn.Server(
        uvicorn.Config(
            create_app(project / "prefect.yaml"), host="127.0.0.1", port=port, log_level="warning"
        )
    )
    # In this session's Prefect settings (a context variable), or the client would start an
    # ephemeral server of its own.
    context = contextvars.copy_context()
    thread = threading.Thread(target=context.run, args=(server.run,), daemon=True)
    thread.start()
    assert wait_until(lambda: server.started, timeout=30), "the console did not start"
    yield f"http://127.0.0.1:{port}"
    server.should_exit = True
    thread.join(timeout=10)


def _shot(driver, name: str, height: int | None = None) -> None:
    SHOTS.mkdir(parents=True, exist_ok=True)
    full = height or driver.execute_script("return document.body.scrollHeight")
    driver.set_window_size(1400, max(800, min(int(full) + 40, 3000)))
    driver.execute_script("window.scrollTo(0, 0)")
    driver.save_screenshot(str(SHOTS / f"{name}.png"))
    driver.set_window_size(1400, 1000)


def _unlabelled(driver) -> list[str]:
    """Form controls a screen reader would announce without a name."""
    return driver.execute_script(
        """
        return [...document.querySelectorAll('input, select, textarea')]
          .filter(e => e.type !== 'hidden' && !e.closest('[hidden]'))
          .filter(e => !(e.labels && e.labels.length) && !e.getAttribute('aria-label')
                       && !e.getAttribute('aria-labelledby'))
          .map(e => e.outerHTML.slice(0, 120));
        """
    )


def _tab_reaches(driver, texts: set[str], limit: int = 120) -> set[str]:
    """Press Tab from the top of the page; which of `texts` (a button's or link's text) got
    the keyboard focus."""
    from selenium.webdriver.common.action_chains import ActionChains
    from selenium.webdriver.common.keys import Keys

    driver.execute_script("document.activeElement && document.activeElement.blur(); window.focus()")
    reached = set()
    for _ in range(limit):
        ActionChains(driver).send_keys(Keys.TAB).perform()
        label = driver.execute_script(
            "const e = document.activeElement;return e ? (e.innerText || e.value || '').trim() : ''"
        )
        first = label.split("\n")[0].strip()
        reached |= {t for t in texts if first.startswith(t)}
        if reached == texts:
            break
    return reached


def _expected_kpis() -> dict[str, float | int | None]:
    """The KPIs over every started etl-job run, computed here from the Prefect API: states from
    the flow runs, rows from each run's load artifact (the console reads the summary's JSON)."""
    import json

    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import (
        ArtifactFilter,
        ArtifactFilterFlowRunId,
        FlowFilter,
        FlowFilterName,
        FlowRunFilter,
        FlowRunFilterStartTime,
    )

    with get_client(sync_client=True) as client:
        runs: list = []
        while True:  # the server gives at most 200 per call
            page = client.read_flow_runs(
                flow_filter=FlowFilter(name=FlowFilterName(any_=["etl-job"])),
                flow_run_filter=FlowRunFilter(start_time=FlowRunFilterStartTime(is_null_=False)),
                limit=200,
                offset=len(runs),
            )
            runs += page
            if len(page) < 200:
                break
        ok = [r for r in runs if r.state.type.value == "COMPLETED" and r.state.name != "Skipped"]
        failed = [r for r in runs if r.state.type.value in ("FAILED", "CRASHED")]
        rows = 0
        for r in ok:
            for artifact in client.read_artifacts(
                artifact_filter=ArtifactFilter(flow_run_id=ArtifactFilterFlowRunId(any_=[r.id]))
            ):
                if artifact.type == "table" and artifact.key.endswith("-load"):
                    data = (
                        json.loads(artifact.data)
                        if isinstance(artifact.data, str)
                        else artifact.data
                    )
                    rows += int(next(d["value"] for d in data if d["figure"] == "rows loaded"))
    durations = [r.total_run_time.total_seconds() for r in ok]
    return {
        "total": len(runs),
        "successful": len(ok),
        "failed": len(failed),
        "rate": round(100 * len(ok) / len(runs), 1) if runs else None,
        "rows": rows,
        "duration": sum(durations) / len(durations) if durations else None,
    }


def _shown_kpis(driver) -> dict[str, str]:
    from selenium.webdriver.common.by import By

    return {
        key: driver.find_element(By.ID, f"kpi-{key}").get_attribute("data-value")
        for key in ("total", "successful", "failed", "rate", "rows", "duration")
    }


def test_dashboard_kpis_stage_bars_run_page_and_connections(
    services, shop, dataset, console, driver
):
    from selenium.webdriver.common.by import By

    good = job_spec(shop["connection"], shop["destination"], dataset,
                    name=f"console-ok-{uuid.uuid4().hex[:6]}",
                    source={"table": "products"})  # fmt: skip
    apply(good)
    succeeded = run(good)
    assert succeeded["status"] == "completed", succeeded
    # A job whose source table is missing: a real failed run.
    bad = job_spec(shop["connection"], shop["destination"], dataset,
                   name=f"console-bad-{uuid.uuid4().hex[:6]}",
                   source={"table": "missing"})  # fmt: skip
    failed = run(bad)
    assert failed["status"] == "failed", failed

    # KPIs over all runs equal what the Prefect API reports (computed independently).
    for _ in range(3):  # another run could end between the two reads; then read both again
        expected = _expected_kpis()
        driver.get(f"{console}/?window=all")
        shown = _shown_kpis(driver)
        if expected == _expected_kpis():
            break
    assert int(shown["total"]) == expected["total"] >= 2
    assert int(shown["successful"]) == expected["successful"] >= 1
    assert int(shown["failed"]) == expected["failed"] >= 1
    assert float(shown["rate"]) == expected["rate"]
    assert int(shown["rows"]) == expected["rows"] >= 2
    assert abs(float(shown["duration"]) - expected["duration"]) < 0.06
    band = driver.find_element(By.ID, "kpi-rate").get_attribute("data-band")
    rate = expected["rate"]
    assert band == ("green" if rate >= 95 else "yellow" if rate >= 80 else "red")

    # Run cards: the failed run shows the failed stage (and what was not reached), the good one
    # four completed stages; both link to their Prefect flow runs.
    def stages(run_id: str) -> dict[str, str]:
        card = driver.find_element(By.CSS_SELECTOR, f".run-card[data-run='{run_id}']")
        return {
            s.get_attribute("data-stage"): s.get_attribute("data-state")
            for s in card.find_elements(By.CSS_SELECTOR, ".seg")
        }

    assert stages(succeeded["flow_run_id"]) == dict.fromkeys(
        ("init", "validate", "extract", "load"), "completed"
    )
    bar = stages(failed["flow_run_id"])
    stage = {"init": "init", "validation": "validate", "extraction": "extract", "load": "load"}[
        failed["error_type"]
    ]
    assert bar[stage] == "failed", bar
    order = ["init", "validate", "extract", "load"]
    assert all(bar[s] == "completed" for s in order[: order.index(stage)]), bar
    assert all(bar[s] == "not-reached" for s in order[order.index(stage) + 1 :]), bar
    card = driver.find_element(By.CSS_SELECTOR, f".run-card[data-run='{failed['flow_run_id']}']")
    assert card.find_element(By.CSS_SELECTOR, ".error-type").text.lower() == failed["error_type"]
    assert "missing" in card.find_element(By.CSS_SELECTOR, ".run-error").text
    link = card.find_element(By.PARTIAL_LINK_TEXT, "Prefect run").get_attribute("href")
    assert link.endswith(f"/runs/flow-run/{failed['flow_run_id']}")
    # One bubble per run of the last 5 days; the failed run (0 rows) is hollow.
    bubble = driver.find_element(
        By.CSS_SELECTOR, f"circle.bubble[data-run='{failed['flow_run_id']}']"
    )
    assert "hollow" in bubble.get_attribute("class")
    assert "hollow" not in driver.find_element(
        By.CSS_SELECTOR, f"circle.bubble[data-run='{succeeded['flow_run_id']}']"
    ).get_attribute("class")
    assert driver.find_elements(By.CSS_SELECTOR, "svg.durations circle.point")
    assert _unlabelled(driver) == []
    # (Rerun is disabled here: these runs ran in-process, without a deployment to run again.)
    main_controls = {"Runs", "Show", "Filter", "View"}
    assert _tab_reaches(driver, main_controls) == main_controls
    _shot(driver, "dashboard")

    # Filters: status failed shows only failed runs; a job search narrows to that job.
    driver.get(f"{console}/?window=all&status=failed")
    statuses = {
        c.get_attribute("data-status") for c in driver.find_elements(By.CSS_SELECTOR, ".run-card")
    }
    assert statuses == {"failed"}
    driver.get(f"{console}/?window=all&q={good.name}")
    cards = driver.find_elements(By.CSS_SELECTOR, ".run-card")
    assert [c.get_attribute("data-run") for c in cards] == [succeeded["flow_run_id"]]

    # The run page: failure, stages, logs, the job.
    driver.get(f"{console}/runs/{failed['flow_run_id']}")
    assert f"Failed in {failed['error_type']}" in driver.find_element(By.ID, "failure").text

    def logs_name_the_table(d) -> bool:  # the run's last logs reach the server in a batch
        found = d.find_elements(By.ID, "logs")
        if found and "main.missing" in found[0].text:
            return True
        d.refresh()
        return False

    browser.wait_for(driver, logs_name_the_table, "the run's logs")
    _shot(driver, "run-failed")

    # Connections: health, Test now, used by N jobs, delete refused while used.
    driver.get(f"{console}/connections")
    row = driver.find_element(By.CSS_SELECTOR, f"tr[data-connection='{shop['connection']}']")
    row.find_element(By.XPATH, ".//button[starts-with(normalize-space(), 'Test now')]").click()
    notice = browser.wait_for(driver, lambda d: d.find_elements(By.CSS_SELECTOR, ".flash.notice"),
                              "the test's outcome")[0].text  # fmt: skip
    assert notice.startswith(f"{shop['connection']}: success: Connection successful.")
    row = driver.find_element(By.CSS_SELECTOR, f"tr[data-connection='{shop['connection']}']")
    assert "success" in row.find_element(By.CSS_SELECTOR, ".badge").text
    assert _unlabelled(driver) == []
    _shot(driver, "connections")


def _select(driver, element_id: str, value: str) -> None:
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import Select

    # A step is shown by the page's script after a click; on a loaded machine that takes a moment.
    element = browser.wait_for(
        driver,
        lambda d: (e := d.find_element(By.ID, element_id)).is_displayed() and e.is_enabled() and e,
        f"the {element_id} field to be shown",
    )
    Select(element).select_by_value(value)


def _options(driver, element_id: str) -> list[str]:
    from selenium.webdriver.common.by import By

    return [
        o.get_attribute("value")
        for o in driver.find_element(By.ID, element_id).find_elements(By.TAG_NAME, "option")
    ]


def test_a_job_created_in_the_wizard_is_deployed_runs_pauses_and_is_deleted(
    services, project, worker, shop, dataset, console, driver
):
    from prefect.client.orchestration import get_client
    from selenium.webdriver.common.by import By

    from etl_bigquery.service.jobs import wait_for_run

    # An existing table in the dataset, for the compatibility report.
    other = job_spec(shop["connection"], shop["destination"], dataset, table="existing_products",
                     source={"table": "products"})  # fmt: skip
    apply(other)
    name = f"wizard-{uuid.uuid4().hex[:6]}"

    driver.get(f"{console}/jobs/new")
    _select(driver, "connection", shop["connection"])
    browser.wait_for(driver, lambda d: "products" in _options(d, "table"), "the source's tables")
    assert _options(driver, "schema") == ["main"]
    _select(driver, "table", "products")
    browser.wait_for(
        driver,
        lambda d: (
            len(d.find_elements(By.CSS_SELECTOR, "#preview-table tbody tr")) == 2
            and len(d.find_elements(By.CSS_SELECTOR, "#columns-table tbody tr")) == 4
        ),
        "the proposed columns and the preview",
    )
    proposed = driver.find_element(By.ID, "columns-table").text
    assert "price" in proposed and "NUMERIC" in proposed, proposed
    assert _unlabelled(driver) == []
    _shot(driver, "wizard-table")
    driver.find_element(By.CSS_SELECTOR, "#step-2 button.next").click()
    # A transactional job's cursor: only columns that can serve, the best first, with why.
    _select(driver, "load_type", "transactional")
    assert _options(driver, "cursor_column") == ["id", "price"]  # INT64 before NUMERIC
    assert "growing number" in driver.find_element(By.ID, "cursor-reason").text
    _select(driver, "load_type", "catalog")
    driver.find_element(By.CSS_SELECTOR, "#step-3 button.next").click()
    _select(driver, "destination", shop["destination"])
    driver.find_element(By.ID, "dataset").send_keys(dataset)
    driver.find_element(By.CSS_SELECTOR, "input[name=dest_mode][value=existing]").click()
    driver.execute_script("document.getElementById('dataset').dispatchEvent(new Event('change'))")
    browser.wait_for(driver, lambda d: "existing_products" in _options(d, "dest_table_existing"),
                     "the dataset's tables")  # fmt: skip
    _select(driver, "dest_table_existing", "existing_products")
    report = browser.wait_for(driver, lambda d: d.find_elements(By.ID, "compatibility-report"),
                              "the compatibility report")[0].text  # fmt: skip
    assert "Compatible" in driver.find_element(By.ID, "compatibility").text
    assert "price" in report and "✓" in report
    _shot(driver, "wizard-destination")
    driver.find_element(By.CSS_SELECTOR, "input[name=dest_mode][value=new]").click()
    new_table = driver.find_element(By.ID, "dest_table_new")
    new_table.clear()
    new_table.send_keys("bq_products_console")
    driver.find_element(By.CSS_SELECTOR, "#step-4 button.next").click()
    _select(driver, "schedule_kind", "daily")
    driver.find_element(By.ID, "at").clear()
    driver.find_element(By.ID, "at").send_keys("09:00")
    driver.find_element(By.ID, "timezone").clear()
    driver.find_element(By.ID, "timezone").send_keys("Europe/Warsaw")
    driver.find_element(By.CSS_SELECTOR, "#step-5 button.next").click()
    driver.find_element(By.ID, "name").clear()
    driver.find_element(By.ID, "name").send_keys(name)
    driver.find_element(By.ID, "review").click()
    review = browser.wait_for(driver, lambda d: d.find_elements(By.ID, "review-yaml"),
                              "the review")[0].text  # fmt: skip
    assert f"name: {name}" in review and "table: bq_products_console" in review
    assert "Daily at 09:00 Europe/Warsaw" in driver.find_element(By.ID, "review-output").text
    assert _unlabelled(driver) == []
    _shot(driver, "wizard-review")
    # The first run is offered, ticked; this test starts its runs with Run now below.
    run_now = driver.find_element(By.ID, "run_now")
    assert run_now.is_selected()
    run_now.click()
    driver.find_element(By.ID, "create").click()
    browser.wait_for(driver, lambda d: "/jobs?" in d.current_url, "the jobs page after creating",
                     timeout=180)  # fmt: skip
    assert (
        f"Job '{name}' created and deployed" in driver.find_element(By.CSS_SELECTOR, ".flash").text
    )

    with get_client(sync_client=True) as client:
        deployment = client.read_deployment_by_name(f"etl-job/{name}")
    (schedule,) = deployment.schedules
    assert (schedule.schedule.cron, schedule.schedule.timezone) == ("0 9 * * *", "Europe/Warsaw")
    assert f"name: {name}" in (project / "prefect.yaml").read_text()

    # The jobs page: Run now starts a run through the deployment; the worker runs it.
    row = driver.find_element(By.CSS_SELECTOR, f"tr[data-job='{name}']")
    link = row.find_element(By.PARTIAL_LINK_TEXT, "Prefect deployment").get_attribute("href")
    assert link.endswith(f"/deployments/deployment/{deployment.id}")
    assert _unlabelled(driver) == []
    assert _tab_reaches(driver, {"New job", "Run now", "Pause", "Edit", "Delete"}) == {
        "New job",
        "Run now",
        "Pause",
        "Edit",
        "Delete",
    }
    _shot(driver, "jobs")
    row.find_element(By.XPATH, ".//button[starts-with(normalize-space(), 'Run now')]").click()
    browser.wait_for(driver, lambda d: "/runs/" in d.current_url, "the new run's page")
    run_id = driver.current_url.split("/runs/")[1].split("?")[0]
    report = wait_for_run(uuid.UUID(run_id), timeout=240, poll=1)
    assert report["status"] == "completed" and report["rows_loaded"] == 2, report
    driver.get(f"{console}/runs/{run_id}")
    assert driver.find_element(By.CSS_SELECTOR, ".badge").text.strip() == "Completed"
    segments = driver.find_elements(By.CSS_SELECTOR, ".stagebar .seg")
    assert [s.get_attribute("data-state") for s in segments] == ["completed"] * 4
    assert _tab_reaches(driver, {"Rerun"}) == {"Rerun"}
    _shot(driver, "run")
    # Rerun: another run through the same deployment (as `etl job run`).
    driver.find_element(By.XPATH, "//button[starts-with(normalize-space(), 'Rerun')]").click()
    browser.wait_for(driver, lambda d: run_id not in d.current_url, "the rerun's page")
    rerun_id = driver.current_url.split("/runs/")[1].split("?")[0]
    # (the worker runs it while the edit, pause and refusal below go on; waited for before Delete)

    # Edit what may change (as `etl job edit`): the schedule, and drop a column.
    driver.get(f"{console}/jobs/{name}/edit")
    schedule_field = driver.find_element(By.ID, "schedule")
    schedule_field.clear()
    schedule_field.send_keys("{weekly: {on: mon, at: '07:30'}}")
    driver.find_element(By.CSS_SELECTOR, "input[name=columns][value=colour]").click()
    assert _unlabelled(driver) == []
    _shot(driver, "job-edit")
    driver.find_element(By.XPATH, "//button[normalize-space()='Save changes']").click()
    notice = browser.wait_for(driver, lambda d: d.find_elements(By.CSS_SELECTOR, ".flash.notice"),
                              "the edit notice", timeout=120)[0].text  # fmt: skip
    assert notice == f"Job '{name}' changed: columns, schedule.", notice
    with get_client(sync_client=True) as client:
        edited = client.read_deployment_by_name(f"etl-job/{name}")
    assert edited.schedules[0].schedule.cron == "30 7 * * 1"
    assert edited.parameters["job"]["columns"] == ["id", "name", "price"]

    # Pause and resume, as `etl job pause|resume`.
    driver.get(f"{console}/jobs")
    driver.find_element(By.CSS_SELECTOR, f"tr[data-job='{name}']").find_element(
        By.XPATH, ".//button[starts-with(normalize-space(), 'Pause')]"
    ).click()
    browser.wait_for(driver, lambda d: "paused" in d.find_element(By.CSS_SELECTOR, ".flash").text,
                     "the pause notice")  # fmt: skip
    with get_client(sync_client=True) as client:
        assert client.read_deployment_by_name(f"etl-job/{name}").paused

    # The dashboard's scheduled jobs: paused jobs after the enabled ones, with the schedule.
    driver.get(f"{console}/")
    scheduled = driver.find_element(By.CSS_SELECTOR, f"#scheduled tr[data-job='{name}']").text
    assert "Weekly on Monday at 07:30 Europe/Warsaw" in scheduled and "Paused" in scheduled

    # The connection is used by this job: deleting it is refused, in the CLI's words.
    driver.get(f"{console}/connections")
    row = driver.find_element(By.CSS_SELECTOR, f"tr[data-connection='{shop['connection']}']")
    assert int(row.find_element(By.CSS_SELECTOR, ".used-by").get_attribute("data-count")) >= 1
    row.find_element(By.XPATH, ".//button[starts-with(normalize-space(), 'Delete')]").click()
    driver.switch_to.alert.accept()
    error = browser.wait_for(driver, lambda d: d.find_elements(By.CSS_SELECTOR, ".flash.error"),
                             "the refusal")[0].text  # fmt: skip
    assert f"Connection '{shop['connection']}' is used by job" in error and name in error

    rerun = wait_for_run(uuid.UUID(rerun_id), timeout=240, poll=1)
    assert rerun["status"] == "completed" and rerun["job"] == name, rerun

    # Delete the job: the deployment and its prefect.yaml entry go.
    driver.get(f"{console}/jobs")
    driver.find_element(By.CSS_SELECTOR, f"tr[data-job='{name}']").find_element(
        By.XPATH, ".//button[starts-with(normalize-space(), 'Delete')]"
    ).click()
    driver.switch_to.alert.accept()
    browser.wait_for(driver, lambda d: "deleted" in d.find_element(By.CSS_SELECTOR, ".flash").text,
                     "the delete notice")  # fmt: skip
    with get_client(sync_client=True) as client:
        assert not [d for d in client.read_deployments() if d.name == name]
    assert f"name: {name}" not in (project / "prefect.yaml").read_text()
