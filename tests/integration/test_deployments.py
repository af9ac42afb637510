"""prefect.yaml deploys, and a deployment runs on the local process work pool through a worker."""

from __future__ import annotations

import os
import re
import sqlite3
import subprocess
import sys
import time
import uuid
from pathlib import Path

from prefect.client.orchestration import get_client

from etl_bigquery.blocks import BigQueryDestination, SqlConnection
from etl_bigquery.service.job_files import load_job_file
from tests.integration.helpers import apply, data_rows

PREFECT = str(Path(sys.executable).parent / "prefect")


def _prefect(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    result = subprocess.run(
        [PREFECT, *args], cwd=cwd, capture_output=True, text=True, timeout=300,
        env={**os.environ, "PREFECT_CLI_PROMPT": "false"}, check=False,
    )  # fmt: skip
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    return result


def test_deploy_all_then_a_worker_runs_the_deployment(
    services, staging_bucket, bq, repo_root, tmp_path
):
    # The demo's blocks, on this session's services.
    shop = tmp_path / "shop.db"
    with sqlite3.connect(shop) as db:
        db.executescript(
            "CREATE TABLE products (id INTEGER PRIMARY KEY, name TEXT, price NUMERIC(10,2));"
            "INSERT INTO products VALUES (1, 'tea', 3.5), (2, 'cake', 4.25);"
        )
    SqlConnection(type="sqlite", database=str(shop)).save("demo-shop", overwrite=True)
    BigQueryDestination(
        project="local",
        staging_uri=f"gs://{staging_bucket}/loads",
        api_endpoint=services.layout.bigquery_endpoint,
        storage_endpoint=services.layout.gcs_endpoint,
    ).save("local-bigquery", overwrite=True)
    bq.delete_table("local.raw_data.bq_products", not_found_ok=True)
    apply(load_job_file(repo_root / "examples" / "demo" / "products.yaml"))

    _prefect("work-pool", "create", "etl-local", "--type", "process", "--overwrite", cwd=repo_root)
    deployed = _prefect("deploy", "--all", cwd=repo_root)
    assert "demo-products" in deployed.stdout and "demo-orders" in deployed.stdout

    started = _prefect("deployment", "run", "etl-job/demo-products", cwd=repo_root)
    found = re.search(r"flow-run/([0-9a-f-]{36})", started.stdout)
    assert found, started.stdout
    run_id = uuid.UUID(found.group(1))
    deadline = time.monotonic() + 240
    state = None
    while time.monotonic() < deadline:
        _prefect("worker", "start", "--pool", "etl-local", "--run-once", cwd=repo_root)
        with get_client(sync_client=True) as client:
            state = client.read_flow_run(run_id).state
        if state and state.is_final():
            break
    assert state is not None and state.is_completed(), state
    rows = data_rows(bq, "raw_data", "bq_products")
    assert [(r["id"], r["name"]) for r in rows] == [(1, "tea"), (2, "cake")]
