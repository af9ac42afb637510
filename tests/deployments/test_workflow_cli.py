"""The operator's workflow through the real `etl` command on a real Prefect server (issue 20):
connections tested before they are saved, jobs never silently replaced, `--dry-run`, the jobs
list's last run, filters and health mark, and progress on a terminal."""

from __future__ import annotations

import json
import shutil
import sqlite3
import uuid
from pathlib import Path

from etl_bigquery.service.prefect_yaml import PrefectYaml
from tests.conftest import free_port
from tests.deployments.conftest import cli, write_job
from tests.integration.cli_helpers import etl


def _sqlite(path: Path) -> Path:
    with sqlite3.connect(path) as db:
        db.executescript(
            "CREATE TABLE t (id INTEGER PRIMARY KEY, v TEXT); INSERT INTO t VALUES (1, 'a');"
        )
    return path


def _listed(name: str) -> dict | None:
    listed = json.loads(cli("connection", "list", "--json", cwd=Path.cwd()))
    return next((c for c in listed if c["name"] == name), None)


def test_connection_apply_tests_each_connection_and_saves_only_those_that_pass(services, tmp_path):
    good, bad = f"good-{uuid.uuid4().hex[:6]}", f"bad-{uuid.uuid4().hex[:6]}"
    database = _sqlite(tmp_path / "good.db")
    missing = tmp_path / "missing.db"
    document = tmp_path / "connections.yaml"
    document.write_text(
        f"kind: sql\nname: {good}\ntype: sqlite\ndatabase: {database}\n---\n"
        f"kind: sql\nname: {bad}\ntype: sqlite\ndatabase: {missing}\n"
    )
    applied = etl("connection", "apply", str(document))
    assert applied.returncode == 1, applied.stdout + applied.stderr
    assert f"created sql connection '{good}'; tested: Connection successful. Found 1 table." in (
        applied.stdout
    )
    assert f"Error: sql connection '{bad}' not created: its test failed: Database '{missing}' " in (
        applied.stderr
    )
    assert "--save-untested" in applied.stderr and "Traceback" not in applied.stderr
    assert _listed(good)["health"]["status"] == "success"
    assert _listed(bad) is None

    # Saved anyway on request, marked untested in the list.
    (tmp_path / "bad.yaml").write_text(
        f"kind: sql\nname: {bad}\ntype: sqlite\ndatabase: {missing}\n"
    )
    untested = etl("connection", "apply", str(tmp_path / "bad.yaml"), "--save-untested")
    assert untested.returncode == 0, untested.stderr
    assert f"created sql connection '{bad}'; saved untested (its test failed: " in untested.stdout
    assert _listed(bad)["health"]["status"] == "untested"
    assert f"{bad}" in etl("connection", "list").stdout

    # Applying the same document again changes nothing and tests nothing.
    again = etl("connection", "apply", str(tmp_path / "bad.yaml"), "--save-untested")
    assert f"unchanged sql connection '{bad}'" in again.stdout

    # An edit of where it connects is re-tested first: a failing one leaves the old settings.
    (tmp_path / "edit.yaml").write_text(
        f"kind: sql\nname: {good}\ntype: sqlite\ndatabase: {tmp_path / 'gone.db'}\n"
    )
    refused = etl("connection", "apply", str(tmp_path / "edit.yaml"))
    assert refused.returncode == 1
    assert f"sql connection '{good}' not changed: its test failed" in refused.stderr
    from etl_bigquery.blocks.sql import SqlConnection

    assert SqlConnection.load(good).database == str(database)
    # A timeout is not where or as whom: applied without a test, with the jobs it affects.
    (tmp_path / "timeout.yaml").write_text(
        f"kind: sql\nname: {good}\ntype: sqlite\ndatabase: {database}\nconnect_timeout: 30\n"
    )
    timeout = etl("connection", "apply", str(tmp_path / "timeout.yaml"))
    assert timeout.returncode == 0, timeout.stderr
    assert f"updated sql connection '{good}'; no re-test needed" in timeout.stdout
    assert "0 jobs use this connection" in timeout.stdout


