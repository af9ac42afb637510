"""The clock rule (issue 16 item 2), through `etl job apply` and `etl run`: a row stamped in
the future never becomes the watermark. It is kept in `<table>__rejected` as "cursor is in the
future", the run ends Partial, later rows keep loading, and it loads once its time has come; a
table that already holds a future watermark is refused with the figure and the fix.

PostgreSQL (transactional TIMESTAMP cursor and merge), MariaDB (transactional DATETIME cursor).
Before: the 2099 row was loaded, every later run read from 2099 on and loaded 0 rows, Completed.
"""

from __future__ import annotations

import datetime as dt
import time
import uuid

from tests.integration.cli_helpers import apply_job_file, run_job_file, write_job
from tests.integration.conftest_mariadb import *  # noqa: F403 (the MariaDB fixtures)
from tests.integration.conftest_mariadb import maria_sql


def _job(tmp_path, connection, destination, dataset, source, **fields):
    name = f"clock-{uuid.uuid4().hex[:8]}"
    spec = {
        "name": name,
        "connection": connection,
        "source": source,
        "destination": {"block": destination, "dataset": dataset, "table": "events"},
        "load_type": "transactional",
        "cursor_column": "updated_at",
        "backfill_start": "all",
        "processing_mode": "standard",
        **fields,
    }
    return write_job(tmp_path, spec)


def _ids(bq, dataset: str, where: str = "TRUE") -> list[int]:
    rows = bq.query_and_wait(f"SELECT id FROM `local.{dataset}.events` WHERE {where} ORDER BY id")
    return [row["id"] for row in rows]


def _future_kept(bq, dataset: str) -> list[str]:
    rows = bq.query_and_wait(f"SELECT reason FROM `local.{dataset}.events__rejected`")
    return [row["reason"] for row in rows]


def test_a_row_stamped_in_the_future_waits_for_its_time_on_postgres(
    pg_admin, pg_schema, pg_connection, destination, dataset, bq, tmp_path
):
    table = f'"{pg_schema}".events'
    pg_admin.execute(
        f"CREATE TABLE {table} (id int PRIMARY KEY, note text, updated_at timestamptz)"
    )
    pg_admin.execute(
        f"""INSERT INTO {table} VALUES
            (1, 'a', now() - interval '1 hour'), (2, 'b', now() - interval '50 minutes'),
            (3, 'c', now() - interval '40 minutes'), (4, 'sentinel', '2099-01-01 00:00:00+00')"""
    )
    job = _job(
        tmp_path, pg_connection, destination, dataset, {"schema": pg_schema, "table": "events"},
        clock_tolerance="1s",
    )  # fmt: skip
    apply_job_file(job)
    first = run_job_file(job)
    assert first["status"] == "partial" and first["rows_loaded"] == 3, first
    assert first["rows_future"] == 1, first
    assert any("cursor in the future" in w for w in first["warnings"]), first
    assert first["watermark_after"] < "2099", first
    reasons = _future_kept(bq, dataset)
    assert len(reasons) == 1 and reasons[0].startswith("cursor is in the future"), reasons

    # Later rows keep loading (the watermark is the latest row loaded, not 2099).
    pg_admin.execute(f"INSERT INTO {table} VALUES (5, 'later', now())")
    second = run_job_file(job)
    assert second["status"] == "partial" and second["rows_loaded"] == 1, second
    assert second["rows_future"] == 1 and second["rows_rejected"] == 0, second  # kept once
    assert _ids(bq, dataset) == [1, 2, 3, 5]
    assert len(_future_kept(bq, dataset)) == 1

    # A row stamped a little ahead (a writer whose clock runs fast) loads once it is due.
    due = dt.datetime.now(dt.UTC) + dt.timedelta(seconds=20)
    pg_admin.execute(f"INSERT INTO {table} VALUES (6, 'ahead', %s)", (due,))
    early = run_job_file(job)
    assert early["rows_future"] == 2 and early["rows_loaded"] == 0, early
    while dt.datetime.now(dt.UTC) <= due + dt.timedelta(seconds=2):
        time.sleep(1)
    on_time = run_job_file(job)
    assert on_time["rows_loaded"] == 1 and on_time["rows_future"] == 1, on_time
    assert _ids(bq, dataset) == [1, 2, 3, 5, 6]

    # A table that already holds a future watermark (loaded by an earlier version): refused
    # with the figure and the fix, before anything is read.
    bq.query_and_wait(
        f"UPDATE `local.{dataset}.events` SET updated_at = TIMESTAMP '2098-06-01 00:00:00+00' "
        "WHERE id = 1"
    )
    refused = run_job_file(job)
    assert refused["status"] == "failed", refused
    assert "2098-06-01" in refused["error"] and "DELETE FROM" in refused["error"], refused


