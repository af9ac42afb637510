"""MySQL and MariaDB reader: ConnectorX streams query results as Arrow record batches.

Two drivers. Reads go through ConnectorX (`return_type="arrow_stream"`: Rust decodes MySQL's binary
protocol from an unbuffered result straight into Arrow batches of a bounded number of rows, on a
connection of its own); everything else (describe, estimates, checks, previews) goes through
PyMySQL. When ConnectorX is not installed, or `driver="pymysql"`, reads use PyMySQL's unbuffered
server-side cursor (`SSCursor`) and build each batch column by column in the Arrow type of the
column's BigQuery type. Both stream: a 10M-row table never sits in memory. Measured here on a
1,000,000-row MariaDB table of ten mixed columns (bench/mariadb_to_bigquery.py's table), reading
all rows into Arrow: ConnectorX 1.4 s (~700k rows/s, 106 MB peak RSS), PyMySQL SSCursor 16.5 s
just to fetch the tuples (~60k rows/s); ConnectorX is the default.

Values ConnectorX cannot decode are converted by MySQL in the SELECT itself, as PostgreSQL's reader
does: decimals wider than 28 digits, `bigint unsigned` and TIME (MySQL's own text, '-838:59:59' to
'838:59:59', loaded as STRING by default since a BigQuery TIME holds only a time of day; overridden
to NUMERIC it comes as signed seconds, `TIME_TO_SEC`) come as text; `bit(n)` as a number;
`tinyint(1)` as `value <> 0`. Zero dates
('0000-00-00', '0000-00-00 00:00:00', and dates with a zero month or day) become NULL and are
counted (`zero_dates_nulled`, logged once per read) rather than failing the row.

Sessions are read-only (`SET SESSION TRANSACTION READ ONLY`), in UTC (TIMESTAMP values come back in
UTC) and utf8mb4, and so is every statement on its own: each runs in a transaction opened with
`START TRANSACTION READ ONLY` (ConnectorX's connection: as its last pre-execution statement), so a
stored function that sets the session read-write (`SET SESSION tx_read_only = 0`, which MariaDB
allows) cannot make a later statement writable. Executable comments (`/*! ... */`) are refused by
the query check. A job's custom query is checked by `engine.sources.query_check` at the start of
every method that takes it, so a refused query never reaches the server, and runs with a statement
timeout (`max_statement_time` on MariaDB, `max_execution_time` on MySQL). Remaining risk: a SELECT
can call functions with side effects a read-only session does not stop (`GET_LOCK`, `SLEEP`,
user-defined functions): give ETL a login with SELECT privileges only; `write_access_warning` tells
when it is not.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import itertools
import logging
import re
import time
import urllib.parse
from collections.abc import Generator, Iterator
from dataclasses import dataclass, replace
from dataclasses import field as dataclass_field
from decimal import Decimal
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc
import pymysql
import pymysql.cursors

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
from etl_bigquery.engine.sources import connection_errors, mysql_settle
from etl_bigquery.engine.sources.base import (
    DEFAULT_BATCH_BYTES,
    DEFAULT_BATCH_ROWS,
    CursorBound,
    CursorRange,
    HashBucket,
    ReadColumn,
    ReadPlan,
    SourceColumn,
    SourceReader,
    TableInfo,
)
from etl_bigquery.engine.sources.cursor_pushdown import Pushdown, cursor_pushdown
from etl_bigquery.engine.sources.mysql_sql import (
    ZERO_DATES,
    bound_predicate,
    build_select,
    error_code,
    is_timeout,
    plain,
    quote_name,
    server_words,
    source_sql,
    to_arrow,
    type_name,
)
from etl_bigquery.engine.sources.registry import ConnectionSettings
from etl_bigquery.engine.sources.settle import (
    Settled,
    SettleRefusal,
    wait_for_open_transactions,
)

try:
    import connectorx
except ImportError:  # the DB-API path still works
    connectorx = None  # type: ignore[assignment]

log = logging.getLogger(__name__)

DEFAULT_PORT = 3306
# As for PostgreSQL (see engine.sources.postgres): a custom query's extraction, and its checks.
DEFAULT_QUERY_TIMEOUT_SECONDS = 3600
CHECK_TIMEOUT_SECONDS = 60
QUERY_BATCH_ROWS = 10_000  # a query's row width is unknown: smaller batches bound its memory
READ_ONLY_TRANSACTION = "START TRANSACTION READ ONLY"
_SYSTEM_SCHEMAS = ("information_schema", "performance_schema", "mysql", "sys")
_WRITE_PRIVILEGES = {
    "INSERT", "UPDATE", "DELETE", "CREATE", "DROP", "ALTER", "INDEX", "CREATE VIEW", "TRIGGER",
    "CREATE ROUTINE", "ALTER ROUTINE", "EVENT", "FILE", "SUPER", "DELETE HISTORY", "REFERENCES",
}  # fmt: skip


@dataclass(frozen=True)
class MySqlSettings:
    host: str
    port: int
    database: str
    username: str | None
    password: str | None = dataclass_field(default=None, repr=False)  # never shown
    sslmode: str | None = None
    connect_timeout: int = 10
    query_timeout_seconds: float = DEFAULT_QUERY_TIMEOUT_SECONDS
    batch_bytes: int = DEFAULT_BATCH_BYTES
    batch_rows: int = DEFAULT_BATCH_ROWS
    driver: str = "connectorx"
    """`connectorx` (Arrow streams, the default when installed) or `pymysql` (DB-API)."""

    def url(self) -> str:
        """ConnectorX's URL, password included: for the driver only, never for a message."""
        user = urllib.parse.quote(self.username or "", safe="")
        secret = f":{urllib.parse.quote(self.password, safe='')}" if self.password else ""
        database = urllib.parse.quote(self.database, safe="")
        query = "?require_ssl=true&verify_ca=false" if self._ssl else ""
        return f"mysql://{user}{secret}@{self.host}:{self.port}/{database}{query}"

    @property
    def _ssl(self) -> bool:
        return (self.sslmode or "disable") not in ("disable", "allow", "prefer")


