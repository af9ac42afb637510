"""SQL text shared by the SQL readers: identifier quoting and literals for cursor bounds.

Cursor bounds are inlined as literals rather than bound as parameters because drivers stream
parameterless queries over their fastest path (PostgreSQL: COPY). The values are typed values read
from BigQuery, never user text, and are rendered by type here.
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

from etl_bigquery.engine.sources.base import CursorValue


def quote_identifier(name: str, quote: str = '"') -> str:
    """Quote a table or column name; quotes inside the name are doubled."""
    return quote + name.replace(quote, quote * 2) + quote


def quote_string(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def render_cursor_value(value: CursorValue) -> str:
    """A cursor value as SQL text: ISO 8601 for dates and times (UTC, no offset), digits for
    numbers."""
    if isinstance(value, dt.datetime):
        if value.tzinfo is not None:
            value = value.astimezone(dt.UTC).replace(tzinfo=None)
        return value.isoformat(sep=" ", timespec="microseconds")
    if isinstance(value, dt.date):
        return value.isoformat()
    if isinstance(value, bool):
        raise TypeError("a boolean cannot be a cursor")
    if isinstance(value, int | Decimal):
        return str(value)
    if isinstance(value, float):
        return repr(value)
    raise TypeError(f"unsupported cursor value {type(value).__name__}")
