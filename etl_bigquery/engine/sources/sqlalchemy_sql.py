"""SQL and values of the SQLAlchemy reader (`engine.sources.sqlalchemy_reader`).

Statements are SQLAlchemy Core on a reflected `Table` (or the checked text of a query source), so
every identifier is quoted by the dialect, never by hand; cursor bounds are typed literals the
dialect renders (`literal_binds`). Rows become Arrow arrays in the type of the column's BigQuery
type, or text that `engine.conform` casts and judges.
"""

from __future__ import annotations

import datetime as dt
import json
import uuid
from decimal import Decimal
from typing import Any

import pyarrow as pa
import sqlalchemy as sa
from sqlalchemy.dialects import mssql
from sqlalchemy.engine import Dialect
from sqlalchemy.sql.selectable import FromClause, Select

from etl_bigquery.engine.jobs.model import QuerySource
from etl_bigquery.engine.schema.bqtypes import BqType
from etl_bigquery.engine.sources.base import CursorValue, ReadColumn, ReadPlan
from etl_bigquery.engine.sources.cursor_pushdown import Pushdown, cursor_pushdown
from etl_bigquery.engine.sources.query_check import check_query, query_dialect

# Arrow types driver values are put in, per BigQuery type (text for everything else).
_WIRE: dict[BqType, pa.DataType] = {
    BqType.INT64: pa.int64(),
    BqType.FLOAT64: pa.float64(),
    BqType.BOOL: pa.bool_(),
    BqType.BYTES: pa.binary(),
    BqType.DATE: pa.date32(),
    BqType.DATETIME: pa.timestamp("us"),
    BqType.TIMESTAMP: pa.timestamp("us"),
    BqType.TIME: pa.time64("us"),
}
# Spatial columns are read as WKT text, by each dialect's own function.
_WKT = {"sqlserver": "{}.STAsText()", "synapse": "{}.STAsText()",
        "oracle": "SDO_UTIL.TO_WKTGEOMETRY({})", "snowflake": "ST_ASWKT({})",
        "db2": "DB2GSE.ST_AsText({})", "teradata": "{}.ST_AsText()"}  # fmt: skip


def query_source(source: QuerySource, dialect_key: str, columns: list[str]) -> FromClause:
    """A checked custom query as a subquery with named columns. Colons are escaped so text such
    as '10:30' is never taken for a bind parameter."""
    if query_dialect(dialect_key) is None:
        from etl_bigquery.engine.errors import ValidationError

        raise ValidationError(
            f"Custom queries are not supported for {dialect_key} sources: no SQL parser here "
            "knows its dialect to check that the query only reads; use a table or a view."
        )
    checked = check_query(source.query, dialect_key)
    text = sa.text(checked.replace(":", r"\:"))
    return text.columns(*[sa.column(name) for name in columns]).subquery("_etl_src")


def select_expression(
    column: sa.ColumnElement[Any], read: ReadColumn, dialect_key: str, dialect: Dialect
) -> sa.ColumnElement[Any]:
    """The type adapter hook: how to SELECT a column so the driver hands over a value conform
    can cast (spatial values as WKT; everything else as the driver gives it)."""
    if read.bq_type is BqType.GEOGRAPHY and dialect_key in _WKT:
        quoted = dialect.identifier_preparer.quote(read.name)
        return sa.literal_column(_WKT[dialect_key].format(quoted)).label(read.name)
    return column


