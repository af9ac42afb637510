""" "Already loaded?" by (identity, content) (issue 16 item 1), through `etl job apply` and
`etl run`: an update that keeps its cursor value arrives as a new version; identical rows stay
interchangeable (multisets exact); a table written before versions existed keeps loading.

PostgreSQL (a DATE cursor updated the same day), MariaDB (two updates within one second of a
DATETIME cursor). Before: the updated row's fingerprint (primary key + cursor) was already held,
so the new values never arrived and the runs ended Completed.
"""

from __future__ import annotations

import collections
import uuid

from tests.integration.cli_helpers import apply_job_file, run_job_file, write_job
from tests.integration.conftest_mariadb import *  # noqa: F403 (the MariaDB fixtures)
from tests.integration.conftest_mariadb import maria_sql


def _job(tmp_path, connection, destination, dataset, source, cursor, **fields):
    spec = {
        "name": f"ver-{uuid.uuid4().hex[:8]}",
        "connection": connection,
        "source": source,
        "destination": {"block": destination, "dataset": dataset, "table": "docs"},
        "load_type": "transactional",
        "cursor_column": cursor,
        "backfill_start": "all",
        "processing_mode": "standard",
        **fields,
    }
    return write_job(tmp_path, spec)


def _held(bq, dataset: str) -> collections.Counter:
    rows = bq.query_and_wait(f"SELECT id, note FROM `local.{dataset}.docs`")
    return collections.Counter((row["id"], row["note"]) for row in rows)


def test_a_date_cursor_updated_the_same_day_arrives_as_a_new_version_on_postgres(
    pg_admin, pg_schema, pg_connection, destination, dataset, bq, tmp_path
):
    table = f'"{pg_schema}".docs'
    pg_admin.execute(f"CREATE TABLE {table} (id int PRIMARY KEY, note text, day date)")
    pg_admin.execute(
        f"INSERT INTO {table} VALUES (1, 'a', current_date), (2, 'b', current_date), "
        "(3, 'c', current_date - 1)"
    )
    job = _job(
        tmp_path, pg_connection, destination, dataset, {"schema": pg_schema, "table": "docs"},
        "day",
    )  # fmt: skip
    apply_job_file(job)
    assert run_job_file(job)["rows_loaded"] == 3
    pg_admin.execute(f"UPDATE {table} SET note = 'b2' WHERE id = 2")  # same day: same cursor
    second = run_job_file(job)
    assert second["status"] == "completed" and second["rows_loaded"] == 1, second
    assert second["rows_already_loaded"] == 1, second  # id 1 re-read (its day), held
    assert _held(bq, dataset) == collections.Counter(
        {(1, "a"): 1, (2, "b"): 1, (2, "b2"): 1, (3, "c"): 1}
    )
    assert run_job_file(job)["rows_loaded"] == 0  # nothing changed: nothing loaded
    # Back to an earlier content: a version BigQuery holds, so it is not loaded again.
    pg_admin.execute(f"UPDATE {table} SET note = 'b' WHERE id = 2")
    assert run_job_file(job)["rows_loaded"] == 0


def test_identical_rows_stay_a_multiset_and_an_old_table_keeps_loading(
    pg_admin, pg_schema, pg_connection, destination, dataset, bq, tmp_path
):
    """No primary key: identical rows are interchangeable, k held cancel k read. Then the table
    loses `_etl_row_version` (as a table loaded before versions existed) and keeps loading: the
    column comes back with no reload, rows held without a version are matched by identity."""
    table = f'"{pg_schema}".docs'
    pg_admin.execute(f"CREATE TABLE {table} (id int, note text, day date)")
    pg_admin.execute(f"INSERT INTO {table} VALUES (1, 'x', current_date), (1, 'x', current_date)")
    job = _job(
        tmp_path, pg_connection, destination, dataset, {"schema": pg_schema, "table": "docs"},
        "day",
    )  # fmt: skip
    apply_job_file(job)
    assert run_job_file(job)["rows_loaded"] == 2
    pg_admin.execute(f"INSERT INTO {table} VALUES (1, 'x', current_date)")
    third = run_job_file(job)
    assert third["rows_loaded"] == 1 and third["rows_already_loaded"] == 2, third
    assert _held(bq, dataset) == collections.Counter({(1, "x"): 3})

    bq.query_and_wait(f"ALTER TABLE `local.{dataset}.docs` DROP COLUMN _etl_row_version")
    pg_admin.execute(f"INSERT INTO {table} VALUES (2, 'y', current_date)")
    migrated = run_job_file(job)
    assert migrated["status"] == "completed" and migrated["rows_loaded"] == 1, migrated
    assert migrated["rows_already_loaded"] == 3, migrated
    fields = [f.name for f in bq.get_table(f"local.{dataset}.docs").schema]
    assert "_etl_row_version" in fields
    assert run_job_file(job)["rows_loaded"] == 0
    assert _held(bq, dataset) == collections.Counter({(1, "x"): 3, (2, "y"): 1})


def test_two_updates_in_one_second_of_a_datetime_cursor_arrive_on_mariadb(
    maria_admin, maria_db, maria_connection, destination, dataset, bq, tmp_path
):
    maria_sql(
        maria_admin, maria_db.database,
        "CREATE TABLE docs (id INT PRIMARY KEY, note VARCHAR(20), updated_at DATETIME)",
        "INSERT INTO docs VALUES (1, 'a', '2026-01-05 10:00:00'), (2, 'b', '2026-01-05 10:00:00')",
    )  # fmt: skip
    job = _job(
        tmp_path, maria_connection, destination, dataset, {"table": "docs"}, "updated_at",
        lookback="10m",
    )  # fmt: skip
    apply_job_file(job)
    assert run_job_file(job)["rows_loaded"] == 2
    # Two writes within the same second: the DATETIME keeps its value both times.
    maria_sql(maria_admin, maria_db.database, "UPDATE docs SET note = 'a2' WHERE id = 1")
    second = run_job_file(job)
    assert second["rows_loaded"] == 1 and second["rows_already_loaded"] == 1, second
    maria_sql(maria_admin, maria_db.database, "UPDATE docs SET note = 'a3' WHERE id = 1")
    third = run_job_file(job)
    assert third["rows_loaded"] == 1, third
    assert run_job_file(job)["rows_loaded"] == 0
    assert _held(bq, dataset) == collections.Counter(
        {(1, "a"): 1, (1, "a2"): 1, (1, "a3"): 1, (2, "b"): 1}
    )
