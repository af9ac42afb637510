"""What only some readers can do: one small protocol per ability.

Every reader implements the core (`engine.sources.base.SourceReader`: ping, describe, estimate,
check, read, preview, close). Anything beyond it is one of the protocols below, and a reader
implements exactly those it supports: no method that answers "cannot" by default. The engine asks
`isinstance(reader, CanSplit)` (each protocol is `runtime_checkable` and has only methods, so
`issubclass` works on a reader's class too, before any connection is opened).

Which readers implement which protocol is pinned by the contract suite
(`tests/contract/test_source_contract.py`), and listed in the README's "Adding a source family".
"""

from __future__ import annotations

from contextlib import AbstractContextManager
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

if TYPE_CHECKING:
    import pyarrow as pa

    from etl_bigquery.engine.conform import RejectedRow
    from etl_bigquery.engine.jobs.model import FilesSource, QuerySource, TableSource
    from etl_bigquery.engine.sources.base import (
        CursorBound,
        ReadColumn,
        ReadPlan,
        SourceColumn,
        TableInfo,
    )
    from etl_bigquery.engine.sources.files.store import StoredFile
    from etl_bigquery.engine.sources.settle import Settled, SettleRefusal


@runtime_checkable
class PushesDownCursor(Protocol):
    """`cursor >= bound` runs in the source, so an incremental run reads only its increment.
    Readers without it read everything and the engine drops the rows before the bound (it
    filters in every case: the boundary rows are de-duplicated by the engine, never by a
    reader)."""

    def applies_bound(self, bound: CursorBound) -> bool:
        """Whether `read` filters by this bound in the source (a document store can compare
        only dates and numbers, so a bound on a text field is not pushed down)."""
        ...


@runtime_checkable
class CanSplit(Protocol):
    """A read splits into independent units (the Dataflow path reads them in parallel)."""

    def split(
        self, plan: ReadPlan, units: int, key_columns: list[str] | None = None
    ) -> list[ReadPlan]:
        """Units whose union is exactly `plan`, no row in two: ranges of the cursor sized by
        its distribution, else hash buckets of `key_columns` (the primary key), else of the
        whole row."""
        ...


@runtime_checkable
class ReadsInStreams(Protocol):
    """The source plans a split read itself: one read session of N streams (BigQuery's Storage
    Read API), one snapshot, every row in exactly one stream. No range or bucket is computed
    here, and reading a stream scans nothing twice."""

    def read_streams(self, plan: ReadPlan, streams: int) -> list[ReadPlan]:
        """Units whose union is exactly `plan`, one per stream (`ReadStream`); the source may
        give fewer streams than asked (a small table: one), and [plan] when it cannot."""
        ...


@runtime_checkable
class SplitsFiles(Protocol):
    """A file source's read splits by files: one unit per file, and a large Parquet file into
    runs of its row groups (`RowGroups`), record numbers as a whole-file read gives them."""

    def file_units(self, plan: ReadPlan, units: int) -> list[ReadPlan]:
        """About `units` units (never fewer than the files, small files stay whole)."""
        ...


@runtime_checkable
class SharesSnapshot(Protocol):
    """Readers of one source can read the same snapshot: a read split into units read at once
    (`engine.parallel_read`) is one consistent image of the source, as one stream would be."""

    def exported_snapshot(self) -> AbstractContextManager[str]:
        """A snapshot of the source held open while the context lasts; a `ReadPlan` whose
        `snapshot` is its token reads that snapshot (on any reader of the same source)."""
        ...


@runtime_checkable
class TypedArrowOutput(Protocol):
    """Batches carry the source's own types as Arrow types (a driver's typed columns), known
    before any row is read. Readers without it build each batch from Python values in the
    planned BigQuery type (or text), which the conformer checks value by value."""

    def arrow_schema(self, plan: ReadPlan) -> pa.Schema:
        """The schema of the batches `read(plan)` yields (names and types)."""
        ...


