"""A reader for every database with a SQLAlchemy dialect: SQL Server, Azure Synapse, Oracle,
Snowflake, Db2, Teradata (`engine.sources.sqlalchemy_dialects.SPECS`).

After dlt's `sql_database`: tables are reflected with SQLAlchemy's Inspector (columns, nullability,
primary keys, schemas), the extraction is a Core `SELECT` compiled for the dialect with
`literal_binds` (identifiers quoted by the dialect, the cursor bound a typed literal the dialect
renders), and `engine.sources.sqlalchemy_sql.select_expression` is the type adapter hook. The
statement runs once with `stream_results` (a server-side cursor where the driver has one; pymssql
and the others stream the result as it arrives) and rows become Arrow record batches of bounded
size, in the Arrow type of each column's BigQuery type.

A custom query is checked by `engine.sources.query_check` with the dialect's sqlglot grammar (tsql
for SQL Server and Synapse, oracle, snowflake, teradata) before it reaches the server; sqlglot has
no Db2 grammar, so Db2 refuses query sources. Sessions are not made read-only (these databases
have no session-wide switch): give ETL a login with SELECT privileges only. Not tested against a
server: no server for these engines runs here (see tests/unit/test_sqlalchemy_sources.py).
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Callable, Iterator, Sequence
from typing import Any

import pyarrow as pa
import sqlalchemy as sa
from sqlalchemy import exc as sa_exc

from etl_bigquery.engine.errors import (
    ExtractionError,
    Stage,
    TransientExtractionError,
    ValidationError,
)
from etl_bigquery.engine.jobs.model import QuerySource, TableSource
from etl_bigquery.engine.schema.bqtypes import BqType
from etl_bigquery.engine.sources.base import (
    DEFAULT_BATCH_BYTES,
    CursorBound,
    ReadPlan,
    SourceColumn,
    SourceReader,
    TableInfo,
)
from etl_bigquery.engine.sources.cursor_pushdown import Pushdown, cursor_pushdown
from etl_bigquery.engine.sources.registry import ConnectionSettings
from etl_bigquery.engine.sources.sqlalchemy_counts import catalog_counts
from etl_bigquery.engine.sources.sqlalchemy_dialects import (
    SPECS,
    DialectSpec,
    compile_dialect,
    connection_error,
)
from etl_bigquery.engine.sources.sqlalchemy_sql import (
    build_select,
    compile_sql,
    query_source,
    to_arrow,
)

log = logging.getLogger(__name__)

BATCH_ROWS = 10_000
MIN_BATCH_ROWS = 100


def source_type_name(column_type: sa.types.TypeEngine[Any], dialect: sa.engine.Dialect) -> str:
    """A reflected type as the dialect prints it (`NVARCHAR(max)`, `NUMBER(12, 2)`)."""
    try:
        return str(column_type.compile(dialect=dialect))
    except (sa_exc.CompileError, sa_exc.UnsupportedCompilationError, TypeError):
        return type(column_type).__name__


def description_type_name(type_code: Any) -> str:
    """A query column's type from the DB-API description (coarse: `DB_TYPE_NUMBER` → `number`)."""
    name = getattr(type_code, "name", None) or str(type_code)
    return name.removeprefix("DB_TYPE_").lower()


