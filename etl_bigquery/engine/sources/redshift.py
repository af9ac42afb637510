"""Redshift reader: the PostgreSQL reader over the same protocol, without COPY.

Redshift speaks PostgreSQL's wire protocol but has no `COPY ... TO STDOUT`, which ADBC's PostgreSQL
driver uses for every result set; `use_copy=False` makes it fetch rows as plain queries. The SQL
the reader sends (`format_type`, `to_regclass`, `::text` casts, `percentile_disc`) is PostgreSQL's;
it is verified against the machine's PostgreSQL, not against Redshift, where some catalog queries
(`to_regclass`, `pg_stat_user_tables`) may differ.
"""

from __future__ import annotations

from etl_bigquery.engine.sources.postgres import PostgresWireReader, postgres_settings
from etl_bigquery.engine.sources.registry import ConnectionSettings

DEFAULT_PORT = 5439


class RedshiftReader(PostgresWireReader):
    """PostgreSQL's reader without split: Redshift has no `hashtextextended`, so its reads are
    not cut into units (no CanSplit)."""

    dialect = "redshift"
    """Type mapping (`engine.schema.typemap_dialects.propose_redshift`) knows Redshift's own
    types."""


def open_reader(settings: ConnectionSettings) -> RedshiftReader:
    """The registry's entry point (`engine.sources.registry`)."""
    return RedshiftReader(postgres_settings(settings, default_port=DEFAULT_PORT, use_copy=False))
