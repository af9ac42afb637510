"""Compare a BigQuery table with its PostgreSQL source: counts, an order-independent checksum of
every column, and the rows lost or duplicated by a key.

Both sides are read back in Python (PostgreSQL with psycopg, BigQuery with the official client),
each value is turned into one canonical text, each row's texts are hashed (BLAKE2b, 64 bits) and
the hashes are summed modulo 2**64, so row order never matters. Canonical forms, chosen so the
same value reads back the same from either side:

- SQL NULL is its own token (distinct from JSON `null`, from "" and from "NULL");
- timestamps become UTC microseconds since the epoch (naive ones are taken as UTC, as the
  product does); dates and times their ISO text;
- integers and decimals one normalised decimal text (1.50 == 1.5, 0E-9 == 0);
- floats their `repr`, so NaN, inf and -inf are kept and compared as themselves;
- JSON (a json/jsonb source column) is read as text on both sides (`::text` in PostgreSQL,
  `TO_JSON_STRING` in BigQuery, SQL NULL kept apart), parsed and dumped with sorted keys;
- bytes as hex, anything else as `str()`.

Lost and duplicated rows are multiset differences: by the key column when one is given (a row
whose key is missing is lost, an extra copy of a key is duplicated), and `changed` counts rows
whose key is present on both sides but whose content differs.
"""

from __future__ import annotations

import concurrent.futures
import datetime as dt
import hashlib
import json
import multiprocessing
from collections.abc import Callable, Iterable, Sequence
from dataclasses import asdict, dataclass
from decimal import Decimal
from typing import Any

import numpy as np
import psycopg

_NULL = "\x00N"
_SEP = "\x1f"
_EPOCH_UTC = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)
_EPOCH_NAIVE = dt.datetime(1970, 1, 1)
_MICROSECOND = dt.timedelta(microseconds=1)
_JSON_TYPES = ("json", "jsonb")
_SPAWN = multiprocessing.get_context("spawn")  # no fork of a process running threads


@dataclass(frozen=True)
class Comparison:
    source_rows: int
    bigquery_rows: int
    lost: int
    duplicated: int
    checksum_equal: bool
    changed: int = 0
    """Rows whose key is on both sides but whose content differs (0 when no key is given)."""
    source_checksum: int = 0
    bigquery_checksum: int = 0

    @property
    def exact(self) -> bool:
        return (
            self.lost == 0
            and self.duplicated == 0
            and self.checksum_equal
            and self.source_rows == self.bigquery_rows
        )

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def _json(value: object) -> str:
    if isinstance(value, bytes):
        value = value.decode()
    parsed = json.loads(value) if isinstance(value, str) else value
    return "json:" + json.dumps(parsed, sort_keys=True, separators=(",", ":"))


def _decimal(value: Decimal) -> str:
    if value.is_nan():
        return "num:nan"
    if value.is_infinite():
        return "num:inf" if value > 0 else "num:-inf"
    return f"num:{format(value.normalize(), 'f')}"


def _float(value: float) -> str:
    # Every NaN is one value here (payload bits are not data); inf and -inf are kept.
    return "float:nan" if value != value else f"float:{value!r}"


def _datetime(value: dt.datetime) -> str:
    epoch = _EPOCH_NAIVE if value.tzinfo is None else _EPOCH_UTC
    return f"ts:{(value - epoch) // _MICROSECOND}"


_BY_TYPE: dict[type, Callable[[Any], str]] = {
    bool: lambda v: "t" if v else "f",
    int: lambda v: f"num:{v}",
    str: lambda v: f"str:{v}",
    float: _float,
    Decimal: _decimal,
    dt.datetime: _datetime,
    dt.date: lambda v: f"date:{v.isoformat()}",
    dt.time: lambda v: f"time:{v.replace(tzinfo=None).isoformat()}",
    bytes: lambda v: f"bytes:{v.hex()}",
}


def _other(value: object) -> str:
    for kind in (bool, int, float, Decimal, dt.datetime, dt.date, dt.time, str):
        if isinstance(value, kind):
            return _BY_TYPE[kind](value)
    if isinstance(value, bytearray | memoryview):
        return f"bytes:{bytes(value).hex()}"
    return f"str:{value}"


def canonical(value: object, *, is_json: bool = False) -> str:
    """One text per value, the same whichever side the value was read from."""
    if value is None:
        return _NULL
    if is_json:
        return _json(value)
    return _BY_TYPE.get(type(value), _other)(value)


def row_hash(values: Iterable[object], json_columns: Sequence[bool]) -> int:
    text = _SEP.join(
        [
            canonical(value, is_json=is_json)
            for value, is_json in zip(values, json_columns, strict=True)
        ]
    )
    return int.from_bytes(hashlib.blake2b(text.encode(), digest_size=8).digest(), "little")


def _key_value(value: object) -> int:
    if isinstance(value, int) and not isinstance(value, bool) and -(2**63) <= value < 2**63:
        return value
    digest = hashlib.blake2b(canonical(value).encode(), digest_size=8).digest()
    return int.from_bytes(digest, "little", signed=True)


