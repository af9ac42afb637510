"""What every NoSQL reader shares: settings, the schema from a sample, values into Arrow.

- **Rows**: one document (item, hash, row) is one row. Its fields are the columns; a field a
  document lacks is NULL. `document_id` holds the store's own key (Firestore document id, MongoDB
  `_id` as text, DynamoDB key attributes, Redis key) and is the primary key (so a transactional
  job's identity is `document_id` + cursor).
- **Schema**: the union of the fields of the first `sample_size` documents (default 100), in
  order of first appearance; each field's source type is the kind of value found
  (`value_kind`), or `mixed(a,b)` when the sample holds several. A field that first appears
  after the sample is not a column (schema drift says so once the sample sees it).
- **Values**: batches of at most `batch_rows` rows are built from the driver's Python values in
  the Arrow type of each column's BigQuery type; a value that does not fit is passed as text
  and the conformer rejects its row with the reason (`bounded_types` is false for the family).
  Maps, lists and sets become JSON.
- **Incremental reads**: the reader pushes `cursor >= bound` into the store only when the
  sampled field holds that kind of value natively (a timestamp field for a time cursor, a number
  for a numeric one); a cursor stored as text is read whole and filtered by the engine
  (`engine.conform.batch.keep_rows_at_or_after`), so no row is ever lost to a comparison between
  types.
"""

from __future__ import annotations

import abc
import base64
import datetime as dt
import decimal
import json
import math
import uuid
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

import pyarrow as pa

from etl_bigquery.engine.errors import ValidationError
from etl_bigquery.engine.jobs.model import QuerySource, TableSource
from etl_bigquery.engine.schema.bqtypes import CURSOR_TYPES, TIME_TYPES, BqType, arrow_type
from etl_bigquery.engine.schema.typemap import propose
from etl_bigquery.engine.sources.abilities import PushesDownCursor
from etl_bigquery.engine.sources.base import (
    CursorBound,
    ReadPlan,
    SourceColumn,
    SourceReader,
    TableInfo,
)

ID_COLUMN = "document_id"
DEFAULT_SAMPLE_SIZE = 100
DEFAULT_BATCH_ROWS = 10_000
DIALECT = "document"


@dataclass(frozen=True)
class NoSqlSettings:
    """What a NoSQL reader needs, secrets resolved; built by `blocks.nosql.NoSqlConnection`."""

    type: str
    host: str | None = None
    port: int | None = None
    database: str | None = None
    """MongoDB database, Redis db number, Cassandra keyspace, Firestore database id."""
    username: str | None = None
    password: str | None = field(default=None, repr=False)
    connection_string: str | None = field(default=None, repr=False)
    tls: bool = False
    project: str | None = None
    credentials: Any = field(default=None, repr=False)
    """google.auth credentials (Firestore), or None for Application Default Credentials."""
    region: str | None = None
    endpoint_url: str | None = None
    aws_access_key_id: str | None = None
    aws_secret_access_key: str | None = field(default=None, repr=False)
    connect_timeout: int = 10
    sample_size: int = DEFAULT_SAMPLE_SIZE
    batch_rows: int = DEFAULT_BATCH_ROWS


# -- the one injection point for in-process fakes ----------------------------------------------

ClientFactory = Callable[[NoSqlSettings], Any]
CLIENT_FACTORIES: dict[str, ClientFactory] = {}
"""Source type → a function returning the driver's client. Empty in production (the real driver
is used); a test registers an in-process fake here (mongomock) where no server
can run, and says so."""


def register_client_factory(source_type: str, factory: ClientFactory | None) -> None:
    if factory is None:
        CLIENT_FACTORIES.pop(source_type, None)
    else:
        CLIENT_FACTORIES[source_type] = factory


def client_factory(source_type: str) -> ClientFactory | None:
    return CLIENT_FACTORIES.get(source_type)


# -- value kinds (the `document` dialect's source types) ---------------------------------------


