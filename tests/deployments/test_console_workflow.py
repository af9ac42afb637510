"""The console's lists people can work with (issue 20), in headless Chromium against the
session's Prefect server and real runs: run history paged and filtered by several statuses,
times in the browser's zone, Rerun withheld while a run of the job is active, the log-scale
duration chart, the jobs list's filters and health mark, and the connections search."""

from __future__ import annotations

import uuid

from prefect.client.schemas.sorting import FlowRunSort

from tests.deployments import browser, test_console
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
    job_file = write_job(project, name, shop, dataset)
    # A table of its own: the runs above load bq_products.
    job_file.write_text(
        job_file.read_text().replace(
            f"dataset: {dataset}\n", f"dataset: {dataset}\n  table: cw_jobs\n"
        )
    )
    cli("job", "apply", str(job_file), cwd=project)
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
        # Run all: one run of each job the filters select, and of no other.
        listed(f"?schedule=manual&connection={shop['connection']}")
        shown = driver.find_elements(By.CSS_SELECTOR, "#jobs tbody tr[data-job]")
        driver.find_element(By.ID, "run-all").click()
        driver.switch_to.alert.accept()
        notice = browser.wait_for(driver, lambda d: d.find_elements(By.CSS_SELECTOR, ".flash"),
                                  "the runs started")[0].text  # fmt: skip
        assert notice.startswith(f"Started {len(shown)} run"), notice
        assert name in notice
        with get_client(sync_client=True) as client:
            runs = client.read_flow_runs(limit=200)
        assert [r for r in runs if f"etl-job:{name}" in r.tags]
    finally:
        cli("job", "delete", name, cwd=project)

    # The connections search.
    driver.get(console + f"/connections?q={shop['connection']}")
    rows = driver.find_elements(By.CSS_SELECTOR, "#connections tbody tr[data-connection]")
    assert [r.get_attribute("data-connection") for r in rows] == [shop["connection"]]
    driver.get(console + "/connections?q=no-such-connection-anywhere")
    assert "No connection matches" in driver.find_element(By.ID, "connections").text
    assert _unlabelled(driver) == []


def test_a_connection_form_saves_only_after_a_passing_test(services, console, driver, tmp_path):
    import sqlite3

    import httpx
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import Select

    good = tmp_path / "form.db"
    with sqlite3.connect(good) as db:
        db.execute("CREATE TABLE t (id INTEGER PRIMARY KEY)")
    name = f"form-{uuid.uuid4().hex[:6]}"
    driver.get(console + "/connections/new?kind=sql")
    assert _unlabelled(driver) == []
    Select(driver.find_element(By.ID, "f-type")).select_by_value("sqlite")
    driver.find_element(By.ID, "f-name").send_keys(name)
    database = driver.find_element(By.ID, "f-database")
    database.send_keys(str(tmp_path / "missing.db"))
    save = driver.find_element(By.ID, "connection-save")
    outcome = driver.find_element(By.ID, "connection-outcome")

    def tested(d) -> bool:
        return outcome.text.startswith("Test ") and "Testing" not in outcome.text

    driver.find_element(By.ID, "connection-test").click()
    browser.wait_for(driver, tested, "the failing test's outcome")
    assert outcome.text.startswith("Test failed: Database ") and not save.is_displayed()
    # Save posted anyway (from the page, with its token) is tested again and refused.
    refused = driver.execute_async_script(
        "const done = arguments[0];"
        "console_post('/api/connections/save', console_form_json(document.getElementById("
        "'connection-form')), 'application/json').then(r => r.json()).then(done);"
    )
    assert refused["error"].startswith("Not saved: its test failed: Database "), refused
    # The same call from another origin is refused by the security middleware.
    outside = httpx.post(console + "/api/connections/save", json={"kind": "sql", "name": name},
                         headers={"Origin": "http://elsewhere.example"})  # fmt: skip
    assert outside.status_code == 403

    database.clear()
    database.send_keys(str(good))
    assert not save.is_displayed()  # a change hides Save until the next passing test
    driver.find_element(By.ID, "connection-test").click()
    browser.wait_for(driver, tested, "the passing test's outcome")
    assert outcome.text.startswith("Test passed: Connection successful."), outcome.text
    _shot(driver, "connection-form")
    save.click()
    browser.wait_for(driver, lambda d: "/connections?" in d.current_url, "the saved connection")
    notice = driver.find_element(By.CSS_SELECTOR, ".flash.notice").text
    assert f"Connection '{name}' created." in notice
    row = driver.find_element(By.CSS_SELECTOR, f"tr[data-connection='{name}']")
    assert "success" in row.find_element(By.CSS_SELECTOR, ".badge").text

    # The edit form: the same rule; the name is fixed and secrets are never filled in.
    driver.get(console + f"/connections/{name}/edit")
    assert driver.find_element(By.ID, "f-name").get_attribute("readonly")
    assert driver.find_element(By.ID, "f-database").get_attribute("value") == str(good)
    assert driver.find_element(By.ID, "f-password").get_attribute("value") == ""
    assert not driver.find_element(By.ID, "connection-save").is_displayed()

    from etl_bigquery.service.discovery import delete_connection

    delete_connection(name, prefect_yaml=None)


