"""A PostgreSQL table through the whole flow into the BigQuery emulator."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

from tests.integration.helpers import apply, data_rows, job_spec, run, table_rows


def _orders(pg_admin, schema: str, rows: int) -> None:
    pg_admin.execute(
        f"""
        CREATE TABLE "{schema}".orders (
            id bigint PRIMARY KEY, customer text, amount numeric(12,2), paid boolean,
            tags jsonb, updated_at timestamptz NOT NULL)
        """
    )
    pg_admin.execute(
        f"""
        INSERT INTO "{schema}".orders
        SELECT g, 'c' || (g % 7), g * 1.25, g % 2 = 0, jsonb_build_object('n', g),
               timestamptz '2026-11-01 00:00:00+00' + (g / 3) * interval '1 minute'
        FROM generate_series(1, {rows}) g
        """
    )


def test_catalog_load_copies_the_table_and_replaces_it_on_the_next_run(
    pg_admin, pg_schema, pg_connection, destination, dataset, bq
):
    _orders(pg_admin, pg_schema, 250)
    job = job_spec(
        pg_connection, destination, dataset, source={"schema": pg_schema, "table": "orders"}
    )
    applied = apply(job)
    assert applied.table_created

    first = run(job)
    assert first["status"] == "completed", first
    assert first["rows_extracted"] == first["rows_loaded"] == 250

    pg_admin.execute(f'DELETE FROM "{pg_schema}".orders WHERE id > 200')
    second = run(job)
    assert second["rows_loaded"] == 200
    rows = data_rows(bq, dataset, "bq_orders")
    assert [r["id"] for r in rows] == list(range(1, 201))
    assert rows[0]["amount"] == Decimal("1.25")
    assert rows[0]["tags"] == {"n": 1}
    assert rows[0]["updated_at"] == dt.datetime(2026, 11, 1, tzinfo=dt.UTC)


def test_transactional_load_appends_only_new_rows_and_keeps_rows_sharing_the_last_cursor(
    pg_admin, pg_schema, pg_connection, destination, dataset, bq
):
    _orders(pg_admin, pg_schema, 100)  # three rows per minute: ids 99 and 100 share the last one
    job = job_spec(
        pg_connection, destination, dataset,
        source={"schema": pg_schema, "table": "orders"},
        load_type="transactional", cursor_column="updated_at", backfill_start="all",
    )  # fmt: skip
    apply(job)
    first = run(job)
    assert first["rows_loaded"] == 100
    last = first["watermark_after"]

    # Two rows stamped with the last loaded timestamp, one later: all three must arrive, once.
    pg_admin.execute(
        f"""
        INSERT INTO "{pg_schema}".orders VALUES
          (101, 'late', 1, true, '{{}}', '{last}'), (102, 'late', 2, true, '{{}}', '{last}'),
          (103, 'new', 3, false, '{{}}', timestamptz '{last}' + interval '1 hour')
        """
    )
    second = run(job)
    assert second["status"] == "completed", second
    assert second["rows_loaded"] == 3
    assert second["rows_already_loaded"] >= 1

    third = run(job)
    assert third["rows_loaded"] == 0 and third["status"] == "completed"

    rows = table_rows(bq, dataset, "bq_orders")
    assert [r["id"] for r in rows] == list(range(1, 104))
    assert {r["_etl_run_id"] for r in rows} == {first["flow_run_id"], second["flow_run_id"]}