def test_a_failing_test_never_prints_the_password(services, tmp_path):
    secret = f"Pw-{uuid.uuid4().hex}"
    name = f"pw-{uuid.uuid4().hex[:6]}"
    document = tmp_path / "pg.yaml"
    document.write_text(
        f"kind: sql\nname: {name}\ntype: postgresql\nhost: 127.0.0.1\nport: {free_port()}\n"
        "database: test\nusername: nobody\npassword: ${PW}\nconnect_timeout: 2\n"
    )
    refused = etl("connection", "apply", str(document), env={"PW": secret})
    assert refused.returncode == 1
    assert f"sql connection '{name}' not created: its test failed" in refused.stderr
    saved = etl("connection", "apply", str(document), "--save-untested", env={"PW": secret})
    assert saved.returncode == 0
    listed = etl("connection", "list", "--json")
    for output in (refused, saved, listed):
        assert secret not in output.stdout + output.stderr


def test_job_apply_refuses_a_taken_name_updates_the_same_job_and_dry_runs(
    project, shop, dataset, bq, tmp_path
):
    from google.api_core.exceptions import NotFound

    name = f"wf-{uuid.uuid4().hex[:6]}"
    job_file = write_job(project, name, shop, dataset)

    # A dry run validates and shows the table, mapping and schedule; it creates nothing.
    dry = cli("job", "apply", str(job_file), "--dry-run", cwd=project)
    assert f"Dry run: job '{name}' is valid; would create table {dataset}.bq_products" in dry
    assert "schedule: Manual" in dry and "Nothing was created or changed." in dry
    assert "source column" in dry and "price" in dry  # the column mapping
    try:
        bq.get_table(f"local.{dataset}.bq_products")
        raise AssertionError("a dry run created the table")
    except NotFound:
        pass
    assert PrefectYaml(project / "prefect.yaml").job(name) is None

    cli("job", "apply", str(job_file), cwd=project)

    # The same name for another job (another destination table) is refused, nothing replaced.
    other = project / f"{name}-other.yaml"
    moved = f"dataset: {dataset}\n  table: elsewhere\n"
    other.write_text(job_file.read_text().replace(f"dataset: {dataset}\n", moved))
    refused = etl("job", "apply", str(other), cwd=project)
    assert refused.returncode == 2, refused.stdout + refused.stderr
    assert f"A job named '{name}' already exists with another destination" in refused.stderr
    assert f"etl job delete {name}" in refused.stderr
    entry = PrefectYaml(project / "prefect.yaml").job(name)
    assert entry.definition.job.destination_table == "bq_products"
    try:
        bq.get_table(f"local.{dataset}.elsewhere")
        raise AssertionError("a refused apply created a table")
    except NotFound:
        pass

    # The same job with a new schedule and one more column: a dry run says what would change,
    # the apply updates it as `etl job edit` does.
    same = project / f"{name}-same.yaml"
    same.write_text(job_file.read_text().replace("columns: [id, name, price]",
                                                 "columns: [id, name, price, colour]")
                    + "schedule: {daily: {at: '06:00'}}\n")  # fmt: skip
    dry = cli("job", "apply", str(same), "--dry-run", cwd=project)
    assert "exists and is compatible; would add colour (NULLABLE)" in dry
    assert "it would be updated" in dry
    assert "colour" not in [f.name for f in bq.get_table(f"local.{dataset}.bq_products").schema]
    updated = cli("job", "apply", str(same), cwd=project)
    assert f"Deployment etl-job/{name} updated in prefect.yaml" in updated

    # The connection's edit says how many jobs use it (and is re-tested: a copy of the file).
    copy = shutil.copy(shop["db"], tmp_path / "shop-copy.db")
    (tmp_path / "conn.yaml").write_text(
        f"kind: sql\nname: {shop['connection']}\ntype: sqlite\ndatabase: {copy}\n"
    )
    edited = cli("connection", "apply", str(tmp_path / "conn.yaml"), cwd=project)
    assert "tested: Connection successful." in edited
    assert f"1 job uses this connection ({name})" in edited
    cli("job", "delete", name, cwd=project)


