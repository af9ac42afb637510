"""Validation: the source and the destination fit the job; decide exactly what this run loads."""

from __future__ import annotations

import datetime as dt
from dataclasses import replace

from google.cloud import bigquery

from etl.bigquery import tables
from etl.bigquery.tables import TableRef
from etl.conform import METADATA_COLUMNS, TargetColumn
from etl.errors import ConfigurationError, ValidationError
from etl.incremental import load_job_id, plan_increment
from etl.jobs.model import Backfill, JobSpec, LoadType, ProcessingMode
from etl.pipeline.context import LoadTarget, RunContext
from etl.plan import ColumnPlan, cursor_plan, plan_columns
from etl.schema.bqtypes import TIME_TYPES, BqType
from etl.sources.base import CursorBound, CursorValue, ReadPlan


def destination_ref(ctx: RunContext) -> TableRef:
    dataset = ctx.job.destination.dataset or ctx.settings.default_dataset
    return TableRef(ctx.settings.project, dataset, ctx.job.destination_table)


def plan_source(ctx: RunContext) -> list[ColumnPlan]:
    columns = ctx.reader.describe(ctx.job.source)
    return plan_columns(ctx.job, columns, ctx.reader.dialect)


def _table_columns(table: bigquery.Table, loaded: list[TargetColumn]) -> list[TargetColumn]:
    """All non-metadata columns of `table` in table order: loaded ones, and NULL for the rest."""
    by_name = {c.name.lower(): c for c in loaded}
    result = []
    for field in table.schema:
        if field.name in METADATA_COLUMNS:
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


def resolve_table(ctx: RunContext, plans: list[ColumnPlan]) -> list[TargetColumn]:
    """The columns this run writes into the (existing, compatible) destination table."""
    job = ctx.job
    client = ctx.bigquery.bigquery
    ref = destination_ref(ctx)
    table = tables.get_table(client, ref)
    if table is None:
        raise ValidationError(
            f"Destination table {ref} does not exist; create the job first "
            f"(`etl job apply` with this job's file)."
        )
    proposed = [p.target for p in plans]
    if job.load_type is LoadType.TRANSACTIONAL:
        _require_cursor_column(table, ref, cursor_plan(plans, job).target)
    resolved = tables.check_existing_table(
        table, ref, proposed, job_name=job.name, load_type=job.load_type
    )
    table = tables.add_missing_columns(client, table, ref, resolved)
    tables.claim_table(client, table, job.name, job.load_type)
    return _table_columns(table, resolved)


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
    job = ctx.job
    plans = plan_source(ctx)
    columns = resolve_table(ctx, plans)
    ref = destination_ref(ctx)
    loaded = [c for c in columns if c.source_name is not None]
    by_source = {c.source_name: c for c in loaded}
    read_columns = [p.read_column for p in plans]
    # Read with the table's types (an existing table may hold a compatible, different type).
    read_columns = [replace(rc, bq_type=by_source[rc.name].bq_type) for rc in read_columns]
    cursor = None
    increment = None
    lower: CursorValue | None = None
    if job.load_type is LoadType.TRANSACTIONAL:
        cursor = by_source[cursor_plan(plans, job).source.name]
        increment = plan_increment(ctx.bigquery.bigquery, ref, job.name, cursor, loaded)
        if increment.state.watermark is not None:
            lower = increment.state.watermark  # type: ignore[assignment]
        else:
            lower = first_run_bound(job, cursor, ctx.started_at)
        job_id = increment.job_id
    else:
        job_id = load_job_id(job.name, ref, f"catalog|{ctx.run_id}", 1)
    read_cursor = next(
        (rc for rc in read_columns if cursor and rc.name == cursor.source_name), None
    )
    bound = (
        CursorBound(read_cursor, lower) if read_cursor is not None and lower is not None else None
    )
    read_plan = ReadPlan(job.source, read_columns, bound)
    ctx.reader.check_readable(read_plan)
    estimated = ctx.reader.estimate_rows(job.source)
    return LoadTarget(
        ref=ref,
        columns=columns,
        plans=plans,
        read_plan=read_plan,
        cursor=cursor,
        increment=increment,
        lower_bound=lower,
        job_id=job_id,
        estimated_rows=estimated,
        processing_mode=_processing_mode(job),
    )
