"""Discovery: what a connection's database holds, for the CLI and the web console alike.

Each function takes a connection name (or an `SqlConnection` block) and returns plain dataclasses;
nothing here prints. Failures are `EtlError`s with one sentence: a missing connection, schema or
table, or a connection that is used by jobs and so cannot be deleted.
"""

from __future__ import annotations

import base64
import contextlib
import datetime as dt
import decimal
import math
import uuid
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import pyarrow as pa
import pydantic

from etl_bigquery.blocks.registry import Connection, load_connection
from etl_bigquery.blocks.sql import SqlConnection
from etl_bigquery.engine.errors import ConfigurationError, ValidationError
from etl_bigquery.engine.jobs.model import FilesSource, QuerySource, TableSource, source_kind
from etl_bigquery.engine.schema.detect import SAMPLE_ROWS, detect_source_columns
from etl_bigquery.engine.schema.typemap import propose
from etl_bigquery.engine.sources.abilities import TableCatalog
from etl_bigquery.engine.sources.base import SourceReader, TableInfo
from etl_bigquery.engine.sources.registry import source_type
from etl_bigquery.service.job_files import describe_validation_error

PREVIEW_ROWS = 10
FLOW_NAME = "etl-job"
PREFECT_YAML = Path(__file__).resolve().parent.parent / "prefect.yaml"
JobSource = TableSource | QuerySource | FilesSource
SOURCE_KINDS: dict[str, type[TableSource] | type[QuerySource] | type[FilesSource]] = {
    "table": TableSource, "query": QuerySource, "files": FilesSource,
}  # fmt: skip

__all__ = [
    "ColumnInfo",
    "Preview",
    "TableInfo",
    "delete_connection",
    "jobs_using",
    "list_columns",
    "list_schemas",
    "list_tables",
    "parse_source",
    "preview",
    "source_columns",
    "source_preview",
]


@dataclass(frozen=True)
class ColumnInfo:
    name: str
    source_type: str
    nullable: bool
    primary_key: bool
    bq_type: str
    """The proposed BigQuery type (detected from the values for text columns that hold dates,
    timestamps, integers or booleans)."""
    confidence: str
    warnings: list[str] = field(default_factory=list)
    detected: bool = False
    """True when `bq_type` comes from sampled values rather than the declared type."""

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class Preview:
    columns: list[str]
    rows: list[list[Any]]
    """JSON-safe values: dates and times in ISO 8601, decimals as text, bytes as base64,
    NaN/Infinity as text."""

    def as_dict(self) -> dict[str, Any]:
        return {"columns": self.columns, "rows": self.rows}


def _connection(connection: str | Connection) -> Connection:
    return load_connection(connection) if isinstance(connection, str) else connection


def _dialect(block: Connection) -> str:
    return source_type(block.type.value).dialect


def _catalog(reader: SourceReader, connection: str | SqlConnection) -> TableCatalog:
    if not isinstance(reader, TableCatalog):
        name = connection if isinstance(connection, str) else connection.describe()
        raise ValidationError(
            f"Connection '{name}' holds files, not tables; `etl connection files` lists them."
        )
    return reader


def list_schemas(connection: str | SqlConnection) -> list[str]:
    """PostgreSQL: the user schemas; MySQL/MariaDB: the database; SQLite: main (and attached)."""
    with _connection(connection).open_reader() as reader:
        return _catalog(reader, connection).list_schemas()


def list_tables(connection: str | SqlConnection, schema: str | None = None) -> list[TableInfo]:
    """Tables and views with row counts; `TableInfo.estimated` marks counts that are estimates."""
    block = _connection(connection)
    with block.open_reader() as reader:
        catalog = _catalog(reader, connection)
        if schema is not None and schema not in catalog.list_schemas():
            raise ValidationError(
                f"Schema '{schema}' does not exist in {block.describe()}; "
                "`etl connection schemas` lists them."
            )
        return catalog.list_tables(schema)


