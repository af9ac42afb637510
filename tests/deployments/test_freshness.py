"""Freshness, checked by the connection-health flow: a deployed job whose last successful load is
older than its (short) `freshness` fires the etl-job-stale alert once; a job within its
freshness stays quiet."""

from __future__ import annotations

import time
import uuid

from etl_bigquery.flows.connection_health import connection_health
from etl_bigquery.flows.freshness import check_freshness, last_freshness
from etl_bigquery.service.automations import default_folder
from tests.deployments.conftest import cli, wait_until, write_job


def test_a_stale_job_fires_its_alert_once(project, receiver, shop, dataset):
    url, received = receiver
    stale = f"stale-{uuid.uuid4().hex[:6]}"
    fresh = f"fresh-{uuid.uuid4().hex[:6]}"
    paths = {}
    for name, limit in ((stale, "1s"), (fresh, "1d")):
        path = paths[name] = write_job(
            project, name, shop, f"{dataset}_{name[:5]}", f"freshness: {limit}\n"
        )
        cli("job", "apply", str(path), cwd=project)
        cli("run", str(path), cwd=project)  # a successful load, tagged etl-job:<name>
    cli("automations", "apply", "--webhook", url, "--folder", str(default_folder()),
        "--prefect-yaml", str(project / "prefect.yaml"), cwd=project)  # fmt: skip
    time.sleep(2)  # older than the stale job's 1 s

    connection_health()  # the hourly deployment's flow: connections, then freshness
    assert last_freshness(stale)["status"] == "stale", last_freshness(stale)
    assert last_freshness(stale)["reason"].startswith("last successful load ")
    assert last_freshness(stale)["last_success"] is not None
    assert last_freshness(fresh)["status"] == "fresh", last_freshness(fresh)

    alerts = wait_until(lambda: [a for a in received if stale in str(a)], timeout=60)
    assert alerts, f"no alert within 60 s; received {received}"
    assert alerts[0]["subject"] == f"ETL job {stale} is stale"
    assert "(freshness 1s)" in alerts[0]["body"]
    assert not [a for a in received if fresh in str(a)]
    # Still stale at the next check: no second alert.
    again = {r["job"]: r for r in check_freshness([stale, fresh])}
    assert again[stale]["status"] == "stale" and not again[stale]["alerted"]
    assert again[fresh]["status"] == "fresh" and not again[fresh]["alerted"]

    # The console's jobs page: freshness per job, and the mark of the last `etl verify`.
    assert "EQUAL" in cli("verify", fresh, cwd=project)  # by name: the deployed job
    from fastapi.testclient import TestClient

    from etl_bigquery.ui_extension.app import create_app

    with TestClient(create_app(project / "prefect.yaml"), base_url="http://127.0.0.1") as web:
        page = web.get("/jobs")
    assert page.status_code == 200, page.text[:500]
    rows = {name: page.text.split(f'data-job="{name}"')[1].split("</tr>")[0] for name in paths}
    assert ">stale</span>" in rows[stale] and "freshness 1s" in rows[stale]
    assert ">fresh</span>" in rows[fresh] and "✓ verified" in rows[fresh], rows[fresh]
    assert "verified" not in rows[stale]