def test_a_row_stamped_2099_does_not_stop_later_rows_on_mariadb(
    maria_admin, maria_db, maria_connection, destination, dataset, bq, tmp_path
):
    maria_sql(
        maria_admin, maria_db.database,
        "CREATE TABLE events (id INT PRIMARY KEY, note VARCHAR(20), updated_at DATETIME(6))",
        "INSERT INTO events VALUES (1, 'a', UTC_TIMESTAMP() - INTERVAL 2 HOUR), "
        "(2, 'sentinel', '2099-12-31 23:59:59'), (3, 'b', UTC_TIMESTAMP() - INTERVAL 1 HOUR)",
    )  # fmt: skip
    job = _job(
        tmp_path, maria_connection, destination, dataset, {"table": "events"}, lookback="10m"
    )
    apply_job_file(job)
    first = run_job_file(job)
    assert first["status"] == "partial", first
    assert first["rows_loaded"] == 2 and first["rows_future"] == 1, first
    maria_sql(
        maria_admin,
        maria_db.database,
        "INSERT INTO events VALUES (4, 'c', UTC_TIMESTAMP()), (5, 'd', UTC_TIMESTAMP())",
    )
    second = run_job_file(job)
    assert second["rows_loaded"] == 2 and second["rows_future"] == 1, second
    assert _ids(bq, dataset) == [1, 3, 4, 5]
    assert len(_future_kept(bq, dataset)) == 1


def test_merge_keeps_a_future_row_out_and_keeps_merging(
    pg_admin, pg_schema, pg_connection, destination, dataset, bq, tmp_path
):
    table = f'"{pg_schema}".events'
    pg_admin.execute(
        f"CREATE TABLE {table} (id int PRIMARY KEY, note text, updated_at timestamptz)"
    )
    pg_admin.execute(
        f"""INSERT INTO {table} VALUES (1, 'a', now() - interval '1 hour'),
            (2, 'b', now() - interval '1 hour'), (3, 'c', '2099-01-01 00:00:00+00')"""
    )
    job = _job(
        tmp_path, pg_connection, destination, dataset, {"schema": pg_schema, "table": "events"},
        load_type="merge",
    )  # fmt: skip
    apply_job_file(job)
    first = run_job_file(job)
    assert first["status"] == "partial" and first["rows_future"] == 1, first
    assert _ids(bq, dataset) == [1, 2]
    pg_admin.execute(f"UPDATE {table} SET note = 'a2', updated_at = now() WHERE id = 1")
    second = run_job_file(job)
    assert second["status"] == "partial" and second["rows_future"] == 1, second
    notes = {r["id"]: r["note"] for r in bq.query_and_wait(
        f"SELECT id, note FROM `local.{dataset}.events`"
    )}  # fmt: skip
    assert notes == {1: "a2", 2: "b"}
    assert len(_future_kept(bq, dataset)) == 1


def test_a_date_cursor_keeps_days_beyond_every_time_zone_out_on_postgres(
    pg_admin, pg_schema, pg_connection, destination, dataset, bq, tmp_path
):
    """A DATE holds a wall-clock day of an unknown zone: today and tomorrow (already today
    east of UTC, up to UTC+14) are loadable; a day after that, or 2099, is in the future."""
    table = f'"{pg_schema}".events'
    pg_admin.execute(f"CREATE TABLE {table} (id int PRIMARY KEY, note text, updated_at date)")
    today = dt.datetime.now(dt.UTC).date()
    pg_admin.execute(
        f"INSERT INTO {table} VALUES (1, 'yesterday', %s), (2, 'today', %s), "
        "(3, 'in three days', %s), (4, 'sentinel', '2099-01-01')",
        (today - dt.timedelta(days=1), today, today + dt.timedelta(days=3)),
    )
    job = _job(
        tmp_path, pg_connection, destination, dataset, {"schema": pg_schema, "table": "events"},
        lookback="1d",
    )  # fmt: skip
    apply_job_file(job)
    first = run_job_file(job)
    assert first["status"] == "partial", first
    assert first["rows_loaded"] == 2 and first["rows_future"] == 2, first
    assert first["watermark_after"].startswith(today.isoformat()), first
    assert sorted(_future_kept(bq, dataset))[0].startswith("cursor is in the future"), first

    # The days kept out do not hold the watermark back: a row of today still loads, and the
    # future rows are kept once.
    pg_admin.execute(f"INSERT INTO {table} VALUES (5, 'also today', %s)", (today,))
    second = run_job_file(job)
    assert second["rows_loaded"] == 1 and second["rows_future"] == 2, second
    assert _ids(bq, dataset) == [1, 2, 5]
    assert len(_future_kept(bq, dataset)) == 2
