"""Creating a job: validate everything first, then create the destination table last, and undo
what was created if that fails, so a failed `etl job apply` leaves nothing behind."""

from __future__ import annotations

import contextlib
from dataclasses import dataclass

from etl.bigquery import tables
from etl.bigquery.tables import TableRef
from etl.incremental import Lookback
from etl.jobs.model import LoadType
from etl.pipeline.context import RunContext
from etl.pipeline.validate import (
    choose_identity,
    destination_ref,
    existing_identity,
    first_run_bound,
    plan_source,
    require_identity_loaded,
    table_columns,
)
from etl.plan import ColumnPlan, cursor_plan


@dataclass(frozen=True)
class Applied:
    ref: TableRef
    plans: list[ColumnPlan]
    table_created: bool
    dataset_created: bool
    estimated_rows: int | None


def apply_job(ctx: RunContext) -> Applied:
    job = ctx.job
    client = ctx.bigquery.bigquery
    plans = plan_source(ctx)
    proposed = [p.target for p in plans]
    cursor = None
    if job.load_type is LoadType.TRANSACTIONAL:
        cursor_name = cursor_plan(plans, job).source.name
        cursor = next(c for c in proposed if c.source_name == cursor_name)
        first_run_bound(job, cursor, ctx.started_at)  # refuses a day-based backfill on a number
        Lookback.for_job(job.lookback, cursor)  # refuses a duration on a numeric cursor
    estimated = ctx.reader.estimate_rows(job.source)
    ref = destination_ref(ctx)
    table = tables.get_table(client, ref)
    if table is not None:
        resolved = tables.check_existing_table(
            table, ref, proposed, job_name=job.name, load_type=job.load_type
        )
        identity = None
        if cursor is not None:
            identity = existing_identity(table, ref)
            if identity is None:
                identity = choose_identity(job, plans, resolved)
                new_fields = tables.missing_fields(table, resolved, identity)
            else:
                new_fields = tables.missing_fields(table, resolved)
            columns = table_columns([*table.schema, *new_fields], resolved)
            require_identity_loaded(identity, columns, ref)
        else:
            new_fields = tables.missing_fields(table, resolved)
        tables.apply_table_changes(client, table, ref, new_fields, job.name, job.load_type)
        return Applied(ref, plans, False, False, estimated)
    identity = choose_identity(job, plans, proposed) if cursor is not None else None
    dataset_created = tables.ensure_dataset(client, ref, ctx.settings.location)
    try:
        tables.create_table(
            client,
            ref,
            proposed,
            job_name=job.name,
            load_type=job.load_type,
            cursor=cursor,
            identity=identity,
        )
    except BaseException:
        if dataset_created:
            with contextlib.suppress(Exception):
                client.delete_dataset(f"{ref.project}.{ref.dataset}", not_found_ok=True)
        raise
    return Applied(ref, plans, True, dataset_created, estimated)
