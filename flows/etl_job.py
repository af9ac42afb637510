"""The `etl-job` flow: init → validate → extract → load (→ verify), for any job.

Orchestration only: each task calls one stage of `engine.pipeline`, publishes its figures as an
artifact, and lets Prefect retry it when the error is transient (three retries, after 5, 10 and
20 s). A failure is classified by the stage it happened in and shows on the flow run (state
message and a tag `etl-error:<stage>`); a run that set rows aside ends Completed with the state
name `Partial`.

A job with `verify: counts|full` runs a fifth task, `verify`, after a load that completed: it
compares the source and the table (`engine.verify`) and publishes the `verify` artifact. What
it finds is reported (summary, a warning, a tag `etl-verify:different`), never turned into a
failed load: the rows are loaded either way, and a verify that cannot run is a warning too.
"""

from __future__ import annotations

import datetime as dt
import traceback
import uuid
from collections.abc import Callable
from typing import Any

from prefect import flow, get_run_logger, runtime, task
from prefect.cache_policies import NO_CACHE
from prefect.client.orchestration import get_client
from prefect.states import Completed, Failed, State

from etl_bigquery.blocks.registry import load_connection, load_destination
from etl_bigquery.engine.errors import EtlError, LoadError, Stage, is_transient
from etl_bigquery.engine.jobs.model import JobSpec, ProcessingMode
from etl_bigquery.engine.pipeline.context import Extracted, LoadTarget, RunContext
from etl_bigquery.engine.pipeline.extract import extract_to_staging
from etl_bigquery.engine.pipeline.load import Loaded, load_extracted
from etl_bigquery.engine.pipeline.report import RunReport, StageTiming
from etl_bigquery.engine.pipeline.validate import prepare_target
from etl_bigquery.engine.plan import low_confidence_warnings
from etl_bigquery.engine.redaction import install_log_redaction
from etl_bigquery.engine.verify import VerifyMode, VerifyResult, verify_job
from etl_bigquery.flows import artifacts, verified
from etl_bigquery.flows.locking import JobAlreadyRunning, Slot, SlotLost, exclusive_run
from etl_bigquery.flows.redaction import redacted

RETRY_DELAYS = [5, 10, 20]


class RunFailed(Exception):
    """The failed run's outcome: a Failed state carries an exception, and this one carries the
    run's report so `etl run` can print it."""

    def __init__(self, message: str, report: dict[str, Any]) -> None:
        super().__init__(message)
        self.report = report


def _retry_if_transient(task: Any, task_run: Any, state: State) -> bool:
    try:
        state.result(raise_on_failure=True)
    except Exception as error:  # inspecting the task's own failure
        return is_transient(error)
    return False


# Results stay in memory: the run context holds live connections and resolved secrets.
_TASK_OPTIONS: dict[str, Any] = {
    "retries": len(RETRY_DELAYS),
    "retry_delay_seconds": RETRY_DELAYS,
    "retry_condition_fn": _retry_if_transient,
    "cache_policy": NO_CACHE,
    "persist_result": False,
}


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def _attempt() -> int:
    return int(runtime.task_run.run_count or 1)


@task(name="init", **_TASK_OPTIONS)
@redacted(Stage.INIT)
def init(job: JobSpec, run_id: str, started_at: dt.datetime) -> RunContext:
    """Load the blocks, resolve secrets, connect to the source and to BigQuery."""
    connection = load_connection(job.connection)
    destination = load_destination(job.destination.block)
    reader = connection.open_reader()
    try:
        reader.ping()
        settings = destination.settings()
        ctx = RunContext(
            job, run_id, started_at, reader, destination.clients(), settings, connection.open_reader
        )
    except BaseException:
        reader.close()
        raise
    artifacts.publish_stage(
        job.name,
        "init",
        {
            "source": connection.describe(),
            "destination project": settings.project,
            "staging": settings.staging_uri,
        },
        "Connections opened",
    )
    return ctx