def value_kind(value: Any) -> str | None:
    """The source type name of one value; None for a missing or null value."""
    if value is None:
        return None
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int):
        return "integer"
    if isinstance(value, float):
        return "double"
    if isinstance(value, decimal.Decimal):
        # DynamoDB hands back every number as a Decimal: whole ones are integers.
        return "integer" if value.is_finite() and value == value.to_integral_value() else "decimal"
    if isinstance(value, str):
        return "string"
    if isinstance(value, dt.datetime):
        return "timestamp"
    if isinstance(value, dt.date):
        return "date"
    if isinstance(value, dt.time):
        return "time"
    if isinstance(value, bytes | bytearray | memoryview):
        return "bytes"
    if isinstance(value, Mapping):
        return "map"
    if isinstance(value, set | frozenset):
        return "set"
    if isinstance(value, list | tuple):
        return "list"
    if isinstance(value, uuid.UUID):
        return "uuid"
    return _driver_kind(value)


def _driver_kind(value: Any) -> str:
    """Types of the drivers, recognised by name so no driver is imported to classify."""
    name = type(value).__name__
    if name == "ObjectId":
        return "objectid"
    if name == "Decimal128":
        return value_kind(value.to_decimal()) or "decimal"
    if name == "Binary":  # bson.Binary is bytes; DynamoDB's boto3 Binary wraps bytes
        return "bytes"
    if name == "GeoPoint":
        return "geopoint"
    if name in ("DocumentReference", "AsyncDocumentReference", "FakeDocumentReference", "DBRef"):
        return "reference"
    if name == "Date":  # cassandra.util.Date
        return "date"
    if name == "Time":  # cassandra.util.Time
        return "time"
    if name in ("SortedSet",):
        return "set"
    if name in ("OrderedMapSerializedKey", "OrderedMap"):
        return "map"
    return "string"


def union_kind(kinds: list[str]) -> str:
    """One source type for the kinds a field showed in the sample. Sorted: the order a store
    returns documents in must not change the type the table's description records."""
    if not kinds:
        return "null"
    if len(kinds) == 1:
        return kinds[0]
    if set(kinds) == {"integer", "double"}:
        return "double"
    if set(kinds) == {"integer", "decimal"}:
        return "decimal"
    return f"mixed({','.join(sorted(kinds))})"


def infer_columns(
    documents: list[tuple[Any, Mapping[str, Any]]], *, with_id: bool = True
) -> list[SourceColumn]:
    """Columns from sampled `(document id, fields)` pairs: the union of the fields."""
    kinds: dict[str, list[str]] = {}
    for _, fields in documents:
        for name, value in fields.items():
            seen = kinds.setdefault(str(name), [])
            kind = value_kind(value)
            if kind is not None and kind not in seen:
                seen.append(kind)
    columns = (
        [SourceColumn(ID_COLUMN, "string", nullable=False, primary_key=True)] if with_id else []
    )
    columns += [
        SourceColumn(name, union_kind(found))
        for name, found in kinds.items()
        if not (with_id and name == ID_COLUMN)  # the store's key wins over a field of that name
    ]
    return columns


# -- values into Arrow ----------------------------------------------------------------------------


