"""A project folder with its own prefect.yaml and a real process worker, on the session's
services: what `etl job apply` writes and what the worker runs, without touching the
repository's prefect.yaml."""

from __future__ import annotations

import http.server
import json
import os
import sqlite3
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.integration.cli_helpers import etl_here

ROOT = Path(__file__).resolve().parents[2]
PREFECT = str(Path(sys.executable).parent / "prefect")
POOL = "etl-local"


@pytest.fixture(scope="session")
def project(services, tmp_path_factory) -> Path:
    """A project: prefect.yaml (no deployments yet) and nothing else: deployments name a module
    of the installed package, so no flow code is needed in the folder."""
    folder = tmp_path_factory.mktemp("project")
    (folder / "prefect.yaml").write_text(
        "# A test project.\nname: test-project\nprefect-version: 3.8.8\n\n"
        "build: null\npush: null\npull: null\n\ndeployments: []\n"
    )
    return folder


@pytest.fixture(scope="session")
def worker(services, project) -> Iterator[subprocess.Popen]:
    """A process worker of the local pool, polling every second."""
    from etl_bigquery.service.jobs import ensure_process_pool

    ensure_process_pool(POOL)
    log = open(project / "worker.log", "w")  # noqa: SIM115 - closed below
    process = subprocess.Popen(
        [PREFECT, "worker", "start", "--pool", POOL, "--type", "process"],
        cwd=project, stdout=log, stderr=subprocess.STDOUT,
        env={**os.environ, "PREFECT_WORKER_QUERY_SECONDS": "1",
             "PREFECT_WORKER_PREFETCH_SECONDS": "2"},
    )  # fmt: skip
    yield process
    process.terminate()
    try:
        process.wait(timeout=20)
    except subprocess.TimeoutExpired:
        process.kill()
    log.close()


@pytest.fixture()
def shop(services, staging_bucket, tmp_path) -> dict[str, str]:
    """A SQLite shop and the blocks to reach it and the emulator; returns their names."""
    from etl_bigquery.blocks import BigQueryDestination, SqlConnection

    path = tmp_path / "shop.db"
    with sqlite3.connect(path) as db:
        db.executescript(
            "CREATE TABLE products (id INTEGER PRIMARY KEY, name TEXT, price NUMERIC(10,2), "
            "colour TEXT);"
            "INSERT INTO products VALUES (1, 'tea', 3.5, 'green'), (2, 'cake', 4.25, 'brown');"
        )
    suffix = uuid.uuid4().hex[:8]
    connection, destination = f"shop-{suffix}", f"bq-{suffix}"
    SqlConnection(type="sqlite", database=str(path)).save(connection, overwrite=True)
    BigQueryDestination(
        project="local",
        location="US",
        staging_uri=f"gs://{staging_bucket}/loads",
        api_endpoint=services.layout.bigquery_endpoint,
        storage_endpoint=services.layout.gcs_endpoint,
    ).save(destination, overwrite=True)
    return {"connection": connection, "destination": destination, "db": str(path)}


def write_job(folder: Path, name: str, shop: dict[str, str], dataset: str, extra: str = "") -> Path:
    file = folder / f"{name}.yaml"
    file.write_text(
        f"name: {name}\nconnection: {shop['connection']}\nsource:\n  table: products\n"
        f"columns: [id, name, price]\n"
        f"destination:\n  block: {shop['destination']}\n  dataset: {dataset}\n"
        f"load_type: catalog\n{extra}"
    )
    return file


def cli(*args: str, cwd: Path) -> str:
    """The command's output; run in this process (the commands' code path without a new
    process's imports: these tests are about what the commands do to the server)."""
    code, out, err = etl_here(*args, cwd=cwd)
    assert code == 0, out + err
    return out


def wait_until(check, timeout: float = 60, every: float = 1):
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value or time.monotonic() > deadline:
            return value
        time.sleep(every)


@pytest.fixture()
def receiver() -> Iterator[tuple[str, list[dict]]]:
    received: list[dict] = []

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            received.append(json.loads(self.rfile.read(length) or b"{}"))
            self.send_response(200)
            self.end_headers()

        def log_message(self, *args) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}/alerts", received
    server.shutdown()