@task(name="validate", **_TASK_OPTIONS)
@redacted(Stage.VALIDATION)
def validate(ctx: RunContext) -> LoadTarget:
    """The source and destination fit the job; decide exactly what this run loads."""
    target = prepare_target(ctx)
    logger = get_run_logger()
    for warning in low_confidence_warnings(target.plans):
        logger.warning("Type mapping: %s", warning)
    for warning in target.warnings:
        logger.warning("Validation warning: %s", warning)
    logger.info("Processing mode: %s", target.processing_reason)
    artifacts.publish_rows(
        ctx.job.name,
        "validate",
        [p.as_row() for p in target.plans],
        f"Column mapping into {target.ref}; watermark before: {target.watermark_before}; "
        f"estimated rows: {target.estimated_rows}; processing mode: {target.processing_reason}"
        + (f"; cursor: {target.cursor_reading}" if target.cursor_reading else "")
        + "".join(f"; warning: {warning}" for warning in target.warnings),
    )
    return target


@task(name="extract", **_TASK_OPTIONS)
@redacted(Stage.EXTRACTION)
def extract(ctx: RunContext, target: LoadTarget) -> Extracted:
    """Stream the source into staged Parquet files."""
    if _attempt() > 1:
        ctx.reopen_reader()  # the previous attempt may have broken the connection
    if target.processing_mode is ProcessingMode.DATAFLOW:
        from etl_bigquery.flows.dataflow import DataflowRequest, dataflow_extract

        extracted = dataflow_extract(DataflowRequest.of(ctx, target, _attempt()))
    else:
        progress = artifacts.ExtractionProgress(ctx.job.name)
        extracted = extract_to_staging(ctx, target, progress, attempt=_attempt())
        progress.done()
    pipeline = extracted.pipeline
    artifacts.publish_stage(
        ctx.job.name,
        "extract",
        {
            "processing mode": target.processing_reason,
            "rows read": extracted.rows_read,
            "rows extracted": extracted.rows_extracted,
            "rows rejected": extracted.rows_rejected,
            "rows with a cursor in the future (not loaded yet)": extracted.rows_future,
            "rejected rows kept already": extracted.rejected.already_kept,
            "rows already loaded (lookback)": extracted.already_loaded,
            "NUMERIC NaN written as NULL": extracted.numeric_nan_nulled,
            "files staged": len(extracted.staged.uris),
            "units read at once": extracted.read_units,
            "bytes staged": extracted.staged.bytes,
            # File sources: how many source files this run read (new or changed ones).
            **(
                {"source files read": len(target.planned.files)}
                if target.planned.files is not None
                else {}
            ),
            "watermark before": target.watermark_before,
            "watermark after": extracted.watermark_after,
            "lookback": target.lookback.describe() if target.lookback else "",
            **(
                {
                    "runner": pipeline.get("runner"),
                    "units": pipeline.get("units"),
                    "pipeline seconds": pipeline.get("seconds"),
                    "pipeline counters": pipeline.get("counters"),
                    "Dataflow job id": extracted.dataflow_job_id or "(none: not on Dataflow)",
                }
                if pipeline
                else {}
            ),
        },
        "Extraction figures",
    )
    return extracted


@task(name="load", **_TASK_OPTIONS)
@redacted(Stage.LOAD)
def load(ctx: RunContext, target: LoadTarget, extracted: Extracted, slot: Slot) -> Loaded:
    """One BigQuery load job from the staged files."""
    loaded = load_extracted(ctx, target, extracted, before_submit=_still_holding(slot))
    artifacts.publish_stage(
        ctx.job.name,
        "load",
        {
            "destination": str(target.ref),
            "rows loaded": loaded.rows_loaded,
            "load job": loaded.load_job_id or "(nothing to load)",
            "rejected rows table": loaded.rejected_table or "",
            **{f"merge: {key}": value for key, value in (loaded.merge or {}).items()},
        },
        "Load figures",
    )
    return loaded