class SqlAlchemyReader(SourceReader):
    """The databases read through a SQLAlchemy dialect (SQL Server, Synapse, Oracle, Snowflake,
    Db2, Teradata). Abilities: PushesDownCursor, TableCatalog."""

    def __init__(self, spec: DialectSpec, settings: ConnectionSettings) -> None:
        self.spec = spec
        self.dialect = spec.key
        self.settings = settings
        spec.require_driver()
        if spec.key == "oracle":  # numbers as Decimal (never float), CLOB/BLOB as str/bytes
            import oracledb

            oracledb.defaults.fetch_decimals = True
            oracledb.defaults.fetch_lobs = False
        self._engine = sa.create_engine(
            spec.url(settings), connect_args=spec.connect_args(settings), poolclass=sa.NullPool
        )
        try:
            self._conn = self._engine.connect()
            for statement in spec.session:
                self._conn.exec_driver_sql(statement)
        except (sa_exc.DBAPIError, sa_exc.InterfaceError) as error:
            self.close()
            raise connection_error(error, settings) from None
        self._compile = compile_dialect(spec, self._engine.dialect)

    # -- plumbing -----------------------------------------------------------------------------

    def _classify(self, error: Exception, stage: Stage) -> Exception:
        if isinstance(error, sa_exc.OperationalError | sa_exc.InterfaceError):
            return connection_error(error, self.settings, stage)
        words = str(getattr(error, "orig", None) or error).strip().splitlines() or ["error"]
        text = words[0].rstrip(".")
        if self.settings.password:
            text = text.replace(self.settings.password, "********")
        error_class = ExtractionError if stage is Stage.EXTRACTION else ValidationError
        return error_class(f"{self.spec.name} refused the query: {text}.")

    @contextlib.contextmanager
    def _errors(self, stage: Stage = Stage.VALIDATION) -> Iterator[None]:
        try:
            yield
        except sa_exc.NoSuchTableError:
            raise
        except sa_exc.SQLAlchemyError as error:
            raise self._classify(error, stage) from None

    def _table(self, source: TableSource) -> sa.Table:
        try:
            with self._errors():
                return sa.Table(
                    source.table, sa.MetaData(), schema=source.schema_name,
                    autoload_with=self._conn,
                )  # fmt: skip
        except sa_exc.NoSuchTableError:
            where = f"{source.schema_name}.{source.table}" if source.schema_name else source.table
            raise ValidationError(
                f"Table '{where}' does not exist in database '{self.settings.database}'; check "
                "the schema and table name."
            ) from None

    def _from(self, source: TableSource | QuerySource, columns: list[str]) -> sa.FromClause:
        if isinstance(source, QuerySource):
            return query_source(source, self.dialect, columns)
        return self._table(source)

    # -- the reader ---------------------------------------------------------------------------

    def ping(self) -> None:
        with self._errors(Stage.INIT):
            self._conn.execute(sa.select(sa.literal_column("1"))).fetchall()

    def list_schemas(self) -> list[str]:
        with self._errors():
            return sorted(sa.inspect(self._conn).get_schema_names())

    def list_tables(self, schema: str | None = None) -> list[TableInfo]:
        """Names from the Inspector; row counts from the catalog (`sqlalchemy_counts`)."""
        inspector = sa.inspect(self._conn)
        with self._errors():
            name_schema = schema or inspector.default_schema_name
            names = inspector.get_table_names(schema=name_schema)
            names += inspector.get_view_names(schema=name_schema)
            counted = catalog_counts(self._conn, self.dialect, name_schema or "")
        counts, exact = counted if counted is not None else ({}, False)
        return [
            TableInfo(name_schema or "", name, counts.get(name), estimated=not exact)
            for name in sorted(names)
        ]

    def describe(self, source: TableSource | QuerySource) -> list[SourceColumn]:
        if isinstance(source, QuerySource):
            return self._describe_query(source)
        table = self._table(source)
        dialect = self._engine.dialect
        return [
            SourceColumn(c.name, source_type_name(c.type, dialect), bool(c.nullable),
                         bool(c.primary_key))
            for c in table.columns
        ]  # fmt: skip

    def _describe_query(self, source: QuerySource) -> list[SourceColumn]:
        checked = query_source(source, self.dialect, [])
        statement: sa.Select[Any] = (
            sa.select(sa.literal_column("*")).select_from(checked).where(sa.false())
        )
        with self._errors():
            result = self._conn.exec_driver_sql(compile_sql(statement, self._compile))
            description = result.cursor.description or []
            result.close()
        return [SourceColumn(d[0], description_type_name(d[1])) for d in description]

    def estimate_rows(self, source: TableSource | QuerySource) -> int | None:
        """The catalog's count of a table; None for queries (only running them would tell)."""
        if isinstance(source, QuerySource):
            return None
        with self._errors():
            schema = source.schema_name or sa.inspect(self._conn).default_schema_name or ""
            counted = catalog_counts(self._conn, self.dialect, schema)
        return counted[0].get(source.table) if counted is not None else None

    def _statement(self, plan: ReadPlan) -> sa.Select[Any]:
        source = self._from(plan.source, [c.name for c in plan.columns])
        return build_select(plan, source, self.dialect, self._compile)

    def check_readable(self, plan: ReadPlan) -> None:
        statement = self._statement(plan).where(sa.false())
        with self._errors():
            self._conn.exec_driver_sql(compile_sql(statement, self._compile)).fetchall()

    def applies_bound(self, bound: CursorBound) -> bool:
        return cursor_pushdown(bound.column, self.dialect) is Pushdown.TYPED

    def read(self, plan: ReadPlan) -> Iterator[pa.RecordBatch]:
        sql = compile_sql(self._statement(plan), self._compile)
        names = [c.name for c in plan.columns]
        types = [c.bq_type for c in plan.columns]
        size = BATCH_ROWS
        with self._errors(Stage.EXTRACTION):
            result = self._conn.execution_options(
                stream_results=True, max_row_buffer=BATCH_ROWS
            ).exec_driver_sql(sql)
        try:
            while True:
                try:
                    rows = result.fetchmany(size)
                except sa_exc.SQLAlchemyError as error:
                    raise TransientExtractionError(
                        f"Reading from {self.spec.name} failed mid-stream: "
                        f"{str(getattr(error, 'orig', error)).splitlines()[0]}."
                    ) from None
                if not rows:
                    return
                batch = _batch(rows, names, types)
                # Wide rows: fewer per batch, so a batch stays near DEFAULT_BATCH_BYTES.
                if batch.nbytes > DEFAULT_BATCH_BYTES and size > MIN_BATCH_ROWS:
                    size = max(MIN_BATCH_ROWS, size // 2)
                yield batch
        finally:
            result.close()

    def preview(self, source: TableSource | QuerySource, limit: int = 10) -> pa.Table:
        if isinstance(source, QuerySource):
            names = [c.name for c in self._describe_query(source)]
            origin = query_source(source, self.dialect, names)
        else:
            origin = self._table(source)
            names = [c.name for c in origin.columns]
        statement = sa.select(*[origin.c[n] for n in names]).select_from(origin).limit(int(limit))
        with self._errors():
            rows = self._conn.execute(statement).fetchall()
        return pa.Table.from_batches([_batch(rows, names, [BqType.STRING] * len(names))])

    def close(self) -> None:
        conn = getattr(self, "_conn", None)
        if conn is not None:
            with contextlib.suppress(sa_exc.SQLAlchemyError):
                conn.close()
            del self._conn
        engine = getattr(self, "_engine", None)
        if engine is not None:
            engine.dispose()


def _batch(rows: Sequence[Any], names: list[str], types: list[BqType]) -> pa.RecordBatch:
    columns = list(zip(*rows, strict=True)) if rows else [()] * len(names)
    arrays = [to_arrow(list(columns[i]), types[i]) for i in range(len(names))]
    return pa.RecordBatch.from_arrays(arrays, names=names)


def _opener(key: str) -> Callable[[ConnectionSettings], SqlAlchemyReader]:
    def open_reader(settings: ConnectionSettings) -> SqlAlchemyReader:
        """The registry's entry point (`engine.sources.registry`)."""
        return SqlAlchemyReader(SPECS[key], settings)

    open_reader.__name__ = f"open_{key}"
    return open_reader


open_sqlserver = _opener("sqlserver")
open_synapse = _opener("synapse")
open_oracle = _opener("oracle")
open_snowflake = _opener("snowflake")
open_db2 = _opener("db2")
open_teradata = _opener("teradata")
