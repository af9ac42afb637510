"""SQL text and values of the MySQL/MariaDB reader (`engine.sources.mysql`): identifiers in
backticks, the SELECT expression of each column (MySQL converts what ConnectorX cannot decode),
cursor bounds rendered by type, result-column type names, and PyMySQL rows as Arrow arrays.
"""

from __future__ import annotations

import datetime as dt
import re
from decimal import Decimal
from typing import Any

import pyarrow as pa
import pymysql
from pymysql.constants import FIELD_TYPE

from etl_bigquery.engine.jobs.model import QuerySource, TableSource
from etl_bigquery.engine.schema.bqtypes import BqType
from etl_bigquery.engine.sources.base import (
    CursorBound,
    CursorRange,
    HashBucket,
    ReadColumn,
    ReadPlan,
    SplitUnit,
    UpperBound,
)
from etl_bigquery.engine.sources.cursor_pushdown import (
    Pushdown,
    cursor_pushdown,
    text_prefix,
    text_prefix_predicate,
)
from etl_bigquery.engine.sources.sql_text import quote_identifier, quote_string, render_cursor_value

DIALECT = "mysql"
ZERO_DATES = "_etl_zero_dates"
_DATES = ("date", "datetime", "timestamp")
_INTEGERS = ("tinyint", "smallint", "mediumint", "int", "integer", "bigint", "year")
_TEXT = ("char", "varchar", "tinytext", "text", "mediumtext", "longtext", "enum", "set")
_BINARY = ("binary", "varbinary", "tinyblob", "blob", "mediumblob", "longblob")
_SPATIAL = ("geometry", "point", "linestring", "polygon", "multipoint", "multilinestring",
            "multipolygon", "geometrycollection")  # fmt: skip
# Arrow types PyMySQL's Python values are put in, per BigQuery type (text for everything else).
_WIRE: dict[BqType, pa.DataType] = {
    BqType.INT64: pa.int64(),
    BqType.FLOAT64: pa.float64(),
    BqType.BOOL: pa.int64(),
    BqType.BYTES: pa.binary(),
    BqType.DATE: pa.date32(),
    BqType.DATETIME: pa.timestamp("us"),
    BqType.TIMESTAMP: pa.timestamp("us"),
}


def quote_name(name: str) -> str:
    """A database, table or column name in backticks; backticks inside are doubled."""
    return quote_identifier(name, "`")


def base_type(source_type: str) -> str:
    """`decimal(12,2) unsigned` → `decimal`, `tinyint(1)` → `tinyint`."""
    text = re.sub(r"\(.*?\)", "", source_type.lower())
    text = text.replace(" unsigned", "").replace(" zerofill", "")
    return re.sub(r"\s+", " ", text).strip()


def _modifiers(source_type: str) -> list[int]:
    match = re.search(r"\(([\d,\s]+)\)", source_type)
    return [int(part) for part in re.findall(r"\d+", match.group(1))] if match else []


def _zero_date(quoted: str) -> str:
    """True where a date holds a zero part ('0000-00-00', '2024-00-10'): no calendar has it."""
    return f"(MONTH({quoted}) * DAYOFMONTH({quoted}) = 0)"


def select_expression(column: ReadColumn) -> str:
    """How to SELECT a column so the driver hands over a type conform can cast from."""
    quoted = quote_name(column.name)
    base = base_type(column.source_type)
    unsigned = "unsigned" in column.source_type.lower()
    bq = column.bq_type
    if bq in (BqType.NUMERIC, BqType.BIGNUMERIC):
        if base in ("decimal", "numeric", "dec", "fixed"):
            precision, scale = [*_modifiers(column.source_type), 10, 0][:2]
            # ConnectorX decodes decimals of up to 28 digits; MySQL prints the wider ones.
            if precision <= 28 and scale <= 9:
                return quoted
        if base == "bit":
            return f"CAST({quoted} AS UNSIGNED) AS {quoted}"
        if base == "time":  # signed seconds, exact to the microsecond
            return f"CAST(TIME_TO_SEC({quoted}) AS DECIMAL(16,6)) AS {quoted}"
        return f"CAST({quoted} AS CHAR) AS {quoted}"
    if base in _DATES and bq in (BqType.DATE, BqType.DATETIME, BqType.TIMESTAMP):
        return f"IF({_zero_date(quoted)}, NULL, {quoted}) AS {quoted}"
    if bq is BqType.BOOL and (base in _INTEGERS or base in ("bool", "boolean", "bit")):
        return f"({quoted} <> 0) AS {quoted}"  # MySQL's truth: any non-zero value
    if bq is BqType.INT64:
        if base == "bit":
            return f"CAST({quoted} AS UNSIGNED) AS {quoted}"
        if base in _INTEGERS and not (base == "bigint" and unsigned):
            return quoted
    if bq is BqType.FLOAT64 and base in ("float", "double", "double precision", "real"):
        return quoted
    if bq is BqType.STRING and base in _TEXT:
        return quoted
    if bq is BqType.BYTES and (base in _BINARY or base == "bit"):
        return quoted
    if bq is BqType.GEOGRAPHY and base in _SPATIAL:
        return f"ST_AsText({quoted}) AS {quoted}"
    if bq is BqType.STRING and base == "bit":
        return f"BIN({quoted}) AS {quoted}"
    return f"CAST({quoted} AS CHAR) AS {quoted}"


