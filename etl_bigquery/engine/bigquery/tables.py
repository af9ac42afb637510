"""Destination tables: create them, read them, and check a job fits an existing one."""

from __future__ import annotations

import ast
import re
from collections.abc import Callable
from dataclasses import dataclass

from google.api_core import exceptions as gexc
from google.cloud import bigquery

from etl_bigquery.engine.bigquery.clients import classify_google_error
from etl_bigquery.engine.conform import METADATA_COLUMNS, TargetColumn
from etl_bigquery.engine.errors import Stage, ValidationError
from etl_bigquery.engine.fingerprint import ROW_HASH, Identity
from etl_bigquery.engine.jobs.model import LoadType
from etl_bigquery.engine.row_version import ROW_VERSION, VersionColumns
from etl_bigquery.engine.schema.bqtypes import BqType
from etl_bigquery.engine.schema.compat import can_load
from etl_bigquery.engine.schema.names import TableNames

JOB_LABEL = "etl_job"
LOAD_TYPE_LABEL = "etl_load_type"


@dataclass(frozen=True)
class TableRef:
    project: str
    dataset: str
    table: str

    @property
    def id(self) -> str:
        return f"{self.project}.{self.dataset}.{self.table}"

    @property
    def sql(self) -> str:
        return f"`{self.project}.{self.dataset}.{self.table}`"

    def __str__(self) -> str:
        return f"{self.dataset}.{self.table}"


def get_table(client: bigquery.Client, ref: TableRef) -> bigquery.Table | None:
    try:
        return client.get_table(ref.id)
    except gexc.NotFound:
        return None
    except Exception as error:
        raise classify_google_error(error, Stage.VALIDATION, f"reading table {ref}") from None


def ensure_dataset(client: bigquery.Client, ref: TableRef, location: str | None) -> bool:
    """Create the dataset if missing; True when it was created (so a failed job create can undo)."""
    try:
        client.get_dataset(f"{ref.project}.{ref.dataset}")
        return False
    except gexc.NotFound:
        pass
    except Exception as error:
        raise classify_google_error(
            error, Stage.VALIDATION, f"reading dataset {ref.dataset}"
        ) from None
    dataset = bigquery.Dataset(f"{ref.project}.{ref.dataset}")
    if location:
        dataset.location = location
    try:
        client.create_dataset(dataset, exists_ok=True)
    except Exception as error:
        raise classify_google_error(
            error, Stage.VALIDATION, f"creating dataset {ref.dataset}"
        ) from None
    return True


def row_hash_field(identity: Identity) -> bigquery.SchemaField:
    return bigquery.SchemaField(ROW_HASH, "STRING", description=identity.describe())


def version_columns(columns: list[TargetColumn]) -> VersionColumns:
    """A transactional row's version columns: every loaded column, in table order (the order
    of `columns`, which every caller takes from the table's schema)."""
    return VersionColumns(tuple(c.name for c in columns if c.source_name is not None))


def table_version(table: bigquery.Table) -> tuple[bool, VersionColumns | None]:
    """(the table has `_etl_row_version`, the version columns its description names)."""
    for field in table.schema:
        if field.name == ROW_VERSION:
            return True, VersionColumns.from_description(field.description)
    return False, None


def version_field_missing(
    table: bigquery.Table,
    new_fields: list[bigquery.SchemaField],
    identity: Identity | None,
    columns: list[TargetColumn],
) -> list[bigquery.SchemaField]:
    """The `_etl_row_version` field a transactional table (it has an identity) lacks: a table
    created before versions existed gets it here, with no reload (`engine.row_version`)."""
    have = {f.name for f in [*table.schema, *new_fields]}
    if identity is None or ROW_VERSION in have:
        return []
    described = version_columns(columns).describe()
    return [bigquery.SchemaField(ROW_VERSION, "STRING", description=described)]


def table_identity(table: bigquery.Table) -> Identity | None:
    """The identity columns a transactional table was created with (see `engine.fingerprint`)."""
    for field in table.schema:
        if field.name == ROW_HASH:
            return Identity.from_description(field.description)
    return None


def source_description(source_name: str, source_type: str) -> str:
    """The description of a table column this project creates: it names the source column and
    its type, so later runs know where the column came from (`described_source`)."""
    return f"source column {source_name!r} ({source_type})"[:1024]


_DESCRIBED = re.compile(r"^source column (?P<name>'.*'|\".*\") \((?P<type>.*)\)$", re.DOTALL)


def described_source(description: str | None) -> tuple[str, str] | None:
    """(source column, source type) from a `source_description`, or None for a column this
    project did not describe (or a description cut at 1024 characters)."""
    found = _DESCRIBED.match(description or "")
    if found is None:
        return None
    try:
        name = ast.literal_eval(found["name"])
    except (ValueError, SyntaxError):
        return None
    return (name, found["type"]) if isinstance(name, str) else None


def described_columns(table: bigquery.Table) -> dict[str, str]:
    """Source column → the table column whose description names it (`source_description`).
    Two columns naming one source column would make loads guess, so that is refused."""
    found: dict[str, str] = {}
    for field in table.schema:
        described = described_source(field.description)
        if described is None:
            continue
        if described[0] in found:
            raise ValidationError(
                f"Columns {found[described[0]]} and {field.name} of table "
                f"{table.dataset_id}.{table.table_id} both say they hold source column "
                f"{described[0]!r}; correct the description of the one that does not."
            )
        found[described[0]] = field.name
    return found


def table_names(table: bigquery.Table) -> TableNames:
    """The table's columns as name matching sees them (`engine.schema.names`)."""
    described = described_columns(table)
    held = set(described.values())
    return TableNames(described, tuple(f.name for f in table.schema if f.name not in held))


