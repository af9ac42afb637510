"""SQL text for BigQuery sources: names quoted by one function, cursor literals typed by the
column's BigQuery type, the query around a job's custom query, and the bytes-limit sentence.

Pure functions (no client), so every piece of generated SQL is unit-tested without a server.

GoogleSQL quotes identifiers with backticks and has no doubling escape for a backtick inside one;
no BigQuery project, dataset, table or column name can hold a backtick, a backslash or a line
break, so such a name is refused with a sentence instead of being escaped: whatever a user types
as a name can never close the quote and become SQL.
"""

from __future__ import annotations

import datetime as dt
import math
from dataclasses import dataclass
from decimal import Decimal

from etl_bigquery.engine.errors import ValidationError
from etl_bigquery.engine.jobs.model import QuerySource, TableSource
from etl_bigquery.engine.sources.base import CursorBound, ReadColumn
from etl_bigquery.engine.sources.cursor_pushdown import (
    Pushdown,
    cursor_pushdown,
    text_prefix,
    text_prefix_predicate,
)

DIALECT = "bigquery"
GIB = 1024**3
DEFAULT_MAX_QUERY_BYTES = 10 * GIB
_FORBIDDEN = ("`", "\\", "\n", "\r", "\x00")


def quote_identifier(name: str, what: str = "name") -> str:
    """`name` as a GoogleSQL quoted identifier; `ValidationError` for a name BigQuery cannot
    have (empty, or holding a backtick, backslash or line break)."""
    if not name or any(char in name for char in _FORBIDDEN):
        raise ValidationError(
            f"The {what} {name!r} cannot be a BigQuery name (empty, or holding a backtick, "
            "backslash or line break); fix the job's source."
        )
    return f"`{name}`"


def quote_string(text: str) -> str:
    """A GoogleSQL string literal (backslash escapes, so every character is safe)."""
    escaped = (
        text.replace("\\", "\\\\").replace("'", "\\'").replace("\n", "\\n").replace("\r", "\\r")
    )
    return f"'{escaped}'"


@dataclass(frozen=True)
class TableRef:
    project: str
    dataset: str
    table: str

    @property
    def sql(self) -> str:
        """`project`.`dataset`.`table`, each part quoted on its own (a project id may hold
        '-', '.' and ':')."""
        return ".".join(
            (
                quote_identifier(self.project, "project"),
                quote_identifier(self.dataset, "dataset"),
                quote_identifier(self.table, "table"),
            )
        )

    @property
    def path(self) -> str:
        """The Storage Read API's name of the table."""
        return f"projects/{self.project}/datasets/{self.dataset}/tables/{self.table}"

    @property
    def api_id(self) -> str:
        return f"{self.project}.{self.dataset}.{self.table}"

    def __str__(self) -> str:
        return f"{self.project}.{self.dataset}.{self.table}"


def table_ref(source: TableSource, default_project: str) -> TableRef:
    """`schema: dataset` reads the connection's project; `schema: other-project.dataset` reads
    another project (a cross-project copy)."""
    schema = (source.schema_name or "").strip()
    if not schema:
        raise ValidationError(
            f"A BigQuery source table needs its dataset: set source.schema to the dataset "
            f"(or project.dataset) that holds '{source.table}'."
        )
    project, _, dataset = schema.rpartition(".")
    ref = TableRef(project or default_project, dataset, source.table)
    ref.sql  # noqa: B018 - refuses impossible names now, before any request is made
    return ref


