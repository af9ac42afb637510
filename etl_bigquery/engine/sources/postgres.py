"""PostgreSQL reader: ADBC's libpq driver streams query results as Arrow over COPY BINARY.

Types Arrow has no direct equivalent for (numeric, uuid, interval, json, arrays...) are converted
to text by PostgreSQL in the SELECT itself, so the stream holds only plain Arrow types.

Sessions are read-only (`SET SESSION CHARACTERISTICS AS TRANSACTION READ ONLY`), and so is every
statement on its own: each runs in a transaction of its own opened `BEGIN TRANSACTION READ ONLY`
and ended by ROLLBACK, so a function that turned the session's default off
(`set_config('default_transaction_read_only', 'off', false)` inside a function the query check
cannot see into) neither makes a later statement writable nor outlives its statement (PostgreSQL
undoes a setting changed in a transaction that rolls back). A job's custom
query is checked by `engine.sources.query_check` at the start of every method that takes it, so a
refused query never reaches the server, and runs with a `statement_timeout`. Remaining risk: a
SELECT may call functions whose side effects a read-only transaction does not stop in every case
(`pg_terminate_backend`, `dblink_exec`, advisory locks, `pg_notify`; `nextval` is refused only by
the read-only mode): give ETL a read-only role; `write_access_warning` tells when it is not.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import functools
import itertools
import json
import re
import time
import urllib.parse
from collections.abc import Iterator
from dataclasses import dataclass, replace
from dataclasses import field as dataclass_field
from decimal import Decimal
from typing import Any

import adbc_driver_manager
import adbc_driver_postgresql.dbapi as adbc_pg
import pyarrow as pa

from etl_bigquery.engine.errors import (
    ConnectionFailed,
    EtlError,
    ExtractionError,
    Stage,
    TransientExtractionError,
    ValidationError,
)
from etl_bigquery.engine.jobs.model import QuerySource, TableSource
from etl_bigquery.engine.schema.bqtypes import BqType
from etl_bigquery.engine.sources import connection_errors, postgres_settle
from etl_bigquery.engine.sources.base import (
    DEFAULT_BATCH_BYTES,
    CursorBound,
    CursorRange,
    CursorValue,
    HashBucket,
    ReadColumn,
    ReadPlan,
    SourceColumn,
    SourceReader,
    SplitUnit,
    TableInfo,
    UpperBound,
)
from etl_bigquery.engine.sources.cursor_pushdown import (
    Pushdown,
    cursor_pushdown,
    text_prefix,
    text_prefix_predicate,
)
from etl_bigquery.engine.sources.registry import ConnectionSettings
from etl_bigquery.engine.sources.settle import (
    OpenTransaction,
    Settled,
    SettleRefusal,
    wait_for_open_transactions,
)
from etl_bigquery.engine.sources.sql_text import quote_identifier, quote_string, render_cursor_value

DEFAULT_PORT = 5432
# pg_export_snapshot() ids: hexadecimal groups joined by '-' (e.g. 00000003-0000001B-1).
_SNAPSHOT_ID = re.compile(r"[0-9A-Fa-f]+(-[0-9A-Fa-f]+)+")
DEFAULT_SCHEMA = "public"
# A custom query's extraction runs at most this long by default. Its cost is unknown (a join can
# explode), and a runaway query holds a snapshot, locks against DDL and a server process until it
# ends; an hour carries tens of millions of rows at the usual rates, and the timeout counts the
# whole COPY stream, including time the run spends staging batches. Raise it per connection
# (query_timeout_seconds) for longer extractions. Table reads have no timeout: their cost is known.
DEFAULT_QUERY_TIMEOUT_SECONDS = 3600
# Describing, estimating and checking a custom query (LIMIT 0 / EXPLAIN) plans it without running
# it; far less than this, unless the planner or a lock is stuck.
CHECK_TIMEOUT_SECONDS = 60
# `list_tables` counts tables up to this size on disk (a few ms each); larger ones are estimated.
EXACT_COUNT_BYTES = 8 * 1024 * 1024
_TEXT_TYPES = {"text", "character varying", "varchar", "character", "char", "bpchar", "name",
               "citext"}  # fmt: skip
# Source types ADBC decodes into an Arrow type that conform can use as-is, per BigQuery type.
_NATIVE: dict[BqType, tuple[str, ...]] = {
    BqType.INT64: ("smallint", "integer", "bigint", "int2", "int4", "int8", "oid"),
    BqType.FLOAT64: ("real", "double precision", "float4", "float8"),
    BqType.BOOL: ("boolean", "bool"),
    BqType.DATE: ("date",),
    BqType.TIMESTAMP: ("timestamp", "timestamptz"),
    BqType.DATETIME: ("timestamp",),
    BqType.TIME: ("time",),
    BqType.BYTES: ("bytea",),
}


@dataclass(frozen=True)
class PostgresSettings:
    host: str
    port: int
    database: str
    username: str | None
    password: str | None = dataclass_field(repr=False)  # repr and str never show it
    sslmode: str | None = None
    connect_timeout: int = 10
    batch_bytes: int = DEFAULT_BATCH_BYTES
    query_timeout_seconds: float = DEFAULT_QUERY_TIMEOUT_SECONDS
    use_copy: bool = True
    """False fetches result sets as plain queries: Redshift has no `COPY ... TO STDOUT`."""

    def uri(self) -> str:
        """The libpq URI, password included: for the driver only, never for a message or log."""
        user = urllib.parse.quote(self.username or "", safe="")
        secret = f":{urllib.parse.quote(self.password, safe='')}" if self.password else ""
        auth = f"{user}{secret}@" if user else ""
        query = {
            "connect_timeout": str(self.connect_timeout),
            "application_name": postgres_settle.APPLICATION_NAME,  # how settling tells our reads
        }
        if self.sslmode:
            query["sslmode"] = self.sslmode
        database = urllib.parse.quote(self.database, safe="")
        return (
            f"postgresql://{auth}{self.host}:{self.port}/{database}?{urllib.parse.urlencode(query)}"
        )


def _base_type(source_type: str) -> str:
    """`numeric(12,2)` → `numeric`, `timestamp(3) with time zone` → `timestamptz`."""
    text = re.sub(r"\(.*?\)", "", source_type.lower()).strip()
    text = re.sub(r"\s+", " ", text)
    return {
        "timestamp with time zone": "timestamptz",
        "timestamp without time zone": "timestamp",
        "time without time zone": "time",
        "time with time zone": "timetz",
    }.get(text, text)


def select_expression(column: ReadColumn) -> str:
    """How to SELECT a column so the driver hands over a type conform can cast from."""
    quoted = quote_identifier(column.name)
    base = _base_type(column.source_type)
    is_array = base.endswith("[]") or base.startswith("_")
    if column.bq_type in (BqType.NUMERIC, BqType.BIGNUMERIC):
        if base in _TEXT_TYPES:
            return quoted
        scale = 9 if column.bq_type is BqType.NUMERIC else 38
        declared = re.search(r"numeric\(\s*\d+\s*,\s*(\d+)\s*\)", column.source_type.lower())
        if declared and int(declared.group(1)) <= scale:
            return f"{quoted}::text AS {quoted}"
        # Round at the source to what the BigQuery type can hold, so no value fails on scale.
        return f"round({quoted}::numeric, {scale})::text AS {quoted}"
    if column.bq_type is BqType.JSON:
        if base in ("json", "jsonb"):
            return f"{quoted}::text AS {quoted}"
        if is_array or base == "hstore":
            return f"to_json({quoted})::text AS {quoted}"
    if column.bq_type is BqType.GEOGRAPHY and base in ("geometry", "geography"):
        return f"ST_AsText({quoted}) AS {quoted}"
    if base in _NATIVE.get(column.bq_type, ()):
        return quoted
    if column.bq_type is BqType.STRING and base in _TEXT_TYPES:
        return quoted
    if is_array and column.bq_type is BqType.STRING:
        return f"to_json({quoted})::text AS {quoted}"
    if base == "inet" and column.bq_type is BqType.STRING:
        # inet::text always appends the mask (10.0.0.1/32); abbrev() prints it as PostgreSQL does.
        return f"abbrev({quoted}) AS {quoted}"
    return f"{quoted}::text AS {quoted}"


def cursor_literal(bound: CursorBound) -> str:
    base = _base_type(bound.column.source_type)
    text = render_cursor_value(bound.value)
    if isinstance(bound.value, dt.datetime):
        # Session time zone is UTC, so naive and zoned columns compare in UTC alike.
        cast = "timestamptz" if base == "timestamptz" else "timestamp"
        return f"{quote_string(text)}::{cast}"
    if isinstance(bound.value, dt.date):
        return f"{quote_string(text)}::date"
    if isinstance(bound.value, Decimal | float):
        return f"{text}::numeric"
    return text


def _source_sql(source: TableSource | QuerySource) -> str:
    if isinstance(source, QuerySource):
        # The user's text as written, after the check; newlines keep a trailing `--` comment
        # from swallowing the closing parenthesis.
        # sqlglot (0.4 s of import) only for `query:` sources, not for every run.
        from etl_bigquery.engine.sources.query_check import check_query

        return f"(\n{check_query(source.query, PostgresReader.dialect)}\n) AS _etl_src"
    return qualified_name(source)


def qualified_name(source: TableSource) -> str:
    return (
        f"{quote_identifier(source.schema_name or DEFAULT_SCHEMA)}.{quote_identifier(source.table)}"
    )


def bound_predicate(bound: CursorBound, dialect: str = "postgresql") -> str | None:
    """`cursor >= bound` as the source can compare it (`engine.sources.cursor_pushdown`); None
    when it cannot, and the engine filters."""
    quoted = quote_identifier(bound.column.name)
    kind = cursor_pushdown(bound.column, dialect)
    if kind is Pushdown.TYPED:
        return f"{quoted} >= {cursor_literal(bound)}"
    if kind is Pushdown.TEXT_PREFIX:
        # Bytewise whatever the column's collation (an index of another collation is not used).
        prefix = quote_string(text_prefix(bound.value))
        return text_prefix_predicate(f'{quoted} COLLATE "C"', prefix)
    return None


def upper_predicate(upper: UpperBound, dialect: str = "postgresql") -> str | None:
    """`cursor <= M` of a settled read (numeric cursors only); FALSE when it reads nothing."""
    if upper.value is None:
        return "FALSE"
    if cursor_pushdown(upper.column, dialect) is not Pushdown.TYPED:
        return None  # the engine drops the rows above it
    literal = cursor_literal(CursorBound(upper.column, upper.value))
    return f"{quote_identifier(upper.column.name)} <= {literal}"


def _unit_predicates(unit: SplitUnit | None) -> list[str]:
    if isinstance(unit, CursorRange):
        column = quote_identifier(unit.column.name)
        found = []
        if unit.lower is not None:
            found.append(f"{column} >= {cursor_literal(CursorBound(unit.column, unit.lower))}")
        if unit.upper is not None:
            found.append(f"{column} < {cursor_literal(CursorBound(unit.column, unit.upper))}")
        return found
    if isinstance(unit, HashBucket):
        key = ", ".join(quote_identifier(name) for name in unit.columns)
        # hashtextextended is stable across sessions; the double modulo keeps it non-negative.
        hashed = f"hashtextextended(ROW({key}, NULL)::text, 0)"
        return [f"(({hashed} % {unit.buckets}) + {unit.buckets}) % {unit.buckets} = {unit.bucket}"]
    return []


def build_select(plan: ReadPlan, dialect: str = "postgresql") -> str:
    columns = ", ".join(select_expression(column) for column in plan.columns)
    sql = f"SELECT {columns} FROM {_source_sql(plan.source)}"
    found = [
        bound_predicate(plan.lower_bound, dialect) if plan.lower_bound is not None else None,
        upper_predicate(plan.upper_bound, dialect) if plan.upper_bound is not None else None,
    ]
    predicates = [p for p in found if p is not None] + _unit_predicates(plan.unit)
    if predicates:
        sql += " WHERE " + " AND ".join(predicates)
    return sql


def _is_statement_timeout(error: Exception) -> bool:
    # SQLSTATE 57014 is any cancel; only the message tells a timeout from a cancel by hand. Errors
    # mid-stream come as OSError without a SQLSTATE, so the text is the one reliable sign.
    return "statement timeout" in str(error)


def _first_line(error: Exception) -> str:
    text = str(error)
    # ADBC prefixes "NOT_FOUND: Failed to prepare query: ERROR:  ..."; keep PostgreSQL's words.
    match = re.search(r"ERROR:\s+(.*)", text)
    return (match.group(1) if match else text).splitlines()[0].strip()


class PostgresWireReader(SourceReader):
    """A database that speaks PostgreSQL's protocol and SQL (PostgreSQL itself, Redshift).

    Abilities: PushesDownCursor, TypedArrowOutput, TableCatalog, EstimatesRead,
    WarnsOfWriteAccess; PostgreSQL adds CanSplit (`PostgresReader`)."""

    dialect = "postgresql"

    def __init__(self, settings: PostgresSettings) -> None:
        self.settings = settings
        self._timeout_seconds: float | None = None  # the statement_timeout in force, if any
        try:
            self._conn = adbc_pg.connect(settings.uri(), autocommit=True)
        except adbc_driver_manager.Error as error:
            raise connection_errors.connection_error(str(error)) from None
        if not settings.use_copy:  # every cursor of this connection fetches without COPY
            self._conn.cursor = functools.partial(
                self._conn.cursor, adbc_stmt_kwargs={"adbc.postgresql.use_copy": "false"}
            )
        try:
            # A test or a run must never change the source.
            self._set("SET SESSION CHARACTERISTICS AS TRANSACTION READ ONLY")
            self._set("SET TIME ZONE 'UTC'")
        except adbc_driver_manager.Error as error:
            self.close()
            raise connection_errors.connection_error(str(error)) from None

    # -- plumbing -----------------------------------------------------------------------------

    def _set(self, sql: str) -> None:
        """A session-level statement (SET, BEGIN, ROLLBACK), outside the read-only transactions
        (a ROLLBACK would undo a setting made inside one)."""
        with self._conn.cursor() as cursor:
            cursor.execute(sql)

    @contextlib.contextmanager
    def _read_only_transaction(self, snapshot: str | None = None) -> Iterator[None]:
        """The statements inside run in a read-only transaction, whatever the session's default
        has become, and everything they changed in the session is undone at the end. With a
        snapshot (exported by `exported_snapshot`), they see exactly that snapshot."""
        if snapshot is None:
            self._set("BEGIN TRANSACTION READ ONLY")
        else:
            if not _SNAPSHOT_ID.fullmatch(snapshot):
                raise ValueError(f"not a PostgreSQL snapshot id: {snapshot!r}")
            self._set("BEGIN TRANSACTION ISOLATION LEVEL REPEATABLE READ READ ONLY")
            try:
                self._set(f"SET TRANSACTION SNAPSHOT '{snapshot}'")
            except adbc_driver_manager.Error as error:
                with contextlib.suppress(adbc_driver_manager.Error):
                    self._set("ROLLBACK")
                raise TransientExtractionError(
                    "A unit of the parallel read could not join the read's snapshot "
                    f"({_first_line(error)}); the read starts again."
                ) from None
        try:
            yield
        finally:
            with contextlib.suppress(adbc_driver_manager.Error):
                self._set("ROLLBACK")

    def _execute(
        self, sql: str, parameters: tuple[Any, ...] | None = None
    ) -> list[tuple[Any, ...]]:
        with self._read_only_transaction(), self._conn.cursor() as cursor:
            cursor.execute(sql, parameters)
            try:
                return cursor.fetchall()
            except adbc_driver_manager.Error:
                return []  # statements without a result set

    def _query(self, sql: str, parameters: tuple[Any, ...] | None = None) -> list[tuple[Any, ...]]:
        try:
            return self._execute(sql, parameters)
        except adbc_driver_manager.Error as error:
            raise self._classify(error, Stage.VALIDATION) from None

    @contextlib.contextmanager
    def _query_timeout(
        self, source: TableSource | QuerySource, seconds: float, stage: Stage = Stage.VALIDATION
    ) -> Iterator[None]:
        """Statements run for a custom query carry a statement_timeout; table reads do not."""
        if not isinstance(source, QuerySource):
            yield
            return
        try:
            self._set(f"SET statement_timeout = {max(1, round(seconds * 1000))}")
        except adbc_driver_manager.Error as error:
            raise self._classify(error, stage) from None
        self._timeout_seconds = seconds
        try:
            yield
        finally:
            self._timeout_seconds = None
            with contextlib.suppress(adbc_driver_manager.Error):
                self._set("RESET statement_timeout")

    def _check_timeout(self) -> float:
        return min(CHECK_TIMEOUT_SECONDS, self.settings.query_timeout_seconds)

    def _timed_out(self, stage: Stage) -> EtlError:
        seconds = f"{self._timeout_seconds or self.settings.query_timeout_seconds:g}"
        message = (
            f"The query ran longer than {seconds} s (statement_timeout) and was cancelled; make "
            "it cheaper (a filter, an index) or raise query_timeout_seconds on the connection."
        )
        return ExtractionError(message) if stage is Stage.EXTRACTION else ValidationError(message)

    def _classify(self, error: Exception, stage: Stage) -> Exception:
        if _is_statement_timeout(error):
            return self._timed_out(stage)
        sqlstate = getattr(error, "sqlstate", None) or ""
        if sqlstate == "42501":
            return ConnectionFailed(connection_errors.ACCESS, transient=False, stage=stage)
        if sqlstate.startswith("08") or isinstance(error, adbc_driver_manager.OperationalError):
            return connection_errors.connection_error(str(error), stage=stage)
        if stage is Stage.EXTRACTION:
            return ExtractionError(f"PostgreSQL refused the query: {_first_line(error)}.")
        return ValidationError(f"PostgreSQL refused the query: {_first_line(error)}.")

    def _require_table(self, source: TableSource) -> str:
        name = qualified_name(source)
        rows = self._query("SELECT to_regclass($1)::oid::bigint", (name,))
        if not rows or rows[0][0] is None:
            schema = source.schema_name or DEFAULT_SCHEMA
            raise ValidationError(
                f"Table '{schema}.{source.table}' does not exist in database "
                f"'{self.settings.database}'; check the schema and table name."
            )
        return name

    # -- the reader ---------------------------------------------------------------------------

    def ping(self) -> None:
        self._query("SELECT 1")

    def list_schemas(self) -> list[str]:
        rows = self._query(
            "SELECT nspname FROM pg_namespace WHERE nspname NOT IN ('information_schema') "
            "AND nspname NOT LIKE 'pg\\_%' ORDER BY nspname"
        )
        return [row[0] for row in rows]

    def list_tables(self, schema: str | None = None) -> list[TableInfo]:
        """Tables small enough to count cheaply (at most EXACT_COUNT_BYTES on disk) are counted;
        the others carry PostgreSQL's statistics, marked as estimates (None: never analysed)."""
        rows = self._query(
            """
            SELECT n.nspname, c.relname,
                   COALESCE(NULLIF(s.n_live_tup, 0), NULLIF(GREATEST(c.reltuples, 0), 0))::bigint,
                   c.relkind IN ('r', 'm') AND has_table_privilege(c.oid, 'SELECT')
                     AND pg_relation_size(c.oid) <= $2::bigint
            FROM pg_class c
            JOIN pg_namespace n ON n.oid = c.relnamespace
            LEFT JOIN pg_stat_user_tables s ON s.relid = c.oid
            WHERE c.relkind IN ('r', 'p', 'v', 'm', 'f')
              AND n.nspname NOT IN ('information_schema') AND n.nspname NOT LIKE 'pg\\_%'
              AND ($1::text IS NULL OR n.nspname = $1::text)
            ORDER BY 1, 2
            """,
            (schema, EXACT_COUNT_BYTES),
        )
        tables = []
        for name_schema, name, estimate, cheap in rows:
            if cheap:
                source = TableSource(schema=name_schema, table=name)
                with contextlib.suppress(ValidationError, ConnectionFailed):
                    count = self._query(f"SELECT count(*) FROM {qualified_name(source)}")[0][0]
                    tables.append(TableInfo(name_schema, name, int(count)))
                    continue
            tables.append(TableInfo(name_schema, name, estimate, estimated=estimate is not None))
        return tables

    def describe(self, source: TableSource | QuerySource) -> list[SourceColumn]:
        if isinstance(source, QuerySource):
            return self._describe_query(source)  # checks the query before it reaches the server
        name = self._require_table(source)
        rows = self._query(
            """
            SELECT a.attname, format_type(a.atttypid, a.atttypmod), NOT a.attnotnull,
                   COALESCE(a.attnum = ANY(i.indkey), false)
            FROM pg_attribute a
            LEFT JOIN pg_index i ON i.indrelid = a.attrelid AND i.indisprimary
            WHERE a.attrelid = to_regclass($1) AND a.attnum > 0 AND NOT a.attisdropped
            ORDER BY a.attnum
            """,
            (name,),
        )
        return [SourceColumn(r[0], r[1], bool(r[2]), bool(r[3])) for r in rows]

    def _describe_query(self, source: QuerySource) -> list[SourceColumn]:
        sql = f"SELECT * FROM {_source_sql(source)} LIMIT 0"
        try:
            with (
                self._query_timeout(source, self._check_timeout()),
                self._read_only_transaction(),
                self._conn.cursor() as cursor,
            ):
                cursor.execute(sql)
                schema = cursor.fetch_arrow_table().schema
        except adbc_driver_manager.Error as error:
            raise self._classify(error, Stage.VALIDATION) from None
        columns = []
        for field in schema:
            meta = {k.decode(): v.decode() for k, v in (field.metadata or {}).items()}
            type_name = meta.get("POSTGRESQL:type", "text")
            typmod = int(meta.get("POSTGRESQL:typmod", "-1"))
            if type_name == "numeric" and typmod >= 4:
                precision, scale = ((typmod - 4) >> 16) & 0xFFFF, (typmod - 4) & 0xFFFF
                type_name = f"numeric({precision},{scale})"
            columns.append(SourceColumn(field.name, type_name))
        return columns

    def estimate_rows(self, source: TableSource | QuerySource) -> int | None:
        if isinstance(source, QuerySource):
            return self._estimate_query(source)
        name = self._require_table(source)
        rows = self._query(
            "SELECT COALESCE(NULLIF(s.n_live_tup, 0), NULLIF(GREATEST(c.reltuples, 0), 0))::bigint "
            "FROM pg_class c LEFT JOIN pg_stat_user_tables s ON s.relid = c.oid "
            "WHERE c.oid = to_regclass($1)",
            (name,),
        )
        if rows and rows[0][0]:
            return int(rows[0][0])
        # Never analysed (a freshly loaded table): count, it is small or will be analysed soon.
        try:
            return int(self._query(f"SELECT count(*) FROM {name}")[0][0])
        except (ValidationError, ConnectionFailed):
            return None  # no estimate; check_readable reports a missing privilege clearly

    def estimate_read(self, plan: ReadPlan) -> int | None:
        """An incremental read's rows: the planner's estimate of `cursor >= bound` (an index or
        the column's statistics), not the table's size."""
        if plan.lower_bound is None:
            return self.estimate_rows(plan.source)
        sql = f"EXPLAIN (FORMAT JSON) {build_select(plan, self.dialect)}"
        return self._explain_rows(sql, plan.source)

    def _estimate_query(self, source: QuerySource) -> int | None:
        sql = f"EXPLAIN (FORMAT JSON) SELECT * FROM {_source_sql(source)}"  # checks the query
        return self._explain_rows(sql, source)

    def _explain_rows(self, sql: str, source: TableSource | QuerySource) -> int | None:
        """EXPLAIN's planned rows; None when there is no estimate (it never fails validation)."""
        try:
            with (
                self._query_timeout(source, self._check_timeout()),
                self._read_only_transaction(),
                self._conn.cursor() as cursor,
            ):
                # ADBC sends statements that return rows as `COPY (...) TO STDOUT`, where EXPLAIN
                # is a syntax error; this one goes as a plain query.
                cursor.adbc_statement.set_options(**{"adbc.postgresql.use_copy": "false"})
                cursor.execute(sql)
                plan = cursor.fetchall()[0][0]
            return int(json.loads(plan)[0]["Plan"]["Plan Rows"])
        except (adbc_driver_manager.Error, EtlError, LookupError, TypeError, ValueError):
            return None

    def check_readable(self, plan: ReadPlan) -> None:
        sql = f"SELECT * FROM ({build_select(plan, self.dialect)}) AS _etl_check LIMIT 0"
        with self._query_timeout(plan.source, self._check_timeout()):
            self._query(sql)

    def applies_bound(self, bound: CursorBound) -> bool:
        return cursor_pushdown(bound.column, self.dialect) is not Pushdown.NONE

    def arrow_schema(self, plan: ReadPlan) -> pa.Schema:
        """The read's own query with no rows: the driver gives the types it will stream."""
        sql = f"SELECT * FROM ({build_select(plan, self.dialect)}) AS _etl_schema LIMIT 0"
        try:
            with (
                self._query_timeout(plan.source, self._check_timeout()),
                self._read_only_transaction(),
                self._conn.cursor() as cursor,
            ):
                cursor.execute(sql)
                return cursor.fetch_arrow_table().schema
        except adbc_driver_manager.Error as error:
            raise self._classify(error, Stage.VALIDATION) from None

    def read(self, plan: ReadPlan) -> Iterator[pa.RecordBatch]:
        sql = build_select(plan, self.dialect)  # checks the query before it reaches the server
        timeout = self.settings.query_timeout_seconds
        with (
            self._query_timeout(plan.source, timeout, Stage.EXTRACTION),
            self._read_only_transaction(plan.snapshot),
        ):
            cursor = self._conn.cursor()
            try:
                cursor.adbc_statement.set_options(
                    **{"adbc.postgresql.batch_size_hint_bytes": str(self.settings.batch_bytes)}
                )
                cursor.execute(sql)
                stream = cursor.fetch_record_batch()
            except adbc_driver_manager.Error as error:
                cursor.close()
                raise self._classify(error, Stage.EXTRACTION) from None
            try:
                yield from stream
            # Mid-stream failures surface through Arrow's stream reader as OSError.
            except (adbc_driver_manager.Error, OSError) as error:
                if _is_statement_timeout(error):
                    raise self._timed_out(Stage.EXTRACTION) from None
                raise TransientExtractionError(
                    f"Reading from PostgreSQL failed mid-stream: {_first_line(error)}."
                ) from None
            finally:
                cursor.close()

    def preview(self, source: TableSource | QuerySource, limit: int = 10) -> pa.Table:
        if isinstance(source, TableSource):
            self._require_table(source)
        sql = f"SELECT * FROM {_source_sql(source)} LIMIT {int(limit)}"  # checks the query
        try:
            with (
                self._query_timeout(source, self._check_timeout()),
                self._read_only_transaction(),
                self._conn.cursor() as cursor,
            ):
                cursor.execute(sql)
                return cursor.fetch_arrow_table()
        except adbc_driver_manager.Error as error:
            raise self._classify(error, Stage.VALIDATION) from None

    def write_access_warning(self) -> str | None:
        """One sentence when this login can change the database: a superuser, a table it may
        INSERT, UPDATE, DELETE or TRUNCATE, or a schema (or the database) it may CREATE in."""
        rows = self._query(
            r"""
            WITH user_schemas AS (
                SELECT oid, nspname FROM pg_namespace
                WHERE nspname <> 'information_schema' AND nspname NOT LIKE 'pg\_%'
            ), writable AS (
                SELECT format('%I.%I', n.nspname, c.relname) AS name
                FROM pg_class c JOIN user_schemas n ON n.oid = c.relnamespace
                WHERE c.relkind IN ('r', 'p', 'v', 'f')
                  AND has_schema_privilege(n.oid, 'USAGE')
                  AND has_table_privilege(c.oid, 'INSERT, UPDATE, DELETE, TRUNCATE')
            )
            SELECT current_user::text,
                   (SELECT rolsuper FROM pg_roles WHERE rolname = current_user),
                   (SELECT count(*) FROM writable),
                   (SELECT min(name) FROM writable),
                   (SELECT string_agg(quote_ident(nspname), ', ' ORDER BY nspname)
                    FROM user_schemas WHERE has_schema_privilege(oid, 'CREATE')),
                   has_database_privilege(current_database(), 'CREATE')
            """
        )
        user, superuser, tables, example, schemas, create_schemas = rows[0]
        if superuser:
            can = ["is a superuser"]
        else:
            can = []
            if tables:
                can.append(f"can write to {tables} table{'s' * (tables > 1)} (e.g. {example})")
            if schemas:
                can.append(f"can create tables in schema {schemas}")
            if create_schemas:
                can.append("can create schemas")
        if not can:
            return None
        return (
            f"The login '{user}' {' and '.join(can)}, so it could change this database; use a "
            "read-only role (SELECT privileges only) for ETL, since a read-only transaction does "
            "not stop every function with side effects."
        )

    def close(self) -> None:
        conn = getattr(self, "_conn", None)
        if conn is not None:
            with contextlib.suppress(adbc_driver_manager.Error):
                conn.close()
            self._conn = None