def cursor_literal(bound: CursorBound) -> str:
    text = render_cursor_value(bound.value)
    if isinstance(bound.value, dt.datetime):
        # The session is in UTC, so DATETIME and TIMESTAMP columns compare in UTC alike.
        return f"CAST({quote_string(text)} AS DATETIME(6))"
    if isinstance(bound.value, dt.date):
        return f"CAST({quote_string(text)} AS DATE)"
    if isinstance(bound.value, Decimal | float):
        return f"CAST({quote_string(text)} AS DECIMAL(65,30))"
    return text


def source_sql(source: TableSource | QuerySource, database: str) -> str:
    if isinstance(source, QuerySource):
        # The user's text as written, after the check; newlines keep a trailing `--` comment
        # from swallowing the closing parenthesis.
        # sqlglot (0.4 s of import) only for `query:` sources, not for every run.
        from etl_bigquery.engine.sources.query_check import check_query

        return f"(\n{check_query(source.query, DIALECT)}\n) AS _etl_src"
    return qualified_name(source, database)


def qualified_name(source: TableSource, database: str) -> str:
    return f"{quote_name(source.schema_name or database)}.{quote_name(source.table)}"


def build_select(plan: ReadPlan, database: str, *, count_zero_dates: bool = False) -> str:
    columns = [select_expression(column) for column in plan.columns]
    dates = [
        c for c in plan.columns
        if base_type(c.source_type) in _DATES
        and c.bq_type in (BqType.DATE, BqType.DATETIME, BqType.TIMESTAMP)
    ]  # fmt: skip
    if count_zero_dates and dates:
        flags = " + ".join(f"IFNULL({_zero_date(quote_name(c.name))}, 0)" for c in dates)
        columns.append(f"{flags} AS {ZERO_DATES}")
    sql = f"SELECT {', '.join(columns)} FROM {source_sql(plan.source, database)}"
    found = [
        bound_predicate(plan.lower_bound) if plan.lower_bound is not None else None,
        upper_predicate(plan.upper_bound) if plan.upper_bound is not None else None,
    ]
    predicates = [p for p in found if p is not None] + unit_predicates(plan.unit)
    if predicates:
        sql += " WHERE " + " AND ".join(predicates)
    return sql


def unit_predicates(unit: SplitUnit | None) -> list[str]:
    """A unit of a split read (`MySqlReader.split`): a range of a typed cursor, or a bucket of a
    CRC32 of the key's values. CONCAT_WS is never NULL (it skips NULL values), so every row is in
    exactly one bucket."""
    if isinstance(unit, CursorRange):
        column = quote_name(unit.column.name)
        found = []
        if unit.lower is not None:
            found.append(f"{column} >= {cursor_literal(CursorBound(unit.column, unit.lower))}")
        if unit.upper is not None:
            found.append(f"{column} < {cursor_literal(CursorBound(unit.column, unit.upper))}")
        return found
    if isinstance(unit, HashBucket):
        key = ", ".join(f"CAST({quote_name(name)} AS CHAR)" for name in unit.columns)
        return [f"MOD(CRC32(CONCAT_WS(CHAR(31), {key})), {unit.buckets}) = {unit.bucket}"]
    return []


def bound_predicate(bound: CursorBound) -> str | None:
    """`cursor >= bound` as MySQL can compare it (`engine.sources.cursor_pushdown`); None when it
    cannot, and the engine filters."""
    quoted = quote_name(bound.column.name)
    kind = cursor_pushdown(bound.column, DIALECT)
    if kind is Pushdown.TYPED:
        return f"{quoted} >= {cursor_literal(bound)}"
    if kind is Pushdown.TEXT_PREFIX:
        # Bytewise whatever the column's collation; MySQL would read the text as a local time
        # and drop its UTC offset (so '...T06:00:00-05:00' compared below a 10:00 UTC bound).
        prefix = quote_string(text_prefix(bound.value))
        return text_prefix_predicate(f"CAST({quoted} AS BINARY)", prefix)
    return None