def _on_a_terminal(*args: str, cwd: Path, tmp_path: Path) -> tuple[int, str]:
    """`etl ARGS` with its stdout on a pseudo-terminal, as a person at a terminal runs it."""
    import os
    import pty
    import subprocess

    from tests.integration.cli_helpers import ETL

    master, slave = pty.openpty()
    with open(tmp_path / "stderr.log", "wb") as stderr:
        process = subprocess.Popen([ETL, *args], stdin=subprocess.DEVNULL, stdout=slave,
                                   stderr=stderr, cwd=cwd,
                                   env={**os.environ, "ETL_PROGRESS_DEBUG": "1"})  # fmt: skip
        os.close(slave)
        output = b""
        while True:
            try:
                chunk = os.read(master, 4096)
            except OSError:  # EIO: the command closed the terminal
                break
            if not chunk:
                break
            output += chunk
        process.wait(timeout=600)
    os.close(master)
    return process.returncode, output.decode().replace("\r\n", "\n")


def test_runs_of_etl_run_are_the_jobs_last_run_and_the_list_filters_and_marks_health(
    project, worker, shop, dataset, tmp_path
):
    name = f"wf-run-{uuid.uuid4().hex[:6]}"
    job_file = write_job(project, name, shop, dataset, "schedule: {daily: {at: '05:00'}}\n")
    cli("job", "apply", str(job_file), cwd=project)

    # On a terminal, `etl run` shows each stage's state as it changes; in a pipe it does not.
    code, shown = _on_a_terminal("run", str(job_file), cwd=project, tmp_path=tmp_path)
    assert code == 0, shown
    assert "  extract: Completed" in shown and "  load: Completed" in shown, shown
    assert f"{name}: Completed" in shown
    ran = etl("run", str(job_file), "--json", cwd=project)
    assert ran.returncode == 0, ran.stderr[-2000:]
    assert "extract: Completed" not in ran.stdout
    run_id = json.loads(ran.stdout)["flow_run_id"]

    # The run `etl run` made (no deployment) is the job's last run in `etl job list`.
    listed = json.loads(cli("job", "list", "--json", cwd=project))
    row = next(j for j in listed if j["name"] == name)
    assert row["last_run_id"] == run_id and row["last_status"] == "Completed", row
    assert row["last_rows"] == 2 and row["health"] == "scheduled"
    text = cli("job", "list", cwd=project)
    line = next(ln for ln in text.splitlines() if ln.startswith(name))
    assert " ok " in line and "Completed" in line

    def names(*filters: str) -> set[str]:
        return {j["name"] for j in json.loads(cli("job", "list", "--json", *filters, cwd=project))}

    assert name in names("--schedule", "daily") and name in names("--schedule", "scheduled")
    assert name not in names("--schedule", "manual")
    assert name in names("--connection", shop["connection"])
    assert name in names("--connection", shop["destination"])
    assert name not in names("--connection", "no-such-connection")
    assert name in names("--status", "completed") and name in names("--status", "enabled")
    assert name not in names("--status", "failed") and name not in names("--health", "failed")
    cli("job", "pause", name, cwd=project)
    assert name in names("--health", "paused")

    # `etl job run --wait` on a terminal: the worker's run, stage by stage.
    code, shown = _on_a_terminal("job", "run", name, "--wait", "--timeout", "240", cwd=project,
                                 tmp_path=tmp_path)  # fmt: skip
    assert code == 0, shown
    assert "  load: Completed" in shown and "rows: 2 extracted, 2 loaded" in shown, shown
    # The deployment's run is now the job's last run: both ways count as the job's runs.
    started = shown.split("started: flow run ", 1)[1].split(";", 1)[0]
    listed = json.loads(cli("job", "list", "--json", cwd=project))
    assert next(j for j in listed if j["name"] == name)["last_run_id"] == started
    cli("job", "delete", name, cwd=project)