def plain(value: Any) -> Any:
    """A driver value as a plain Python value (JSON-friendly containers, no driver types)."""
    if value is None or isinstance(value, bool | int | float | str):
        return value
    if isinstance(value, decimal.Decimal):
        return value
    if isinstance(value, dt.datetime | dt.date | dt.time):
        return value
    if isinstance(value, bytes | bytearray | memoryview):
        return bytes(value)
    if isinstance(value, Mapping):
        return {str(k): plain(v) for k, v in value.items()}
    if isinstance(value, set | frozenset):
        items = [plain(v) for v in value]
        return sorted(items, key=lambda v: (type(v).__name__, str(v)))
    if isinstance(value, list | tuple):
        return [plain(v) for v in value]
    if isinstance(value, uuid.UUID):
        return str(value)
    name = type(value).__name__
    if name == "Decimal128":
        return value.to_decimal()
    if name == "Binary":
        return bytes(getattr(value, "value", value))
    if name == "GeoPoint":
        return {"latitude": value.latitude, "longitude": value.longitude}
    if name == "Date":  # cassandra.util.Date
        try:
            return value.date()
        except ValueError:  # outside Python's date range
            return str(value)
    if name == "Time":  # cassandra.util.Time
        return value.time()
    if hasattr(value, "path") and name.endswith("DocumentReference"):
        return value.path
    if name in ("SortedSet",):
        return plain(set(value))
    if name in ("OrderedMapSerializedKey", "OrderedMap"):
        return {str(k): plain(v) for k, v in value.items()}
    return str(value)


def _json_default(value: Any) -> Any:
    if isinstance(value, decimal.Decimal):
        if value.is_finite() and value == value.to_integral_value():
            return int(value)
        as_float = float(value)  # a number in JSON when a double holds it exactly, else text
        exact = math.isfinite(as_float) and decimal.Decimal(repr(as_float)) == value
        return as_float if exact else str(value)
    if isinstance(value, dt.datetime | dt.date | dt.time):
        return value.isoformat()
    if isinstance(value, bytes):
        return base64.b64encode(value).decode("ascii")
    return str(value)


_NON_FINITE = {"nan": "NaN", "inf": "Infinity", "-inf": "-Infinity"}


def _finite(value: Any) -> Any:
    """NaN and ±Infinity as the strings BigQuery's TO_JSON gives them: JSON has no such numbers,
    and BigQuery refuses the whole load job on a JSON value holding a bare NaN (a Mongo or
    Firestore double inside a map can be one)."""
    if isinstance(value, float) and not math.isfinite(value):
        return _NON_FINITE[repr(value)]
    if isinstance(value, dict):
        return {k: _finite(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_finite(v) for v in value]
    return value


def to_json_text(value: Any) -> str:
    return json.dumps(
        _finite(plain(value)), default=_json_default, ensure_ascii=False, allow_nan=False
    )


def _utc(value: dt.datetime) -> dt.datetime:
    """Document stores keep UTC: a naive datetime (pymongo, Cassandra) is UTC."""
    if value.tzinfo is None:
        return value.replace(tzinfo=dt.UTC)
    return value.astimezone(dt.UTC)


def _text(value: Any) -> str:
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, decimal.Decimal):
        return format(value, "f")
    if isinstance(value, dt.datetime):
        return _utc(value).isoformat()
    if isinstance(value, dt.date | dt.time):
        return value.isoformat()
    if isinstance(value, bytes):
        return base64.b64encode(value).decode("ascii")
    if isinstance(value, dict | list):
        return to_json_text(value)
    return str(value)


def _wire(value: Any, bq_type: BqType) -> Any:
    """The value in the Python type Arrow builds `bq_type`'s array from; raises when it is not
    that kind of value (the column then goes as text, and conform judges each value)."""
    if bq_type is BqType.INT64:
        if isinstance(value, float) and value.is_integer():
            # mongosh and JavaScript clients store every number as a double: 3.0 is the 3 an
            # INT64 column holds (a fraction still goes to the rejected rows).
            return int(value)
        if isinstance(value, bool) or not isinstance(value, int | decimal.Decimal):
            raise TypeError
        if isinstance(value, decimal.Decimal):
            if value != value.to_integral_value():
                raise TypeError
            return int(value)
        return value
    if bq_type is BqType.FLOAT64:
        if isinstance(value, bool) or not isinstance(value, int | float | decimal.Decimal):
            raise TypeError
        return float(value)
    if bq_type is BqType.BOOL:
        if not isinstance(value, bool):
            raise TypeError
        return value
    if bq_type is BqType.TIMESTAMP:
        if isinstance(value, dt.datetime):
            return _utc(value)
        if isinstance(value, dt.date):
            return dt.datetime.combine(value, dt.time(), dt.UTC)
        raise TypeError
    if bq_type is BqType.DATETIME:
        if isinstance(value, dt.datetime):
            return _utc(value).replace(tzinfo=None) if value.tzinfo else value
        raise TypeError
    if bq_type is BqType.DATE:
        if isinstance(value, dt.datetime):
            return _utc(value).date()
        if isinstance(value, dt.date):
            return value
        raise TypeError
    if bq_type is BqType.TIME:
        if isinstance(value, dt.time):
            return value
        raise TypeError
    if bq_type is BqType.BYTES:
        if isinstance(value, bytes):
            return value
        raise TypeError
    raise TypeError


