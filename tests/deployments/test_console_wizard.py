"""The console's wizard for every source (issue 20), in headless Chromium against the session's
Prefect server, a process worker and the BigQuery emulator: a files job (local folder, the
format and CSV options `etl connection detect` proposes, a column left out and a type
overridden) and a PostgreSQL query job (a write refused by the read-only check, a merge keyed
by a column the user marks) are made in the wizard, run through their deployments and load
their rows; the job files hold the selection and the override."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.deployments import browser, test_console
from tests.deployments.test_console import SHOTS, _options, _select, _unlabelled
from tests.integration.helpers import table_rows

# The console served in this process and headless Chromium, one of each for the module.
console = test_console.console
driver = test_console.driver


def _shot(driver, name: str, element_id: str) -> None:
    """A screenshot of one step of the wizard (the README's, with ETL_CONSOLE_DOCS=1)."""
    from selenium.webdriver.common.by import By

    SHOTS.mkdir(parents=True, exist_ok=True)
    full = driver.execute_script("return document.body.scrollHeight")
    driver.set_window_size(1400, min(int(full) + 40, 4000))
    driver.find_element(By.ID, element_id).screenshot(str(SHOTS / f"{name}.png"))
    driver.set_window_size(1400, 1000)


def _job_runs(name: str) -> list:
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import FlowRunFilter, FlowRunFilterTags

    with get_client(sync_client=True) as client:
        return client.read_flow_runs(
            flow_run_filter=FlowRunFilter(tags=FlowRunFilterTags(all_=[f"etl-job:{name}"]))
        )


def _first_run_report(name: str) -> dict:
    """The report of the run Create started ("run now"), once the worker has run it."""
    from etl_bigquery.service.jobs import wait_for_run
    from tests.deployments.conftest import wait_until

    runs = wait_until(lambda: _job_runs(name), timeout=60)
    assert len(runs) == 1, runs
    return wait_for_run(runs[0].id, timeout=300, poll=1)


def _columns_shown(driver) -> dict[str, list[str]]:
    from selenium.webdriver.common.by import By

    rows = driver.find_elements(By.CSS_SELECTOR, "#columns-table tbody tr")
    return {
        r.find_element(By.CSS_SELECTOR, "input[name=columns]").get_attribute("value"): [
            c.text for c in r.find_elements(By.TAG_NAME, "td")
        ]
        for r in rows
    }


def _post_from_page(driver, url: str, data: dict) -> dict:
    """A JSON call made by the page itself (its origin, cookie and token)."""
    return driver.execute_async_script(
        "const done = arguments[arguments.length - 1];"
        "console_post(arguments[0], JSON.stringify(arguments[1]), 'application/json')"
        ".then(r => r.json()).then(done);",
        url,
        data,
    )


def _destination_schedule_review(driver, destination: str, dataset: str, table: str, name: str):
    from selenium.webdriver.common.by import By

    driver.find_element(By.CSS_SELECTOR, "#step-3 button.next").click()
    _select(driver, "destination", destination)
    driver.find_element(By.ID, "dataset").send_keys(dataset)
    new_table = driver.find_element(By.ID, "dest_table_new")
    new_table.clear()
    new_table.send_keys(table)
    driver.find_element(By.CSS_SELECTOR, "#step-4 button.next").click()
    driver.find_element(By.CSS_SELECTOR, "#step-5 button.next").click()
    driver.find_element(By.ID, "name").clear()
    driver.find_element(By.ID, "name").send_keys(name)
    driver.find_element(By.ID, "review").click()
    review = browser.wait_for(
        driver,
        lambda d: d.find_elements(By.ID, "review-yaml") or d.find_elements(By.ID, "review-error"),
        "the review",
        timeout=120,
    )[0]
    assert review.get_attribute("id") == "review-yaml", review.text
    return review.text


def _create(driver, name: str) -> None:
    from selenium.webdriver.common.by import By

    assert driver.find_element(By.ID, "run_now").is_selected()  # the first run is offered
    driver.find_element(By.ID, "create").click()
    browser.wait_for(driver, lambda d: "/jobs?" in d.current_url, "the jobs page after creating",
                     timeout=180)  # fmt: skip
    notice = driver.find_element(By.CSS_SELECTOR, ".flash").text
    assert f"Job '{name}' created and deployed" in notice and "first run has started" in notice


@pytest.fixture()
def drop(tmp_path: Path, services, staging_bucket) -> dict[str, str]:
    """A local folder of semicolon-separated CSV exports, its file connection and a
    BigQuery destination block."""
    from etl_bigquery.blocks import BigQueryDestination, FileConnection

    folder = tmp_path / "drop"
    (folder / "exports").mkdir(parents=True)
    (folder / "exports" / "orders_1.csv").write_text(
        "id;amount;sold_on;note\n1;12.50;2026-01-02;first\n2;3.25;2026-01-03;second\n"
    )
    (folder / "exports" / "orders_2.csv").write_text(
        "id;amount;sold_on;note\n3;7.00;2026-01-04;third\n"
    )
    (folder / "exports" / "readme.txt").write_text("not an export\n")
    suffix = uuid.uuid4().hex[:8]
    connection, destination = f"drop-{suffix}", f"bq-{suffix}"
    FileConnection(type="local", bucket=str(folder)).save(connection, overwrite=True)
    BigQueryDestination(
        project="local",
        location="US",
        staging_uri=f"gs://{staging_bucket}/loads",
        api_endpoint=services.layout.bigquery_endpoint,
        storage_endpoint=services.layout.gcs_endpoint,
    ).save(destination, overwrite=True)
    return {"connection": connection, "destination": destination}


def test_a_files_job_made_in_the_wizard_loads_the_selected_columns_with_the_override(
    services, project, worker, drop, dataset, bq, console, driver
):
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import Select

    from etl_bigquery.service.jobs import delete_job, job_file_text

    name = f"wz-files-{uuid.uuid4().hex[:6]}"
    driver.get(f"{console}/jobs/new")
    _select(driver, "connection", drop["connection"])
    # A file connection: no table choice; its files are listed and the newest one detected.
    assert not driver.find_element(By.ID, "source-kind-field").is_displayed()
    prefix = driver.find_element(By.ID, "prefix")
    prefix.send_keys("exports/")
    glob = driver.find_element(By.ID, "glob")
    glob.clear()
    glob.send_keys("orders_*.csv")
    driver.find_element(By.ID, "list-files").click()
    browser.wait_for(
        driver,
        lambda d: (
            len(d.find_elements(By.CSS_SELECTOR, "#files-table tbody tr")) == 2
            and len(_columns_shown(d)) == 7
            and len(d.find_elements(By.CSS_SELECTOR, "#preview-table tbody tr")) >= 1
        ),
        "the files, the detected format and the columns",
    )
    # `etl connection detect`'s proposal: CSV with ';', a header, the types from the values.
    assert 'delimiter ";"' in driver.find_element(By.ID, "detect-output").text
    assert driver.find_element(By.ID, "csv_delimiter").get_attribute("value") == ";"
    assert driver.find_element(By.ID, "format").get_attribute("value") == "csv"
    shown = _columns_shown(driver)
    assert shown["sold_on"][4:6] == ["DATE", "medium (detected)"], shown
    assert shown["id"][4] == "INT64", shown
    # The trace columns load whatever is selected: shown, not part of the selection.
    trace = driver.find_element(By.CSS_SELECTOR, "input[name=columns][value=_etl_source_file]")
    assert trace.is_selected() and not trace.is_enabled()
    # Leave `note` out; keep sold_on as text (override).
    driver.find_element(By.CSS_SELECTOR, "input[name=columns][value=note]").click()
    Select(driver.find_element(By.NAME, "type:sold_on")).select_by_value("STRING")
    assert _unlabelled(driver) == []
    _shot(driver, "wizard-files", "step-2")

    # A path outside the connection's folder is refused, through the page's own calls too.
    escaped = _post_from_page(driver, f"/api/connections/{drop['connection']}/files",
                              {"prefix": "../", "glob": "*"})  # fmt: skip
    assert "has a '..' segment" in escaped["error"], escaped

    driver.find_element(By.CSS_SELECTOR, "#step-2 button.next").click()
    _select(driver, "load_type", "transactional")  # new or changed files: no cursor to choose
    assert not driver.find_element(By.ID, "cursor_column").is_displayed()
    review = _destination_schedule_review(
        driver, drop["destination"], dataset, "wizard_orders", name
    )
    assert "kind: files" in review and "prefix: exports/" in review, review
    assert "delimiter: ;" in review and "sold_on: STRING" in review, review
    mapping = driver.find_element(By.ID, "review-mapping").text
    assert "sold_on text sold_on STRING override" in mapping, mapping
    assert "note" not in mapping
    _shot(driver, "wizard-files-review", "step-6")
    _create(driver, name)
    try:
        # The job file holds the selection, the override and the detected CSV options.
        job = job_file_text(name, project / "prefect.yaml")
        assert job["columns"] == ["id", "amount", "sold_on"]
        assert job["column_types"] == {"sold_on": "STRING"}
        assert job["source"]["csv"]["delimiter"] == ";"
        report = _first_run_report(name)
        assert report["status"] == "completed" and report["rows_loaded"] == 3, report
        rows = table_rows(bq, dataset, "wizard_orders")
        assert [(r["id"], r["sold_on"]) for r in rows] == [
            (1, "2026-01-02"), (2, "2026-01-03"), (3, "2026-01-04")
        ]  # fmt: skip
        assert "note" not in rows[0]
        # Its Edit page offers the files' columns, the selection ticked (as `etl job edit`).
        driver.get(f"{console}/jobs/{name}/edit")
        boxes = driver.find_elements(By.CSS_SELECTOR, "input[name=columns]")
        assert {b.get_attribute("value"): b.is_selected() for b in boxes} == {
            "id": True, "amount": True, "sold_on": True, "note": False}  # fmt: skip
    finally:
        delete_job(name, project / "prefect.yaml")


@pytest.fixture()
def pg_orders(pg_admin, pg_schema) -> str:
    pg_admin.execute(
        f'CREATE TABLE "{pg_schema}".orders (id integer PRIMARY KEY, customer text, '
        "total numeric(10,2), updated_at timestamptz NOT NULL)"
    )
    pg_admin.execute(
        f'INSERT INTO "{pg_schema}".orders VALUES '
        "(1, 'ann', 12.50, now() - interval '2 hours'), "
        "(2, 'bob', 3.00, now() - interval '1 hour'), "
        "(3, 'cid', 40.00, now() - interval '30 minutes'), "
        "(4, 'dee', 9.99, now() - interval '5 minutes')"
    )
    return pg_schema


def test_a_query_job_made_in_the_wizard_is_checked_read_only_keyed_and_loads(
    services, project, worker, pg_connection, pg_orders, destination, dataset, bq, console, driver
):
    from selenium.webdriver.common.by import By

    from etl_bigquery.service.jobs import delete_job, job_file_text

    name = f"wz-query-{uuid.uuid4().hex[:6]}"
    driver.get(f"{console}/jobs/new")
    _select(driver, "connection", pg_connection)
    browser.wait_for(driver, lambda d: pg_orders in _options(d, "schema"), "the schemas")
    driver.find_element(By.CSS_SELECTOR, "input[name=source_kind][value=query]").click()
    query = driver.find_element(By.ID, "query")
    status = driver.find_element(By.ID, "table-status")

    # A statement that writes never reaches the database: the reader's check refuses it.
    query.send_keys(f'DELETE FROM "{pg_orders}".orders')
    driver.find_element(By.ID, "check-query").click()
    browser.wait_for(driver, lambda d: "DELETE" in status.text, "the refusal of a DELETE")
    assert "a source query must be one SELECT" in status.text, status.text
    assert len(pg_rows(pg_orders)) == 4

    query.clear()
    query.send_keys(
        f'SELECT id, customer, total, updated_at FROM "{pg_orders}".orders WHERE total > 5'
    )
    driver.find_element(By.ID, "check-query").click()
    browser.wait_for(
        driver,
        lambda d: (
            len(_columns_shown(d)) == 4
            and len(d.find_elements(By.CSS_SELECTOR, "#preview-table tbody tr")) == 3
        ),
        "the query's columns and first rows",
    )
    shown = _columns_shown(driver)
    assert shown["total"][4] == "NUMERIC" and shown["updated_at"][4] == "TIMESTAMP", shown
    assert _unlabelled(driver) == []
    _shot(driver, "wizard-query", "step-2")

    # Merge: the cursor recommended is updated_at; the key is the column the user marks (a
    # query has no primary key).
    driver.find_element(By.CSS_SELECTOR, "#step-2 button.next").click()
    _select(driver, "load_type", "merge")
    assert _options(driver, "cursor_column")[0] == "updated_at"
    assert "recommended" in driver.find_element(By.ID, "cursor-reason").text
    key = driver.find_element(By.CSS_SELECTOR, "input[name=key_columns][value=id]")
    assert key.is_displayed() and not key.is_selected()
    key.click()
    review = _destination_schedule_review(driver, destination, dataset, "wizard_paid", name)
    assert "kind: query" in review and "key_columns:\n- id" in review, review
    assert "cursor_column: updated_at" in review and "load_type: merge" in review, review
    _shot(driver, "wizard-query-review", "step-6")
    _create(driver, name)
    try:
        job = job_file_text(name, project / "prefect.yaml")
        assert job["source"]["query"].endswith("WHERE total > 5")
        assert job["key_columns"] == ["id"]
        report = _first_run_report(name)
        assert report["status"] == "completed" and report["rows_loaded"] == 3, report
        rows = table_rows(bq, dataset, "wizard_paid")
        assert [(r["id"], r["customer"]) for r in rows] == [(1, "ann"), (3, "cid"), (4, "dee")]
    finally:
        delete_job(name, project / "prefect.yaml")


def pg_rows(schema: str) -> list[tuple]:
    import psycopg

    from tests.conftest import PG_DSN

    with psycopg.connect(PG_DSN) as conn:
        return conn.execute(f'SELECT id FROM "{schema}".orders').fetchall()


@pytest.fixture()
def redis_users(services) -> Iterator[tuple[str, str]]:
    """Redis hashes under a key prefix (db 11) and a document-store connection to them."""
    import redis

    from etl_bigquery.blocks import NoSqlConnection
    from tests.conftest import unavailable

    client = redis.Redis(host="127.0.0.1", port=6379, db=11, socket_connect_timeout=3)
    try:
        client.ping()
    except redis.exceptions.ConnectionError as error:
        unavailable(f"Redis is not reachable at 127.0.0.1:6379: {error}")
    prefix = f"wz{uuid.uuid4().hex[:8]}"
    for i in range(1, 4):
        client.hset(f"{prefix}:{i}", mapping={"name": f"user {i}", "visits": str(i * 10),
                                              "updated_at": f"2026-11-0{i}T10:00:00Z"})  # fmt: skip
    name = f"redis-{prefix}"
    NoSqlConnection(type="redis", host="127.0.0.1", database="11").save(name, overwrite=True)
    yield name, prefix
    client.delete(*client.scan_iter(match=f"{prefix}:*"))
    client.close()
    NoSqlConnection.delete(name)


@pytest.fixture()
def bq_orders(services) -> Iterator[tuple[str, str]]:
    """A BigQuery source connection (another project of the emulator) and a dataset holding
    `orders`."""
    from google.api_core.client_options import ClientOptions
    from google.auth.credentials import AnonymousCredentials
    from google.cloud import bigquery

    from etl_bigquery.blocks import BigQuerySource

    project = "wzsrc"
    client = bigquery.Client(
        project=project, credentials=AnonymousCredentials(),
        client_options=ClientOptions(api_endpoint=services.layout.bigquery_endpoint),
    )  # fmt: skip
    dataset = f"src_{uuid.uuid4().hex[:8]}"
    client.create_dataset(dataset)
    client.query_and_wait(
        f"CREATE TABLE `{project}.{dataset}.orders` (id INT64 NOT NULL, customer STRING, "
        "total NUMERIC, updated_at TIMESTAMP)"
    )
    client.query_and_wait(
        f"INSERT INTO `{project}.{dataset}.orders` VALUES (1, 'ann', 12.5, "
        "TIMESTAMP '2026-11-01 10:00:00+00'), (2, 'bob', 3, TIMESTAMP '2026-11-02 10:00:00+00')"
    )
    name = f"bqsrc-{uuid.uuid4().hex[:8]}"
    BigQuerySource(
        project=project, billing_project="local", location="US",
        api_endpoint=services.layout.bigquery_endpoint,
        storage_api_endpoint=f"127.0.0.1:{services.layout.ports.bigquery_grpc}",
    ).save(name, overwrite=True)  # fmt: skip
    yield name, dataset
    BigQuerySource.delete(name)
    client.delete_dataset(dataset, delete_contents=True, not_found_ok=True)
    client.close()


def test_a_redis_key_prefix_and_a_bigquery_table_reach_a_passing_review(
    services, project, redis_users, bq_orders, destination, dataset, console, driver
):
    """Document stores (a key prefix typed in, keyed by document_id) and BigQuery as a source
    (datasets as schemas) go through the same steps; Review's dry run (`etl job apply
    --dry-run`) passes and nothing is created."""
    from selenium.webdriver.common.by import By
    from selenium.webdriver.common.keys import Keys

    connection, prefix = redis_users
    driver.get(f"{console}/jobs/new")
    _select(driver, "connection", connection)
    typed = browser.wait_for(
        driver, lambda d: (e := d.find_element(By.ID, "typed_table")).is_displayed() and e,
        "the source step",
    )  # fmt: skip
    assert driver.find_element(By.ID, "table-label").text == "Collection or key prefix"
    assert not driver.find_element(By.ID, "source-kind-field").is_displayed()
    typed.send_keys(prefix, Keys.TAB)  # leaving the field is its change
    browser.wait_for(driver, lambda d: "visits" in _columns_shown(d), "the prefix's columns")
    shown = _columns_shown(driver)
    assert shown["visits"][4:6] == ["INT64", "medium (detected)"], shown
    assert _unlabelled(driver) == []
    _shot(driver, "wizard-documents", "step-2")
    driver.find_element(By.CSS_SELECTOR, "#step-2 button.next").click()
    _select(driver, "load_type", "merge")
    key = driver.find_element(By.CSS_SELECTOR, "input[name=key_columns][value=document_id]")
    assert key.is_displayed() and key.is_selected()  # the store's own key, pre-marked
    assert _options(driver, "cursor_column")[0] == "updated_at"
    review = _destination_schedule_review(
        driver, destination, dataset, "wizard_users", f"wz-redis-{prefix}"
    )
    assert f"table: {prefix}" in review and "key_columns:\n- document_id" in review, review
    assert "would be created" in driver.find_element(By.ID, "review-output").text

    source, src_dataset = bq_orders
    driver.get(f"{console}/jobs/new")
    _select(driver, "connection", source)
    browser.wait_for(driver, lambda d: src_dataset in _options(d, "schema"), "the datasets")
    assert driver.find_element(By.ID, "schema-label").text == "Dataset"
    _select(driver, "schema", src_dataset)
    browser.wait_for(driver, lambda d: "orders" in _options(d, "table"), "the dataset's tables")
    _select(driver, "table", "orders")
    browser.wait_for(driver, lambda d: len(_columns_shown(d)) == 4, "the table's columns")
    assert _columns_shown(driver)["total"][4] == "NUMERIC"
    driver.find_element(By.CSS_SELECTOR, "#step-2 button.next").click()
    review = _destination_schedule_review(
        driver, destination, dataset, "wizard_bq_orders", f"wz-bq-{src_dataset[4:]}"
    )
    assert f"schema: {src_dataset}" in review and "table: orders" in review, review
    assert "total NUMERIC total NUMERIC high" in driver.find_element(By.ID, "review-mapping").text
