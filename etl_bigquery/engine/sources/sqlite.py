"""SQLite reader (local files, demos): the standard library driver, opened read-only.

SQLite values are dynamically typed, so batches are built from Python values with the Arrow type
the column's BigQuery type calls for where the values allow, and as text otherwise; conform then
parses text (dates stored as text are the common case).

The file is opened read-only (`mode=ro`), which stops every write. A job's custom query is checked
by `engine.sources.query_check` at the start of every method that takes it, and runs under a
deadline (a progress handler interrupts it), as PostgreSQL's statement_timeout does.
"""

from __future__ import annotations

import contextlib
import sqlite3
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pyarrow as pa

from etl_bigquery.engine.errors import (
    ConnectionFailed,
    EtlError,
    ExtractionError,
    Stage,
    ValidationError,
)
from etl_bigquery.engine.jobs.model import QuerySource, TableSource
from etl_bigquery.engine.schema.bqtypes import BqType
from etl_bigquery.engine.sources import connection_errors
from etl_bigquery.engine.sources.base import (
    DEFAULT_BATCH_ROWS,
    CursorBound,
    ReadPlan,
    SourceColumn,
    SourceReader,
    TableInfo,
)
from etl_bigquery.engine.sources.cursor_pushdown import Pushdown, cursor_pushdown
from etl_bigquery.engine.sources.registry import ConnectionSettings
from etl_bigquery.engine.sources.sql_text import quote_identifier, quote_string, render_cursor_value

DEFAULT_SCHEMA = "main"
# As for PostgreSQL (see engine.sources.postgres): a custom query's extraction, and its checks.
DEFAULT_QUERY_TIMEOUT_SECONDS = 3600
CHECK_TIMEOUT_SECONDS = 60
_PROGRESS_STEPS = 10_000  # SQLite VM steps between deadline checks: well under a millisecond
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
    query_timeout_seconds: float = DEFAULT_QUERY_TIMEOUT_SECONDS


def _source_sql(source: TableSource | QuerySource) -> str:
    if isinstance(source, QuerySource):
        # The user's text as written, after the check; newlines keep a trailing `--` comment
        # from swallowing the closing parenthesis.
        # sqlglot (0.4 s of import) only for `query:` sources, not for every run.
        from etl_bigquery.engine.sources.query_check import check_query

        return f"(\n{check_query(source.query, SqliteReader.dialect)}\n) AS _etl_src"
    return (
        f"{quote_identifier(source.schema_name or DEFAULT_SCHEMA)}.{quote_identifier(source.table)}"
    )


def build_select(plan: ReadPlan) -> str:
    columns = ", ".join(quote_identifier(column.name) for column in plan.columns)
    sql = f"SELECT {columns} FROM {_source_sql(plan.source)}"
    predicate = bound_predicate(plan.lower_bound) if plan.lower_bound is not None else None
    return f"{sql} WHERE {predicate}" if predicate else sql


def bound_predicate(bound: CursorBound) -> str | None:
    """`cursor >= bound` where SQLite compares it by the cursor's order
    (`engine.sources.cursor_pushdown`); None: the engine filters."""
    if cursor_pushdown(bound.column, SqliteReader.dialect) is Pushdown.NONE:
        return None
    column = quote_identifier(bound.column.name)
    value = render_cursor_value(bound.value)
    time_format = _TIME_FORMAT.get(bound.column.bq_type)
    if time_format:
        # Dates live as text in many spellings ('T' or ' ', with or without fractions, with a
        # UTC offset); strftime parses both sides (an offset is applied: it compares in UTC), so
        # the comparison is by time, not by spelling, for a declared date column and for text.
        fmt = quote_string(time_format)
        return f"strftime({fmt}, {column}) >= strftime({fmt}, {quote_string(value)})"
    return f"{column} >= {value}"


def _column_array(values: list[Any], bq_type: BqType) -> pa.Array:
    wire = _WIRE.get(bq_type)
    if wire is not None:
        try:
            return pa.array(values, type=wire)
        except (pa.ArrowInvalid, pa.ArrowTypeError, TypeError, OverflowError):
            pass  # mixed values in a dynamically typed column: let conform judge the text
    return pa.array([None if v is None else (v if isinstance(v, str) else str(v)) for v in values],
                    type=pa.string())  # fmt: skip


