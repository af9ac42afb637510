"""Row counts of the SQLAlchemy sources from each database's own catalog, never `COUNT(*)`.

Counting a large table on these engines scans it, so discovery and the Dataflow decision use what
the catalog already keeps: statistics (SQL Server/Synapse partitions, Oracle `NUM_ROWS`, Db2
`CARD`, all estimates, marked as such) or metadata kept exact by the engine (Snowflake's
`ROW_COUNT`). Teradata keeps no row count in its dictionary, so its tables show none.
"""

from __future__ import annotations

from dataclasses import dataclass

import sqlalchemy as sa


@dataclass(frozen=True)
class CatalogCounts:
    sql: str
    """Rows (name, row_count) for the tables of schema `:schema`."""
    exact: bool
    """The engine keeps the count exact (else it is statistics, possibly stale)."""


COUNTS: dict[str, CatalogCounts] = {
    "sqlserver": CatalogCounts(
        "SELECT t.name, SUM(p.rows) FROM sys.tables t "
        "JOIN sys.schemas s ON s.schema_id = t.schema_id "
        "JOIN sys.partitions p ON p.object_id = t.object_id AND p.index_id IN (0, 1) "
        "WHERE s.name = :schema GROUP BY t.name",
        exact=False,
    ),
    "oracle": CatalogCounts(
        "SELECT table_name, num_rows FROM all_tables WHERE owner = :schema", exact=False
    ),
    "snowflake": CatalogCounts(
        "SELECT table_name, row_count FROM information_schema.tables "
        "WHERE table_schema = :schema AND table_type = 'BASE TABLE'",
        exact=True,
    ),
    "db2": CatalogCounts(
        "SELECT tabname, card FROM syscat.tables WHERE tabschema = :schema", exact=False
    ),
}
COUNTS["synapse"] = COUNTS["sqlserver"]


def catalog_counts(
    connection: sa.Connection, key: str, schema: str
) -> tuple[dict[str, int], bool] | None:
    """Table name (as the Inspector names it) → rows, and whether they are exact; None when the
    engine keeps no counts or the login may not read them (counts are a convenience: their
    absence never fails discovery or a run)."""
    counts = COUNTS.get(key)
    if counts is None:
        return None
    dialect = connection.dialect
    # Oracle, Db2 and Snowflake store unquoted names in upper case; SQLAlchemy shows them in
    # lower case. The catalog is queried and answered in the stored form.
    stored = getattr(dialect, "denormalize_name", None)
    shown = getattr(dialect, "normalize_name", None)
    try:
        rows = connection.execute(
            sa.text(counts.sql), {"schema": stored(schema) if stored else schema}
        ).fetchall()
    except sa.exc.DBAPIError:
        return None
    result = {}
    for name, rows_count in rows:
        if rows_count is None or rows_count < 0:  # Db2's CARD is -1 without statistics
            continue
        result[shown(name) if shown else name] = int(rows_count)
    return result, counts.exact
