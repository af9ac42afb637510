"""The connection-health flow records each connection's test and alerts when one turns from
success to failed, through the same notification channel as failed runs."""

from __future__ import annotations

import sqlite3
import time
import uuid

from etl_bigquery.blocks import health
from etl_bigquery.blocks.sql import SqlConnection
from etl_bigquery.flows.connection_health import check_one, connection_health
from etl_bigquery.service.automations import default_folder
from tests.deployments.conftest import cli


def test_a_connection_turning_failed_raises_an_alert(project, receiver, repo_root, tmp_path):
    url, received = receiver
    cli("automations", "apply", "--webhook", url, "--folder", str(default_folder()),
        "--prefect-yaml", str(project / "prefect.yaml"), cwd=project)  # fmt: skip
    path = tmp_path / "health.db"
    with sqlite3.connect(path) as db:
        db.execute("CREATE TABLE t (id INTEGER)")
    name = f"health-{uuid.uuid4().hex[:6]}"
    block = SqlConnection(type="sqlite", database=str(path))
    block.save(name, overwrite=True)

    results = {r["connection"]: r for r in connection_health()}
    assert results[name]["status"] == "success" and not results[name]["alerted"]
    assert health.last_status(name)["status"] == "success"

    path.unlink()
    path.mkdir()  # no longer a database file: the test fails
    result = check_one(name, SqlConnection.load(name))
    assert result["status"] == "failed" and result["alerted"], result
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and not [a for a in received if name in str(a)]:
        time.sleep(1)
    alerts = [a for a in received if name in str(a)]
    assert alerts, f"no alert within 60 s; received {received}"
    assert f"Connection {name} worked at its last test and now fails." in alerts[0]["body"]
    # Failing again does not alert again: only the turn from success to failed does.
    assert not check_one(name, SqlConnection.load(name))["alerted"]