@task(name="verify", **_TASK_OPTIONS)
@redacted(Stage.VALIDATION)
def verify(ctx: RunContext) -> VerifyResult:
    """Compare the source and the table after the load; read-only."""
    if _attempt() > 1:
        ctx.reopen_reader()
    result = verify_job(ctx, VerifyMode(ctx.job.verify))
    artifacts.publish_verify(ctx.job.name, result)
    verified.record(ctx.job.name, result.summary())
    return result


def _verify_step(ctx: RunContext, report: RunReport) -> None:
    """The job's verify, when it has one; its outcome lands in the report, never fails it."""
    if VerifyMode(ctx.job.verify) is VerifyMode.OFF:
        return
    timing = report.stages.setdefault("verify", StageTiming())
    timing.start = _now()
    try:
        result = verify(ctx)
    except Exception as error:  # the load is done; a verify that cannot run is reported
        message = error.message if isinstance(error, EtlError) else type(error).__name__
        report.warnings.append(f"verify could not run: {message}")
        return
    finally:
        timing.end = _now()
    report.verification = result.summary()
    if not result.equal:
        counts = result.counts()
        report.warnings.append(
            f"verify ({result.mode}) found differences: {counts['missing']:,} missing, "
            f"{counts['extra']:,} extra, {counts['duplicate']:,} duplicated, "
            f"{counts['differing']:,} differing rows (artifact "
            f"{artifacts.artifact_key(ctx.job.name, 'verify')})"
        )
    _tag_flow_run(report.flow_run_id, [f"etl-verify:{'equal' if result.equal else 'different'}"])


def _tag_flow_run(run_id: str, tags: list[str]) -> None:
    try:
        with get_client(sync_client=True) as client:
            current = client.read_flow_run(uuid.UUID(run_id))
            client.update_flow_run(uuid.UUID(run_id), tags=sorted({*current.tags, *tags}))
    except Exception as error:  # tagging must not mask the run's own outcome
        get_run_logger().warning("Could not tag the flow run: %s", type(error).__name__)


def _run_id() -> str:
    return str(runtime.flow_run.id or uuid.uuid4())


def _flow_run_name() -> str:
    job = runtime.flow_run.parameters.get("job")
    name = job.get("name") if isinstance(job, dict) else getattr(job, "name", "job")
    return f"{name}-{_now():%Y%m%d-%H%M%S}"


@flow(name="etl-job", flow_run_name=_flow_run_name, persist_result=False, log_prints=False)
def etl_job(job: JobSpec) -> State:
    """Copy one source table or query into one BigQuery table (catalog or transactional)."""
    install_log_redaction()
    run_id = _run_id()
    report = RunReport(job=job.name, flow_run_id=run_id, load_type=job.load_type.value)
    report.source = f"{job.connection}: {job.describe_source()}"
    _tag_flow_run(run_id, ["etl", f"etl-job:{job.name}", f"etl-load:{job.load_type.value}"])
    try:
        with exclusive_run(job.name, run_id) as slot:
            return _run_stages(job, run_id, report, slot)
    except JobAlreadyRunning as busy:
        report.status, report.state_name, report.error = "skipped", "Skipped", str(busy)
        get_run_logger().warning(str(busy))
        _tag_flow_run(run_id, ["etl-skipped"])
        return Completed(message=str(busy), name="Skipped", data=report.to_dict())


def _still_holding(slot: Slot) -> Callable[[], None]:
    """Checked right before each load job is submitted: a run whose slot lapsed stops there
    (another run may be doing the same work; BigQuery job ids keep the data right either way)."""

    def check() -> None:
        try:
            slot.check()
        except SlotLost as lost:
            raise LoadError(str(lost)) from None

    return check