def cursor_literal(bound: CursorBound) -> str:
    """The bound as a typed GoogleSQL literal, by the cursor column's BigQuery type (TIMESTAMP
    and DATETIME compare differently: one is an instant, the other a wall-clock time)."""
    value = bound.value
    source_type = bound.column.source_type.strip().upper().split("(")[0].split("<")[0].strip()
    if isinstance(value, dt.datetime):
        if value.tzinfo is not None:
            value = value.astimezone(dt.UTC).replace(tzinfo=None)
        text = value.isoformat(sep=" ", timespec="microseconds")
        if source_type == "DATETIME":
            return f"DATETIME {quote_string(text)}"
        if source_type == "DATE":
            return f"DATE {quote_string(value.date().isoformat())}"
        return f"TIMESTAMP {quote_string(text + '+00')}"
    if isinstance(value, dt.date):
        if source_type in ("TIMESTAMP", "DATETIME"):
            return f"{source_type} {quote_string(value.isoformat())}"
        return f"DATE {quote_string(value.isoformat())}"
    if isinstance(value, bool):
        raise TypeError("a boolean cannot be a cursor")
    if isinstance(value, int):
        return str(value)
    if isinstance(value, Decimal):
        kind = "BIGNUMERIC" if source_type in ("BIGNUMERIC", "BIGDECIMAL") else "NUMERIC"
        return f"{kind} {quote_string(str(value))}"
    if isinstance(value, float):
        if math.isnan(value) or math.isinf(value):
            return f"CAST({quote_string(repr(value))} AS FLOAT64)"
        return repr(value)
    raise TypeError(f"unsupported cursor value {type(value).__name__}")


def row_restriction(bound: CursorBound | None) -> str:
    """`cursor >= bound`, for a Storage Read session's row_restriction or a WHERE clause; empty
    when the column's own type cannot be compared with the bound
    (`engine.sources.cursor_pushdown`): the rows are read and the engine filters."""
    if bound is None:
        return ""
    quoted = quote_identifier(bound.column.name, "column")
    kind = cursor_pushdown(bound.column, DIALECT)
    if kind is Pushdown.TYPED:
        return f"{quoted} >= {cursor_literal(bound)}"
    if kind is Pushdown.TEXT_PREFIX:  # BigQuery orders STRING values bytewise (UTF-8)
        return text_prefix_predicate(quoted, quote_string(text_prefix(bound.value)))
    return ""


def checked_query(source: QuerySource) -> str:
    """The job's query after the read-only check (one SELECT, no writes: sqlglot's BigQuery
    grammar)."""
    # sqlglot (0.4 s of import) only for `query:` sources, not for every run.
    from etl_bigquery.engine.sources.query_check import check_query

    return check_query(source.query, DIALECT)


def select_sql(
    source: TableSource | QuerySource,
    columns: list[ReadColumn] | None,
    bound: CursorBound | None,
    default_project: str,
    limit: int | None = None,
) -> str:
    """One SELECT of `columns` (None: all) from a table or around the job's checked query, with
    the cursor predicate pushed into BigQuery."""
    if isinstance(source, QuerySource):
        # Newlines keep a trailing `--` comment of the user's text from swallowing the `)`.
        origin = f"(\n{checked_query(source)}\n) AS _etl_src"
    else:
        origin = table_ref(source, default_project).sql
    selected = ", ".join(quote_identifier(c.name, "column") for c in columns) if columns else "*"
    sql = f"SELECT {selected} FROM {origin}"
    if restriction := row_restriction(bound):
        sql += f" WHERE {restriction}"
    if limit is not None:
        sql += f" LIMIT {int(limit)}"
    return sql


def human_bytes(size: int) -> str:
    value = float(size)
    for unit in ("bytes", "KiB", "MiB", "GiB", "TiB"):
        if value < 1024 or unit == "TiB":
            return f"{size:,} bytes" if unit == "bytes" else f"{value:,.1f} {unit}"
        value /= 1024
    return f"{size:,} bytes"  # pragma: no cover


def bytes_limit_error(estimate: int, limit: int) -> ValidationError | None:
    """None when the dry run's estimate fits the connection's limit; else the refusal, naming
    the estimate, the limit and how to raise it."""
    if estimate <= limit:
        return None
    return ValidationError(
        f"The query would process about {human_bytes(estimate)} ({estimate:,} bytes, BigQuery's "
        f"dry-run estimate), more than this connection's limit of {human_bytes(limit)} "
        f"({limit:,} bytes); make the query read less (fewer columns, a partition filter) or "
        "raise max_query_bytes on the BigQuery source connection."
    )
