"""Creating a job: validate everything first, then create the destination table last, and undo
what was created if that fails, so a failed `etl job apply` leaves nothing behind."""

from __future__ import annotations

import contextlib
from dataclasses import dataclass

from etl_bigquery.engine.bigquery import tables
from etl_bigquery.engine.bigquery.tables import TableRef
from etl_bigquery.engine.cursor_reading import sequence_rule
from etl_bigquery.engine.incremental import Lookback
from etl_bigquery.engine.pipeline.context import RunContext
from etl_bigquery.engine.pipeline.validate import destination_ref, plan_source, table_columns
from etl_bigquery.engine.plan import ColumnPlan, cursor_plan
from etl_bigquery.engine.strategies import first_run_bound, require_identity_loaded, strategy_for


@dataclass(frozen=True)
class Applied:
    ref: TableRef
    plans: list[ColumnPlan]
    table_created: bool
    dataset_created: bool
    estimated_rows: int | None
    dry_run: bool = False
    """Validated only: nothing was created or changed."""
    table_exists: bool = False
    columns_to_add: tuple[str, ...] = ()
    """BigQuery columns the table lacks (added as NULLABLE; with dry_run, would be)."""


def apply_job(ctx: RunContext, *, dry_run: bool = False) -> Applied:
    """Validate the job and create (or extend) its table; with `dry_run`, validate only and say
    what would be created."""
    job = ctx.job
    client = ctx.bigquery.bigquery
    strategy = strategy_for(job)
    ref = destination_ref(ctx)
    table = tables.get_table(client, ref)
    # An existing table names the columns it holds (by source name); its types are checked below.
    plans = plan_source(ctx, detect=True, table=table, strategy=strategy, adopt_types=False)
    proposed = [p.target for p in plans]
    cursor = None
    if strategy.uses_cursor:
        cursor_name = cursor_plan(plans, job).source.name
        cursor = next(c for c in proposed if c.source_name == cursor_name)
        first_run_bound(job, cursor, ctx.started_at)  # refuses a day-based backfill on a number
        # Refuses a duration on a numeric cursor, and a numeric cursor without a lookback on a
        # source that cannot settle its reads.
        Lookback.for_job(job.lookback, cursor, sequence_rule(ctx.reader, job.source))
    estimated = ctx.reader.estimate_rows(job.source)
    if table is not None:
        resolved = tables.check_existing_table(
            table, ref, proposed, job_name=job.name, load_type=job.load_type
        )
        identity, new_identity = strategy.table_identity(job, plans, table, ref, resolved)
        new_fields = tables.missing_fields(table, resolved, identity if new_identity else None)
        if identity is not None:
            columns = table_columns([*table.schema, *new_fields], resolved)
            require_identity_loaded(identity, columns, ref)
            new_fields += tables.version_field_missing(table, new_fields, identity, columns)
        added = tuple(f.name for f in new_fields)
        if dry_run:
            return Applied(ref, plans, False, False, estimated, True, True, added)
        tables.apply_table_changes(client, table, ref, new_fields, job.name, job.load_type)
        return Applied(ref, plans, False, False, estimated, False, True, added)
    identity = strategy.new_table_identity(job, plans, proposed)
    if dry_run:
        return Applied(ref, plans, False, False, estimated, True)
    dataset_created = tables.ensure_dataset(client, ref, ctx.settings.location)
    try:
        tables.create_table(
            client,
            ref,
            proposed,
            job_name=job.name,
            load_type=job.load_type,
            identity=identity,
            layout=lambda new: strategy.layout(new, cursor),
        )
    except BaseException:
        if dataset_created:
            with contextlib.suppress(Exception):
                client.delete_dataset(f"{ref.project}.{ref.dataset}", not_found_ok=True)
        raise
    return Applied(ref, plans, True, dataset_created, estimated)
