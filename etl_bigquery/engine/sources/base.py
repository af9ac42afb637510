"""What every source reader offers the engine, and the values a read is described by.

A reader is plain Python with its secrets already resolved (the blocks build it); it knows nothing
of Prefect. It describes its source, estimates sizes, and streams Arrow record batches in bounded
memory. Values come out in whatever Arrow type the driver gives; `engine.conform` turns them into
the destination's types. What only some readers can do (split a read, list tables, push a cursor
bound down...) is in `engine.sources.abilities`.
"""

from __future__ import annotations

import abc
import datetime as dt
from collections.abc import Iterator
from dataclasses import dataclass
from decimal import Decimal
from typing import Any, Self

import pyarrow as pa

from etl_bigquery.engine.jobs.model import QuerySource, TableSource
from etl_bigquery.engine.schema.bqtypes import BqType

CursorValue = dt.datetime | dt.date | int | float | Decimal
DEFAULT_BATCH_BYTES = 8 * 1024 * 1024
"""A batch's target size. 8 MiB (was 16): at 1,000,000 bench rows with two readers, peak RSS
fell by 45-60 MB (catalog 348 -> 303 MB, transactional 412 -> 349 MB) at no measurable cost in
rate; see `engine.byte_budget` for what a run holds at most."""
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
class UpperBound:
    """Read only rows whose cursor is at or before `value` (inclusive); `value` None reads no row
    at all. Set when the source settles the read of a numeric cursor
    (`engine.sources.abilities.SettlesCursor`): rows above it may still have company from
    transactions that are not committed yet, so this run neither loads them nor lets them move
    the watermark, and the next run reads them."""

    column: ReadColumn
    value: CursorValue | None


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
class ReadStream:
    """One unit of a split read: one stream of a read session the source planned itself
    (BigQuery's Storage Read API). The session fixes the snapshot, the columns and the row
    restriction; its streams together hold every row once. `schema` is the session's serialized
    Arrow schema (a stream's own responses need not repeat it)."""

    session: str
    stream: str
    index: int
    streams: int
    schema: bytes


@dataclass(frozen=True)
class RowGroups:
    """One unit of a split read of one large Parquet file: row groups `first` to `last - 1`,
    whose first row is the file's record number `first_row` (so record numbers are those of a
    whole-file read)."""

    first: int
    last: int
    first_row: int


SplitUnit = CursorRange | HashBucket | ReadStream | RowGroups
"""What a unit of a split read is (`engine.sources.abilities.CanSplit`)."""


@dataclass(frozen=True)
class ReadPlan:
    source: TableSource | QuerySource
    columns: list[ReadColumn]
    lower_bound: CursorBound | None = None
    unit: SplitUnit | None = None
    """Set on the units `CanSplit.split` returns; None reads the whole plan."""
    files: tuple[Any, ...] | None = None
    """File sources: the files this run reads (`engine.sources.files.store.StoredFile`), chosen by
    the load strategy; None reads every matching file."""
    upper_bound: UpperBound | None = None
    """The settled bound of a numeric cursor (None: no upper limit)."""
    snapshot: str | None = None
    """A snapshot exported by another reader of the same source (`SharesSnapshot`): the units
    of one parallel read all read it. None: the read's own snapshot."""


class SourceReader(abc.ABC):
    """The core every source reader implements (SQL databases, BigQuery, files, document stores),
    read-only. Optional abilities are small protocols of their own
    (`engine.sources.abilities`): a reader implements exactly those it supports, and the engine
    asks `isinstance(reader, CanSplit)`, never whether an attribute happens to exist."""

    dialect: str
    """The registry's name for how this reader's types and queries are read
    (`engine.sources.registry.by_dialect`)."""

    @abc.abstractmethod
    def ping(self) -> None:
        """Reach the source (`SELECT 1`, a listing); raise `ConnectionFailed` with a clear
        message when it fails."""

    @abc.abstractmethod
    def describe(self, source: Any) -> list[SourceColumn]:
        """The columns of a table, query, collection or files source, with their native types;
        `ValidationError` when the source does not exist."""

    @abc.abstractmethod
    def estimate_rows(self, source: Any) -> int | None:
        """About how many rows `source` holds; None when the source cannot tell cheaply."""

    @abc.abstractmethod
    def check_readable(self, plan: ReadPlan) -> None:
        """Open the read of `plan` without reading rows: privileges, SQL and existence are
        checked before any work starts, so such failures are validation failures."""

    @abc.abstractmethod
    def read(self, plan: ReadPlan) -> Iterator[pa.RecordBatch]:
        """Stream the rows of `plan`; memory stays bounded whatever the source's size."""

    @abc.abstractmethod
    def preview(self, source: Any, limit: int = 10) -> pa.Table:
        """The first `limit` rows of `source`, as the source holds them."""

    @abc.abstractmethod
    def close(self) -> None: ...

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


SqlReader = SourceReader
"""The old name, kept only while the load-strategy modules (`engine.strategies`,
`engine.file_strategies`, `engine.beam.pipeline`) are being reworked; use `SourceReader`."""
