"""The production rehearsal: the product as its users get it, with no checkout anywhere.

The wheel is built from this repository, installed into a fresh virtualenv in a temporary folder
outside the repository, and then only that installation is used, from an empty project folder,
with a clean environment (no PYTHONPATH, the repository never the working directory):
`etl --version`, `etl services up` (its own emulators and Prefect server on free ports),
`etl connection apply`, `etl job apply`, a Prefect process worker started from the installed
virtualenv (as the Cloud Run container runs the flow: only the installed package and the
deployment's pull steps), `prefect deployment run`, and `etl run`. BigQuery (the emulator) must
hold the source's rows afterwards. A job on a Cloud Run v2 pool is applied too, and
`prefect deployment inspect` must show a module entrypoint and no pull step naming a folder.

What is not rehearsed here: the Docker image itself (no Docker engine on these machines; the
Dockerfile installs this same wheel into Prefect's image) and a real Cloud Run execution.
The emulators' own virtualenv (Python 3.13) is the checkout's `.venv-emulators`, handed over by
ETL_EMULATOR_VENV (a place, like a service address); without it `etl services up` would build
one from the requirements shipped in the wheel, which takes minutes.
"""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import sys
import zipfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import free_port, unavailable

REPO = Path(__file__).resolve().parents[2]
CONSTRAINTS = REPO / "requirements" / "constraints.txt"
EMULATORS = REPO / ".venv-emulators"
ROWS = 37


def _run(
    args: list[str], *, cwd: Path, env: dict[str, str], timeout: float = 600
) -> subprocess.CompletedProcess[str]:
    done = subprocess.run(
        args, cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout,
        stdin=subprocess.DEVNULL, check=False,
    )  # fmt: skip
    assert done.returncode == 0, f"{' '.join(args)} failed:\n{done.stdout}\n{done.stderr}"
    return done


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("dist")
    build = tmp_path_factory.mktemp("build")
    _run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps",
         "--quiet", "-w", str(out), str(REPO)],
        cwd=build, env={**os.environ, "PIP_NO_INPUT": "1"},
    )  # fmt: skip
    (found,) = out.glob("etl_bigquery-*.whl")
    return found


