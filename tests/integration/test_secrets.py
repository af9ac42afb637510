"""Secrets never appear in command output, logs, artifacts, flow parameters or errors.

A private PostgreSQL server that checks passwords stands in for a production database; its
password goes in through an environment variable, as a user would pass it to `etl connection
apply`, and every place a run writes to is searched for it afterwards.
"""

from __future__ import annotations

import json
import uuid

import pytest

from tests.integration.cli_helpers import etl


def _everything_prefect_recorded(flow_run_ids: list[str]) -> str:
    """Logs, artifacts, parameters and state messages of the runs, as one text."""
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import (
        ArtifactFilter,
        ArtifactFilterFlowRunId,
        FlowRunFilter,
        FlowRunFilterId,
        LogFilter,
        LogFilterFlowRunId,
    )

    ids = [uuid.UUID(i) for i in flow_run_ids]
    with get_client(sync_client=True) as client:
        logs = client.read_logs(log_filter=LogFilter(flow_run_id=LogFilterFlowRunId(any_=ids)))
        artifacts = client.read_artifacts(
            artifact_filter=ArtifactFilter(flow_run_id=ArtifactFilterFlowRunId(any_=ids))
        )
        runs = client.read_flow_runs(flow_run_filter=FlowRunFilter(id=FlowRunFilterId(any_=ids)))
        task_runs = client.read_task_runs(
            flow_run_filter=FlowRunFilter(id=FlowRunFilterId(any_=ids))
        )
    assert logs and artifacts and len(runs) == len(ids)
    parts = [log.message for log in logs]
    parts += [json.dumps(a.data, default=str) + str(a.description) for a in artifacts]
    parts += [json.dumps(r.parameters, default=str) + str(r.state.message) for r in runs]
    parts += [str(t.state.message) for t in task_runs if t.state]
    return "\n".join(parts)


def _assert_stored_as_prefect_secret(name: str, secret: str) -> None:
    from prefect.client.orchestration import get_client

    with get_client(sync_client=True) as client:
        document = client.read_block_document_by_name(
            name, "etl-sql-connection", include_secrets=False
        )
    assert document.data["password"] != secret  # the API shows it obfuscated
    assert "password" in document.block_schema.fields.get("secret_fields", [])


@pytest.fixture()
def files(tmp_path, pg_password_server, destination, dataset):
    name = f"secret-{uuid.uuid4().hex[:8]}"
    connection = tmp_path / "connection.yaml"
    connection.write_text(
        f"kind: sql\nname: {name}\ntype: postgresql\nhost: 127.0.0.1\n"
        f"port: {pg_password_server.port}\ndatabase: postgres\nusername: secret_reader\n"
        "password: ${DB_PASSWORD}\n"
    )
    job = tmp_path / "accounts.yaml"
    job.write_text(
        f"name: accounts-{uuid.uuid4().hex[:6]}\nconnection: {name}\nsource:\n  table: accounts\n"
        f"destination:\n  block: {destination}\n  dataset: {dataset}\n"
    )
    return {"name": name, "connection": connection, "job": job}


def test_the_password_appears_nowhere(files, pg_password_server, services):
    secret = pg_password_server.password
    outputs = []

    def run(*args: str, password: str = secret):
        result = etl(*args, env={"DB_PASSWORD": password})
        outputs.append(result.stdout + result.stderr)
        return result

    assert run("connection", "apply", str(files["connection"])).returncode == 0
    _assert_stored_as_prefect_secret(files["name"], secret)
    assert run("connection", "test", files["name"]).returncode == 0
    run("connection", "list")
    assert run("job", "apply", str(files["job"])).returncode == 0
    good = run("run", str(files["job"]), "--json")
    assert good.returncode == 0, good.stderr[-2000:]
    human = run("run", str(files["job"]))
    assert human.returncode == 0

    # A wrong password must not leak either, in the failure it causes.
    wrong = "Wrong-" + secret
    # An edit of the password is tested first: a failing one is refused, the old one stays.
    refused = run("connection", "apply", str(files["connection"]), password=wrong)
    assert refused.returncode == 1
    assert "Authentication failed" in refused.stderr and "--save-untested" in refused.stderr
    assert run("connection", "test", files["name"]).returncode == 0
    saved = run("connection", "apply", str(files["connection"]), "--save-untested", password=wrong)
    assert saved.returncode == 0 and "saved untested" in saved.stdout
    failed = run("run", str(files["job"]), "--json", password=wrong)
    assert failed.returncode == 1
    assert json.loads(failed.stdout)["error"] == "Authentication failed. Check username/password."
    tested = run("connection", "test", files["name"], password=wrong)
    assert tested.returncode == 1

    flow_runs = [json.loads(good.stdout)["flow_run_id"], json.loads(failed.stdout)["flow_run_id"]]
    recorded = _everything_prefect_recorded(flow_runs)
    for text in [*outputs, recorded]:
        assert secret not in text
        assert wrong not in text
