"""Validation: the source and the destination fit the job; decide exactly what this run loads.

Everything is checked first and BigQuery is changed last (columns added, table labelled), so a run
that fails validation leaves the table as it was. Schema drift is reported, not absorbed: a new
source column is not loaded until the job (or `etl job apply`) adds it, a dropped one is written
as NULL with a warning, and a type that no longer fits fails naming the column and both types.
"""

from __future__ import annotations

from dataclasses import replace

from google.cloud import bigquery

from etl_bigquery.engine.bigquery import tables
from etl_bigquery.engine.bigquery.tables import TableRef
from etl_bigquery.engine.conform import METADATA_COLUMNS, TargetColumn
from etl_bigquery.engine.cursor_reading import check_cursor_comparable, settle_read
from etl_bigquery.engine.errors import ConfigurationError, ValidationError
from etl_bigquery.engine.fingerprint import ROW_HASH
from etl_bigquery.engine.incremental import read_known_rejected
from etl_bigquery.engine.jobs.model import JobSpec
from etl_bigquery.engine.merge.layout import RESERVED
from etl_bigquery.engine.pipeline.context import LoadTarget, RunContext
from etl_bigquery.engine.pipeline.mode import choose_processing_mode
from etl_bigquery.engine.plan import ALWAYS_LOADED, ColumnPlan, plan_columns
from etl_bigquery.engine.rejected import rejected_table
from etl_bigquery.engine.row_version import ROW_VERSION
from etl_bigquery.engine.schema.bqtypes import BqType
from etl_bigquery.engine.schema.detect import detect_for_job
from etl_bigquery.engine.schema.names import AmbiguousColumn, TableNames, match_table_columns
from etl_bigquery.engine.sources.abilities import (
    CanSplit,
    EstimatesRead,
    ListsFiles,
    ReadsInStreams,
    SampledSchema,
)
from etl_bigquery.engine.sources.base import CursorBound, ReadPlan, SourceColumn
from etl_bigquery.engine.sources.files.reader import FileReader
from etl_bigquery.engine.sources.registry import by_dialect
from etl_bigquery.engine.staging import missing_staging_bucket
from etl_bigquery.engine.strategies import LoadStrategy, strategy_for


def destination_ref(ctx: RunContext) -> TableRef:
    dataset = ctx.job.destination.dataset or ctx.settings.default_dataset
    return TableRef(ctx.settings.project, dataset, ctx.job.destination_table)


def plan_source(
    ctx: RunContext,
    job: JobSpec | None = None,
    columns: list[SourceColumn] | None = None,
    *,
    detect: bool = False,
    table: bigquery.Table | None = None,
    strategy: LoadStrategy | None = None,
    adopt_types: bool = True,
) -> list[ColumnPlan]:
    """The job's columns with their proposed types. `detect` (when a table is about to be
    created) samples text columns for dates, timestamps, integers and booleans stored as text;
    runs instead follow the types the table already has (`_adopt_table_types`). An existing
    `table` also decides the names: each source column keeps the table column its description
    names."""
    job = job or ctx.job
    if columns is None:
        columns = ctx.reader.describe(job.source)
    detected = detect_for_job(ctx.reader, job, columns) if detect else None
    names = tables.table_names(table) if table is not None else None
    plans = plan_columns(job, columns, ctx.reader.dialect, detected=detected, table=names)
    if table is not None:
        plans = _keep_earlier_proposals(plans, table)
    if table is not None and adopt_types:
        plans = _adopt_table_types(plans, table)
    strategy = strategy or strategy_for(job)
    strategy.check_plans(job, plans)
    if strategy.uses_cursor:
        check_cursor_comparable(ctx.reader, job, plans)
    return plans


def table_columns(
    schema: list[bigquery.SchemaField], loaded: list[TargetColumn]
) -> list[TargetColumn]:
    """All data columns of a table schema in table order: loaded ones, and NULL for the rest."""
    by_name = {c.name.lower(): c for c in loaded}
    result = []
    for field in schema:
        if field.name in METADATA_COLUMNS or field.name in (ROW_HASH, ROW_VERSION):
            continue
        if field.name in RESERVED:
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


# Types a text column may have been given by detection when its table was created.
_DETECTABLE = (BqType.DATE, BqType.DATETIME, BqType.TIMESTAMP, BqType.INT64, BqType.BOOL)


