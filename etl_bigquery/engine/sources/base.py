"""What every SQL source reader offers the engine.

A reader is plain Python with its secrets already resolved (the blocks build it); it knows nothing
of Prefect. It describes tables, estimates sizes, and streams Arrow record batches in bounded
memory. Values come out in whatever Arrow type the driver gives; `engine.conform` turns them into
the destination's types.
"""

from __future__ import annotations

import abc
import datetime as dt
from collections.abc import Iterator
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

import pyarrow as pa

from etl_bigquery.engine.jobs.model import QuerySource, TableSource
from etl_bigquery.engine.schema.bqtypes import BqType

CursorValue = dt.datetime | dt.date | int | float | Decimal
DEFAULT_BATCH_BYTES = 16 * 1024 * 1024
DEFAULT_BATCH_ROWS = 50_000


@dataclass(frozen=True)
class SourceColumn:
    name: str
    source_type: str
    nullable: bool = True
    primary_key: bool = False


@dataclass(frozen=True)
class TableInfo:
    schema: str
    name: str
    row_count: int | None
    """Exact where counting is cheap, else the database's estimate (PostgreSQL statistics)."""
    estimated: bool = False
    """True when `row_count` is an estimate, not a count."""


@dataclass(frozen=True)
class ReadColumn:
    """One column to read: its source name and type, and the BigQuery type it will become (the
    reader may ask the database to convert, e.g. an interval to text)."""

    name: str
    source_type: str
    bq_type: BqType


@dataclass(frozen=True)
class CursorBound:
    """Read only rows whose cursor is at or after `value` (inclusive: the boundary rows are
    de-duplicated by the engine, never dropped by the reader)."""

    column: ReadColumn
    value: CursorValue


@dataclass(frozen=True)
class CursorRange:
    """One unit of a split read: `lower <= cursor < upper` (None: open on that side)."""

    column: ReadColumn
    lower: CursorValue | None
    upper: CursorValue | None


@dataclass(frozen=True)
class HashBucket:
    """One unit of a split read: the rows whose key hashes into `bucket` of `buckets`."""

    columns: tuple[str, ...]
    buckets: int
    bucket: int


@dataclass(frozen=True)
class ReadPlan:
    source: TableSource | QuerySource
    columns: list[ReadColumn]
    lower_bound: CursorBound | None = None
    unit: CursorRange | HashBucket | None = None
    """Set on the units `SqlReader.split` returns; None reads the whole plan."""
    files: tuple[Any, ...] | None = None
    """File sources: the files this run reads (`engine.sources.files.store.StoredFile`), chosen by
    the load strategy; None reads every matching file."""


class SqlReader(abc.ABC):
    """A connection to one SQL database, read-only."""

    dialect: str

    @abc.abstractmethod
    def ping(self) -> None:
        """Run `SELECT 1`; raise `ConnectionFailed` with a clear message when it fails."""

    @abc.abstractmethod
    def list_schemas(self) -> list[str]: ...

    @abc.abstractmethod
    def list_tables(self, schema: str | None = None) -> list[TableInfo]: ...

    @abc.abstractmethod
    def describe(self, source: TableSource | QuerySource) -> list[SourceColumn]:
        """The columns of a table or query; `ValidationError` when the table does not exist."""

    @abc.abstractmethod
    def estimate_rows(self, source: TableSource | QuerySource) -> int | None: ...

    def estimate_read(self, plan: ReadPlan) -> int | None:
        """The rows `plan` will read (an incremental read is much smaller than its table);
        readers that cannot estimate a bounded read give the whole source's estimate."""
        return self.estimate_rows(plan.source)

    @abc.abstractmethod
    def check_readable(self, plan: ReadPlan) -> None:
        """Run the extraction query with no rows: privileges and SQL are checked before any work
        starts, so such failures are validation failures."""

    @abc.abstractmethod
    def read(self, plan: ReadPlan) -> Iterator[pa.RecordBatch]:
        """Stream the rows of `plan`; memory stays bounded whatever the table size."""

    def split(
        self, plan: ReadPlan, units: int, key_columns: list[str] | None = None
    ) -> list[ReadPlan]:
        """Independent units whose union is exactly `plan`, no row in two (the Dataflow path
        reads them in parallel): ranges of the cursor sized by its distribution, else hash
        buckets of `key_columns` (the primary key), else of the whole row. A reader that cannot
        split (capability `splittable` false) returns `[plan]`."""
        return [plan]

    @abc.abstractmethod
    def preview(self, source: TableSource | QuerySource, limit: int = 10) -> pa.Table: ...

    def write_access_warning(self) -> str | None:
        """One sentence when the login can change the database (a read-only role is the safe
        choice: some functions act outside a read-only transaction), else None."""
        return None

    @abc.abstractmethod
    def close(self) -> None: ...

    def __enter__(self) -> SqlReader:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