@dataclass(frozen=True)
class MySqlTableInfo(TableInfo):
    estimated: bool = False
    """InnoDB's TABLE_ROWS is an estimate; MyISAM/Aria keep an exact count."""


def _preview_column(values: list[object]) -> pa.Array:
    """A preview column in the driver's own types (ints stay ints, decimals decimals), as the
    other sources show them; a column Arrow cannot type (a `set`, mixed values) as text."""
    try:
        return pa.array(values)
    except (pa.ArrowInvalid, pa.ArrowTypeError, OverflowError):
        return to_arrow(values, BqType.STRING)


class MySqlReader(SourceReader):
    """MySQL and MariaDB. Abilities: PushesDownCursor, TypedArrowOutput, TableCatalog,
    WarnsOfWriteAccess, SettlesCursor (with the PROCESS privilege), CanSplit (ranges of a typed
    cursor by NTILE, else CRC32 buckets of the key)."""

    dialect = "mysql"

    def __init__(self, settings: MySqlSettings) -> None:
        self.settings = settings
        self.zero_dates_nulled = 0
        """Zero dates read as NULL by the last `read` (BigQuery has no such date)."""
        self._timeout_seconds: float | None = None
        self._can_list_transactions: bool | None = None  # PROCESS privilege, asked once
        try:
            self._conn = pymysql.connect(
                host=settings.host, port=settings.port, user=settings.username or "",
                password=settings.password or "", database=settings.database,
                charset="utf8mb4", connect_timeout=settings.connect_timeout, autocommit=True,
                ssl={"check_hostname": False} if settings._ssl else None,
            )  # fmt: skip
        except pymysql.MySQLError as error:
            raise self._connection_error(error, Stage.INIT) from None
        try:
            version = str(self._query("SELECT VERSION()")[0][0])
            self.mariadb = "mariadb" in version.lower()
            self._execute_all(self._session_statements())
        except (pymysql.MySQLError, EtlError):
            self.close()
            raise

    # -- plumbing -----------------------------------------------------------------------------

    def _session_statements(self, timeout: float | None = None) -> list[str]:
        statements = [
            "SET SESSION TRANSACTION READ ONLY",  # a test or a run must never change the source
            "SET time_zone = '+00:00'",
            "SET NAMES utf8mb4",
        ]
        if timeout is not None:
            statements.append(self._timeout_statement(timeout))
        return statements

    def _connectorx_statements(self, timeout: float | None) -> list[str]:
        """ConnectorX's pre-execution statements: the session's, then the read's own read-only
        transaction (its connection ends with the read, which rolls it back)."""
        return [*self._session_statements(timeout), READ_ONLY_TRANSACTION]

    @contextlib.contextmanager
    def _read_only_transaction(self) -> Iterator[None]:
        """The statements inside run in a read-only transaction whatever the session's mode has
        become (a stored function may change it); rolled back at the end."""
        self._execute_all([READ_ONLY_TRANSACTION])
        try:
            yield
        finally:
            with contextlib.suppress(pymysql.MySQLError):
                self._conn.rollback()

    def _timeout_statement(self, seconds: float | None) -> str:
        if self.mariadb:
            return f"SET SESSION max_statement_time = {0 if seconds is None else max(seconds, 1):g}"
        milliseconds = 0 if seconds is None else max(1, round(seconds * 1000))
        return f"SET SESSION max_execution_time = {milliseconds}"

    def _execute_all(self, statements: list[str]) -> None:
        with self._conn.cursor() as cursor:
            for statement in statements:
                cursor.execute(statement)

    def _connection_error(self, error: BaseException, stage: Stage) -> ConnectionFailed:
        code = error_code(error)
        if code in (1044, 1142, 1143, 1227):  # no access to the database, table, column, command
            return ConnectionFailed(connection_errors.ACCESS, transient=False, stage=stage)
        return connection_errors.connection_error(self._scrub(str(error)), stage=stage)

    def _scrub(self, text: str) -> str:
        secret = self.settings.password
        if secret:
            for form in {secret, urllib.parse.quote(secret, safe="")}:
                text = text.replace(form, "********")
        return text

    def _classify(self, error: BaseException, stage: Stage) -> Exception:
        if is_timeout(error):
            return self._timed_out(stage)
        code = error_code(error)
        if code in (1044, 1142, 1143, 1227) or (code or 0) >= 2000:  # 2xxx: client/connection
            return self._connection_error(error, stage)
        words = self._scrub(server_words(error))
        error_class = ExtractionError if stage is Stage.EXTRACTION else ValidationError
        return error_class(f"{self._server_name} refused the query: {words}.")

    @property
    def _server_name(self) -> str:
        return "MariaDB" if getattr(self, "mariadb", False) else "MySQL"

    def _timed_out(self, stage: Stage) -> EtlError:
        seconds = f"{self._timeout_seconds or self.settings.query_timeout_seconds:g}"
        variable = "max_statement_time" if self.mariadb else "max_execution_time"
        message = (
            f"The query ran longer than {seconds} s ({variable}) and was cancelled; make it "
            "cheaper (a filter, an index) or raise query_timeout_seconds on the connection."
        )
        return ExtractionError(message) if stage is Stage.EXTRACTION else ValidationError(message)

    def _query(self, sql: str, parameters: tuple[Any, ...] | None = None) -> list[tuple[Any, ...]]:
        try:
            with self._read_only_transaction(), self._conn.cursor() as cursor:
                cursor.execute(sql, parameters)
                return list(cursor.fetchall())
        except pymysql.MySQLError as error:
            raise self._classify(error, Stage.VALIDATION) from None

    @contextlib.contextmanager
    def _query_timeout(
        self, source: TableSource | QuerySource, seconds: float, stage: Stage = Stage.VALIDATION
    ) -> Iterator[None]:
        """Statements run for a custom query carry a statement timeout; table reads do not."""
        if not isinstance(source, QuerySource):
            yield
            return
        try:
            self._execute_all([self._timeout_statement(seconds)])
        except pymysql.MySQLError as error:
            raise self._classify(error, stage) from None
        self._timeout_seconds = seconds
        try:
            yield
        finally:
            self._timeout_seconds = None
            with contextlib.suppress(pymysql.MySQLError):
                self._execute_all([self._timeout_statement(None)])

    def _check_timeout(self) -> float:
        return min(CHECK_TIMEOUT_SECONDS, self.settings.query_timeout_seconds)

    def _source(self, source: TableSource | QuerySource) -> str:
        return source_sql(source, self.settings.database)

    def _require_table(self, source: TableSource) -> tuple[str, str]:
        schema = source.schema_name or self.settings.database
        # Names are utf8mb3: one with a 4-byte character (an emoji) cannot exist, and comparing
        # it with information_schema would fail on collations.
        rows = (
            self._query(
                "SELECT TABLE_SCHEMA, TABLE_NAME FROM information_schema.TABLES "
                "WHERE TABLE_SCHEMA = %s AND TABLE_NAME = %s",
                (schema, source.table),
            )
            if max(map(ord, schema + source.table)) <= 0xFFFF
            else []
        )
        if not rows:
            raise ValidationError(
                f"Table '{schema}.{source.table}' does not exist in database "
                f"'{self.settings.database}' (or this login cannot see it); check the database "
                "and table name."
            )
        return str(rows[0][0]), str(rows[0][1])

    # -- the reader ---------------------------------------------------------------------------

    def ping(self) -> None:
        self._query("SELECT 1")

    def list_schemas(self) -> list[str]:
        """Every database this login can see, the system ones left out."""
        rows = self._query(
            "SELECT SCHEMA_NAME FROM information_schema.SCHEMATA "
            f"WHERE SCHEMA_NAME NOT IN ({', '.join(['%s'] * len(_SYSTEM_SCHEMAS))}) "
            "ORDER BY SCHEMA_NAME",
            _SYSTEM_SCHEMAS,
        )
        return [str(row[0]) for row in rows]

    def list_tables(self, schema: str | None = None) -> list[TableInfo]:
        """Tables and views of `schema` (default: the connection's database). Row counts are
        InnoDB's estimates (`estimated=True`), exact for MyISAM and Aria, None for views."""
        rows = self._query(
            "SELECT TABLE_SCHEMA, TABLE_NAME, TABLE_ROWS, ENGINE FROM information_schema.TABLES "
            "WHERE TABLE_SCHEMA = %s ORDER BY TABLE_NAME",
            (schema or self.settings.database,),
        )
        return [
            MySqlTableInfo(
                schema=str(r[0]), name=str(r[1]),
                row_count=None if r[2] is None else int(r[2]),
                estimated=r[2] is not None and str(r[3] or "").lower() not in ("myisam", "aria"),
            )
            for r in rows
        ]  # fmt: skip

    def describe(self, source: TableSource | QuerySource) -> list[SourceColumn]:
        if isinstance(source, QuerySource):
            return self._describe_query(source)  # checks the query before it reaches the server
        schema, table = self._require_table(source)
        rows = self._query(
            "SELECT COLUMN_NAME, COLUMN_TYPE, IS_NULLABLE = 'YES', COLUMN_KEY = 'PRI' "
            "FROM information_schema.COLUMNS WHERE TABLE_SCHEMA = %s AND TABLE_NAME = %s "
            "ORDER BY ORDINAL_POSITION",
            (schema, table),
        )
        json_columns = self._json_columns(schema, table)
        return [
            SourceColumn(str(r[0]), "json" if r[0] in json_columns else str(r[1]),
                         bool(r[2]), bool(r[3]))
            for r in rows
        ]  # fmt: skip

    def _json_columns(self, schema: str, table: str) -> set[str]:
        """MariaDB's JSON is LONGTEXT with a `json_valid(col)` CHECK constraint."""
        if not self.mariadb:
            return set()
        rows = self._query(
            "SELECT CHECK_CLAUSE FROM information_schema.CHECK_CONSTRAINTS "
            "WHERE CONSTRAINT_SCHEMA = %s AND TABLE_NAME = %s",
            (schema, table),
        )
        names = set()
        for (clause,) in rows:
            match = re.fullmatch(r"\s*json_valid\(`((?:[^`]|``)+)`\)\s*", str(clause))
            if match:
                names.add(match.group(1).replace("``", "`"))
        return names

    def _describe_query(self, source: QuerySource) -> list[SourceColumn]:
        sql = f"SELECT * FROM {self._source(source)} LIMIT 0"
        try:
            with (
                self._query_timeout(source, self._check_timeout()),
                self._read_only_transaction(),
                self._conn.cursor() as cursor,
            ):
                cursor.execute(sql)
                fields = cursor._result.fields if cursor._result else []
        except pymysql.MySQLError as error:
            raise self._classify(error, Stage.VALIDATION) from None
        return [SourceColumn(f.name, type_name(f), not f.flags & 1) for f in fields]

    def estimate_rows(self, source: TableSource | QuerySource) -> int | None:
        if isinstance(source, QuerySource):
            return self._estimate_query(source)
        schema, table = self._require_table(source)
        rows = self._query(
            "SELECT TABLE_ROWS FROM information_schema.TABLES "
            "WHERE TABLE_SCHEMA = %s AND TABLE_NAME = %s",
            (schema, table),
        )
        if rows and rows[0][0]:
            return int(rows[0][0])
        # No statistics yet (a fresh table) or a view: count, it is small or will be analysed.
        try:
            return int(self._query(f"SELECT COUNT(*) FROM {self._source(source)}")[0][0])
        except (ValidationError, ConnectionFailed):
            return None  # check_readable reports a missing privilege clearly

    def _estimate_query(self, source: QuerySource) -> int | None:
        """The optimizer's rows for the query's first step; None when it has none."""
        sql = f"EXPLAIN SELECT * FROM {self._source(source)}"  # checks the query
        try:
            with (
                self._query_timeout(source, self._check_timeout()),
                self._read_only_transaction(),
                self._conn.cursor(pymysql.cursors.DictCursor) as cursor,
            ):
                cursor.execute(sql)
                plan = cursor.fetchall()
            return int(plan[0]["rows"]) if plan and plan[0].get("rows") is not None else None
        except (pymysql.MySQLError, EtlError, LookupError, TypeError, ValueError):
            return None

    def check_readable(self, plan: ReadPlan) -> None:
        sql = f"SELECT * FROM ({self._select(plan)}) AS _etl_check LIMIT 0"  # checks the query
        with self._query_timeout(plan.source, self._check_timeout()):
            self._query(sql)

    def applies_bound(self, bound: CursorBound) -> bool:
        return cursor_pushdown(bound.column, self.dialect) is not Pushdown.NONE

    def settle_refusal(self, source: TableSource | QuerySource) -> SettleRefusal | None:
        """INNODB_TRX lists other sessions' transactions only to a login with PROCESS."""
        if self._can_list_transactions is None:
            try:
                with self._conn.cursor() as cursor:
                    cursor.execute(mysql_settle.CHECK_ACCESS)
                    cursor.fetchall()
                self._can_list_transactions = True
            except pymysql.MySQLError as error:
                if error_code(error) != mysql_settle.NO_PROCESS_PRIVILEGE:
                    raise self._classify(error, Stage.VALIDATION) from None
                self._can_list_transactions = False
        if self._can_list_transactions:
            return None
        return SettleRefusal(
            "the login lacks the PROCESS privilege", "grant the login the PROCESS privilege"
        )

    def settle(self, plan: ReadPlan, cursor: ReadColumn, timeout: float) -> Settled:
        started = time.monotonic()
        lower = bound_predicate(plan.lower_bound) if plan.lower_bound is not None else None
        sql = mysql_settle.max_sql(self._source(plan.source), quote_name(cursor.name), lower)
        with self._query_timeout(plan.source, self.settings.query_timeout_seconds):
            upper = mysql_settle.parse_max(self._query(sql)[0][0], cursor)
        opened, still_open = wait_for_open_transactions(
            lambda: mysql_settle.open_transactions(self._query(mysql_settle.OPEN_TRANSACTIONS)),
            timeout,
        )
        return Settled(upper, opened, time.monotonic() - started, still_open)

    def arrow_schema(self, plan: ReadPlan) -> pa.Schema:
        """ConnectorX: the types it gives the read's own query with no rows. PyMySQL: the
        planned types, which it fills value by value (text where a value does not fit, for the
        conformer to reject)."""
        if not (self.settings.driver == "connectorx" and connectorx is not None):
            return pa.schema([(c.name, to_arrow([], c.bq_type).type) for c in plan.columns])
        sql = f"SELECT * FROM ({self._select(plan)}) AS _etl_schema LIMIT 0"
        try:
            with self._query_timeout(plan.source, self._check_timeout()):
                schema = connectorx.read_sql(
                    self.settings.url(), sql, return_type="arrow_stream", batch_size=1,
                    pre_execution_query=self._connectorx_statements(self._timeout_seconds),
                ).schema  # fmt: skip
        except Exception as error:  # ConnectorX raises RuntimeError with MySQL's text
            raise self._classify(error, Stage.VALIDATION) from None
        return pa.schema([(f.name, plain(pa.array([], f.type)).type) for f in schema])

    def _select(self, plan: ReadPlan, *, count_zero_dates: bool = False) -> str:
        return build_select(plan, self.settings.database, count_zero_dates=count_zero_dates)

    def _batch_rows(self, source: TableSource | QuerySource) -> int:
        """Rows per batch so a batch holds about `batch_bytes` (InnoDB's average row length)."""
        if isinstance(source, QuerySource):
            return min(self.settings.batch_rows, QUERY_BATCH_ROWS)
        rows = self._query(
            "SELECT AVG_ROW_LENGTH FROM information_schema.TABLES "
            "WHERE TABLE_SCHEMA = %s AND TABLE_NAME = %s",
            (source.schema_name or self.settings.database, source.table),
        )
        width = max(int(rows[0][0] or 0) if rows else 0, 64)
        return max(1, min(self.settings.batch_rows, self.settings.batch_bytes // width))

    def read(self, plan: ReadPlan) -> Iterator[pa.RecordBatch]:
        sql = self._select(plan, count_zero_dates=True)  # checks the query before the server
        if isinstance(plan.source, TableSource):
            self._require_table(plan.source)
        batch_rows = self._batch_rows(plan.source)
        self.zero_dates_nulled = 0
        timeout = self.settings.query_timeout_seconds
        if isinstance(plan.source, QuerySource):
            self._timeout_seconds = timeout
        stream = (
            self._read_connectorx(sql, batch_rows, plan.source)
            if self.settings.driver == "connectorx" and connectorx is not None
            else self._read_pymysql(sql, batch_rows, plan)
        )
        try:
            for batch in stream:
                if ZERO_DATES in batch.schema.names:
                    index = batch.schema.get_field_index(ZERO_DATES)
                    zeros = pc.sum(batch.column(index)).as_py()
                    self.zero_dates_nulled += int(zeros or 0)
                    batch = batch.remove_column(index)
                yield batch
        finally:
            stream.close()
            self._timeout_seconds = None
        if self.zero_dates_nulled:
            log.warning(
                "%s zero dates ('0000-00-00') were loaded as NULL: BigQuery has no such date.",
                f"{self.zero_dates_nulled:,}",
            )

    def _read_connectorx(
        self, sql: str, batch_rows: int, source: TableSource | QuerySource
    ) -> Generator[pa.RecordBatch, None, None]:
        timeout = self.settings.query_timeout_seconds if isinstance(source, QuerySource) else None
        try:
            reader = connectorx.read_sql(
                self.settings.url(), sql, return_type="arrow_stream", batch_size=batch_rows,
                pre_execution_query=self._connectorx_statements(timeout),
            )  # fmt: skip
        except Exception as error:  # ConnectorX raises RuntimeError with MySQL's text
            raise self._classify(error, Stage.EXTRACTION) from None
        batches = iter(reader)
        while True:
            try:
                batch = next(batches)
            except StopIteration:
                return
            except (KeyboardInterrupt, SystemExit, GeneratorExit):
                raise
            except BaseException as error:  # a Rust panic arrives as pyo3's PanicException
                if is_timeout(error):
                    raise self._timed_out(Stage.EXTRACTION) from None
                raise TransientExtractionError(
                    f"Reading from {self._server_name} failed mid-stream: "
                    f"{self._scrub(server_words(error))}."
                ) from None
            yield pa.RecordBatch.from_arrays(
                [plain(column) for column in batch.columns], names=batch.schema.names
            )

    def _read_pymysql(
        self, sql: str, batch_rows: int, plan: ReadPlan
    ) -> Generator[pa.RecordBatch, None, None]:
        names = [column.name for column in plan.columns]
        types = [column.bq_type for column in plan.columns]
        timeout = self.settings.query_timeout_seconds
        with (
            self._query_timeout(plan.source, timeout, Stage.EXTRACTION),
            self._read_only_transaction(),
        ):
            cursor = self._conn.cursor(pymysql.cursors.SSCursor)  # unbuffered: rows stay on the
            try:  # server until fetched
                cursor.execute(sql)
                has_zero_column = cursor.description[-1][0] == ZERO_DATES
                while rows := cursor.fetchmany(batch_rows):
                    columns = list(zip(*rows, strict=True))
                    arrays = [to_arrow(list(columns[i]), types[i]) for i in range(len(names))]
                    if has_zero_column:
                        arrays.append(pa.array(columns[-1], type=pa.int64()))
                    batch_names = names + [ZERO_DATES] * has_zero_column
                    yield pa.RecordBatch.from_arrays(arrays, names=batch_names)
            except pymysql.MySQLError as error:
                raise self._classify(error, Stage.EXTRACTION) from None
            finally:
                with contextlib.suppress(pymysql.MySQLError):
                    cursor.close()

    def preview(self, source: TableSource | QuerySource, limit: int = 10) -> pa.Table:
        if isinstance(source, TableSource):
            self._require_table(source)
        sql = f"SELECT * FROM {self._source(source)} LIMIT {int(limit)}"  # checks the query
        try:
            with (
                self._query_timeout(source, self._check_timeout()),
                self._read_only_transaction(),
                self._conn.cursor() as cursor,
            ):
                cursor.execute(sql)
                names = [d[0] for d in cursor.description]
                rows = cursor.fetchall()
        except pymysql.MySQLError as error:
            raise self._classify(error, Stage.VALIDATION) from None
        return pa.table(
            {name: _preview_column([row[i] for row in rows]) for i, name in enumerate(names)}
        )

    def write_access_warning(self) -> str | None:
        """One sentence when this login may change data or definitions: a write privilege
        granted globally, on a database, or on a table."""
        current = str(self._query("SELECT CURRENT_USER()")[0][0])
        user, _, host = current.rpartition("@")
        grantee = f"'{user}'@'{host}'"
        privileges = ", ".join(f"'{p}'" for p in sorted(_WRITE_PRIVILEGES))
        rows = self._query(
            f"""
            SELECT 'global', NULL, PRIVILEGE_TYPE FROM information_schema.USER_PRIVILEGES
            WHERE GRANTEE = %s AND PRIVILEGE_TYPE IN ({privileges})
            UNION ALL
            SELECT 'schema', TABLE_SCHEMA, PRIVILEGE_TYPE FROM information_schema.SCHEMA_PRIVILEGES
            WHERE GRANTEE = %s AND PRIVILEGE_TYPE IN ({privileges})
            UNION ALL
            SELECT 'table', CONCAT(TABLE_SCHEMA, '.', TABLE_NAME), PRIVILEGE_TYPE
            FROM information_schema.TABLE_PRIVILEGES
            WHERE GRANTEE = %s AND PRIVILEGE_TYPE IN ({privileges})
            """,
            (grantee, grantee, grantee),
        )
        can = []
        if any(r[0] == "global" for r in rows):
            can.append("has write privileges on every database")
        schemas = sorted({str(r[1]) for r in rows if r[0] == "schema"})
        if schemas:
            can.append(f"can write to database {', '.join(schemas)}")
        tables = sorted({str(r[1]) for r in rows if r[0] == "table"})
        if tables:
            count = len(tables)
            can.append(f"can write to {count} table{'s' * (count > 1)} (e.g. {tables[0]})")
        if not can:
            return None
        return (
            f"The login '{current}' {' and '.join(can)}, so it could change this database; use a "
            "read-only login (SELECT privileges only) for ETL, since a read-only session does "
            "not stop every function with side effects."
        )

    def split(
        self, plan: ReadPlan, units: int, key_columns: list[str] | None = None
    ) -> list[ReadPlan]:
        if units <= 1:
            return [plan]
        bound = plan.lower_bound
        if bound is not None and cursor_pushdown(bound.column, self.dialect) is Pushdown.TYPED:
            cuts = self._cursor_cuts(plan, bound.column, units)
            if cuts:
                edges: list[Any] = [None, *cuts, None]
                return [
                    replace(plan, unit=CursorRange(bound.column, low, high))
                    for low, high in itertools.pairwise(edges)
                ]
        names = tuple(key_columns or [column.name for column in plan.columns])
        return [replace(plan, unit=HashBucket(names, units, k)) for k in range(units)]

    def _cursor_cuts(self, plan: ReadPlan, column: ReadColumn, units: int) -> list[Any]:
        """Distinct cursor values splitting the plan's rows into about equal parts: the first
        value of each NTILE (window functions: MySQL 8, MariaDB 10.2)."""
        quoted = quote_name(column.name)
        inner = build_select(replace(plan, columns=[column], unit=None), self.settings.database)
        sql = (
            f"SELECT MIN(_etl_v) FROM (SELECT {quoted} AS _etl_v, NTILE({units}) OVER "
            f"(ORDER BY {quoted}) AS _etl_t FROM ({inner}) AS _etl_s WHERE {quoted} IS NOT NULL) "
            "AS _etl_tiles GROUP BY _etl_t"
        )
        values = [row[0] for row in self._query(sql)]
        cuts = sorted({v for v in values if v is not None})[1:]  # the first tile starts at -inf
        if not all(isinstance(v, dt.datetime | dt.date | int | float | Decimal) for v in cuts):
            return []  # a type read back as text: hash buckets instead
        return cuts

    def close(self) -> None:
        conn = getattr(self, "_conn", None)
        if conn is not None:
            with contextlib.suppress(pymysql.MySQLError, OSError):
                conn.close()
            self._conn = None


def open_reader(settings: ConnectionSettings) -> MySqlReader:
    """The registry's entry point (`engine.sources.registry`), for `mysql` and `mariadb`."""
    return MySqlReader(
        MySqlSettings(
            host=settings.host or "localhost",
            port=settings.port or DEFAULT_PORT,
            database=settings.database,
            username=settings.username,
            password=settings.password,
            sslmode=settings.sslmode,
            connect_timeout=settings.connect_timeout,
            query_timeout_seconds=settings.query_timeout_seconds,
            driver="connectorx" if connectorx is not None else "pymysql",
        )
    )
