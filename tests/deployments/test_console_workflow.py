"""The console's lists people can work with (issue 20), in headless Chromium against the
session's Prefect server and real runs: run history paged and filtered by several statuses,
times in the browser's zone, Rerun withheld while a run of the job is active, the log-scale
duration chart, the jobs list's filters and health mark, and the connections search."""

from __future__ import annotations

import uuid

from tests.deployments import test_console
from tests.deployments.conftest import cli, write_job
from tests.deployments.test_console import _shot, _unlabelled
from tests.integration.helpers import apply, job_spec, run

# The console served in this process and headless Chromium, as test_console uses them.
console = test_console.console
driver = test_console.driver


def test_runs_page_filter_times_rerun_jobs_filters_and_connection_search(
    services,
    project,
    shop,
    dataset,
    console,
    driver,
):
    from prefect.client.orchestration import get_client
    from prefect.states import Cancelled, Running
    from selenium.webdriver.common.by import By

    from etl_bigquery.flows.etl_job import etl_job

    good = job_spec(shop["connection"], shop["destination"], dataset,
                    name=f"cw-ok-{uuid.uuid4().hex[:6]}", source={"table": "products"})  # fmt: skip
    apply(good)
    first, second = run(good), run(good)
    assert first["status"] == second["status"] == "completed"
    bad = job_spec(shop["connection"], shop["destination"], dataset,
                   name=f"cw-bad-{uuid.uuid4().hex[:6]}", source={"table": "missing"})  # fmt: skip
    failed = run(bad)
    assert failed["status"] == "failed"

    def cards() -> list[tuple[str, str]]:
        return [
            (c.get_attribute("data-run"), c.get_attribute("data-status"))
            for c in driver.find_elements(By.CSS_SELECTOR, ".run-card")
        ]

    # Several statuses at once, one run per page: every page holds one of the three runs, and
    # "Older" reaches the next.
    query = "/?window=all&q=cw-&status=completed&status=failed&per_page=1"
    driver.get(console + query)
    assert "page 1 of" in driver.find_element(By.ID, "matching").text
    seen = []
    while True:
        shown = cards()
        assert len(shown) == 1 and shown[0][1] in ("completed", "failed"), shown
        seen.append(shown[0][0])
        older = driver.find_elements(By.CSS_SELECTOR, "a[rel=next]")
        if not older:
            break
        older[0].click()
    assert {first["flow_run_id"], second["flow_run_id"], failed["flow_run_id"]} <= set(seen)
    assert len(seen) == len(set(seen))
    driver.get(console + "/?window=all&q=cw-&status=failed")
    assert {s for _, s in cards()} == {"failed"}
    boxes = driver.find_elements(By.CSS_SELECTOR, "input[name=status][type=checkbox]:checked")
    assert [b.get_attribute("value") for b in boxes] == ["failed"]

    # Times in the browser's zone (the page's script rewrites the UTC text).
    driver.get(console + f"/?window=all&q={good.name}")
    stamps = driver.find_elements(By.CSS_SELECTOR, ".run-card time[data-local]")
    assert stamps and all(t.get_attribute("data-localised") == "true" for t in stamps)
    assert all(t.get_attribute("title").endswith("UTC") for t in stamps)
    assert "log scale" in driver.find_element(By.ID, "durations-heading").text
    assert _unlabelled(driver) == []
    _shot(driver, "runs-filtered")

    # A run of the job in progress (a flow run the server holds as Running): no Rerun for it.
    with get_client(sync_client=True) as client:
        active = client.create_flow_run(
            etl_job, parameters={"job": {"name": good.name}}, tags=[f"etl-job:{good.name}"],
            state=Running(),
        )  # fmt: skip
    try:
        driver.get(console + f"/?window=all&q={good.name}")
        card = driver.find_element(By.CSS_SELECTOR, f".run-card[data-run='{first['flow_run_id']}']")
        assert not card.find_elements(
            By.XPATH, ".//button[starts-with(normalize-space(), 'Rerun')]"
        )
        assert "in progress" in card.find_element(By.CSS_SELECTOR, ".rerun-wait").text
        driver.get(console + f"/runs/{first['flow_run_id']}")
        assert driver.find_elements(By.CSS_SELECTOR, ".rerun-wait")
    finally:
        with get_client(sync_client=True) as client:
            client.set_flow_run_state(active.id, Cancelled(), force=True)
    driver.get(console + f"/runs/{first['flow_run_id']}")
    assert not driver.find_elements(By.CSS_SELECTOR, ".rerun-wait")

    # The jobs list: filters and a health mark per job.
    name = f"cw-job-{uuid.uuid4().hex[:6]}"
    cli("job", "apply", str(write_job(project, name, shop, dataset)), cwd=project)
    try:

        def listed(query: str) -> dict[str, str]:
            driver.get(console + "/jobs" + query)
            return {
                r.get_attribute("data-job"): r.get_attribute("data-health")
                for r in driver.find_elements(By.CSS_SELECTOR, "#jobs tbody tr[data-job]")
            }

        assert listed("")[name] == "manual"
        assert name in listed(f"?schedule=manual&connection={shop['connection']}")
        assert name in listed("?status=never")
        assert name not in listed("?schedule=scheduled")
        assert name not in listed("?health=failed")
        assert _unlabelled(driver) == []
        _shot(driver, "jobs-filtered")
    finally:
        cli("job", "delete", name, cwd=project)

    # The connections search.
    driver.get(console + f"/connections?q={shop['connection']}")
    rows = driver.find_elements(By.CSS_SELECTOR, "#connections tbody tr[data-connection]")
    assert [r.get_attribute("data-connection") for r in rows] == [shop["connection"]]
    driver.get(console + "/connections?q=no-such-connection-anywhere")
    assert "No connection matches" in driver.find_element(By.ID, "connections").text
    assert _unlabelled(driver) == []