# Source types whose proposal changed, and the type earlier versions created tables with: such a
# table keeps its column's type (MySQL TIME is now STRING, since it may exceed a day).
_EARLIER_PROPOSALS = {("mysql", "time"): BqType.TIME}


def _keep_earlier_proposals(plans: list[ColumnPlan], table: bigquery.Table) -> list[ColumnPlan]:
    """A column created with an earlier version's proposal keeps that type (applying or running
    the job again never fails over a proposal that changed); its values are checked one by one."""
    fields = {field.name.lower(): field for field in table.schema}
    kept = []
    for plan in plans:
        field = fields.get(plan.name.lower())
        base = plan.source.source_type.lower().split("(")[0].strip()
        earlier = _EARLIER_PROPOSALS.get((plan.dialect, base))
        described = tables.described_source(field.description) if field is not None else None
        if (
            earlier is not None
            and field is not None
            and field.field_type.upper() == earlier.value
            and described is not None
            and described[1] == plan.source.source_type
            and not plan.overridden
        ):
            plan = replace(plan, bq_type=earlier, overridden=True)
        kept.append(plan)
    return kept


def _adopt_table_types(plans: list[ColumnPlan], table: bigquery.Table) -> list[ColumnPlan]:
    """A text column the table holds as a detected type (DATE...) keeps loading as that type,
    each value checked: one that does not fit goes to the rejected rows, it does not fail the
    run (a new sample may no longer look like dates; the table decides)."""
    fields = {field.name.lower(): field for field in table.schema}
    adopted = []
    for plan in plans:
        field = fields.get(plan.name.lower())
        try:
            table_type = BqType.parse(field.field_type) if field else None
        except ValueError:
            table_type = None  # a type no job writes
        # Only when the source type is the one the table was created from (its description
        # says so): a source column that turned from integer into text is drift, and fails.
        described = tables.described_source(field.description) if field is not None else None
        same_source = described is not None and described[1] == plan.source.source_type
        if (
            table_type in _DETECTABLE
            and same_source
            and plan.bq_type is BqType.STRING
            and not plan.overridden
        ):
            plan = replace(plan, bq_type=table_type, overridden=True)
        elif (
            table_type is not None
            and not plan.overridden
            and by_dialect(plan.dialect).inferred_schema
        ):
            # File and document fields have no declared type: each run's sample only guesses
            # (a JSON key that is null today, a Redis hash whose numbers are text while a JSON
            # value's are not), so the table's type decides, value by value.
            plan = replace(plan, bq_type=table_type, overridden=True)
        adopted.append(plan)
    return adopted


def _drift(
    job: JobSpec, source: list[SourceColumn], table: TableNames
) -> tuple[JobSpec, list[str]]:
    """The job as this run loads it, and what drifted: listed columns the source dropped are
    left out (their table columns get NULL); with `columns: []`, source columns the table does
    not hold yet (by source name, `engine.schema.names`) are not loaded until the job is applied
    again."""
    names = {c.name for c in source}
    warnings = []
    dropped = [c for c in job.columns if c not in names]
    if dropped:
        if not all(table.holds(c) for c in dropped):
            return job, []  # a column that never existed: plan_columns says so
        warnings.append(
            f"source column(s) {', '.join(dropped)} no longer exist in "
            f"{job.describe_source()}; written as NULL"
        )
        job = job.model_copy(update={"columns": [c for c in job.columns if c in names]})
    if not job.columns:
        data = [c.name for c in source if c.name not in ALWAYS_LOADED]  # trace columns: ours
        try:
            held = match_table_columns(data, table)
        except AmbiguousColumn:
            return job, warnings  # plan_columns refuses with the sentence that says what to fix
        new = [name for name in data if name not in held]
        if new:
            warnings.append(
                f"new source column(s) {', '.join(new)} are not loaded until the job lists them "
                "(or `etl job apply` adds them)"
            )
            job = job.model_copy(update={"columns": [c.name for c in source if c.name not in new]})
    return job, warnings