def test_the_run_history_pages_through_every_run_the_prefect_api_holds(services, console, driver):
    """The run history has no cap (it held the newest 2,000 runs of a window): it reads the flow
    runs with the Prefect API's offset/limit paging, counts every match, and its pages hold each
    run once, the oldest on the last. The console reads 200 runs per API call; the same function
    is also called here with 7 per call, so the paging loop runs over several calls without
    creating hundreds of runs (each takes most of a second on the test server)."""
    import asyncio

    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import FlowRunFilter, FlowRunFilterTags
    from prefect.states import Running
    from selenium.webdriver.common.by import By

    from etl_bigquery.flows.etl_job import etl_job
    from etl_bigquery.ui_extension.prefect_data import read_run_history

    job = f"cw-many-{uuid.uuid4().hex[:6]}"
    per_page = 10

    async def create() -> None:
        async with get_client() as client:
            for _ in range(3):
                await asyncio.gather(*(
                    client.create_flow_run(
                        etl_job, parameters={"job": {"name": job}}, tags=[f"etl-job:{job}"],
                        state=Running(),
                    ) for _ in range(8)
                ))  # fmt: skip

    async def held() -> list:
        """What the Prefect API holds for the job, newest first."""
        async with get_client() as client:
            return await client.read_flow_runs(
                flow_run_filter=FlowRunFilter(tags=FlowRunFilterTags(all_=[f"etl-job:{job}"])),
                sort=FlowRunSort.START_TIME_DESC,
            )

    def cards() -> list[str]:
        return [
            c.get_attribute("data-run") for c in driver.find_elements(By.CSS_SELECTOR, ".run-card")
        ]

    asyncio.run(create())
    runs = asyncio.run(held())
    try:
        count = len(runs)
        assert count >= 24
        pages = -(-count // per_page)
        driver.get(console + f"/?window=all&q={job}&per_page={per_page}")
        matching = driver.find_element(By.ID, "matching").text
        assert matching.startswith(f"{count} runs match"), matching
        assert f"(page 1 of {pages})" in matching, matching
        seen = cards()
        driver.find_element(By.CSS_SELECTOR, "a.oldest").click()
        last = cards()
        assert len(last) == count - per_page * (pages - 1)
        assert last[-1] == str(runs[-1].id)
        for _ in range(pages - 2):  # Newer, back to the second page
            driver.find_element(By.CSS_SELECTOR, "a[rel=prev]").click()
            seen += cards()
        assert sorted(seen + last) == sorted(str(r.id) for r in runs)  # every run, once

        # The same reads 7 runs per API call: the paging loop crosses several calls.
        def keep(view) -> bool:
            return view.job == job

        for page in range(1, pages + 1):
            history = asyncio.run(read_run_history(None, keep, page, per_page, api_page=7))
            assert (history.matching, history.pages) == (count, pages)
            expected = runs[(page - 1) * per_page : page * per_page]
            assert [r.id for r in history.runs] == [str(r.id) for r in expected]
    finally:
        asyncio.run(delete(runs))


async def delete(runs: list) -> None:
    from prefect.client.orchestration import get_client

    async with get_client() as client:
        for run in runs:
            await client.delete_flow_run(run.id)
