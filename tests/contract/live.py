"""What the contract suite needs of a source type: a reader opened through the registry, and
sources holding the contract's rows.

Every source type holds the same three rows (id 1, 2, 3; name a, b, c; a cursor `updated_at`
that grows with the id), an empty source, and, where the family can carry one, a source whose
row 2 holds a value that does not fit its column.
"""

from __future__ import annotations

import datetime as dt
import io
from dataclasses import dataclass, field
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

from etl_bigquery.engine.schema.bqtypes import BqType
from etl_bigquery.engine.sources.base import SourceReader

T0 = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)
IDS = (1, 2, 3)
NAMES = {1: "a", 2: "b", 3: "c"}
STAMPS = {i: T0 + dt.timedelta(days=i) for i in IDS}
"""The cursor of stores with timestamps: midnights, because mockylla (the Cassandra fake) reads a
timestamp parameter to the day only."""
EPOCHS = {i: int(STAMPS[i].timestamp()) for i in IDS}
"""The cursor of stores whose values have no date type (Redis JSON, DynamoDB): epoch seconds."""
CURSOR = "updated_at"


@dataclass
class LiveSource:
    """One source type reached for real (or through a named fake), and its contract data."""

    reader: SourceReader
    items: Any
    """The three rows (a `TableSource`, or a `FilesSource`)."""
    types: dict[str, BqType]
    """What the registry's type mapper makes of the described `id`, `name` and `updated_at`."""
    empty: Any
    """A source with no rows."""
    cursor_values: dict[int, Any] | None = None
    """id → cursor value; None: the family has no cursor (files: runs pick files)."""
    empty_is_missing: bool = False
    """The store has no empty collections: describing one says that it does not exist."""
    bad: Any | None = None
    """Rows 1 and 3 as in `items`; row 2 holds a value its column cannot load."""
    bad_read_as: dict[str, BqType] = field(default_factory=dict)
    """The bad source's columns read as the destination table's type (inferred schemas: the
    table decides, value by value), instead of the type the sample suggests."""
    no_bad_value: str | None = None
    """Why the family cannot carry a value that does not fit (when `bad` is None)."""
    schema: str | None = None
    """Where `items` is listed by the catalog (TableCatalog)."""
    table: str = "items"


def parquet_bytes(rows: list[dict[str, Any]]) -> bytes:
    """The contract rows as a Parquet file (empty rows keep the schema)."""
    schema = pa.schema(
        [("id", pa.int64()), ("name", pa.string()), (CURSOR, pa.timestamp("us", tz="UTC"))]
    )
    sink = io.BytesIO()
    pq.write_table(pa.Table.from_pylist(rows, schema=schema), sink)
    return sink.getvalue()


def contract_rows() -> list[dict[str, Any]]:
    return [{"id": i, "name": NAMES[i], CURSOR: STAMPS[i]} for i in IDS]


BAD_CSV = (
    b"id,name,updated_at\n"
    b"1,a,2026-01-02T00:00:00Z\n"
    b"2,b,2026-01-03T00:00:00Z,one field too many\n"
    b"3,c,2026-01-04T00:00:00Z\n"
)
"""A CSV file whose record 2 cannot be read (more fields than the header): set aside by the
reader itself (RejectsRecords)."""

FILES_LAYOUT = {
    "contract/items/part.parquet": parquet_bytes(contract_rows()),
    "contract/empty/part.parquet": parquet_bytes([]),
    "contract/bad/part.csv": BAD_CSV,
}