class SqliteReader(SourceReader):
    """SQLite files, opened read-only. Abilities: PushesDownCursor, TableCatalog,
    SerialWriters."""

    dialect = "sqlite"

    def __init__(self, settings: SqliteSettings) -> None:
        self.settings = settings
        path = Path(settings.path)
        if not path.is_file():
            raise ConnectionFailed(
                f"Database '{settings.path}' does not exist.", transient=False, stage=Stage.INIT
            )
        self._deadline: float | None = None  # monotonic time a custom query must end by
        self._deadline_seconds = 0.0
        self._timed_out = False
        try:
            # mode=ro: a test or a run must never change the source. as_uri() quotes the path:
            # a '?' or '#' in it would otherwise end the file name (and drop mode=ro).
            # check_same_thread off: batches are read ahead in a worker thread, one user at a time.
            self._conn = sqlite3.connect(
                f"{path.absolute().as_uri()}?mode=ro", uri=True, timeout=10,
                check_same_thread=False,
            )  # fmt: skip
            self._conn.execute("SELECT 1")
            self._conn.set_progress_handler(self._past_deadline, _PROGRESS_STEPS)
        except sqlite3.Error as error:
            raise connection_errors.connection_error(str(error)) from None

    def _past_deadline(self) -> int:
        """SQLite's progress handler: a non-zero answer interrupts the running statement."""
        if self._deadline is not None and time.monotonic() > self._deadline:
            self._timed_out = True
            return 1
        return 0

    @contextlib.contextmanager
    def _query_timeout(self, source: TableSource | QuerySource, seconds: float) -> Iterator[None]:
        """Statements run for a custom query end by a deadline; table reads do not."""
        if not isinstance(source, QuerySource):
            yield
            return
        self._deadline = time.monotonic() + seconds
        self._deadline_seconds = seconds
        self._timed_out = False
        try:
            yield
        finally:
            self._deadline = None

    def _check_timeout(self) -> float:
        return min(CHECK_TIMEOUT_SECONDS, self.settings.query_timeout_seconds)

    def _refused(self, error: sqlite3.Error, stage: Stage = Stage.VALIDATION) -> EtlError:
        if self._timed_out and "interrupted" in str(error):
            message = (
                f"The query ran longer than {self._deadline_seconds:g} s (query_timeout_seconds) "
                "and was cancelled; make it cheaper (a filter, an index) or raise "
                "query_timeout_seconds on the connection."
            )
        else:
            message = f"SQLite refused the query: {error}."
        return ExtractionError(message) if stage is Stage.EXTRACTION else ValidationError(message)

    def _query(self, sql: str, parameters: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
        try:
            return self._conn.execute(sql, parameters).fetchall()
        except sqlite3.Error as error:
            raise self._refused(error) from None

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
            sql = f"SELECT * FROM {_source_sql(source)} LIMIT 1"  # checks the query first
            cursor = self._conn.cursor()
            try:
                with self._query_timeout(source, self._check_timeout()):
                    cursor.execute(sql)
                    first = cursor.fetchone()
            except sqlite3.Error as error:
                raise self._refused(error) from None
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
        sql = f"SELECT count(*) FROM {_source_sql(source)}"  # checks the query first
        try:  # a query's count runs it: no estimate rather than a failed validation
            with self._query_timeout(source, self._check_timeout()):
                return int(self._query(sql)[0][0])
        except EtlError:
            return None

    def check_readable(self, plan: ReadPlan) -> None:
        sql = f"SELECT * FROM ({build_select(plan)}) AS _etl_check LIMIT 0"  # checks the query
        with self._query_timeout(plan.source, self._check_timeout()):
            self._query(sql)

    def applies_bound(self, bound: CursorBound) -> bool:
        return bound_predicate(bound) is not None

    def commit_order(self) -> str:
        """SerialWriters: SQLite lets one transaction write at a time."""
        return (
            "SQLite lets one transaction write at a time, so a rowid or counter value is "
            "committed before the next writer can take one"
        )

    def read(self, plan: ReadPlan) -> Iterator[pa.RecordBatch]:
        names = [column.name for column in plan.columns]
        sql = build_select(plan)  # checks the query first
        with self._query_timeout(plan.source, self.settings.query_timeout_seconds):
            try:
                cursor = self._conn.execute(sql)
            except sqlite3.Error as error:
                raise self._refused(error, Stage.EXTRACTION) from None
            try:
                while rows := cursor.fetchmany(self.settings.batch_rows):
                    arrays = [
                        _column_array([row[i] for row in rows], column.bq_type)
                        for i, column in enumerate(plan.columns)
                    ]
                    yield pa.RecordBatch.from_arrays(arrays, names=names)
            except sqlite3.Error as error:
                if self._timed_out and "interrupted" in str(error):
                    raise self._refused(error, Stage.EXTRACTION) from None
                raise ExtractionError(f"Reading from SQLite failed: {error}.") from None
            finally:
                cursor.close()

    def preview(self, source: TableSource | QuerySource, limit: int = 10) -> pa.Table:
        if isinstance(source, TableSource):
            self._require_table(source)
        sql = f"SELECT * FROM {_source_sql(source)} LIMIT {int(limit)}"  # checks the query first
        try:
            with self._query_timeout(source, self._check_timeout()):
                cursor = self._conn.execute(sql)
                names = [d[0] for d in cursor.description]
                rows = cursor.fetchall()
        except sqlite3.Error as error:
            raise self._refused(error) from None
        return pa.table({n: [None if r[i] is None else str(r[i]) for r in rows]
                         for i, n in enumerate(names)})  # fmt: skip

    def close(self) -> None:
        conn = getattr(self, "_conn", None)
        if conn is not None:
            conn.close()
            del self._conn


def open_reader(settings: ConnectionSettings) -> SqliteReader:
    """The registry's entry point (`engine.sources.registry`): `database` is the file's path."""
    return SqliteReader(
        SqliteSettings(path=settings.database, query_timeout_seconds=settings.query_timeout_seconds)
    )