def _run_stages(job: JobSpec, run_id: str, report: RunReport, slot: Slot) -> State:
    stage = Stage.INIT
    ctx: RunContext | None = None
    current = "init"
    partial: str | None = None
    try:
        report.stages["init"].start = _now()
        ctx = init(job, run_id, report.stages["init"].start)
        report.stages["init"].end = _now()

        stage, current = Stage.VALIDATION, "validate"
        report.stages["validate"].start = _now()
        target = validate(ctx)
        report.stages["validate"].end = _now()
        report.destination = target.ref.id
        report.watermark_before = target.watermark_before
        report.estimated_rows = target.estimated_rows
        report.processing_mode = target.processing_mode.value
        report.processing_reason = target.processing_reason
        report.lookback = target.lookback.describe() if target.lookback else None
        report.cursor_reading = target.cursor_reading or None
        upper = target.read_plan.upper_bound
        report.read_up_to = upper.value if upper is not None else None
        report.warnings = list(target.warnings)

        stage, current = Stage.EXTRACTION, "extract"
        report.stages["extract"].start = _now()
        extracted = extract(ctx, target)
        report.stages["extract"].end = _now()
        report.rows_read = extracted.rows_read
        report.rows_extracted = extracted.rows_extracted
        report.rows_rejected = extracted.rows_rejected
        report.rows_already_loaded = extracted.already_loaded
        report.rows_future = extracted.rows_future
        report.numeric_nan_nulled = extracted.numeric_nan_nulled
        report.bytes_processed = extracted.staged.bytes
        report.files_staged = len(extracted.staged.uris)
        report.read_units = extracted.read_units
        report.watermark_after = extracted.watermark_after
        report.dataflow_job_id = extracted.dataflow_job_id
        report.warnings += extracted.warnings

        stage, current = Stage.LOAD, "load"
        report.stages["load"].start = _now()
        loaded = load(ctx, target, extracted, slot)
        report.stages["load"].end = _now()
        report.rows_loaded = loaded.rows_loaded
        report.load_job_id = loaded.load_job_id
        report.rejected_table = loaded.rejected_table
        report.merge = loaded.merge
        partial = loaded.partial
        if loaded.emptied:
            report.warnings.append(
                f"The source returned no rows (allow_empty_snapshot: true), so the snapshot "
                f"is empty: {loaded.emptied:,} rows were removed from {report.destination}."
            )
        _verify_step(ctx, report)
    except Exception as error:  # every failure ends as a classified Failed state
        report.stages[current].end = _now()
        return _failed(report, stage, error)
    finally:
        if ctx is not None:
            ctx.close()
    if report.rows_future:
        # Every run that reads them again says so (they are kept in __rejected only once).
        report.status, report.state_name = "partial", "Partial"
        future = (
            f"{report.rows_future:,} row(s) have a cursor in the future and were not loaded "
            f"(kept in {report.destination}__rejected); they load once their time has come"
        )
        report.warnings.append(future)
        message = f"Loaded {report.rows_loaded:,} rows; {future}."
    elif report.rows_rejected:
        report.status, report.state_name = "partial", "Partial"
        message = (
            f"Loaded {report.rows_loaded:,} rows; {report.rows_rejected:,} malformed row(s) "
            f"kept in {report.rejected_table}."
        )
    elif partial:  # loaded, but a step after it could not complete (a delete check)
        report.status, report.state_name = "partial", "Partial"
        report.warnings.append(partial)
        message = f"Loaded {report.rows_loaded:,} rows into {report.destination}; {partial}."
    else:
        report.status, report.state_name = "completed", "Completed"
        message = f"Loaded {report.rows_loaded:,} rows into {report.destination}."
    artifacts.publish_summary(report)
    return Completed(message=message, name=report.state_name, data=report.to_dict())


def _failed(report: RunReport, stage: Stage, error: Exception) -> State:
    if isinstance(error, EtlError):
        message = error.message
    else:
        # Unexpected: keep the type and where it happened, not the text (a library's message
        # could hold anything, even a connection string).
        message = f"Unexpected {type(error).__name__} during {stage.value}."
        where = "".join(traceback.format_tb(error.__traceback__)[-5:])
        get_run_logger().error("%s\n%s", message, where)
    report.status, report.state_name = "failed", "Failed"
    report.error_type, report.error = stage.value, message
    _tag_flow_run(report.flow_run_id, [f"etl-error:{stage.value}"])
    artifacts.publish_summary(report)
    text = f"[{stage.value}] {message}"
    return Failed(message=text, data=RunFailed(text, report.to_dict()))