def multiset_excess(a: np.ndarray, b: np.ndarray) -> int:
    """How many elements of `a` are not matched by an element of `b` (counts respected)."""
    if len(a) == 0:
        return 0
    values_a, counts_a = np.unique(a, return_counts=True)
    if len(b) == 0:
        return int(counts_a.sum())
    values_b, counts_b = np.unique(b, return_counts=True)
    where = np.minimum(np.searchsorted(values_b, values_a), len(values_b) - 1)
    matched = np.where(values_b[where] == values_a, counts_b[where], 0)
    return int(np.maximum(counts_a - matched, 0).sum())


@dataclass
class _Side:
    rows: int
    hashes: np.ndarray  # uint64, one per row
    keys: np.ndarray | None  # int64, one per row

    @property
    def checksum(self) -> int:
        return int(self.hashes.sum(dtype=np.uint64)) if len(self.hashes) else 0


def _collect(rows: Iterable[Sequence[object]], json_columns: list[bool], key_index: int | None):
    hashes: list[int] = []
    keys: list[int] = []
    for row in rows:
        hashes.append(row_hash(row, json_columns))
        if key_index is not None:
            keys.append(_key_value(row[key_index]))
    return _Side(
        rows=len(hashes),
        hashes=np.array(hashes, dtype=np.uint64),
        keys=np.array(keys, dtype=np.int64) if key_index is not None else None,
    )


def _quote(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def source_columns(conn: psycopg.Connection, schema: str, table: str) -> list[tuple[str, str]]:
    """(name, data_type) of a PostgreSQL table, in order."""
    rows = conn.execute(
        "SELECT column_name, data_type FROM information_schema.columns "
        "WHERE table_schema = %s AND table_name = %s ORDER BY ordinal_position",
        (schema, table),
    ).fetchall()
    if not rows:
        raise LookupError(f"PostgreSQL table {schema}.{table} does not exist")
    return [(name, data_type) for name, data_type in rows]


def _read_source(
    dsn: str, schema: str, table: str, columns: list[str], json_columns: list[bool], key: str | None
) -> _Side:
    select = ", ".join(
        f"{_quote(c)}::text" if is_json else _quote(c)
        for c, is_json in zip(columns, json_columns, strict=True)
    )
    key_index = columns.index(key) if key else None
    with psycopg.connect(dsn) as conn, conn.cursor(name="faults_checksum") as cursor:
        cursor.itersize = 20_000
        cursor.execute(f"SELECT {select} FROM {_quote(schema)}.{_quote(table)}")
        return _collect(cursor, json_columns, key_index)


def _read_bigquery(
    client: Any, table_id: str, columns: list[str], json_columns: list[bool], key: str | None
) -> _Side:
    table = client.get_table(table_id)
    fields = {f.name.lower(): f for f in table.schema}
    select = []
    for column in columns:
        field = fields.get(column.lower())
        if field is None:
            raise LookupError(f"BigQuery table {table_id} has no column {column}")
        name = f"`{field.name}`"
        if field.field_type == "JSON":
            name = f"CASE WHEN {name} IS NULL THEN NULL ELSE TO_JSON_STRING({name}) END"
        select.append(f"{name} AS `c{len(select)}`")
    rows = client.query_and_wait(f"SELECT {', '.join(select)} FROM `{table_id}`", page_size=50_000)
    key_index = columns.index(key) if key else None
    return _collect((tuple(row.values()) for row in rows), json_columns, key_index)


def compare(
    pg_dsn: str,
    source: tuple[str, str],
    bq: Any,
    table_id: str,
    *,
    columns: Sequence[str] | None = None,
    key: str | None = "id",
) -> Comparison:
    """Compare PostgreSQL table `source` = (schema, table) with BigQuery `table_id`
    (`project.dataset.table`) over `columns` (default: every source column; BigQuery's own
    `_etl_*` columns are never compared)."""
    schema, table = source
    with psycopg.connect(pg_dsn, autocommit=True) as conn:
        described = source_columns(conn, schema, table)
    types = dict(described)
    names = list(columns) if columns else [name for name, _ in described]
    json_columns = [types[name] in _JSON_TYPES for name in names]
    if key is not None and key not in names:
        names.append(key)
        json_columns.append(types[key] in _JSON_TYPES)
    # Both sides are CPU-bound Python: PostgreSQL's is read in another process meanwhile.
    with concurrent.futures.ProcessPoolExecutor(1, mp_context=_SPAWN) as pool:
        reading = pool.submit(_read_source, pg_dsn, schema, table, names, json_columns, key)
        dst = _read_bigquery(bq, table_id, names, json_columns, key)
        src = reading.result()
    if key is not None:
        assert src.keys is not None and dst.keys is not None
        lost = multiset_excess(src.keys, dst.keys)
        duplicated = multiset_excess(dst.keys, src.keys)
        changed = max(multiset_excess(src.hashes, dst.hashes) - lost, 0)
    else:
        lost = multiset_excess(src.hashes, dst.hashes)
        duplicated = multiset_excess(dst.hashes, src.hashes)
        changed = 0
    return Comparison(
        source_rows=src.rows,
        bigquery_rows=dst.rows,
        lost=lost,
        duplicated=duplicated,
        checksum_equal=src.checksum == dst.checksum,
        changed=changed,
        source_checksum=src.checksum,
        bigquery_checksum=dst.checksum,
    )
