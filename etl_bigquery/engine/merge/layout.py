"""The table of a merge or history job: which columns are its key, its metadata columns,
partitioning and clustering, and the `MergeShape` its statements are rendered from.

Columns after the loaded ones: `_etl_loaded_at` (the table clock), `_etl_run_id`,
`_etl_key_hash` (its description names the key columns), `_etl_row_hash` (the version) and
`_etl_deleted_at` (soft deletes; always present, so switching `deletes:` later needs no backfill);
history adds `_etl_valid_from`, `_etl_valid_to` (NULL while current) and `_etl_is_current`.

Merge tables are partitioned by DAY on the cursor when it is a date or time, or on the job's
`partition_column`, and clustered on the key (its first four columns). History tables are
partitioned on `_etl_valid_from`: a version never changes partition.
"""

from __future__ import annotations

from collections.abc import Sequence

from google.cloud import bigquery

from etl_bigquery.engine.bigquery import merge_sql as sql
from etl_bigquery.engine.bigquery.merge_sql import Col, MergeShape
from etl_bigquery.engine.bigquery.tables import TableRef
from etl_bigquery.engine.conform import TargetColumn
from etl_bigquery.engine.errors import ValidationError
from etl_bigquery.engine.jobs.model import JobSpec
from etl_bigquery.engine.merge.hashes import (
    KEY_HASH,
    ROW_DESCRIPTION,
    ROW_HASH,
    describe_key,
    key_columns_described,
)
from etl_bigquery.engine.plan import ColumnPlan
from etl_bigquery.engine.schema.bqtypes import TIME_TYPES, BqType

MERGE_COLUMNS = (KEY_HASH, ROW_HASH, sql.DELETED_AT)
HISTORY_COLUMNS = (sql.VALID_FROM, sql.VALID_TO, sql.IS_CURRENT)
RESERVED = (*MERGE_COLUMNS, *HISTORY_COLUMNS)
"""Metadata columns of merge and history tables: never data columns (`pipeline.validate`)."""
# NaN is not equal to itself, and JSON and GEOGRAPHY cannot be compared in BigQuery at all.
_NOT_A_KEY = (BqType.FLOAT64, BqType.JSON, BqType.GEOGRAPHY)
_CLUSTER_MAX = 4  # BigQuery clusters on at most four columns


def choose_keys(job: JobSpec, plans: list[ColumnPlan]) -> list[ColumnPlan]:
    """The key of a merge/history job: `key_columns`, else the source's primary key (document
    stores: `document_id`); refused with a sentence when there is none or it cannot compare."""
    by_source = {p.source.name: p for p in plans}
    if job.key_columns:
        unknown = [k for k in job.key_columns if k not in by_source]
        if unknown:
            raise ValidationError(
                f"key_columns names {', '.join(repr(k) for k in unknown)}, which this job does "
                f"not load from {job.describe_source()}; name loaded columns."
            )
        keys = [by_source[k] for k in job.key_columns]
    else:
        keys = [p for p in plans if p.source.primary_key]
    if not keys:
        example = next((p.source.name for p in plans if p.source.name != job.cursor_column), "id")
        raise ValidationError(
            f"A {job.load_type.value} job needs columns that identify a row: "
            f"{job.describe_source()} has no primary key; set key_columns "
            f"(e.g. key_columns: [{example}])."
        )
    for key in keys:
        if key.bq_type in _NOT_A_KEY:
            raise ValidationError(
                f"Key column '{key.source.name}' is {key.bq_type.value} in BigQuery, which cannot "
                "identify a row (FLOAT64 has NaN, JSON and GEOGRAPHY cannot be compared); choose "
                "other key_columns or override its type in column_types."
            )
    return keys


