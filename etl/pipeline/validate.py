"""Validation: the source and the destination fit the job; decide exactly what this run loads."""

from __future__ import annotations

import datetime as dt
from dataclasses import replace

from google.cloud import bigquery

from etl.bigquery import tables
from etl.bigquery.tables import TableRef
from etl.conform import METADATA_COLUMNS, RUN_ID, TargetColumn
from etl.errors import ConfigurationError, ValidationError
from etl.fingerprint import ROW_HASH, Identity
from etl.incremental import (
    Lookback,
    plan_increment,
    plan_snapshot,
    read_known_rejected,
)
from etl.jobs.model import Backfill, JobSpec, LoadType, ProcessingMode
from etl.pipeline.context import LoadTarget, RunContext
from etl.plan import ColumnPlan, cursor_plan, plan_columns
from etl.rejected import rejected_table
from etl.schema.bqtypes import TIME_TYPES, BqType
from etl.sources.base import CursorBound, CursorValue, ReadPlan


def destination_ref(ctx: RunContext) -> TableRef:
    dataset = ctx.job.destination.dataset or ctx.settings.default_dataset
    return TableRef(ctx.settings.project, dataset, ctx.job.destination_table)


def plan_source(ctx: RunContext) -> list[ColumnPlan]:
    columns = ctx.reader.describe(ctx.job.source)
    return plan_columns(ctx.job, columns, ctx.reader.dialect)


def table_columns(
    schema: list[bigquery.SchemaField], loaded: list[TargetColumn]
) -> list[TargetColumn]:
    """All data columns of a table schema in table order: loaded ones, and NULL for the rest."""
    by_name = {c.name.lower(): c for c in loaded}
    result = []
    for field in schema:
        if field.name in METADATA_COLUMNS or field.name == ROW_HASH:
            continue
        column = by_name.get(field.name.lower())
        if column is not None:
            result.append(column)
            continue
        try:
            bq_type = BqType.parse(field.field_type)
        except ValueError:
            bq_type = None
        if bq_type is None or field.mode == "REPEATED":
            raise ValidationError(
                f"Table column {field.name} ({field.mode} {field.field_type}) is not loaded by "
                "this job and cannot be written as NULL; load it, or choose another destination "
                "table."
            )
        result.append(TargetColumn(None, "", field.name, bq_type))
    return result


def choose_identity(job: JobSpec, plans: list[ColumnPlan], loaded: list[TargetColumn]) -> Identity:
    """The columns that identify a row of a new transactional table: `key_columns`, else the
    primary key plus the cursor when every key column is loaded, else every loaded column."""
    by_source = {c.source_name: c.name for c in loaded}
    unknown = [k for k in job.key_columns if k not in by_source]
    if unknown:
        raise ValidationError(
            f"key_columns names {', '.join(repr(k) for k in unknown)}, which this job does not "
            f"load from {job.describe_source()}; name loaded columns."
        )
    keys = list(job.key_columns) or [p.source.name for p in plans if p.source.primary_key]
    if keys and all(k in by_source for k in keys):
        if job.cursor_column and job.cursor_column not in keys:
            keys.append(job.cursor_column)
        return Identity(tuple(by_source[k] for k in keys))
    return Identity(tuple(c.name for c in loaded))


def existing_identity(table: bigquery.Table, ref: TableRef) -> Identity | None:
    if not any(field.name == ROW_HASH for field in table.schema):
        return None
    identity = tables.table_identity(table)
    if identity is None:
        raise ValidationError(
            f"The description of column {ROW_HASH} in {ref} no longer names the row identity "
            "columns, so rows already loaded cannot be recognised; restore it or load into a "
            "new table."
        )
    return identity


def require_identity_loaded(identity: Identity, columns: list[TargetColumn], ref: TableRef) -> None:
    loaded = {c.name for c in columns if c.source_name is not None}
    missing = [name for name in identity.columns if name not in loaded]
    if missing:
        raise ValidationError(
            f"Column(s) {', '.join(missing)} identify the rows of {ref} (that is how rows near "
            "the watermark are recognised), so this transactional job must keep loading them; "
            "add them back to columns, or start a new job into a new table."
        )


def _require_cursor_column(table: bigquery.Table, ref: TableRef, cursor: TargetColumn) -> None:
    """The watermark lives in the cursor column: a table without it cannot say what it holds."""
    if not any(field.name.lower() == cursor.name.lower() for field in table.schema):
        raise ValidationError(
            f"Table {ref} has no column {cursor.name}, so its watermark cannot be read; "
            "restore the column or load into a new table."
        )