_WIRE_TYPES: dict[BqType, pa.DataType] = {
    BqType.INT64: pa.int64(),
    BqType.FLOAT64: pa.float64(),
    BqType.BOOL: pa.bool_(),
    BqType.TIMESTAMP: arrow_type(BqType.TIMESTAMP),
    BqType.DATETIME: arrow_type(BqType.DATETIME),
    BqType.DATE: arrow_type(BqType.DATE),
    BqType.TIME: arrow_type(BqType.TIME),
    BqType.BYTES: pa.binary(),
}


def _geography(value: Any) -> str:
    if isinstance(value, dict) and {"latitude", "longitude"} <= value.keys():
        return f"POINT({value['longitude']} {value['latitude']})"
    return _text(value)


def column_array(values: list[Any], bq_type: BqType) -> pa.Array:
    """Plain values (`plain`) as one Arrow array for a column of `bq_type`."""
    if bq_type is BqType.JSON:
        return pa.array([None if v is None else to_json_text(v) for v in values], pa.string())
    if bq_type is BqType.GEOGRAPHY:
        return pa.array([None if v is None else _geography(v) for v in values], pa.string())
    wire = _WIRE_TYPES.get(bq_type)
    if wire is not None:
        try:
            return pa.array([None if v is None else _wire(v, bq_type) for v in values], wire)
        except (TypeError, ValueError, OverflowError, pa.ArrowInvalid, pa.ArrowTypeError):
            pass  # a value of another kind: conform judges the text, and rejects what misfits
    if bq_type is BqType.INT64:  # beside text numbers (Redis), a whole double is its integer
        values = [int(v) if isinstance(v, float) and v.is_integer() else v for v in values]
    return pa.array([None if v is None else _text(v) for v in values], pa.string())


# -- cursor pushdown ------------------------------------------------------------------------------

_NATIVE_TIME = {"timestamp", "date"}
_NATIVE_NUMBER = {"integer", "double", "decimal"}
_CQL_TIME = {"timestamp", "date"}
_CQL_NUMBER = {"tinyint", "smallint", "int", "bigint", "varint", "float", "double", "decimal",
               "counter"}  # fmt: skip


def pushable(bound: CursorBound | None) -> bool:
    """Whether the store can compare the cursor field with the bound itself: only when the field
    holds that kind of value natively. Otherwise the read is whole and the engine filters."""
    if bound is None:
        return False
    source = bound.column.source_type.strip().lower()
    bq_type = bound.column.bq_type
    if bq_type in TIME_TYPES:
        return source in _NATIVE_TIME or source in _CQL_TIME
    if bq_type in CURSOR_TYPES:
        return source in _NATIVE_NUMBER or source in _CQL_NUMBER
    return False


def bound_value(bound: CursorBound) -> Any:
    """The bound as the stores compare it: times as UTC datetimes, numbers as they are."""
    value = bound.value
    if isinstance(value, dt.datetime):
        return _utc(value)
    if isinstance(value, dt.date):
        return dt.datetime.combine(value, dt.time(), dt.UTC)
    return value


# -- the reader -----------------------------------------------------------------------------------