def partition_plan(job: JobSpec, plans: list[ColumnPlan], cursor: ColumnPlan) -> ColumnPlan | None:
    """The merge table's DAY partitioning column: `partition_column`, else a date/time cursor."""
    if job.partition_column:
        found = next((p for p in plans if p.source.name == job.partition_column), None)
        if found is None:
            raise ValidationError(
                f"partition_column '{job.partition_column}' is not among the columns loaded from "
                f"{job.describe_source()}; name a loaded date or time column."
            )
        if found.bq_type not in TIME_TYPES:
            raise ValidationError(
                f"partition_column '{job.partition_column}' is {found.bq_type.value}; a table is "
                "partitioned by a DATE, DATETIME or TIMESTAMP column."
            )
        return found
    return cursor if cursor.bq_type in TIME_TYPES else None


def metadata_fields(keys: Sequence[str], history: bool) -> list[bigquery.SchemaField]:
    """The merge metadata columns (after `_etl_loaded_at` and `_etl_run_id`)."""
    fields = [
        bigquery.SchemaField(KEY_HASH, "STRING", description=describe_key(keys)),
        bigquery.SchemaField(ROW_HASH, "STRING", description=ROW_DESCRIPTION),
        bigquery.SchemaField(
            sql.DELETED_AT, "TIMESTAMP", description="when a key comparison found the key gone"
        ),
    ]
    if history:
        fields += [
            bigquery.SchemaField(sql.VALID_FROM, "TIMESTAMP", description="version valid from"),
            bigquery.SchemaField(
                sql.VALID_TO, "TIMESTAMP", description="version valid until (NULL: current)"
            ),
            bigquery.SchemaField(sql.IS_CURRENT, "BOOL", description="the key's current version"),
        ]
    return fields


def lay_out(
    table: bigquery.Table, keys: Sequence[str], partition: str | None, history: bool
) -> None:
    """A new merge/history table: metadata columns, partitioning and clustering."""
    table.schema = [*table.schema, *metadata_fields(keys, history)]
    field = sql.VALID_FROM if history else partition
    if field is not None:
        table.time_partitioning = bigquery.TimePartitioning(
            type_=bigquery.TimePartitioningType.DAY, field=field
        )
    table.clustering_fields = list(keys[:_CLUSTER_MAX])


def table_keys(table: bigquery.Table, ref: TableRef, history: bool) -> tuple[str, ...]:
    """The key columns an existing table was created with; a table without the merge columns
    (created by hand or by another load type) is refused."""
    fields = {f.name: f for f in table.schema}
    wanted = (*MERGE_COLUMNS, *(HISTORY_COLUMNS if history else ()))
    missing = [name for name in wanted if name not in fields]
    if missing:
        raise ValidationError(
            f"Table {ref} has no column {', '.join(missing)}, so it was not created by a "
            f"{'history' if history else 'merge'} job and its rows cannot be merged by key; "
            "load into a new table (`etl job apply` creates it)."
        )
    keys = key_columns_described(fields[KEY_HASH].description)
    if keys is None or any(k not in fields for k in keys):
        raise ValidationError(
            f"The description of column {KEY_HASH} in {ref} no longer names the key columns, so "
            "rows cannot be matched by key; restore it or load into a new table."
        )
    return keys


def shape_of(
    table: bigquery.Table,
    ref: TableRef,
    columns: list[TargetColumn],
    cursor: TargetColumn,
    *,
    history: bool,
) -> MergeShape:
    """The shape this run's statements are rendered from: the table decides keys and
    partitioning (they were fixed when it was created)."""
    keys = table_keys(table, ref, history)
    by_name = {c.name: c for c in columns}
    missing = [k for k in keys if k not in by_name or by_name[k].source_name is None]
    if missing:
        raise ValidationError(
            f"Column(s) {', '.join(missing)} are the key of {ref}, so this job must keep loading "
            "them; add them back to columns, or start a new job into a new table."
        )
    partition = None
    if table.time_partitioning is not None and table.time_partitioning.field:
        name = table.time_partitioning.field
        types = {f.name: f.field_type for f in table.schema}
        partition = Col(name, BqType.parse(types[name]))
    return MergeShape(
        target=ref,
        keys=tuple(Col(k, by_name[k].bq_type) for k in keys),
        cursor=Col(cursor.name, cursor.bq_type),
        loaded=tuple(c.name for c in columns if c.source_name is not None),
        partition=partition,
        history=history,
    )
