"""The Dataflow subflow: the extract stage of a large job as an Apache Beam pipeline.

Called by the `extract` task in place of the standard extraction when validation chose the
dataflow mode. It builds what workers need from the job, the connection block and the destination
block (settings only, never live connections), runs the pipeline (DirectRunner here, Dataflow in
the cloud), publishes the pipeline's own figures, and returns the same `Extracted` the standard
path returns, so the same load task loads it.

The subflow's parameters are what the Prefect UI shows and stores: they hold names and figures
only; the run context (live connections, resolved secrets) rides in private attributes.
"""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Any

from prefect import flow, get_run_logger
from pydantic import BaseModel, ConfigDict, PrivateAttr

from etl_bigquery.blocks.files import FileConnection
from etl_bigquery.blocks.registry import load_connection
from etl_bigquery.blocks.sql import SqlConnection
from etl_bigquery.engine.beam.options import pipeline_args, pipeline_options
from etl_bigquery.engine.beam.pipeline import BeamRun, run_extract
from etl_bigquery.engine.beam.worker import StagingSpec, WorkerSource
from etl_bigquery.engine.errors import ConfigurationError
from etl_bigquery.engine.jobs.model import DataflowRunner
from etl_bigquery.engine.merge.extraction import keyed_extraction
from etl_bigquery.engine.pipeline.context import Extracted, LoadTarget, RunContext
from etl_bigquery.flows import artifacts


class DataflowRequest(BaseModel):
    """What the subflow run records as its parameters (no secret, no connection)."""

    model_config = ConfigDict(arbitrary_types_allowed=True)

    job: str
    run_id: str
    attempt: int
    runner: str
    estimated_rows: int | None
    reason: str
    _ctx: Any = PrivateAttr(default=None)
    _target: Any = PrivateAttr(default=None)

    @classmethod
    def of(cls, ctx: RunContext, target: LoadTarget, attempt: int) -> DataflowRequest:
        request = cls(
            job=ctx.job.name,
            run_id=ctx.run_id,
            attempt=attempt,
            runner=ctx.job.dataflow.runner.value,
            estimated_rows=target.estimated_rows,
            reason=target.processing_reason,
        )
        request._ctx, request._target = ctx, target
        return request


def worker_source(ctx: RunContext) -> WorkerSource:
    """The source as workers open it: resolved in memory for the DirectRunner; for Dataflow, a
    Secret Manager reference only (the pipeline is staged in Cloud Storage)."""
    connection = load_connection(ctx.job.connection)
    if isinstance(connection, FileConnection):
        # One unit per file. The store's keys would have to travel inside the staged pipeline
        # to reach Dataflow workers, so file sources run on the DirectRunner only so far.
        if ctx.job.dataflow.runner is not DataflowRunner.DIRECT:
            raise ConfigurationError(
                f"Connection '{ctx.job.connection}' is a file connection, and file sources run "
                "on the Beam path with dataflow.runner 'direct' only so far; use runner direct "
                "or processing_mode standard."
            )
        return WorkerSource(connection.type.value, connection.settings())
    if not isinstance(connection, SqlConnection):
        # Only SQL and file connections carry reader settings; a family joins when it can split.
        raise ConfigurationError(
            f"Connection '{ctx.job.connection}' is not a SQL or file connection, and the "
            "Dataflow subflow reads SQL and file sources only so far; use processing_mode "
            "standard."
        )
    key = connection.type.value
    if ctx.job.dataflow.runner is DataflowRunner.DIRECT:
        return WorkerSource(key, connection.connection_settings())
    if connection.password is not None:
        raise ConfigurationError(
            f"Connection '{ctx.job.connection}' keeps its password in Prefect, which Dataflow "
            "workers cannot read without it travelling inside the staged pipeline; set "
            "password_secret (a Secret Manager reference the workers' service account can read) "
            "instead of password."
        )
    return WorkerSource(
        key, connection.connection_settings(resolve=False), connection.password_secret
    )


def _extra_package(ctx: RunContext) -> str | None:
    if ctx.job.dataflow.runner is DataflowRunner.DIRECT:
        return None  # workers are this machine's processes: the project is installed here
    from etl_bigquery.engine.beam.package import build_worker_package

    return str(build_worker_package(Path(tempfile.mkdtemp(prefix="etl-dataflow-pkg-"))))


@flow(
    name="etl-dataflow-extract",
    persist_result=False,
    validate_parameters=False,
    log_prints=False,
)
def dataflow_extract(request: DataflowRequest) -> Extracted:
    """Split the read into units, run them as a Beam pipeline, stage Parquet files."""
    ctx: RunContext = request._ctx
    target: LoadTarget = request._target
    job = ctx.job
    spec = job.dataflow
    logger = get_run_logger()
    args = pipeline_args(
        spec,
        project=ctx.settings.project,
        staging_uri=ctx.settings.staging_uri,
        job_name=job.name,
        run_id=ctx.run_id,
        attempt=request.attempt,
        extra_package=_extra_package(ctx),
    )
    run = BeamRun(
        job_name=job.name,
        run_id=ctx.run_id,
        started_at=ctx.started_at,
        attempt=request.attempt,
        source=worker_source(ctx),
        staging=StagingSpec(
            ctx.settings.staging_uri, ctx.settings.project, ctx.settings.storage_endpoint
        ),
        options=pipeline_options(args),
        rows_per_unit=spec.rows_per_unit,
        max_units=spec.max_units,
        min_units=spec.direct_workers if spec.runner is DataflowRunner.DIRECT else spec.min_workers,
    )
    logger.info("Beam pipeline options: %s", " ".join(args))  # settings only, never a secret
    storage = ctx.bigquery.storage if ctx.settings.staging_uri.startswith("gs://") else None
    outcome = run_extract(run, target, ctx.reader, job, storage)
    extracted = outcome.extracted
    keyed = keyed_extraction(target)
    if keyed is not None:  # merge/history: a due delete check reads the keys in this process
        keyed.finish(ctx, target, extracted, run.run_path)
    extracted.units = outcome.units
    extracted.dataflow_job_id = outcome.dataflow_job_id
    direct = spec.runner is DataflowRunner.DIRECT
    extracted.pipeline = {
        "runner": outcome.runner,
        "workers": spec.direct_workers if direct else spec.max_workers,
        "units": len(outcome.units),
        "seconds": outcome.seconds,
        "counters": outcome.counters,
    }
    logger.info(
        "%s units read %s rows and staged %s in %s s on %s.",
        len(outcome.units),
        f"{extracted.rows_read:,}",
        f"{extracted.rows_extracted:,}",
        outcome.seconds,
        outcome.runner,
    )
    artifacts.publish_rows(
        job.name,
        "dataflow-units",
        outcome.units,
        f"Dataflow subflow: {len(outcome.units)} unit(s) on {outcome.runner}"
        + (f", Dataflow job {outcome.dataflow_job_id}" if outcome.dataflow_job_id else ""),
    )
    return extracted
