"""An unexpected exception never shows its message anywhere a run writes to.

A library error's message can carry anything, even a connection string with its password. The
tests inject one into a real run and search every place Prefect recorded (logs of the flow run and
its task runs, artifacts, state messages), the console and the run's report for the password.
"""

from __future__ import annotations

import json
import uuid

from etl_bigquery.engine import checkpoints
from tests.integration.helpers import apply, job_spec, run


def _everything_recorded(flow_run_id: str) -> tuple[str, list[str]]:
    """Logs, artifacts and state messages of a flow run and its task runs, as one text; and the
    log messages alone."""
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import (
        ArtifactFilter,
        ArtifactFilterFlowRunId,
        FlowRunFilter,
        FlowRunFilterId,
        LogFilter,
        LogFilterFlowRunId,
    )
    from prefect.logging.handlers import APILogHandler

    APILogHandler().flush()  # the logs are sent in batches
    ids = [uuid.UUID(flow_run_id)]
    with get_client(sync_client=True) as client:
        logs = client.read_logs(log_filter=LogFilter(flow_run_id=LogFilterFlowRunId(any_=ids)))
        artifacts = client.read_artifacts(
            artifact_filter=ArtifactFilter(flow_run_id=ArtifactFilterFlowRunId(any_=ids))
        )
        flow_run = client.read_flow_run(ids[0])
        task_runs = client.read_task_runs(
            flow_run_filter=FlowRunFilter(id=FlowRunFilterId(any_=ids))
        )
    messages = [log.message for log in logs]
    parts = [*messages, json.dumps(flow_run.parameters, default=str), str(flow_run.state.message)]
    parts += [json.dumps(a.data, default=str) + str(a.description) for a in artifacts]
    parts += [f"{t.name}: {t.state.message}" for t in task_runs if t.state]
    return "\n".join(parts), messages


def test_an_unexpected_error_carrying_a_dsn_leaks_nothing(
    pg_admin, pg_schema, pg_connection, destination, dataset, capfd, caplog
):
    password = f"Pw-unique-{uuid.uuid4().hex[:8]}"
    pg_admin.execute(
        f"""CREATE TABLE "{pg_schema}".items (id int, name text);
            INSERT INTO "{pg_schema}".items VALUES (1, 'a'), (2, 'b')"""
    )
    job = job_spec(
        pg_connection, destination, dataset, source={"schema": pg_schema, "table": "items"}
    )
    apply(job)

    def library_error() -> None:  # what a driver raising mid-extraction would do
        raise RuntimeError(f"could not connect to postgresql://u:{password}@h/db")

    remove = checkpoints.on(checkpoints.EXTRACT_BATCH_STAGED, library_error)
    try:
        report = run(job)
    finally:
        remove()

    assert report["_state_type"] == "FAILED", report
    assert report["error_type"] == "extraction"
    assert report["error"] == "Unexpected RuntimeError during extraction."
    recorded, messages = _everything_recorded(report["flow_run_id"])
    # Where it failed is still told: the stage, the type and the frames (not the message).
    assert any("Unexpected RuntimeError during extraction" in m for m in messages), messages
    assert any("extract.py" in m and "library_error" in m for m in messages), messages
    assert "[extraction] Unexpected RuntimeError during extraction." in recorded
    logged = "".join(capfd.readouterr()) + caplog.text  # the console, and every record here
    for text in (recorded, json.dumps(report, default=str), logged):
        assert password not in text


def test_registered_secrets_are_masked_in_every_log_record(services, capfd, caplog):
    from urllib.parse import quote

    from prefect import flow, get_run_logger, runtime

    from etl_bigquery.engine.redaction import install_log_redaction, register_secret

    secret = f"S3cret!{uuid.uuid4().hex[:8]}"
    register_secret(secret)

    @flow(name="redaction-check")
    def leaky() -> str:
        install_log_redaction()
        logger = get_run_logger()
        logger.warning("connecting with %s", secret)
        logger.warning("dsn postgresql://u:%s@h/db", quote(secret, safe=""))
        try:
            raise ValueError(f"bad password {secret}")
        except ValueError:
            logger.exception("the call failed")
        return str(runtime.flow_run.id)

    flow_run_id = leaky()
    recorded, messages = _everything_recorded(flow_run_id)
    assert any("connecting with ***" in m for m in messages), messages
    assert any("the call failed" in m for m in messages), messages
    logged = "".join(capfd.readouterr()) + caplog.text
    for text in (recorded, logged):
        assert secret not in text
        assert quote(secret, safe="") not in text