def _cursor_literal(value: CursorValue, dialect_key: str) -> sa.ColumnElement[Any]:
    """A typed literal: SQL Server compares with DATETIME2 (a datetime column converts to it, so
    microseconds never fail the cast); Oracle renders TO_TIMESTAMP/TO_DATE itself; the others
    get an explicit CAST."""
    if isinstance(value, dt.datetime) and value.tzinfo is not None:
        value = value.astimezone(dt.UTC).replace(tzinfo=None)  # sessions run in UTC
    if isinstance(value, dt.datetime):
        kind: sa.types.TypeEngine[Any] = sa.DateTime()
    elif isinstance(value, dt.date):
        kind = sa.Date()
    elif isinstance(value, bool):
        raise TypeError("a boolean cannot be a cursor")
    elif isinstance(value, int):
        kind = sa.BigInteger()
    else:
        kind = sa.Numeric(asdecimal=True)
    literal = sa.literal(value, type_=kind)
    if dialect_key in ("sqlserver", "synapse") and isinstance(value, dt.datetime):
        return sa.cast(literal, mssql.DATETIME2())
    if dialect_key != "oracle" and isinstance(value, dt.datetime):
        return sa.cast(literal, sa.TIMESTAMP())
    if dialect_key != "oracle" and isinstance(value, dt.date):
        return sa.cast(literal, sa.Date())
    return literal


def build_select(
    plan: ReadPlan, source: FromClause, dialect_key: str, dialect: Dialect
) -> Select[Any]:
    """`SELECT <columns> FROM <source> [WHERE cursor >= bound [AND range]]` in SQLAlchemy Core."""
    expressions = [
        select_expression(source.c[c.name], c, dialect_key, dialect) for c in plan.columns
    ]
    statement = sa.select(*expressions).select_from(source)
    bound = plan.lower_bound
    # Only a column of the cursor's own family is compared in the source: these dialects'
    # collations may reorder text, so a text column read as a time is read whole and the engine
    # keeps the rows at or after the bound (engine.sources.cursor_pushdown).
    if bound is not None and cursor_pushdown(bound.column, dialect_key) is Pushdown.TYPED:
        cursor = source.c[bound.column.name]
        statement = statement.where(cursor >= _cursor_literal(bound.value, dialect_key))
    return statement


def compile_sql(statement: sa.ClauseElement, dialect: Dialect) -> str:
    """The statement as text for `dialect`, literals inlined (the cursor bound is a typed value
    read from BigQuery, never user text)."""
    return str(statement.compile(dialect=dialect, compile_kwargs={"literal_binds": True}))


def to_arrow(values: list[Any], bq_type: BqType) -> pa.Array:
    """A column of driver values in the Arrow type of its BigQuery type, or as text."""
    wire = _WIRE.get(bq_type)
    if wire is not None:
        try:
            return pa.array([_wire_value(v, bq_type) for v in values], type=wire)
        except (pa.ArrowInvalid, pa.ArrowTypeError, TypeError, OverflowError, ValueError):
            pass  # conform judges the text, and rejects what does not fit
    return pa.array([None if v is None else _text(v, bq_type) for v in values], type=pa.string())


def _wire_value(value: Any, bq_type: BqType) -> Any:
    if isinstance(value, dt.datetime):
        if value.tzinfo is not None:
            value = value.astimezone(dt.UTC).replace(tzinfo=None)
        return value.date() if bq_type is BqType.DATE else value
    if isinstance(value, memoryview | bytearray):
        return bytes(value)
    if isinstance(value, Decimal) and bq_type is BqType.INT64:
        return int(value) if value == value.to_integral_value() else value
    return value


def _text(value: Any, bq_type: BqType) -> str:
    if isinstance(value, Decimal):
        return format(value, "f")
    if isinstance(value, dt.datetime | dt.date | dt.time):
        return value.isoformat()
    if isinstance(value, bytes | bytearray | memoryview):
        raw = bytes(value)
        printable = raw.isascii() and raw.decode().isprintable()
        return raw.decode() if printable else "0x" + raw.hex()
    if isinstance(value, dict | list) and bq_type is BqType.JSON:
        return json.dumps(value, default=str)
    if isinstance(value, uuid.UUID):
        return str(value)
    read = getattr(value, "read", None)  # a LOB the driver did not fetch as a value
    return str(read() if callable(read) else value)
