"""Freshness of every deployed job that sets `freshness:` (`engine.freshness`), checked by the
connection-health flow: the end of its last successful run (runs are tagged `etl-job:<name>`,
so runs started by `etl run` count too) and the newest cursor value in its table. The outcome
is kept in a Prefect variable per job (the console shows it), and the event `etl.job.stale` is
raised when a job turns stale; the automation etl-job-stale.yaml turns it into an alert. A job
that stays stale does not alert again until it has been fresh."""

from __future__ import annotations

import datetime as dt
import re
from typing import Any

from prefect.client.orchestration import get_client
from prefect.client.schemas.filters import (
    FlowFilter,
    FlowFilterName,
    FlowRunFilter,
    FlowRunFilterState,
    FlowRunFilterStateType,
    FlowRunFilterTags,
)
from prefect.client.schemas.objects import StateType
from prefect.client.schemas.sorting import FlowRunSort
from prefect.events import emit_event
from prefect.variables import Variable

from etl_bigquery.blocks.registry import load_destination
from etl_bigquery.engine.bigquery.tables import TableRef, described_columns, get_table
from etl_bigquery.engine.freshness import STALE, Freshness, evaluate, newest_cursor
from etl_bigquery.engine.jobs.model import JobSpec

STALE_EVENT = "etl.job.stale"
FLOW_NAME = "etl-job"


def variable_name(job: str) -> str:
    return "etl_job_freshness_" + re.sub(r"[^a-z0-9_]", "_", job.lower())


def last_freshness(job: str) -> dict[str, Any]:
    value = Variable.get(variable_name(job), default=None)
    return value if isinstance(value, dict) and value else {"status": "unknown"}


def _jobs(client: Any) -> list[tuple[JobSpec, dt.datetime | None]]:
    found = []
    for deployment in client.read_deployments(
        flow_filter=FlowFilter(name=FlowFilterName(any_=[FLOW_NAME]))
    ):
        data = (deployment.parameters or {}).get("job")
        try:
            job = JobSpec.model_validate(data)
        except Exception:  # a deployment edited by hand: its runs report it, not this check
            continue
        if job.freshness:
            found.append((job, deployment.created))
    return found


def _last_success(client: Any, job: str) -> dt.datetime | None:
    runs = client.read_flow_runs(
        flow_run_filter=FlowRunFilter(
            tags=FlowRunFilterTags(all_=[f"etl-job:{job}"]),
            state=FlowRunFilterState(type=FlowRunFilterStateType(any_=[StateType.COMPLETED])),
        ),
        sort=FlowRunSort.END_TIME_DESC,
        limit=20,
    )
    for run in runs:
        if run.state is not None and run.state.name != "Skipped":  # a skipped run loaded nothing
            return run.end_time
    return None


def _newest_cursor(job: JobSpec) -> object | None:
    if not job.cursor_column:
        return None
    destination = load_destination(job.destination.block)
    settings = destination.settings()
    clients = destination.clients()
    try:
        ref = TableRef(
            settings.project,
            job.destination.dataset or settings.default_dataset,
            job.destination_table,
        )
        table = get_table(clients.bigquery, ref)
        if table is None:
            return None
        column = described_columns(table).get(job.cursor_column, job.cursor_column)
        return newest_cursor(clients.bigquery, ref, column, table.location or settings.location)
    finally:
        clients.close()


def check_job(job: JobSpec, created: dt.datetime | None, client: Any) -> dict[str, Any]:
    """One job's freshness, recorded; the event when it turns stale."""
    limit = job.freshness_limit
    assert limit is not None and job.freshness is not None
    now = dt.datetime.now(dt.UTC)
    try:
        cursor = _newest_cursor(job)
    except Exception:  # BigQuery unreachable: the load clock still says something
        cursor = None
    outcome: Freshness = evaluate(
        job.name, limit, job.freshness, now=now,
        last_success=_last_success(client, job.name), newest_cursor=cursor, created=created,
    )  # fmt: skip
    previous = last_freshness(job.name).get("status")
    Variable.set(variable_name(job.name), outcome.as_dict(), overwrite=True)
    turned = outcome.status == STALE and previous != STALE
    if turned:
        emit_event(
            event=STALE_EVENT,
            resource={"prefect.resource.id": f"etl.job.{job.name}",
                      "prefect.resource.name": job.name},
            payload={"reason": outcome.reason, "last_success": outcome.last_success,
                     "newest_cursor": outcome.newest_cursor, "freshness": outcome.limit},
        )  # fmt: skip
    return {**outcome.as_dict(), "alerted": turned}


def check_freshness(names: list[str] | None = None) -> list[dict[str, Any]]:
    """Every deployed job with `freshness` (or only `names`)."""
    results = []
    with get_client(sync_client=True) as client:
        for job, created in _jobs(client):
            if names is None or job.name in names:
                results.append(check_job(job, created, client))
    return results


__all__ = ["check_freshness", "last_freshness"]
