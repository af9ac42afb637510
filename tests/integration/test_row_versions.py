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

import pyarrow as pa

from etl_bigquery.engine.fingerprint import ROW_HASH, Identity, digests, to_hex
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


def _as_encoding_v1(bq, ref: str) -> Identity:
    """Turn a table loaded today into one created before fingerprint encoding v2: the
    `_etl_row_hash` description names v1 and every row holds its v1 (MD5) fingerprint."""
    table = bq.get_table(ref)
    field = next(f for f in table.schema if f.name == ROW_HASH)
    current = Identity.from_description(field.description)
    assert current is not None and current.encoding == 2 and current.columns == ("id", "day")
    old = Identity(current.columns, encoding=1)
    rows = list(bq.query_and_wait(f"SELECT id, day, {ROW_HASH} FROM `{ref}`"))
    batch = pa.record_batch(
        {"id": pa.array([r["id"] for r in rows], pa.int64()),
         "day": pa.array([r["day"] for r in rows], pa.date32())}
    )  # fmt: skip
    for row, v1 in zip(rows, to_hex(digests(batch, old)).to_pylist(), strict=True):
        bq.query_and_wait(
            f"UPDATE `{ref}` SET {ROW_HASH} = '{v1}' WHERE {ROW_HASH} = '{row[ROW_HASH]}'"
        )
    table.schema = [
        f.to_api_repr() | {"description": old.describe()} if f.name == ROW_HASH else f.to_api_repr()
        for f in table.schema
    ]
    bq.update_table(table, ["schema"])
    return old


def test_a_table_fingerprinted_by_encoding_v1_keeps_recognising_its_rows(
    pg_admin, pg_schema, pg_connection, destination, dataset, bq, tmp_path
):
    """Issue 21 item 2: new tables get the vectorised encoding v2; a table whose rows hold v1
    fingerprints keeps v1, so the rows it holds are still recognised after the upgrade."""
    table = f'"{pg_schema}".docs'
    pg_admin.execute(f"CREATE TABLE {table} (id int PRIMARY KEY, note text, day date)")
    pg_admin.execute(f"INSERT INTO {table} VALUES (1, 'a', current_date), (2, 'b', current_date)")
    job = _job(
        tmp_path, pg_connection, destination, dataset, {"schema": pg_schema, "table": "docs"},
        "day",
    )  # fmt: skip
    apply_job_file(job)
    assert run_job_file(job)["rows_loaded"] == 2
    ref = f"local.{dataset}.docs"
    old = _as_encoding_v1(bq, ref)

    again = run_job_file(job)  # both rows re-read (their day is the watermark), both held
    assert again["rows_loaded"] == 0 and again["rows_already_loaded"] == 2, again
    pg_admin.execute(f"INSERT INTO {table} VALUES (3, 'c', current_date)")
    assert run_job_file(job)["rows_loaded"] == 1
    assert _held(bq, dataset) == collections.Counter({(1, "a"): 1, (2, "b"): 1, (3, "c"): 1})
    field = next(f for f in bq.get_table(ref).schema if f.name == ROW_HASH)
    assert Identity.from_description(field.description) == old  # still v1
    rows = list(bq.query_and_wait(f"SELECT id, day, {ROW_HASH} FROM `{ref}` WHERE id = 3"))
    batch = pa.record_batch(
        {"id": pa.array([3], pa.int64()), "day": pa.array([rows[0]["day"]], pa.date32())}
    )
    assert rows[0][ROW_HASH] == to_hex(digests(batch, old)).to_pylist()[0]


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
