"""One job run three ways — `etl run FILE` (in the command's process, no deployment), `prefect
deployment run` (Prefect's own command; the worker runs it) and the console's Run now button —
and after each, `etl job list --json`, the console's jobs page and run history, and the Prefect
API (flow runs by the job's `etl-job:` tag, and by its deployment for the runs it started)
name the same last run with the same state (issue 20)."""

from __future__ import annotations

import json
import re
import subprocess
import uuid

from tests.deployments import browser, test_console
from tests.deployments.conftest import PREFECT, cli, write_job

console = test_console.console
driver = test_console.driver

_UUID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")


def _prefect_last(name: str, deployment_id: uuid.UUID | None = None) -> tuple[str, str]:
    """The newest started run of the job as the Prefect API (and so its UI) lists it."""
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import (
        DeploymentFilter,
        DeploymentFilterId,
        FlowRunFilter,
        FlowRunFilterStartTime,
        FlowRunFilterTags,
    )
    from prefect.client.schemas.sorting import FlowRunSort

    started = FlowRunFilterStartTime(is_null_=False)
    with get_client(sync_client=True) as client:
        if deployment_id is None:
            runs = client.read_flow_runs(
                flow_run_filter=FlowRunFilter(
                    tags=FlowRunFilterTags(all_=[f"etl-job:{name}"]), start_time=started
                ),
                sort=FlowRunSort.START_TIME_DESC,
                limit=1,
            )
        else:
            runs = client.read_flow_runs(
                deployment_filter=DeploymentFilter(id=DeploymentFilterId(any_=[deployment_id])),
                flow_run_filter=FlowRunFilter(start_time=started),
                sort=FlowRunSort.START_TIME_DESC,
                limit=1,
            )
    return str(runs[0].id), runs[0].state.name


def _agree(project, console, driver, name: str, run_id: str, deployment_id=None) -> None:
    from selenium.webdriver.common.by import By

    listed = json.loads(cli("job", "list", "--json", cwd=project))
    row = next(j for j in listed if j["name"] == name)
    cli_says = (row["last_run_id"], row["last_status"])

    driver.get(f"{console}/jobs")
    cell = driver.find_element(By.CSS_SELECTOR, f"tr[data-job='{name}'] a[href^='/runs/']")
    jobs_page_says = (cell.get_attribute("href").rsplit("/runs/", 1)[1], cell.text.strip())
    driver.get(f"{console}/?window=all&q={name}")
    card = driver.find_elements(By.CSS_SELECTOR, ".run-card")[0]
    history_says = card.get_attribute("data-run")

    prefect_says = _prefect_last(name)
    assert cli_says == jobs_page_says == prefect_says == (run_id, "Completed"), (
        cli_says, jobs_page_says, prefect_says,
    )  # fmt: skip
    assert history_says == run_id
    if deployment_id is not None:  # the deployment's runs, as its page in the Prefect UI lists
        assert _prefect_last(name, deployment_id) == (run_id, "Completed")


def test_etl_run_a_deployment_run_and_the_console_agree_on_the_last_run(
    services, project, worker, shop, dataset, console, driver
):
    from selenium.webdriver.common.by import By

    from etl_bigquery.service.jobs import delete_job, deployment_id, wait_for_run

    name = f"agree-{uuid.uuid4().hex[:6]}"
    job_file = write_job(project, name, shop, dataset)
    cli("job", "apply", str(job_file), cwd=project)
    deployment = deployment_id(name)
    try:
        # 1. `etl run FILE`: in this command's process, without the deployment.
        ran = json.loads(cli("run", str(job_file), "--json", cwd=project))
        assert ran["status"] == "completed", ran
        _agree(project, console, driver, name, ran["flow_run_id"])

        # 2. `prefect deployment run`: Prefect's own command; the worker runs it.
        started = subprocess.run(
            [PREFECT, "deployment", "run", f"etl-job/{name}"],
            cwd=project, capture_output=True, text=True, timeout=120, check=False,
        )  # fmt: skip
        assert started.returncode == 0, started.stdout + started.stderr
        (prefect_run,) = set(_UUID.findall(started.stdout)) - {str(deployment)}
        assert wait_for_run(uuid.UUID(prefect_run), timeout=240, poll=1)["status"] == "completed"
        _agree(project, console, driver, name, prefect_run, deployment)

        # 3. The console's Run now button (the jobs page).
        driver.get(f"{console}/jobs")
        driver.find_element(By.CSS_SELECTOR, f"tr[data-job='{name}']").find_element(
            By.XPATH, ".//button[starts-with(normalize-space(), 'Run now')]"
        ).click()
        browser.wait_for(driver, lambda d: "/runs/" in d.current_url, "the new run's page")
        console_run = driver.current_url.split("/runs/")[1].split("?")[0]
        assert wait_for_run(uuid.UUID(console_run), timeout=240, poll=1)["status"] == "completed"
        _agree(project, console, driver, name, console_run, deployment)
    finally:
        delete_job(name, project / "prefect.yaml")
