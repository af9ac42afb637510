"""Failure alerts as code: `etl automations apply` on the real Prefect server (triggers service
on), and a job made to fail on purpose makes a webhook receiver on 127.0.0.1 get the alert."""

from __future__ import annotations

import time
import uuid

from prefect.client.orchestration import get_client

from etl_bigquery.service.automations import default_folder
from tests.deployments.conftest import cli, write_job


def test_applying_twice_changes_nothing(project, receiver, repo_root):
    url, _ = receiver
    args = ("automations", "apply", "--webhook", url, "--folder", str(default_folder()),
            "--prefect-yaml", str(project / "prefect.yaml"))  # fmt: skip
    first = cli(*args, cwd=project)
    assert "etl-run-failed" in first
    again = cli(*args, cwd=project)
    assert "Notification block etl-alerts unchanged." in again
    assert "created: none" in again and "updated: none" in again


def test_a_failed_run_alerts_the_webhook_with_job_and_stage(project, worker, shop, dataset,
                                                            receiver, repo_root):  # fmt: skip
    url, received = receiver
    name = f"fails-{uuid.uuid4().hex[:6]}"
    job_file = write_job(project, name, shop, dataset, "max_duration: 90m\n")
    cli("job", "apply", str(job_file), cwd=project)
    applied = cli("automations", "apply", "--webhook", url, "--folder",
                  str(default_folder()), "--prefect-yaml",
                  str(project / "prefect.yaml"), cwd=project)  # fmt: skip
    assert f"etl-run-stuck-{name}" in applied

    # Fail on purpose: the source table disappears, so the run fails in validation.
    import sqlite3

    with sqlite3.connect(shop["db"]) as db:
        db.execute("ALTER TABLE products RENAME TO products_gone")
    result = cli("job", "run", name, cwd=project)
    run_id = uuid.UUID(result.split("flow run ")[1].split()[0])

    deadline = None
    with get_client(sync_client=True) as client:
        while True:
            state = client.read_flow_run(run_id).state
            if state is not None and state.is_final():
                break
            time.sleep(1)
    assert state.is_failed() and state.message.startswith("[validation]"), state
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and not [a for a in received if name in str(a)]:
        time.sleep(1)
    alerts = [a for a in received if name in str(a)]
    assert alerts, f"no alert within 60 s of the failure; received {received}"
    body = alerts[0]["body"]
    assert f"ETL job {name} ended Failed." in body
    assert "Stage: validation" in body
    assert "Error: [validation]" in body
    assert f"/runs/flow-run/{run_id}" in body