@pytest.fixture(scope="module")
def installed(wheel: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A fresh virtualenv outside the repository with the wheel and its dependencies."""
    venv = tmp_path_factory.mktemp("rehearsal") / "venv"
    assert REPO not in venv.parents
    base = getattr(sys, "_base_executable", sys.executable)
    # Without the checkout's PYTHONPATH (a developer's worktree sets one): pip would find the
    # checkout's package there, count it as installed and leave the new venv without `etl`.
    clean = {k: v for k, v in os.environ.items() if not k.startswith(("PYTHON", "VIRTUAL_ENV"))}
    _run([base, "-m", "venv", str(venv)], cwd=venv.parent, env=clean)
    _run(
        [str(venv / "bin" / "pip"), "install", "--quiet", "-c", str(CONSTRAINTS), str(wheel)],
        cwd=venv.parent, env={**clean, "PIP_NO_INPUT": "1"}, timeout=1200,
    )  # fmt: skip
    assert (venv / "bin" / "etl").exists(), "pip installed the wheel without its etl command"
    return venv


def test_the_wheel_holds_one_top_level_name_and_every_shipped_file(wheel: Path) -> None:
    names = zipfile.ZipFile(wheel).namelist()
    top = {name.split("/")[0] for name in names}
    assert {t for t in top if not t.endswith(".dist-info")} == {"etl_bigquery"}
    for shipped in (
        "etl_bigquery/flows/etl_job.py",
        "etl_bigquery/blocks/sql.py",
        "etl_bigquery/ui_extension/templates/base.html",
        "etl_bigquery/resources/logos/sql-connection.svg",
        "etl_bigquery/resources/automations/etl-run-failed.yaml",
        "etl_bigquery/resources/cloud_run/cloud-run-v2-base-job-template.json",
        "etl_bigquery/resources/emulators.txt",
        "etl_bigquery/resources/terraform/main.tf",
        "etl_bigquery/resources/terraform/modules/iam/main.tf",
    ):
        assert shipped in names, shipped


@pytest.fixture(scope="module")
def project(installed: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict]:
    """An empty project folder whose local services were started by the installed `etl`."""
    if not (EMULATORS / "bin" / "python").exists():
        unavailable(f"the emulators' virtualenv {EMULATORS} is missing (make setup makes it)")
    folder = tmp_path_factory.mktemp("project")
    ports = {name: free_port() for name in ("prefect", "bigquery", "bigquery-grpc", "gcs")}
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(("PREFECT_", "PYTHON", "ETL_", "VIRTUAL_ENV"))
    }
    env |= {
        "PATH": f"{installed / 'bin'}{os.pathsep}{env.get('PATH', '')}",
        "ETL_EMULATOR_VENV": str(EMULATORS),
        "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
        "PREFECT_HOME": str(folder / ".prefect"),
    }
    etl = str(installed / "bin" / "etl")
    _run(
        [etl, "services", "up", *(f"--{name}-port={port}" for name, port in ports.items())],
        cwd=folder, env=env,
    )  # fmt: skip
    try:
        _run([etl, "services", "bucket", "staging"], cwd=folder, env=env)
        env["PREFECT_API_URL"] = f"http://127.0.0.1:{ports['prefect']}/api"
        yield {"folder": folder, "env": env, "etl": etl, "venv": installed, "ports": ports}
    finally:
        subprocess.run([etl, "services", "down"], cwd=folder, env=env, capture_output=True,
                       timeout=120, check=False)  # fmt: skip


def _files(project: dict) -> None:
    folder: Path = project["folder"]
    shop = folder / "shop.db"
    if shop.exists():  # both tests of the module share the project
        return
    with sqlite3.connect(shop) as db:
        db.execute("CREATE TABLE items (id INTEGER PRIMARY KEY, name TEXT, price NUMERIC(8,2))")
        db.executemany(
            "INSERT INTO items VALUES (?, ?, ?)", [(i, f"item {i}", i * 1.25) for i in range(ROWS)]
        )
    (folder / "connections.yaml").write_text(
        f"kind: sql\nname: shop\ntype: sqlite\ndatabase: {shop}\n---\n"
        "kind: bigquery-destination\nname: warehouse\nproject: local\nlocation: US\n"
        "default_dataset: rehearsal\nstaging_uri: gs://staging/loads\n"
        f"api_endpoint: http://127.0.0.1:{project['ports']['bigquery']}\n"
        f"storage_endpoint: http://127.0.0.1:{project['ports']['gcs']}\n"
    )
    (folder / "items.yaml").write_text(
        "name: items\nconnection: shop\nsource: {table: items}\n"
        "destination: {block: warehouse}\nload_type: catalog\nschedule: manual\n"
    )
    (folder / "cloud.yaml").write_text(
        "name: items-cloud\nconnection: shop\nsource: {table: items}\n"
        "destination: {block: warehouse, table: items_cloud}\nload_type: catalog\n"
        "schedule: {daily: {at: '06:00'}}\nwork_pool: etl-cloud-run\n"
        "job_variables: {cpu: '2', memory: 4Gi}\n"
    )
    (folder / "cloud-run.json").write_text(
        json.dumps(
            {
                "work_pool_name": "etl-cloud-run",
                "image_repository": "europe-docker.pkg.dev/p/etl/etl-bigquery",
                "runner_service_account_email": "etl-runner@p.iam.gserviceaccount.com",
                "region": "europe-west1",
            }
        )
    )


def _rows(project: dict, table: str) -> int:
    code = (
        "from google.api_core.client_options import ClientOptions\n"
        "from google.auth.credentials import AnonymousCredentials\n"
        "from google.cloud import bigquery\n"
        f"c = bigquery.Client('local', AnonymousCredentials(), client_options=ClientOptions("
        f"api_endpoint='http://127.0.0.1:{project['ports']['bigquery']}'))\n"
        f"print(list(c.query('SELECT COUNT(*) AS n FROM rehearsal.{table}').result())[0].n)\n"
    )
    python = str(project["venv"] / "bin" / "python")
    out = _run([python, "-c", code], cwd=project["folder"], env=project["env"]).stdout
    return int(out.strip().splitlines()[-1])


def test_the_installed_product_runs_a_deployment_with_no_checkout(project: dict) -> None:
    folder, env, etl = project["folder"], project["env"], project["etl"]
    prefect = str(project["venv"] / "bin" / "prefect")
    where = _run(
        [str(project["venv"] / "bin" / "python"), "-c",
         "import etl_bigquery, etl_bigquery.flows.etl_job as f; print(etl_bigquery.__file__)"],
        cwd=folder, env=env,
    ).stdout.strip()  # fmt: skip
    assert Path(where).is_relative_to(project["venv"]), where
    assert _run([etl, "--version"], cwd=folder, env=env).stdout.startswith("etl-bigquery ")

    _files(project)
    _run([prefect, "block", "register", "-m", "etl_bigquery.blocks"], cwd=folder, env=env)
    _run([etl, "connection", "apply", "connections.yaml"], cwd=folder, env=env)
    applied = _run([etl, "job", "apply", "items.yaml"], cwd=folder, env=env)
    assert "Not deployed" in applied.stdout  # no project yet: validated, table created
    _run([etl, "job", "apply", "--prefect-yaml", "prefect.yaml", "items.yaml"], cwd=folder, env=env)
    assert (folder / "prefect.yaml").is_file()  # started by `etl job apply` in an empty folder

    log = (folder / "worker.log").open("w")
    worker = subprocess.Popen(
        [prefect, "worker", "start", "--pool", "etl-local", "--type", "process"],
        cwd=folder, env={**env, "PREFECT_WORKER_QUERY_SECONDS": "1"},
        stdout=log, stderr=subprocess.STDOUT,
    )  # fmt: skip
    try:
        started = _run(
            [prefect, "deployment", "run", "etl-job/items", "--watch",
             "--watch-timeout", "600"],
            cwd=folder, env=env, timeout=700,
        )  # fmt: skip
        assert "Completed" in started.stdout, started.stdout
    finally:
        worker.terminate()
        worker.wait(timeout=30)
        log.close()
    assert _rows(project, "bq_items") == ROWS

    # `etl run` from the installed package, in process: the snapshot is replaced, not added to.
    _run([etl, "run", "items.yaml"], cwd=folder, env=env)
    assert _rows(project, "bq_items") == ROWS


def test_a_cloud_run_deployment_names_the_package_and_no_local_folder(project: dict) -> None:
    folder, env, etl = project["folder"], project["env"], project["etl"]
    prefect = str(project["venv"] / "bin" / "prefect")
    _files(project)
    _run([prefect, "block", "register", "-m", "etl_bigquery.blocks"], cwd=folder, env=env)
    _run([etl, "connection", "apply", "connections.yaml"], cwd=folder, env=env)
    _run([etl, "pool", "ensure", "--cloud-run", "cloud-run.json"], cwd=folder, env=env)
    _run([etl, "job", "apply", "cloud.yaml"], cwd=folder, env=env)
    shown = _run(
        [prefect, "--no-prompt", "deployment", "inspect", "etl-job/items-cloud", "--output",
         "json"], cwd=folder, env=env,
    ).stdout  # fmt: skip
    deployment = json.loads(shown)
    assert deployment["entrypoint"] == "etl_bigquery.flows.etl_job:etl_job"
    assert deployment["pull_steps"] == []
    assert str(folder) not in shown and str(REPO) not in shown
    assert deployment["job_variables"] == {"cpu": "2", "memory": "4Gi"}
    # The same check for the project file: nothing in the Cloud Run entry names this machine.
    entry = (folder / "prefect.yaml").read_text().split("- name: items-cloud", 1)[1]
    assert "pull: []" in entry and str(folder) not in entry