def list_columns(
    connection: str | SqlConnection,
    table: str,
    schema: str | None = None,
    *,
    sample_rows: int = SAMPLE_ROWS,
) -> list[ColumnInfo]:
    """Columns with source type, nullability, primary key and the proposed BigQuery type; text
    columns are sampled (`sample_rows`, 0 to skip) to detect dates, timestamps, integers and
    booleans stored as text."""
    return source_columns(connection, TableSource(schema=schema, table=table), sample_rows)


def parse_source(data: Mapping[str, Any]) -> JobSource:
    """A job file's `source:` (kind table, query or files), checked by the job model itself, so
    what discovery reads is what a job would read; one sentence when it is wrong."""
    kind = source_kind(dict(data))  # `kind` may be left out, as in a job file
    model = SOURCE_KINDS.get(kind)
    if model is None:
        raise ConfigurationError(f"source kind {kind!r} is not one of {', '.join(SOURCE_KINDS)}.")
    try:
        return model.model_validate(dict(data))
    except pydantic.ValidationError as error:
        raise ConfigurationError(describe_validation_error(error, "source")) from None


def source_columns(
    connection: str | Connection, source: JobSource, sample_rows: int = SAMPLE_ROWS
) -> list[ColumnInfo]:
    """The columns of any job source: a table or collection, a query (checked as one read-only
    SELECT by the reader before it reaches the database, as in every run) or files (the newest
    matching file), with the proposed BigQuery types and their confidence."""
    block = _connection(connection)
    dialect = _dialect(block)
    with block.open_reader() as reader:
        columns = reader.describe(source)
        detected = (
            detect_source_columns(reader, source, columns, limit=sample_rows) if sample_rows else {}
        )
    result = []
    for column in columns:
        proposal = detected.get(column.name) or propose(dialect, column.source_type)
        result.append(
            ColumnInfo(
                name=column.name,
                source_type=column.source_type,
                nullable=column.nullable,
                primary_key=column.primary_key,
                bq_type=proposal.bq_type.value,
                confidence=proposal.confidence.value,
                warnings=list(proposal.warnings),
                detected=column.name in detected,
            )
        )
    return result


def preview(
    connection: str | SqlConnection,
    table: str,
    schema: str | None = None,
    limit: int = PREVIEW_ROWS,
) -> Preview:
    """The first `limit` rows of a table, as JSON-safe values."""
    return source_preview(connection, TableSource(schema=schema, table=table), limit)


def source_preview(
    connection: str | Connection, source: JobSource, limit: int = PREVIEW_ROWS
) -> Preview:
    """The first `limit` rows of any job source (a query is checked first, as above)."""
    with _connection(connection).open_reader() as reader:
        data = reader.preview(source, limit=limit)
    columns = [_plain_column(data.column(i)) for i in range(data.num_columns)]
    rows = [[json_safe(column[r]) for column in columns] for r in range(data.num_rows)]
    return Preview(columns=list(data.column_names), rows=rows)


def _plain_column(column: pa.ChunkedArray) -> list[Any]:
    if isinstance(column.type, pa.BaseExtensionType):  # e.g. ADBC's opaque PostgreSQL types
        column = pa.chunked_array([c.storage for c in column.chunks], column.type.storage_type)
    try:
        return column.to_pylist()
    except (pa.ArrowException, ValueError, OverflowError):  # e.g. a date beyond Python's range
        return [None if v is None else str(v) for v in column.cast(pa.string()).to_pylist()]