def prepare_target(ctx: RunContext) -> LoadTarget:
    """Every check first, then the only changes (columns added, table labelled): a run that
    fails validation has not touched BigQuery."""
    client = ctx.bigquery.bigquery
    strategy = strategy_for(ctx.job)  # once per run: extraction and load use the target's
    source_columns = ctx.reader.describe(ctx.job.source)  # the source first: it is the root
    ref = destination_ref(ctx)
    table = tables.get_table(client, ref)
    if table is None:
        # A wrong column list is the first thing to fix.
        plan_source(ctx, columns=source_columns, strategy=strategy)
        raise ValidationError(
            f"Destination table {ref} does not exist; create the job first "
            f"(`etl job apply` with this job's file)."
        )
    if isinstance(ctx.reader, SampledSchema):  # document stores: a field the sample missed
        described = [tables.described_source(field.description) for field in table.schema]
        found = [d for d in described if d]
        source_columns = ctx.reader.columns_beyond_sample(source_columns, found)
    job, warnings = _drift(ctx.job, source_columns, tables.table_names(table))
    plans = plan_source(ctx, job, source_columns, table=table, strategy=strategy)
    location = table.location or ctx.settings.location
    resolved = tables.check_existing_table(
        table, ref, [p.target for p in plans], job_name=job.name, load_type=job.load_type
    )
    identity, new_identity = strategy.table_identity(job, plans, table, ref, resolved)
    new_fields = tables.missing_fields(table, resolved, identity if new_identity else None)
    columns = table_columns([*table.schema, *new_fields], resolved)
    new_fields += tables.version_field_missing(table, new_fields, identity, columns)
    planned = strategy.plan(
        job, client, table, ref, columns, plans, identity,
        fingerprinted=not new_identity, location=location, now=ctx.started_at, reader=ctx.reader,
    )  # fmt: skip
    by_source = {c.source_name: c for c in columns if c.source_name is not None}
    # Read with the table's types (an existing table may hold a compatible, different type).
    read_columns = [replace(p.read_column, bq_type=by_source[p.source.name].bq_type) for p in plans]
    read_cursor = next(
        (rc for rc in read_columns if planned.cursor and rc.name == planned.cursor.source_name),
        None,
    )
    bound = (
        CursorBound(read_cursor, planned.lower_bound)
        if read_cursor is not None and planned.lower_bound is not None
        else None
    )
    # A file job's plan carries its FilesSource; only the file reader receives such a plan.
    # ReadPlan.source stays typed for the SQL readers, which are the ones that read `.source`.
    read_plan = ReadPlan(job.source, read_columns, bound, files=planned.files)  # type: ignore[arg-type]
    ctx.reader.check_readable(read_plan)
    # A numeric cursor of a settling source is read only up to its settled bound.
    reading = settle_read(
        ctx.reader, job, read_plan, read_cursor, planned.lookback,
        planned.increment.state.watermark if planned.cursor else None,
    )  # fmt: skip
    read_plan, planned.upper_bound = reading.read_plan, reading.read_plan.upper_bound
    warnings += reading.warnings
    # What this run reads decides its mode: an incremental run of a large table is small.
    estimated = (
        ctx.reader.estimate_read(read_plan)
        if isinstance(ctx.reader, EstimatesRead)
        else ctx.reader.estimate_rows(read_plan.source)
    )
    try:
        source = by_dialect(ctx.reader.dialect)
        # Files split one unit per file, BigQuery in read streams (engine.beam.units).
        splittable = isinstance(ctx.reader, CanSplit | ListsFiles | ReadsInStreams)
        source_key = source.key
    except ConfigurationError:  # a reader the registry does not know by dialect
        source_key, splittable = ctx.reader.dialect, False
    local_files = isinstance(ctx.reader, FileReader) and ctx.reader.store.settings.type == "local"
    mode, reason = choose_processing_mode(job, estimated, source_key, splittable, local_files)
    rejected_known = read_known_rejected(client, rejected_table(ref), location=location)
    staging = ctx.settings.staging_uri
    if staging.startswith("gs://"):  # a file:// staging folder needs no Cloud Storage client
        missing = missing_staging_bucket(staging, ctx.bigquery.storage)
        if missing:
            raise ValidationError(missing)
    # Every check passed: now, and only now, change the table.
    table = tables.apply_table_changes(client, table, ref, new_fields, job.name, job.load_type)
    return LoadTarget(
        ref=ref,
        columns=columns,
        plans=plans,
        read_plan=read_plan,
        strategy=strategy,
        planned=planned,
        estimated_rows=estimated,
        processing_mode=mode,
        processing_reason=reason,
        known_rejected=rejected_known,
        location=location,
        load_schema=list(table.schema),
        warnings=warnings,
        cursor_reading=reading.description,
    )