class PostgresReader(PostgresWireReader):
    """PostgreSQL: everything of the protocol, reads split into units (`hashtextextended`,
    `percentile_disc`: CanSplit) that read one exported snapshot (SharesSnapshot), and numeric
    cursors read up to a settled bound (`pg_locks`: SettlesCursor; Redshift has none of
    these)."""

    def settle_refusal(self, source: TableSource | QuerySource) -> SettleRefusal | None:
        return None  # pg_locks and the columns used of pg_stat_activity are readable by any role

    def settle(self, plan: ReadPlan, cursor: ReadColumn, timeout: float) -> Settled:
        started = time.monotonic()
        lower = bound_predicate(plan.lower_bound, self.dialect) if plan.lower_bound else None
        sql = postgres_settle.max_sql(_source_sql(plan.source), cursor, lower)
        with self._query_timeout(plan.source, self.settings.query_timeout_seconds):
            upper = postgres_settle.parse_max(self._query(sql)[0][0], cursor.bq_type)
        opened, still_open = wait_for_open_transactions(
            lambda: self._open_transactions(plan.source), timeout
        )
        return Settled(
            upper, opened, time.monotonic() - started, still_open, self._cache_caveats(plan, cursor)
        )

    def _open_transactions(self, source: TableSource | QuerySource) -> list[OpenTransaction]:
        if isinstance(source, TableSource):
            rows = self._query(
                postgres_settle.OPEN_TRANSACTIONS_OF_TABLE, (qualified_name(source),)
            )
        else:
            rows = self._query(postgres_settle.OPEN_TRANSACTIONS)
        return postgres_settle.open_transactions(rows)

    def _cache_caveats(self, plan: ReadPlan, cursor: ReadColumn) -> tuple[str, ...]:
        if not isinstance(plan.source, TableSource):
            return ()  # a query's column has no sequence of its own
        try:
            rows = self._execute(
                postgres_settle.SEQUENCE_CACHE, (qualified_name(plan.source), cursor.name)
            )
        except adbc_driver_manager.Error:
            return ()  # no serial or identity column; a read error shows in the read itself
        caveat = postgres_settle.cache_caveat(rows, cursor.name)
        return (caveat,) if caveat else ()

    @contextlib.contextmanager
    def exported_snapshot(self) -> Iterator[str]:
        """`pg_export_snapshot()` in a repeatable-read transaction of this connection, held
        until the context ends (other sessions can import a snapshot only while it is open)."""
        self._set("BEGIN TRANSACTION ISOLATION LEVEL REPEATABLE READ READ ONLY")
        try:
            with self._conn.cursor() as cursor:
                cursor.execute("SELECT pg_export_snapshot()")
                row = cursor.fetchone()
            yield str(row[0])
        finally:
            with contextlib.suppress(adbc_driver_manager.Error):
                self._set("ROLLBACK")

    def split(
        self, plan: ReadPlan, units: int, key_columns: list[str] | None = None
    ) -> list[ReadPlan]:
        if units <= 1:
            return [plan]
        bound = plan.lower_bound
        if bound is not None:
            cuts = self._cursor_cuts(plan, bound.column, units)
            if cuts:
                edges: list[CursorValue | None] = [None, *cuts, None]
                return [
                    replace(plan, unit=CursorRange(bound.column, low, high))
                    for low, high in itertools.pairwise(edges)
                ]
        names = tuple(key_columns or [column.name for column in plan.columns])
        return [replace(plan, unit=HashBucket(names, units, k)) for k in range(units)]

    def _cursor_cuts(self, plan: ReadPlan, column: ReadColumn, units: int) -> list[CursorValue]:
        """Distinct cursor values splitting the plan's rows into about equal parts."""
        fractions = ", ".join(str(i / units) for i in range(1, units))
        quoted = quote_identifier(column.name)
        sql = (
            f"SELECT percentile_disc(ARRAY[{fractions}]) WITHIN GROUP (ORDER BY {quoted}) "
            f"FROM ({build_select(replace(plan, columns=[column]), self.dialect)}) AS _etl_units"
        )
        with self._read_only_transaction(), self._conn.cursor() as cursor:
            cursor.execute(sql)
            values = cursor.fetchone()[0] or []
        cuts = sorted({v for v in values if v is not None})
        if not all(isinstance(v, dt.datetime | dt.date | int | float | Decimal) for v in cuts):
            return []  # a type the driver hands over as text: hash buckets instead
        return cuts


def postgres_settings(
    settings: ConnectionSettings, *, default_port: int = DEFAULT_PORT, use_copy: bool = True
) -> PostgresSettings:
    """The reader's settings from the block's (shared with readers of the same protocol)."""
    return PostgresSettings(
        host=settings.host or "localhost",
        port=settings.port or default_port,
        database=settings.database,
        username=settings.username,
        password=settings.password,
        sslmode=settings.sslmode,
        connect_timeout=settings.connect_timeout,
        query_timeout_seconds=settings.query_timeout_seconds,
        use_copy=use_copy,
    )


def open_reader(settings: ConnectionSettings) -> PostgresReader:
    """The registry's entry point (`engine.sources.registry`)."""
    return PostgresReader(postgres_settings(settings))
