"""Shared steps of the integration tests: build a job, apply it, run it, read BigQuery back."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

from etl_bigquery.engine.jobs.model import JobSpec


def job_spec(
    connection: str, block: str, dataset: str, *, table: str | None = None, **fields: Any
) -> JobSpec:
    destination = {"block": block, "dataset": dataset} | ({"table": table} if table else {})
    data: dict[str, Any] = {
        "name": f"t-{uuid.uuid4().hex[:10]}",
        "connection": connection,
        "destination": destination,
    }
    data.update(fields)
    return JobSpec.model_validate(data)


def apply(job: JobSpec) -> Any:
    """`etl job apply` in-process: validate and create the destination table."""
    from etl_bigquery.blocks.registry import load_connection, load_destination
    from etl_bigquery.engine.pipeline.apply import apply_job
    from etl_bigquery.engine.pipeline.context import RunContext

    connection = load_connection(job.connection)
    destination = load_destination(job.destination.block)
    ctx = RunContext(
        job, "apply", dt.datetime.now(dt.UTC), connection.open_reader(), destination.clients(),
        destination.settings(),
    )  # fmt: skip
    try:
        return apply_job(ctx)
    finally:
        ctx.close()


def run(job: JobSpec) -> dict[str, Any]:
    """Run the etl-job flow in this process; returns its report."""
    from etl_bigquery.flows.etl_job import RunFailed, etl_job

    state = etl_job(job=job, return_state=True)
    report = state.result(raise_on_failure=False)
    if isinstance(report, RunFailed):
        report = report.report
    assert isinstance(report, dict), f"flow ended without a report: {state}"
    report["_state_type"] = state.type.value
    return report


def table_rows(bq: Any, dataset: str, table: str, order_by: str = "id") -> list[dict[str, Any]]:
    rows = bq.query_and_wait(f"SELECT * FROM `local.{dataset}.{table}` ORDER BY {order_by}")
    return [dict(row.items()) for row in rows]


def data_rows(bq: Any, dataset: str, table: str, order_by: str = "id") -> list[dict[str, Any]]:
    """Rows without the metadata columns."""
    return [
        {k: v for k, v in row.items() if not k.startswith("_etl_")}
        for row in table_rows(bq, dataset, table, order_by)
    ]


def task_attempts(flow_run_id: str, task_name: str) -> int:
    """How many times the task run `task_name` of a flow run was attempted."""
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import FlowRunFilter, FlowRunFilterId

    with get_client(sync_client=True) as client:
        runs = client.read_task_runs(
            flow_run_filter=FlowRunFilter(id=FlowRunFilterId(any_=[uuid.UUID(flow_run_id)]))
        )
    return max(r.run_count for r in runs if r.name.startswith(task_name))


def by_source(bq: Any, dataset: str, table: str, order_by: str) -> list[dict[str, Any]]:
    """The table's rows keyed by SOURCE column (each column's description names it)."""
    from etl_bigquery.engine.bigquery.tables import described_source

    fields = bq.get_table(f"local.{dataset}.{table}").schema
    source = {
        f.name: described[0] for f in fields if (described := described_source(f.description))
    }
    rows = bq.query_and_wait(f"SELECT * FROM `local.{dataset}.{table}` ORDER BY {order_by}")
    return [{source[k]: v for k, v in row.items() if k in source} for row in rows]


def column_of(bq: Any, dataset: str, table: str, source_name: str) -> str:
    """The table column whose description names `source_name`."""
    from etl_bigquery.engine.bigquery.tables import described_source

    fields = bq.get_table(f"local.{dataset}.{table}").schema
    return next(
        f.name for f in fields if (described_source(f.description) or ("",))[0] == source_name
    )
