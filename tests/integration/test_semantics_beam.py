"""Issue 16 items 1 and 2 on the Beam path (DirectRunner, PostgreSQL, the BigQuery emulator):
the same filter as the standard path decides, across units: a row stamped 2099 is kept in
`__rejected` once and never becomes the watermark, and an update that keeps its cursor value
arrives as a new version while the unchanged rows re-read in the window are claimed."""

from __future__ import annotations

import collections

from tests.integration.helpers import apply, job_spec, run


def test_future_rows_and_same_cursor_updates_through_beam(
    pg_admin, pg_schema, pg_connection, destination, dataset, bq
):
    table = f'"{pg_schema}".events'
    pg_admin.execute(f"CREATE TABLE {table} (id bigint PRIMARY KEY, at timestamptz, note text)")
    pg_admin.execute(
        f"""INSERT INTO {table} SELECT g, timestamptz '2026-01-01 00:00:00+00'
                + (g / 10) * interval '1 second', 'n' || g FROM generate_series(1, 6000) g"""
    )
    pg_admin.execute(f"INSERT INTO {table} VALUES (9999, '2099-01-01 00:00:00+00', 'sentinel')")
    job = job_spec(
        pg_connection, destination, dataset, source={"schema": pg_schema, "table": "events"},
        load_type="transactional", cursor_column="at", backfill_start="all",
        processing_mode="dataflow", dataflow={"direct_workers": 1, "rows_per_unit": 1000},
    )  # fmt: skip
    apply(job)
    first = run(job)
    assert first["processing_mode"] == "dataflow", first
    assert first["status"] == "partial" and first["rows_future"] == 1, first
    assert first["rows_loaded"] == 6000, first
    # The last rows keep their cursor but change; one more row arrives at the watermark.
    pg_admin.execute(f"UPDATE {table} SET note = note || '!' WHERE id IN (5995, 6000)")
    pg_admin.execute(
        f"INSERT INTO {table} VALUES (6001, (SELECT at FROM {table} WHERE id = 6000), 'x')"
    )
    second = run(job)
    assert second["status"] == "partial" and second["rows_future"] == 1, second
    assert second["rows_loaded"] == 3, second
    assert run(job)["rows_loaded"] == 0
    held = collections.Counter(
        (r["id"], r["note"])
        for r in bq.query_and_wait(f"SELECT id, note FROM `local.{dataset}.bq_events`")
    )
    assert sum(held.values()) == 6003 and held[(6000, "n6000!")] == 1 and held[(6000, "n6000")] == 1
    assert (9999, "sentinel") not in held
    kept = list(bq.query_and_wait(f"SELECT reason FROM `local.{dataset}.bq_events__rejected`"))
    assert len(kept) == 1 and kept[0]["reason"].startswith("cursor is in the future"), kept
