"""`etl verify`: compare a job's source and table (`engine.verify`), for the command line and
the console. Read-only: connects as a run does, changes nothing."""

from __future__ import annotations

import datetime as dt
import uuid
from pathlib import Path

from etl_bigquery.engine.jobs.model import JobSpec
from etl_bigquery.engine.verify import VerifyMode, VerifyResult, verify_job


def job_for(ref: str, prefect_yaml: str | Path | None = None) -> JobSpec:
    """A job file's job, or a deployed job's by name."""
    path = Path(ref)
    if path.suffix in (".yaml", ".yml") or path.is_file():
        from etl_bigquery.service.job_files import load_job_file

        return load_job_file(path)
    from etl_bigquery.service.jobs import deployed_definition

    return deployed_definition(ref, prefect_yaml)[0].job


def mode_for(job: JobSpec, mode: str | None) -> VerifyMode:
    """The asked mode, else the job's `verify` (full when the job's is off)."""
    if mode:
        return VerifyMode(mode)
    chosen = VerifyMode(job.verify)
    return VerifyMode.FULL if chosen is VerifyMode.OFF else chosen


def verify(
    job: JobSpec, mode: VerifyMode, *, since: str | None = None, collect_limit: int | None = None
) -> VerifyResult:
    """`since`: transactional, merge and history jobs: compare from this cursor value, or this
    duration back from now ('7d'), instead of the job's backfill start."""
    from etl_bigquery.blocks.registry import load_connection, load_destination
    from etl_bigquery.engine.pipeline.context import RunContext

    connection = load_connection(job.connection)
    destination = load_destination(job.destination.block)
    reader = connection.open_reader()
    ctx = RunContext(
        job, f"verify-{uuid.uuid4()}", dt.datetime.now(dt.UTC), reader,
        destination.clients(), destination.settings(),
    )  # fmt: skip
    try:
        if collect_limit is None:
            result = verify_job(ctx, mode, since=since)
        else:
            result = verify_job(ctx, mode, since=since, collect_limit=collect_limit)
    finally:
        ctx.close()
    _remember(job.name, result)
    return result


def _remember(job: str, result: VerifyResult) -> None:
    """The console's "verified" mark; a verify stands on its own without the Prefect API."""
    from etl_bigquery.flows import verified

    try:
        verified.record(job, result.summary())
    except Exception:
        return
