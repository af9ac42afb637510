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

from etl_bigquery.blocks.bigquery_source import BigQuerySource
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
from etl_bigquery.engine.pipeline.mode import LOCAL_FILES_ON_DATAFLOW
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
    """The source as workers open it: resolved in memory for the DirectRunner; for Dataflow,
    Secret Manager references only (the pipeline is staged in Cloud Storage), or the workers'
    own identity."""
    connection = load_connection(ctx.job.connection)
    direct = ctx.job.dataflow.runner is DataflowRunner.DIRECT
    name = ctx.job.connection
    if isinstance(connection, FileConnection):
        if direct:
            return WorkerSource(connection.type.value, connection.settings())
        return files_on_dataflow(name, connection)
    if isinstance(connection, BigQuerySource):
        if direct:
            return WorkerSource(connection.type.value, connection.reader_settings())
        return bigquery_on_dataflow(name, connection)
    if not isinstance(connection, SqlConnection):
        # Only SQL, file and BigQuery connections split; a family joins when it can.
        raise ConfigurationError(
            f"Connection '{name}' is not a SQL, file or BigQuery connection, and the Dataflow "
            "subflow reads those only so far; use processing_mode standard."
        )
    key = connection.type.value
    if direct:
        return WorkerSource(key, connection.connection_settings())
    if connection.password is not None:
        raise ConfigurationError(
            f"Connection '{name}' keeps its password in Prefect, which Dataflow "
            "workers cannot read without it travelling inside the staged pipeline; set "
            "password_secret (a Secret Manager reference the workers' service account can read) "
            "instead of password."
        )
    secrets = (("password", connection.password_secret),) if connection.password_secret else ()
    return WorkerSource(key, connection.connection_settings(resolve=False), secrets)


def bigquery_on_dataflow(name: str, connection: BigQuerySource) -> WorkerSource:
    """BigQuery for Dataflow workers: they read the driver's read streams with their own service
    account; a key kept in Prefect would have to travel inside the staged pipeline."""
    if connection.gcp_credentials is not None:
        raise ConfigurationError(
            f"Connection '{name}' reads BigQuery with a service-account key kept in Prefect, "
            "which would have to travel inside the staged pipeline to reach Dataflow workers; "
            "leave its credentials empty so that the workers read with their own service "
            "account (BigQuery Data Viewer on the source, Read Session User on the billing "
            "project), or use processing_mode standard."
        )
    return WorkerSource(connection.type.value, connection.reader_settings(own_identity=True))


def files_on_dataflow(name: str, connection: FileConnection) -> WorkerSource:
    """A bucket's files for Dataflow workers: no key may travel inside the staged pipeline, so
    keys kept in Prefect are refused, Secret Manager references go as references, and without
    keys the workers read with their own identity (Cloud Storage: their service account)."""
    kind = connection.type.value
    if kind == "local":
        raise ConfigurationError(LOCAL_FILES_ON_DATAFLOW)
    in_prefect = [
        field
        for field, value in (
            ("secret_access_key", connection.secret_access_key),
            ("account_key", connection.account_key),
            ("sas_token", connection.sas_token),
            ("service_account_info", connection.service_account_info),
            ("gcp_credentials", connection.gcp_credentials),
        )
        if value is not None
    ]
    if in_prefect:
        raise ConfigurationError(
            f"Connection '{name}' keeps {', '.join(in_prefect)} in Prefect, which would have to "
            "travel inside the staged pipeline to reach Dataflow workers; use the Secret "
            "Manager reference fields (secret_access_key_secret, account_key_secret) or, for "
            "Cloud Storage, no key (the workers' service account reads the bucket), or "
            "processing_mode standard."
        )
    secrets = tuple(
        (field, reference)
        for field, reference in (
            ("secret_access_key", connection.secret_access_key_secret),
            ("account_key", connection.account_key_secret),
        )
        if reference
    )
    return WorkerSource(kind, connection.settings(resolve=False), secrets)


def _extra_package(ctx: RunContext, source_key: str) -> str | None:
    if ctx.job.dataflow.runner is DataflowRunner.DIRECT:
        return None  # workers are this machine's processes: the project is installed here
    from etl_bigquery.engine.beam.package import build_worker_package

    folder = Path(tempfile.mkdtemp(prefix="etl-dataflow-pkg-"))
    return str(build_worker_package(folder, source_key=source_key))


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
    source = worker_source(ctx)  # refuses, in one sentence, what workers cannot read
    args = pipeline_args(
        spec,
        project=ctx.settings.project,
        staging_uri=ctx.settings.staging_uri,
        job_name=job.name,
        run_id=ctx.run_id,
        attempt=request.attempt,
        extra_package=_extra_package(ctx, source.source_key),
    )
    run = BeamRun(
        job_name=job.name,
        run_id=ctx.run_id,
        started_at=ctx.started_at,
        attempt=request.attempt,
        source=source,
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
    # Units done of the total while the pipeline runs, as standard mode shows rows read.
    progress = artifacts.ExtractionProgress(job.name)
    outcome = run_extract(run, target, ctx.reader, job, storage, progress.units)
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
