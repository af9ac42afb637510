"""SQLite reader (local files, demos): the standard library driver, opened read-only.

SQLite values are dynamically typed, so batches are built from Python values with the Arrow type
the column's BigQuery type calls for where the values allow, and as text otherwise; conform then
parses text (dates stored as text are the common case).
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pyarrow as pa

from etl.errors import ConnectionFailed, ExtractionError, Stage, ValidationError
from etl.jobs.model import QuerySource, TableSource
from etl.schema.bqtypes import BqType
from etl.sources import connection_errors
from etl.sources.base import (
    DEFAULT_BATCH_ROWS,
    ReadPlan,
    SourceColumn,
    SqlReader,
    TableInfo,
)
from etl.sources.sql_text import quote_identifier, quote_string, render_cursor_value

DEFAULT_SCHEMA = "main"
_TIME_FORMAT = {BqType.TIMESTAMP: "%Y-%m-%d %H:%M:%f", BqType.DATETIME: "%Y-%m-%d %H:%M:%f",
                BqType.DATE: "%Y-%m-%d"}  # fmt: skip
# Wire types for values SQLite hands back as Python ints/floats/bytes; everything else is text.
_WIRE: dict[BqType, pa.DataType] = {
    BqType.INT64: pa.int64(),
    BqType.FLOAT64: pa.float64(),
    BqType.BOOL: pa.int64(),
    BqType.BYTES: pa.binary(),
}


@dataclass(frozen=True)
class SqliteSettings:
    path: str
    batch_rows: int = DEFAULT_BATCH_ROWS


def _source_sql(source: TableSource | QuerySource) -> str:
    if isinstance(source, QuerySource):
        return f"({source.query}) AS _etl_src"
    return (
        f"{quote_identifier(source.schema_name or DEFAULT_SCHEMA)}.{quote_identifier(source.table)}"
    )


def build_select(plan: ReadPlan) -> str:
    columns = ", ".join(quote_identifier(column.name) for column in plan.columns)
    sql = f"SELECT {columns} FROM {_source_sql(plan.source)}"
    bound = plan.lower_bound
    if bound is not None:
        column = quote_identifier(bound.column.name)
        value = render_cursor_value(bound.value)
        time_format = _TIME_FORMAT.get(bound.column.bq_type)
        if time_format:
            # Dates live as text in many spellings ('T' or ' ', with or without fractions);
            # strftime normalises both sides so the comparison is by time, not by spelling.
            fmt = quote_string(time_format)
            sql += f" WHERE strftime({fmt}, {column}) >= strftime({fmt}, {quote_string(value)})"
        else:
            sql += f" WHERE {column} >= {value}"
    return sql


def _column_array(values: list[Any], bq_type: BqType) -> pa.Array:
    wire = _WIRE.get(bq_type)
    if wire is not None:
        try:
            return pa.array(values, type=wire)
        except (pa.ArrowInvalid, pa.ArrowTypeError, TypeError, OverflowError):
            pass  # mixed values in a dynamically typed column: let conform judge the text
    return pa.array([None if v is None else (v if isinstance(v, str) else str(v)) for v in values],
                    type=pa.string())  # fmt: skip


class SqliteReader(SqlReader):
    dialect = "sqlite"

    def __init__(self, settings: SqliteSettings) -> None:
        self.settings = settings
        path = Path(settings.path)
        if not path.is_file():
            raise ConnectionFailed(
                f"Database '{settings.path}' does not exist.", transient=False, stage=Stage.INIT
            )
        try:
            # mode=ro: a test or a run must never change the source.
            # check_same_thread off: batches are read ahead in a worker thread, one user at a time.
            self._conn = sqlite3.connect(
                f"file:{path}?mode=ro", uri=True, timeout=10, check_same_thread=False
            )
            self._conn.execute("SELECT 1")
        except sqlite3.Error as error:
            raise connection_errors.connection_error(str(error)) from None

    def _query(self, sql: str, parameters: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
        try:
            return self._conn.execute(sql, parameters).fetchall()
        except sqlite3.Error as error:
            raise ValidationError(f"SQLite refused the query: {error}.") from None

    def _require_table(self, source: TableSource) -> None:
        schema = source.schema_name or DEFAULT_SCHEMA
        rows = self._query(
            f"SELECT 1 FROM {quote_identifier(schema)}.sqlite_master "
            "WHERE type IN ('table', 'view') AND name = ?",
            (source.table,),
        )
        if not rows:
            raise ValidationError(
                f"Table '{schema}.{source.table}' does not exist in database "
                f"'{self.settings.path}'; check the table name."
            )

    def ping(self) -> None:
        self._query("SELECT 1")

    def list_schemas(self) -> list[str]:
        return [row[1] for row in self._query("PRAGMA database_list")]

    def list_tables(self, schema: str | None = None) -> list[TableInfo]:
        tables = []
        for schema_name in [schema] if schema else self.list_schemas():
            rows = self._query(
                f"SELECT name FROM {quote_identifier(schema_name)}.sqlite_master "
                "WHERE type IN ('table', 'view') AND name NOT LIKE 'sqlite\\_%' ESCAPE '\\' "
                "ORDER BY name"
            )
            for (name,) in rows:
                count = self._query(
                    f"SELECT count(*) FROM {quote_identifier(schema_name)}.{quote_identifier(name)}"
                )[0][0]
                tables.append(TableInfo(schema=schema_name, name=name, row_count=count))
        return tables

    def describe(self, source: TableSource | QuerySource) -> list[SourceColumn]:
        if isinstance(source, QuerySource):
            cursor = self._conn.cursor()
            try:
                cursor.execute(f"SELECT * FROM ({source.query}) AS _etl_src LIMIT 1")
                first = cursor.fetchone()
            except sqlite3.Error as error:
                raise ValidationError(f"SQLite refused the query: {error}.") from None
            # A query has no declared types: name each column by the value it holds.
            kinds = {int: "integer", float: "real", bytes: "blob"}
            return [
                SourceColumn(d[0], kinds.get(type(first[i]), "text") if first else "text")
                for i, d in enumerate(cursor.description)
            ]
        self._require_table(source)
        schema = quote_identifier(source.schema_name or DEFAULT_SCHEMA)
        rows = self._query(f"PRAGMA {schema}.table_info({quote_identifier(source.table)})")
        # table_info rows: cid, name, type, notnull, default, pk
        return [SourceColumn(r[1], r[2] or "", not r[3], bool(r[5])) for r in rows]

    def estimate_rows(self, source: TableSource | QuerySource) -> int | None:
        if isinstance(source, TableSource):
            self._require_table(source)
        return int(self._query(f"SELECT count(*) FROM {_source_sql(source)}")[0][0])

    def check_readable(self, plan: ReadPlan) -> None:
        self._query(f"SELECT * FROM ({build_select(plan)}) AS _etl_check LIMIT 0")

    def read(self, plan: ReadPlan) -> Iterator[pa.RecordBatch]:
        names = [column.name for column in plan.columns]
        try:
            cursor = self._conn.execute(build_select(plan))
        except sqlite3.Error as error:
            raise ExtractionError(f"SQLite refused the query: {error}.") from None
        try:
            while rows := cursor.fetchmany(self.settings.batch_rows):
                arrays = [
                    _column_array([row[i] for row in rows], column.bq_type)
                    for i, column in enumerate(plan.columns)
                ]
                yield pa.RecordBatch.from_arrays(arrays, names=names)
        except sqlite3.Error as error:
            raise ExtractionError(f"Reading from SQLite failed: {error}.") from None
        finally:
            cursor.close()

    def preview(self, source: TableSource | QuerySource, limit: int = 10) -> pa.Table:
        if isinstance(source, TableSource):
            self._require_table(source)
        cursor = self._conn.execute(f"SELECT * FROM {_source_sql(source)} LIMIT {int(limit)}")
        names = [d[0] for d in cursor.description]
        rows = cursor.fetchall()
        return pa.table({n: [None if r[i] is None else str(r[i]) for r in rows]
                         for i, n in enumerate(names)})  # fmt: skip

    def close(self) -> None:
        conn = getattr(self, "_conn", None)
        if conn is not None:
            conn.close()
            self._conn = None