def upper_predicate(upper: UpperBound) -> str | None:
    """`cursor <= M` of a settled read (numeric cursors only); FALSE when it reads nothing."""
    if upper.value is None:
        return "FALSE"
    if cursor_pushdown(upper.column, DIALECT) is not Pushdown.TYPED:
        return None  # the engine drops the rows above it
    literal = cursor_literal(CursorBound(upper.column, upper.value))
    return f"{quote_name(upper.column.name)} <= {literal}"


def is_timeout(error: BaseException) -> bool:
    text = str(error)
    return "max_statement_time" in text or "maximum statement execution time" in text


def server_words(error: BaseException) -> str:
    """MySQL's own message, without the driver's wrapping."""
    if isinstance(error, pymysql.MySQLError) and len(error.args) >= 2:
        text = str(error.args[1])
    else:
        text = str(error)
        match = re.search(r"ERROR \d+ \(\w+\): ([^}]*)", text)
        text = match.group(1) if match else text
    return text.splitlines()[0].strip().rstrip(".") if text.strip() else "unknown error"


def error_code(error: BaseException) -> int | None:
    if isinstance(error, pymysql.MySQLError) and error.args and isinstance(error.args[0], int):
        return error.args[0]
    match = re.search(r"ERROR (\d+) \(", str(error))
    return int(match.group(1)) if match else None


def type_name(field: Any) -> str:
    """A result column's type as MySQL would print it, from the protocol's column definition."""
    code, length, charset = field.type_code, field.length, field.charsetnr
    unsigned = " unsigned" if field.flags & 32 else ""
    binary = charset == 63
    if code in (FIELD_TYPE.DECIMAL, FIELD_TYPE.NEWDECIMAL):
        scale = field.scale
        precision = length - (1 if scale else 0) - (0 if unsigned else 1)
        return f"decimal({max(precision, 1)},{scale}){unsigned}"
    names = {
        FIELD_TYPE.TINY: f"tinyint({length})", FIELD_TYPE.SHORT: "smallint",
        FIELD_TYPE.INT24: "mediumint", FIELD_TYPE.LONG: "int", FIELD_TYPE.LONGLONG: "bigint",
        FIELD_TYPE.FLOAT: "float", FIELD_TYPE.DOUBLE: "double", FIELD_TYPE.YEAR: "year",
        FIELD_TYPE.DATE: "date", FIELD_TYPE.NEWDATE: "date", FIELD_TYPE.DATETIME: "datetime",
        FIELD_TYPE.TIMESTAMP: "timestamp", FIELD_TYPE.TIME: "time",
        FIELD_TYPE.BIT: f"bit({length})", FIELD_TYPE.JSON: "json",
        FIELD_TYPE.GEOMETRY: "geometry", FIELD_TYPE.NULL: "varchar",
    }  # fmt: skip
    if code in names:
        integer = code in (FIELD_TYPE.TINY, FIELD_TYPE.SHORT, FIELD_TYPE.INT24, FIELD_TYPE.LONG,
                           FIELD_TYPE.LONGLONG)  # fmt: skip
        return names[code] + (unsigned if integer else "")
    if code in (FIELD_TYPE.TINY_BLOB, FIELD_TYPE.MEDIUM_BLOB, FIELD_TYPE.LONG_BLOB,
                FIELD_TYPE.BLOB):  # fmt: skip
        return "longblob" if binary else "longtext"
    return "varbinary" if binary else "varchar"


def to_arrow(values: list[Any], bq_type: BqType) -> pa.Array:
    """A PyMySQL column in the Arrow type of its BigQuery type, or as text for conform."""
    wire = _WIRE.get(bq_type)
    if wire is not None:
        try:
            return pa.array(values, type=wire)
        except (pa.ArrowInvalid, pa.ArrowTypeError, TypeError, OverflowError):
            pass  # conform judges the text, and rejects what does not fit
    return pa.array([None if v is None else _text(v) for v in values], type=pa.string())


def _text(value: Any) -> str:
    if isinstance(value, bytes):
        printable = value.isascii() and value.decode().isprintable()
        return value.decode() if printable else "0x" + value.hex()
    if isinstance(value, dt.timedelta):  # PyMySQL's TIME: print it as MySQL does
        sign, seconds = ("-", -value) if value < dt.timedelta(0) else ("", value)
        hours, rest = divmod(seconds, dt.timedelta(hours=1))
        text = f"{sign}{hours:02d}:{rest.seconds // 60:02d}:{rest.seconds % 60:02d}"
        return text + (f".{rest.microseconds:06d}" if rest.microseconds else "")
    return str(value)


def plain(array: pa.Array) -> pa.Array:
    """ConnectorX's large types as the plain ones conform expects."""
    if pa.types.is_large_binary(array.type):
        return array.cast(pa.binary())
    if pa.types.is_large_string(array.type):
        return array.cast(pa.string())
    return array