class DocumentReader(SourceReader):
    """A NoSQL store behind the reader core, with its catalog (TableCatalog: namespaces and
    collections). Subclasses say how to list, sample and scan, and mix in the abilities their
    store has: `StoreFiltersCursor` (PushesDownCursor) and `SchemaFromSample` (SampledSchema)."""

    dialect = DIALECT
    key: str = "documents"
    """The source type (firestore, mongodb...)."""
    has_document_id = True

    def __init__(self, settings: NoSqlSettings) -> None:
        self.settings = settings
        self.dialect = self.key  # the registry's dialect: the source type, mapped by DIALECT

    # -- what each store implements --

    @abc.abstractmethod
    def _namespaces(self) -> list[str]: ...

    @abc.abstractmethod
    def _collections(self, namespace: str | None) -> list[TableInfo]: ...

    @abc.abstractmethod
    def _exists(self, source: TableSource) -> bool: ...

    @abc.abstractmethod
    def _documents(
        self, source: TableSource, bound: CursorBound | None, limit: int | None
    ) -> Iterator[tuple[Any, Mapping[str, Any]]]:
        """`(document id, fields)` of the collection, at or after `bound` where the store can
        filter (see `pushable`; the engine filters again), at most `limit` of them."""

    def _count(self, source: TableSource) -> int | None:
        return None

    def _where(self, source: TableSource) -> str:
        return f"{source.schema_name}.{source.table}" if source.schema_name else source.table

    # -- the protocol --

    def _table_source(self, source: TableSource | QuerySource) -> TableSource:
        if isinstance(source, QuerySource):
            raise ValidationError(
                f"A {self.key} connection reads collections, not SQL queries; set "
                "source.table (and source.schema where the store has namespaces)."
            )
        return source

    def _require(self, source: TableSource | QuerySource) -> TableSource:
        table = self._table_source(source)
        if not self._exists(table):
            raise ValidationError(
                f"Collection '{self._where(table)}' does not exist in this {self.key} "
                "connection; `etl connection tables` lists them."
            )
        return table

    def list_schemas(self) -> list[str]:
        return self._namespaces()

    def list_tables(self, schema: str | None = None) -> list[TableInfo]:
        return self._collections(schema)

    def sample(
        self, source: TableSource, limit: int | None = None
    ) -> list[tuple[Any, Mapping[str, Any]]]:
        size = limit if limit is not None else self.settings.sample_size
        return list(self._documents(source, None, size))

    def describe(self, source: TableSource | QuerySource) -> list[SourceColumn]:
        table = self._require(source)
        return infer_columns(self.sample(table), with_id=self.has_document_id)

    def estimate_rows(self, source: TableSource | QuerySource) -> int | None:
        return self._count(self._table_source(source))

    def _pushed(self, bound: CursorBound | None) -> CursorBound | None:
        """The bound the store filters by, if any (the engine filters every row again)."""
        if bound is not None and isinstance(self, PushesDownCursor) and self.applies_bound(bound):
            return bound
        return None

    def check_readable(self, plan: ReadPlan) -> None:
        table = self._require(plan.source)
        bound = self._pushed(plan.lower_bound)
        next(iter(self._documents(table, bound, 1)), None)

    def _row_values(
        self, document_id: Any, fields: Mapping[str, Any], names: list[str]
    ) -> list[Any]:
        return [
            (None if document_id is None else str(document_id))
            if name == ID_COLUMN and self.has_document_id
            else plain(fields.get(name))
            for name in names
        ]

    def _batches(
        self, documents: Iterator[tuple[Any, Mapping[str, Any]]], columns: list[tuple[str, BqType]],
        batch_rows: int,
    ) -> Iterator[pa.RecordBatch]:  # fmt: skip
        names = [name for name, _ in columns]
        rows: list[list[Any]] = []
        for document_id, fields in documents:
            rows.append(self._row_values(document_id, fields, names))
            if len(rows) >= batch_rows:
                yield self._batch(rows, columns)
                rows = []
        if rows:
            yield self._batch(rows, columns)

    @staticmethod
    def _batch(rows: list[list[Any]], columns: list[tuple[str, BqType]]) -> pa.RecordBatch:
        arrays = [column_array([row[i] for row in rows], bq) for i, (_, bq) in enumerate(columns)]
        return pa.RecordBatch.from_arrays(arrays, names=[name for name, _ in columns])

    def read(self, plan: ReadPlan) -> Iterator[pa.RecordBatch]:
        table = self._table_source(plan.source)
        bound = self._pushed(plan.lower_bound)
        columns = [(column.name, column.bq_type) for column in plan.columns]
        yield from self._batches(
            self._documents(table, bound, None), columns, self.settings.batch_rows
        )

    def preview(self, source: TableSource | QuerySource, limit: int = 10) -> pa.Table:
        if isinstance(source, QuerySource):
            # Type detection samples text columns with `SELECT a, b FROM t` (engine.schema.detect):
            # that one shape is answered from the collection; any other query is refused.
            table, names = _simple_select(source.query, self.key)
        else:
            table, names = source, None
        self._require(table)
        documents = self.sample(table, limit)
        columns = infer_columns(documents, with_id=self.has_document_id)
        chosen = [c for c in columns if names is None or c.name in names]
        if names is not None:
            missing = [n for n in names if n not in {c.name for c in chosen}]
            chosen += [SourceColumn(n, "null") for n in missing]
        typed = [(c.name, propose(self.dialect, c.source_type).bq_type) for c in chosen]
        # Text stays text in a preview: the sample shows what the store holds.
        typed = [(n, bq if bq is not BqType.JSON else BqType.STRING) for n, bq in typed]
        batches = list(self._batches(iter(documents), typed, max(limit, 1)))
        if not batches:
            return pa.table({n: pa.array([], pa.string()) for n, _ in typed})
        return pa.Table.from_batches(batches)

    def close(self) -> None:  # subclasses close their clients
        return None


