"""Whether a cursor bound is compared by the source database, and how: one decision for every SQL
dialect's SELECT builder (PostgreSQL, MySQL/MariaDB, the SQLAlchemy dialects, BigQuery, SQLite).

A bound is pushed down as a typed literal only when the column's own type is of the cursor's
family: a DATE/DATETIME/TIMESTAMP cursor on a date or time column, a numeric cursor on a numeric
column. "The column's own type" is what the dialect's type mapper (the registry's `type_mapper`)
proposes for the source type, so a new dialect is covered by its mapping, not by a list here.

Everything else would be compared by the database in a way that is not the cursor's order:
- A text column read as a date or time (detected as TIMESTAMP, or overridden) holds ISO text.
  PostgreSQL refuses `text >= timestamp`; MariaDB converts the text ignoring its UTC offset, so
  `'2026-11-01T06:00:00-05:00'` (11:00 UTC) compares below a 10:00 UTC bound and the row is
  silently skipped. Such a column gets `TEXT_PREFIX`: a bytewise comparison of the text with the
  bound's date minus one day, deliberately wider than the exact bound (an ISO value with an
  offset in -12 h..+14 h starts with a local date at most one day before its UTC date), plus the
  values that start below '0' (whitespace, a sign), which the load trims and parses. The engine
  keeps the exact rows (`engine.conform.batch.keep_rows_at_or_after` on the conformed values).
  Bytewise means `COLLATE "C"` (PostgreSQL), `CAST(.. AS BINARY)` (MySQL), BigQuery's own
  string order and SQLite's `strftime` (which parses the text, offsets included); the other
  dialects' collations may reorder or ignore characters, so they read such a column whole.
- Anything else (a number stored as text, a date cursor on a number) is `NONE`: no predicate in
  the source, every row read, the engine filters. Validation refuses a text column read as a
  number before the first run (`engine.cursor_reading`): neither the database nor a prefix can
  order '10' after '9'.
"""

from __future__ import annotations

import datetime as dt
from enum import StrEnum

from etl_bigquery.engine.errors import ConfigurationError
from etl_bigquery.engine.schema.bqtypes import TIME_TYPES, BqType
from etl_bigquery.engine.sources.base import CursorValue, ReadColumn, SourceColumn

NUMBER_TYPES = frozenset({BqType.INT64, BqType.NUMERIC, BqType.BIGNUMERIC, BqType.FLOAT64})
# Dialects whose builders can compare text bytewise (see the module docstring).
BYTEWISE_TEXT = frozenset({"postgresql", "mysql", "bigquery", "sqlite"})


class Pushdown(StrEnum):
    TYPED = "typed"
    """`cursor >= <typed literal>`: the column's own type is the cursor's."""
    TEXT_PREFIX = "text prefix"
    """A text column of ISO dates/times: `text >= '<bound's date - 1 day>'`, bytewise."""
    NONE = "none"
    """No predicate in the source: the whole table is read and the engine filters."""


def own_type(column: ReadColumn, dialect: str) -> BqType | None:
    """The BigQuery type the column's own source type maps to (its family), or None when no
    registered dialect knows it."""
    from etl_bigquery.engine.schema.typemap import propose

    try:
        return propose(dialect, column.source_type).bq_type
    except ConfigurationError:
        return None


def is_text(column: ReadColumn, dialect: str) -> bool:
    """A column declared as text (or, in SQLite, not declared at all)."""
    from etl_bigquery.engine.schema.detect import is_text_column

    return is_text_column(dialect, SourceColumn(column.name, column.source_type))


def cursor_pushdown(column: ReadColumn, dialect: str) -> Pushdown:
    """How a bound on `column` (read as `column.bq_type`) reaches a `dialect` source."""
    own = own_type(column, dialect)
    cursor = column.bq_type
    if cursor in TIME_TYPES and own in TIME_TYPES:
        return Pushdown.TYPED
    if cursor in NUMBER_TYPES and own in NUMBER_TYPES:
        return Pushdown.TYPED
    if (
        cursor in TIME_TYPES
        and own is BqType.STRING
        and dialect in BYTEWISE_TEXT
        and is_text(column, dialect)
    ):
        return Pushdown.TEXT_PREFIX
    return Pushdown.NONE


def text_prefix(value: CursorValue) -> str:
    """The text bound of `TEXT_PREFIX`: the bound's (UTC) date minus one day, `YYYY-MM-DD`."""
    if isinstance(value, dt.datetime):
        if value.tzinfo is not None:
            value = value.astimezone(dt.UTC)
        day = value.date()
    elif isinstance(value, dt.date):
        day = value
    else:
        raise TypeError(f"a text prefix needs a date or time bound, not {type(value).__name__}")
    return (day - dt.timedelta(days=1)).isoformat() if day > dt.date.min else day.isoformat()


def text_prefix_predicate(text_expression: str, prefix_literal: str) -> str:
    """`text >= prefix`, or text starting below '0' (leading whitespace or a sign, which the
    load trims and parses): both in the bytewise order of `text_expression`."""
    return f"({text_expression} >= {prefix_literal} OR {text_expression} < '0')"


def describe(column: ReadColumn, dialect: str) -> str:
    """One phrase for the validate artifact: how this run's bound reaches the source."""
    kind = cursor_pushdown(column, dialect)
    if kind is Pushdown.TYPED:
        return f"{column.name} >= bound, compared by the source"
    if kind is Pushdown.TEXT_PREFIX:
        return (
            f"{column.name} is text: read from one day before the bound, compared as text by the "
            "source; the exact rows are kept by this tool"
        )
    return (
        f"{column.name} is {column.source_type}, which the source cannot compare with a "
        f"{column.bq_type.value} bound: every row is read and this tool keeps the rows at or "
        "after the bound"
    )
