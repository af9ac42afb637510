"""`key_columns` that are not unique (issue 16 item 5), through `etl job apply` and `etl run`
on PostgreSQL. The choice: for transactional jobs the content hash makes the load exact (a row is
already loaded only when its (identity, version) pair is held, `engine.already_loaded`), so two
different events sharing key and cursor are two rows, and identical rows stay a multiset. (Merge
and history jobs refuse such a key before the MERGE, naming the key and an example: merging by
a key needs one version per key and cursor.)

Before: the identity (key + cursor) of a second event was already held, so one of the two was
claimed in its place: the table ended with one event twice and the other missing.
"""

from __future__ import annotations

import collections
import uuid

from tests.integration.cli_helpers import apply_job_file, run_job_file, write_job


def test_events_sharing_a_key_and_cursor_all_load_once(
    pg_admin, pg_schema, pg_connection, destination, dataset, bq, tmp_path
):
    table = f'"{pg_schema}".events'
    pg_admin.execute(f"CREATE TABLE {table} (device int, at timestamptz, reading text)")
    at = "timestamptz '2026-01-05 10:00:00+00'"
    pg_admin.execute(f"INSERT INTO {table} VALUES (1, {at}, 'A'), (2, {at}, 'C')")
    job = write_job(
        tmp_path,
        {
            "name": f"keys-{uuid.uuid4().hex[:8]}",
            "connection": pg_connection,
            "source": {"schema": pg_schema, "table": "events"},
            "destination": {"block": destination, "dataset": dataset, "table": "events"},
            "load_type": "transactional",
            "cursor_column": "at",
            "key_columns": ["device"],  # not unique: a device reports many readings
            "backfill_start": "all",
            "processing_mode": "standard",
        },
    )
    apply_job_file(job)
    assert run_job_file(job)["rows_loaded"] == 2
    # Another reading of device 1 at the same instant commits late, and an identical copy of
    # reading A arrives (a writer that sends twice): both are rows of the source.
    pg_admin.execute(f"INSERT INTO {table} VALUES (1, {at}, 'B'), (1, {at}, 'A')")
    second = run_job_file(job)
    assert second["status"] == "completed" and second["rows_loaded"] == 2, second
    assert second["rows_already_loaded"] == 2, second
    assert run_job_file(job)["rows_loaded"] == 0

    held = collections.Counter(
        (r["device"], r["reading"])
        for r in bq.query_and_wait(f"SELECT device, reading FROM `local.{dataset}.events`")
    )
    source = collections.Counter(pg_admin.execute(f"SELECT device, reading FROM {table}"))
    assert held == source == collections.Counter({(1, "A"): 2, (1, "B"): 1, (2, "C"): 1})