def json_safe(value: Any) -> Any:
    """A value `json.dumps` writes and every JSON reader accepts."""
    if value is None or isinstance(value, bool | int | str):
        return value
    if isinstance(value, float):
        return value if math.isfinite(value) else str(value)  # 'nan', 'inf', '-inf'
    if isinstance(value, dt.datetime | dt.date | dt.time):
        return value.isoformat()
    if isinstance(value, dt.timedelta):
        return str(value)
    if isinstance(value, decimal.Decimal | uuid.UUID):
        return str(value)
    if isinstance(value, bytes | bytearray | memoryview):
        return base64.b64encode(bytes(value)).decode("ascii")
    if isinstance(value, dict):
        return {str(k): json_safe(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        # Arrow maps come as lists of (key, value) pairs.
        return [json_safe(v) for v in value]
    return str(value)


# -- deleting ------------------------------------------------------------------------------------


def _uses(job: Any, name: str) -> bool:
    if not isinstance(job, dict):
        return False
    destination = job.get("destination") or {}
    return job.get("connection") == name or (
        isinstance(destination, dict) and destination.get("block") == name
    )


def _deployed_jobs_using(name: str) -> set[str]:
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import FlowFilter, FlowFilterName

    jobs: set[str] = set()
    page = 200
    with get_client(sync_client=True) as client:
        offset = 0
        while True:
            deployments = client.read_deployments(
                flow_filter=FlowFilter(name=FlowFilterName(any_=[FLOW_NAME])),
                limit=page,
                offset=offset,
            )
            for deployment in deployments:
                if _uses((deployment.parameters or {}).get("job"), name):
                    jobs.add(deployment.name)
            if len(deployments) < page:
                return jobs
            offset += page


def _project_jobs_using(name: str, prefect_yaml: Path) -> set[str]:
    """Jobs in the repository's prefect.yaml (not registered yet, or on another server)."""
    import yaml

    try:
        document = yaml.safe_load(prefect_yaml.read_text()) or {}
    except (OSError, yaml.YAMLError):
        return set()  # no readable project file: the server's deployments are the jobs
    jobs = set()
    for entry in document.get("deployments") or []:
        if not isinstance(entry, dict) or not str(entry.get("entrypoint", "")).endswith(":etl_job"):
            continue
        if _uses((entry.get("parameters") or {}).get("job"), name):
            jobs.add(str(entry.get("name")))
    return jobs


def jobs_using(name: str, prefect_yaml: Path | None = PREFECT_YAML) -> list[str]:
    """The jobs reading from (connection) or loading into (destination block) `name`: the
    `etl-job` deployments on the Prefect server, and those in the project's prefect.yaml."""
    jobs = _deployed_jobs_using(name)
    if prefect_yaml is not None:
        jobs |= _project_jobs_using(name, prefect_yaml)
    return sorted(jobs)


def delete_connection(name: str, prefect_yaml: Path | None = PREFECT_YAML) -> None:
    """Delete a connection (or BigQuery destination) block; refused while a job uses it."""
    from prefect.client.orchestration import get_client
    from prefect.exceptions import ObjectNotFound
    from prefect.variables import Variable

    from etl_bigquery.blocks import health
    from etl_bigquery.blocks.registry import ALL_BLOCK_TYPES

    document = None
    with get_client(sync_client=True) as client:
        for block_type in ALL_BLOCK_TYPES:
            try:
                document = client.read_block_document_by_name(
                    name, block_type.get_block_type_slug(), include_secrets=False
                )
                break
            except ObjectNotFound:
                continue
        if document is None:
            raise ConfigurationError(
                f"Connection '{name}' does not exist; `etl connection list` shows the existing "
                "ones."
            )
        jobs = jobs_using(name, prefect_yaml)
        if jobs:
            listed = ", ".join(f"'{job}'" for job in jobs)
            raise ConfigurationError(
                f"Connection '{name}' is used by job{'s' * (len(jobs) > 1)} {listed}; delete "
                f"or change {'those jobs' if len(jobs) > 1 else 'that job'} first."
            )
        client.delete_block_document(document.id)
    # The recorded test outcome goes with the connection (a new one of that name starts unknown).
    with contextlib.suppress(Exception):
        Variable.unset(health._variable_name(name))