def first_run_bound(job: JobSpec, cursor: TargetColumn, now: dt.datetime) -> CursorValue | None:
    backfill = job.backfill
    if cursor.bq_type not in TIME_TYPES:
        if backfill is None or backfill.all_history:
            return None
        raise ValidationError(
            f"backfill_start '{job.backfill_start}' needs a date or time cursor, but "
            f"'{cursor.source_name}' is {cursor.bq_type.value}; use backfill_start: all."
        )
    start = (backfill or Backfill(days=30)).start(now)
    if start is None:
        return None
    if cursor.bq_type is BqType.DATE:
        return start.date()
    if cursor.bq_type is BqType.DATETIME:
        return start.replace(tzinfo=None)
    return start


def _processing_mode(job: JobSpec) -> ProcessingMode:
    if job.processing_mode is ProcessingMode.DATAFLOW:
        raise ConfigurationError(
            "processing_mode 'dataflow' is not available yet in this version; use auto or standard."
        )
    # The Dataflow subflow is not built yet: auto runs every job in standard mode for now.
    return ProcessingMode.STANDARD


def prepare_target(ctx: RunContext) -> LoadTarget:
    """Every check first, then the only changes (columns added, table labelled): a run that
    fails validation has not touched BigQuery."""
    job = ctx.job
    client = ctx.bigquery.bigquery
    plans = plan_source(ctx)
    ref = destination_ref(ctx)
    table = tables.get_table(client, ref)
    if table is None:
        raise ValidationError(
            f"Destination table {ref} does not exist; create the job first "
            f"(`etl job apply` with this job's file)."
        )
    location = table.location or ctx.settings.location
    proposed = [p.target for p in plans]
    transactional = job.load_type is LoadType.TRANSACTIONAL
    if transactional:
        _require_cursor_column(table, ref, cursor_plan(plans, job).target)
    resolved = tables.check_existing_table(
        table, ref, proposed, job_name=job.name, load_type=job.load_type
    )
    identity = existing_identity(table, ref) if transactional else None
    new_identity = identity is None and transactional
    if new_identity:
        identity = choose_identity(job, plans, resolved)
    new_fields = tables.missing_fields(table, resolved, identity if new_identity else None)
    schema = [*table.schema, *new_fields]
    columns = table_columns(schema, resolved)
    loaded = [c for c in columns if c.source_name is not None]
    by_source = {c.source_name: c for c in loaded}
    # Read with the table's types (an existing table may hold a compatible, different type).
    read_columns = [replace(p.read_column, bq_type=by_source[p.source.name].bq_type) for p in plans]
    cursor = None
    lookback = None
    lower: CursorValue | None = None
    if transactional:
        assert identity is not None
        require_identity_loaded(identity, columns, ref)
        cursor = by_source[cursor_plan(plans, job).source.name]
        lookback = Lookback.for_job(job.lookback, cursor)
        increment = plan_increment(
            client,
            ref,
            job.name,
            cursor,
            lookback,
            location=location,
            fingerprinted=not new_identity,
        )
        if increment.window_start is not None:
            lower = increment.window_start  # type: ignore[assignment]
        else:
            lower = first_run_bound(job, cursor, ctx.started_at)
    else:
        has_run_id = any(f.name == RUN_ID for f in table.schema)
        increment = plan_snapshot(client, ref, job.name, location=location, has_run_id=has_run_id)
    read_cursor = next(
        (rc for rc in read_columns if cursor and rc.name == cursor.source_name), None
    )
    bound = (
        CursorBound(read_cursor, lower) if read_cursor is not None and lower is not None else None
    )
    read_plan = ReadPlan(job.source, read_columns, bound)
    ctx.reader.check_readable(read_plan)
    estimated = ctx.reader.estimate_rows(job.source)
    mode = _processing_mode(job)
    rejected_known = read_known_rejected(client, rejected_table(ref), location=location)
    # Every check passed: now, and only now, change the table.
    table = tables.apply_table_changes(client, table, ref, new_fields, job.name, job.load_type)
    return LoadTarget(
        ref=ref,
        columns=columns,
        plans=plans,
        read_plan=read_plan,
        cursor=cursor,
        increment=increment,
        lower_bound=lower,
        job_id=increment.job_id,
        estimated_rows=estimated,
        processing_mode=mode,
        identity=identity,
        lookback=lookback,
        known_rejected=rejected_known,
        location=location,
        load_schema=list(table.schema),
    )
