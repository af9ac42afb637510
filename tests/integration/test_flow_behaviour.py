"""What the flow shows in Prefect: artifacts per stage, Partial runs, failure tags, no overlap."""

from __future__ import annotations

import json
import uuid

from tests.integration.helpers import apply, data_rows, job_spec, run


def _artifacts(flow_run_id: str) -> dict[str, object]:
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import ArtifactFilter, ArtifactFilterFlowRunId

    with get_client(sync_client=True) as client:
        found = client.read_artifacts(
            artifact_filter=ArtifactFilter(
                flow_run_id=ArtifactFilterFlowRunId(any_=[uuid.UUID(flow_run_id)])
            )
        )
    return {a.key: a for a in found}


def _table(pg_admin, schema: str) -> dict[str, str]:
    pg_admin.execute(
        f"""CREATE TABLE "{schema}".items (id int, code text, price numeric(6,2));
            INSERT INTO "{schema}".items VALUES (1, '10', 1.5), (2, 'x7', 2.5), (3, '30', 3.5)"""
    )
    return {"schema": schema, "table": "items"}


def test_each_stage_publishes_an_artifact_and_the_run_ends_with_a_summary(
    pg_admin, pg_schema, pg_connection, destination, dataset
):
    job = job_spec(pg_connection, destination, dataset, source=_table(pg_admin, pg_schema))
    apply(job)
    report = run(job)
    artifacts = _artifacts(report["flow_run_id"])
    prefix = f"etl-{job.name}"
    assert {f"{prefix}-{s}" for s in ("init", "validate", "extract", "load", "summary")} <= set(
        artifacts
    )
    extract = json.loads(artifacts[f"{prefix}-extract"].data)
    assert {"figure": "rows extracted", "value": 3} in extract
    validate = json.loads(artifacts[f"{prefix}-validate"].data)
    assert [row["BigQuery column"] for row in validate] == ["id", "code", "price"]
    summary = artifacts[f"{prefix}-summary"]
    assert summary.type == "markdown" and "3 loaded" in summary.data


def test_malformed_rows_are_kept_aside_and_the_run_ends_partial(
    pg_admin, pg_schema, pg_connection, destination, dataset, bq
):
    job = job_spec(
        pg_connection, destination, dataset,
        source=_table(pg_admin, pg_schema), column_types={"code": "INT64"},
    )  # fmt: skip
    apply(job)
    report = run(job)
    assert report["_state_type"] == "COMPLETED"
    assert report["state_name"] == "Partial" and report["status"] == "partial"
    assert report["rows_loaded"] == 2 and report["rows_rejected"] == 1
    assert [r["code"] for r in data_rows(bq, dataset, "bq_items")] == [10, 30]
    rejected = list(bq.query_and_wait(f"SELECT * FROM `local.{dataset}.bq_items__rejected`"))
    assert len(rejected) == 1
    assert "column 'code'" in rejected[0]["reason"] and "'x7'" in rejected[0]["reason"]
    assert json.loads(rejected[0]["record"])["id"] == 2
    assert rejected[0]["_etl_run_id"] == report["flow_run_id"]


def test_a_failed_run_is_tagged_with_its_stage(pg_connection, pg_schema, destination, dataset):
    from prefect.client.orchestration import get_client

    report = run(
        job_spec(pg_connection, destination, dataset, source={"schema": pg_schema, "table": "nope"})
    )
    with get_client(sync_client=True) as client:
        flow_run = client.read_flow_run(uuid.UUID(report["flow_run_id"]))
    assert flow_run.state.type.value == "FAILED"
    assert flow_run.state.message.startswith("[validation] Table ")
    assert {"etl", f"etl-job:{report['job']}", "etl-error:validation"} <= set(flow_run.tags)


def test_a_second_run_of_the_same_job_never_overlaps_the_first(
    pg_admin, pg_schema, pg_connection, destination, dataset, bq
):
    from prefect.concurrency.sync import concurrency

    from etl_bigquery.flows.locking import ensure_limit, limit_name

    job = job_spec(pg_connection, destination, dataset, source=_table(pg_admin, pg_schema))
    apply(job)
    ensure_limit(job.name)
    # Another run holds the job's slot (as a run in another process would).
    with concurrency(limit_name(job.name), occupy=1, strict=True):
        report = run(job)
    assert report["status"] == "skipped" and report["state_name"] == "Skipped"
    assert "Another run of job" in report["error"]
    assert data_rows(bq, dataset, "bq_items") == []
    assert run(job)["status"] == "completed"  # the slot is free again


def test_long_extractions_get_a_progress_artifact_that_reaches_100(services):
    from prefect import flow
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import ArtifactFilter, ArtifactFilterKey

    from etl_bigquery.flows.artifacts import ExtractionProgress, artifact_key

    job = f"progress-{uuid.uuid4().hex[:6]}"

    @flow(name="progress-reporting")
    def extracting() -> None:
        progress = ExtractionProgress(job)
        progress(250, 1000)  # what extract_to_staging calls every 5 s
        progress(500, 1000)
        progress.done()

    extracting()
    with get_client(sync_client=True) as client:
        found = client.read_artifacts(
            artifact_filter=ArtifactFilter(
                key=ArtifactFilterKey(any_=[artifact_key(job, "progress")])
            )
        )
    assert len(found) == 1 and found[0].type == "progress"
    assert float(found[0].data) == 100.0