class StoreFiltersCursor:
    """Mixin of a `DocumentReader` whose store compares the cursor itself (PushesDownCursor):
    `cursor >= bound` when the field holds dates or numbers (`pushable`)."""

    def applies_bound(self, bound: CursorBound) -> bool:
        return pushable(bound)


class SchemaFromSample:
    """Mixin of a `DocumentReader` whose columns come from a sample of documents
    (SampledSchema); Cassandra declares its own and does not use it."""

    def columns_beyond_sample(
        self, columns: list[SourceColumn], table_sources: list[tuple[str, str]]
    ) -> list[SourceColumn]:
        """`columns` (this run's sample) and the fields the destination table already holds that
        the sample did not see, from `(source field, source type)` of the table's columns: SCAN
        or scan order changes, so a field present in only some documents may be outside today's
        sample, and its values would load as NULL."""
        known = {column.name for column in columns}
        extra = []
        for name, source_type in table_sources:
            if name not in known:
                known.add(name)
                extra.append(SourceColumn(name, source_type))
        return [*columns, *extra]


def _simple_select(query: str, key: str) -> tuple[TableSource, list[str]]:
    import sqlglot
    from sqlglot import expressions as exp

    refusal = ValidationError(
        f"A {key} connection reads collections, not SQL queries; set source.table instead."
    )
    try:
        tree = sqlglot.parse_one(query)
    except sqlglot.errors.ParseError:
        raise refusal from None
    if not isinstance(tree, exp.Select) or any(
        tree.args.get(part) for part in ("where", "joins", "group", "having", "order", "with")
    ):
        raise refusal
    source = tree.args.get("from") or tree.args.get("from_")
    tables = list(source.find_all(exp.Table)) if source is not None else []
    if len(tables) != 1 or not all(isinstance(e, exp.Column) for e in tree.expressions):
        raise refusal
    table = tables[0]
    names = [column.name for column in tree.expressions]
    return TableSource(schema=table.db or None, table=table.name), names