def _schema(
    columns: list[TargetColumn], identity: Identity | None = None
) -> list[bigquery.SchemaField]:
    fields = [
        bigquery.SchemaField(
            c.name,
            c.bq_type.value,
            mode="NULLABLE",
            description=source_description(c.source_name or c.name, c.source_type),
        )
        for c in columns
    ]
    fields.append(
        bigquery.SchemaField("_etl_loaded_at", "TIMESTAMP", description="when the row was loaded")
    )
    fields.append(
        bigquery.SchemaField(
            "_etl_run_id", "STRING", description="Prefect flow run that loaded the row"
        )
    )
    if identity is not None:
        fields.append(row_hash_field(identity))
    return fields


def create_table(
    client: bigquery.Client,
    ref: TableRef,
    columns: list[TargetColumn],
    *,
    job_name: str,
    load_type: LoadType,
    identity: Identity | None = None,
    layout: Callable[[bigquery.Table], None] | None = None,
) -> bigquery.Table:
    """`layout` sets the strategy's partitioning and clustering (`engine.strategies`)."""
    schema = _schema(columns, identity)
    if identity is not None:  # the table's order is `columns`' order
        version = version_columns(columns).describe()
        schema.append(bigquery.SchemaField(ROW_VERSION, "STRING", description=version))
    table = bigquery.Table(ref.id, schema=schema)
    table.labels = {JOB_LABEL: job_name, LOAD_TYPE_LABEL: load_type.value}
    if layout is not None:
        layout(table)
    try:
        return client.create_table(table)
    except gexc.Conflict:
        raise ValidationError(
            f"Table {ref} was created by someone else meanwhile; run the job again."
        ) from None
    except Exception as error:
        raise classify_google_error(error, Stage.VALIDATION, f"creating table {ref}") from None


def check_existing_table(
    table: bigquery.Table,
    ref: TableRef,
    columns: list[TargetColumn],
    *,
    job_name: str,
    load_type: LoadType,
) -> list[TargetColumn]:
    """Check a job may load into `table` (same job, same load type, compatible column types) and
    return its columns with the table's own types, since loads cast to what the table has.
    Columns the table lacks are returned as proposed; `add_missing_columns` adds them."""
    labels = table.labels or {}
    owner = labels.get(JOB_LABEL)
    if owner and owner != job_name:
        raise ValidationError(
            f"Table {ref} is loaded by job '{owner}'; choose another destination table."
        )
    existing_type = labels.get(LOAD_TYPE_LABEL)
    if existing_type and existing_type != load_type.value:
        raise ValidationError(
            f"Table {ref} holds a {existing_type} load and this job is {load_type.value}; "
            f"choose another destination table or the same load type."
        )
    existing = {field.name.lower(): field for field in table.schema}
    problems = []
    resolved = []
    for column in columns:
        field = existing.get(column.name.lower())
        if field is None:
            resolved.append(column)  # added to the table as NULLABLE before loading
            continue
        # Names come from `engine.schema.names.resolve_column_names`; a column that another
        # source column's values fill would be a silent swap, whoever chose the names.
        described = described_source(field.description)
        if described is not None and described[0].lower() != (column.source_name or "").lower():
            raise ValidationError(
                f"Table {ref} column {field.name} holds source column {described[0]!r}, not "
                f"{column.source_name!r}; choose another destination table."
            )
        try:
            table_type = BqType.parse(field.field_type)
        except ValueError:
            problems.append(f"{field.name} is {field.field_type}")
            continue
        if field.mode == "REPEATED" or not can_load(column.bq_type, table_type):
            problems.append(
                f"column {field.name} is {table_type.value} in BigQuery but the source gives "
                f"{column.bq_type.value}"
            )
            continue
        resolved.append(
            TargetColumn(
                column.source_name,
                column.source_type,
                field.name,
                table_type,
                # Trust holds for the proposed type only; a different table type is checked.
                column.trusted and table_type is column.bq_type,
            )
        )
    for name, bq_type in METADATA_COLUMNS.items():
        field = existing.get(name)
        if field is not None and BqType.parse(field.field_type) is not bq_type:
            problems.append(f"column {name} is {field.field_type}, expected {bq_type.value}")
    if problems:
        raise ValidationError(
            f"Table {ref} is not compatible with this job: {'; '.join(problems)}. "
            "Choose another destination table or override the column types."
        )
    return resolved


def missing_fields(
    table: bigquery.Table, columns: list[TargetColumn], identity: Identity | None = None
) -> list[bigquery.SchemaField]:
    """Fields the table lacks: new job columns (and metadata columns of a table created
    elsewhere), to be added NULLABLE. Columns the job no longer loads stay in the table."""
    have = {field.name.lower() for field in table.schema}
    return [f for f in _schema(columns, identity) if f.name.lower() not in have]


def apply_table_changes(
    client: bigquery.Client,
    table: bigquery.Table,
    ref: TableRef,
    new_fields: list[bigquery.SchemaField],
    job_name: str,
    load_type: LoadType,
) -> bigquery.Table:
    """The only changes validation makes, after every check passed: add the missing columns and
    label a table created outside this tool with its job (so a second job cannot share it)."""
    labels = dict(table.labels or {})
    relabel = labels.get(JOB_LABEL) != job_name or labels.get(LOAD_TYPE_LABEL) != load_type.value
    if not new_fields and not relabel:
        return table
    fields = []
    if new_fields:
        table.schema = [*table.schema, *new_fields]
        fields.append("schema")
    if relabel:
        labels.update({JOB_LABEL: job_name, LOAD_TYPE_LABEL: load_type.value})
        table.labels = labels
        fields.append("labels")
    try:
        return client.update_table(table, fields)
    except Exception as error:
        raise classify_google_error(error, Stage.VALIDATION, f"updating table {ref}") from None