@runtime_checkable
class SamplesColumns(Protocol):
    """Chosen columns' first rows are read without SQL (BigQuery's free tabledata.list); type
    detection samples text columns this way instead of a `SELECT a, b FROM t` preview."""

    def sample_columns(
        self, source: TableSource, columns: list[str] | None, limit: int
    ) -> pa.Table: ...


@runtime_checkable
class SampledSchema(Protocol):
    """The columns come from a sample of the records (document stores): a field that only some
    records hold may be outside today's sample, so the fields the destination table already has
    are added back."""

    def columns_beyond_sample(
        self, columns: list[SourceColumn], table_sources: list[tuple[str, str]]
    ) -> list[SourceColumn]:
        """`columns` and the `(source field, source type)` of the table's columns not among
        them."""
        ...


@runtime_checkable
class TableCatalog(Protocol):
    """Schemas and tables (or namespaces and collections) can be listed, with row counts."""

    def list_schemas(self) -> list[str]: ...

    def list_tables(self, schema: str | None = None) -> list[TableInfo]: ...


@runtime_checkable
class ListsFiles(Protocol):
    """The source is files: a run lists them once, and the load strategy picks which to read
    (`engine.file_strategies`, `ReadPlan.files`)."""

    def files(self, source: FilesSource) -> list[StoredFile]: ...

    def content_hash(self, file: StoredFile) -> str:
        """SHA-256 (hex) of a file's bytes, for files whose store keeps no checksum."""
        ...


@runtime_checkable
class RejectsRecords(Protocol):
    """Some records cannot be read at all (a ragged CSV row, bytes that are not text); the
    reader keeps them and hands them over as rejected rows, which the extraction stores with
    the others."""

    def take_rejected(self) -> list[RejectedRow]:
        """The records set aside since the last call."""
        ...


@runtime_checkable
class EstimatesRead(Protocol):
    """The rows a bounded read returns can be estimated (an incremental read of a large table
    is small); others are estimated by their whole source's size."""

    def estimate_read(self, plan: ReadPlan) -> int | None: ...


@runtime_checkable
class WarnsOfWriteAccess(Protocol):
    """The login's privileges can be inspected: a connection test warns when it could change
    the source (a read-only role is the safe choice)."""

    def write_access_warning(self) -> str | None:
        """One sentence when the login can change the source, else None."""
        ...


@runtime_checkable
class SettlesCursor(Protocol):
    """A numeric cursor is read only up to a *settled bound*: the largest value visible when the
    read starts, once every transaction open at that moment has ended (`engine.sources.settle`
    says why nothing commits below it later). Such a cursor needs no lookback."""

    def settle_refusal(self, source: TableSource | QuerySource) -> SettleRefusal | None:
        """None when reads of `source` can be settled with this login; else why not."""
        ...

    def settle(self, plan: ReadPlan, cursor: ReadColumn, timeout: float) -> Settled:
        """Take M (the largest `cursor` at or after the plan's lower bound), then wait up to
        `timeout` seconds for the transactions open at that moment to end."""
        ...


@runtime_checkable
class SerialWriters(Protocol):
    """The database runs one writing transaction at a time (SQLite): a value drawn by a
    sequence or rowid is committed before the next writer can draw one, so a numeric cursor
    needs no lookback."""

    def commit_order(self) -> str:
        """Why, in one clause (shown in the validate artifact)."""
        ...


ABILITIES: tuple[type[Any], ...] = (
    PushesDownCursor,
    CanSplit,
    ReadsInStreams,
    SplitsFiles,
    SharesSnapshot,
    TypedArrowOutput,
    SamplesColumns,
    SampledSchema,
    TableCatalog,
    ListsFiles,
    RejectsRecords,
    EstimatesRead,
    WarnsOfWriteAccess,
    SettlesCursor,
    SerialWriters,
)


def abilities_of(reader: object) -> list[str]:
    """The names of the protocols a reader (or a reader class) implements."""
    if isinstance(reader, type):
        return [ability.__name__ for ability in ABILITIES if issubclass(reader, ability)]
    return [ability.__name__ for ability in ABILITIES if isinstance(reader, ability)]
