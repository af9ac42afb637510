"""The `redshift` source type end to end: verified against the machine's PostgreSQL, NOT against
Redshift (no Redshift cluster is reachable here).

A `type: redshift` connection block pointing at PostgreSQL (127.0.0.1:5432, database test, user
postgres) runs the PostgreSQL reader with ADBC's `adbc.postgresql.use_copy = false`, so every
result set is fetched as a plain query, as it must be on Redshift, which has no `COPY ... TO
STDOUT`. What this proves: the no-COPY path carries catalog, transactional and query jobs through
the whole flow; what it cannot prove: Redshift's catalog and SUPER/VARBYTE casts.
"""

from __future__ import annotations

import datetime as dt
import uuid
from decimal import Decimal

import pytest

from tests.integration.helpers import apply, data_rows, job_spec, run, table_rows


@pytest.fixture
def redshift_connection(services, pg_schema: str) -> str:
    from etl_bigquery.blocks import SqlConnection

    name = f"rs-{uuid.uuid4().hex[:8]}"
    SqlConnection(
        type="redshift", host="127.0.0.1", port=5432, database="test", username="postgres"
    ).save(name, overwrite=True)
    return name


def _orders(pg_admin, schema: str, rows: int) -> None:
    pg_admin.execute(
        f"""
        CREATE TABLE "{schema}".orders (
            id bigint PRIMARY KEY, customer text, amount numeric(12,2), paid boolean,
            updated_at timestamptz NOT NULL)
        """
    )
    pg_admin.execute(
        f"""
        INSERT INTO "{schema}".orders
        SELECT g, 'c' || (g % 7), g * 1.25, g % 2 = 0,
               timestamptz '2026-11-01 00:00:00+00' + (g / 3) * interval '1 minute'
        FROM generate_series(1, {rows}) g
        """
    )


def test_the_redshift_reader_fetches_without_copy(pg_admin, pg_schema):
    from etl_bigquery.engine.sources.redshift import open_reader
    from etl_bigquery.engine.sources.registry import ConnectionSettings, source_type

    assert source_type("redshift").default_port == 5439
    reader = open_reader(ConnectionSettings("127.0.0.1", 5432, "test", "postgres"))
    try:
        assert reader.dialect == "redshift" and reader.settings.use_copy is False
        with reader._conn.cursor() as cursor:  # EXPLAIN fails under COPY: proves the option
            cursor.execute("EXPLAIN SELECT 1")
            assert cursor.fetchall()
    finally:
        reader.close()


def test_a_redshift_catalog_job_copies_the_table(
    pg_admin, pg_schema, redshift_connection, destination, dataset, bq
):
    _orders(pg_admin, pg_schema, 120)
    job = job_spec(
        redshift_connection, destination, dataset, source={"schema": pg_schema, "table": "orders"}
    )
    apply(job)
    result = run(job)
    assert result["status"] == "completed", result
    assert result["rows_loaded"] == 120
    rows = data_rows(bq, dataset, "bq_orders")
    assert [r["id"] for r in rows] == list(range(1, 121))
    assert rows[0]["amount"] == Decimal("1.25")
    assert rows[0]["updated_at"] == dt.datetime(2026, 11, 1, tzinfo=dt.UTC)


def test_a_redshift_transactional_job_appends_only_new_rows(
    pg_admin, pg_schema, redshift_connection, destination, dataset, bq
):
    _orders(pg_admin, pg_schema, 60)
    job = job_spec(
        redshift_connection, destination, dataset,
        source={"schema": pg_schema, "table": "orders"},
        load_type="transactional", cursor_column="updated_at", backfill_start="all",
    )  # fmt: skip
    apply(job)
    first = run(job)
    assert first["rows_loaded"] == 60
    last = first["watermark_after"]
    pg_admin.execute(
        f"""INSERT INTO "{pg_schema}".orders VALUES
            (61, 'late', 1, true, '{last}'),
            (62, 'new', 2, false, timestamptz '{last}' + interval '1 hour')"""
    )
    second = run(job)
    assert second["status"] == "completed", second
    assert second["rows_loaded"] == 2
    assert [r["id"] for r in table_rows(bq, dataset, "bq_orders")] == list(range(1, 63))


def test_a_redshift_query_job_loads_the_query_rows(
    pg_admin, pg_schema, redshift_connection, destination, dataset, bq
):
    _orders(pg_admin, pg_schema, 30)
    query = f'SELECT id, upper(customer) AS customer FROM "{pg_schema}".orders WHERE paid;'
    job = job_spec(redshift_connection, destination, dataset, table="paid", source={"query": query})
    apply(job)
    result = run(job)
    assert result["status"] == "completed", result
    rows = data_rows(bq, dataset, "paid")
    assert [r["id"] for r in rows] == list(range(2, 31, 2))
    assert rows[0]["customer"] == "C2"
