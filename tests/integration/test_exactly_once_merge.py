"""Exactly once for merge tables (engine.merge): a run killed at a checkpoint of the merge
strategy, then run again, leaves BigQuery equal to the source, with no staging table left.

Each test crashes a real run in a child process (os._exit, as when a container is killed) after
the source changed (updates, an update keeping its cursor, deletes, inserts), changes the source
again, and runs the job again. The checkpoints here are the ones whose recovery differs (the
attempt is reused, spent, waited for, or a delete period redone); `make faults` kills at every
checkpoint in one loop (tests/faults/test_merge_faults.py).
"""

from __future__ import annotations

import pytest

from etl_bigquery.engine import checkpoints
from tests.integration.helpers import apply, job_spec, run
from tests.integration.merge_helpers import *  # noqa: F403 (the orders fixture)
from tests.integration.merge_helpers import COLUMNS, assert_table_equals
from tests.integration.test_exactly_once import _crash, _free_slot


@pytest.fixture()
def merge_job(pg_schema, pg_connection, destination, dataset):
    spec = job_spec(
        pg_connection, destination, dataset, table="orders",
        source={"schema": pg_schema, "table": "orders"}, load_type="merge",
        cursor_column="updated_at", deletes="hard", delete_check="every_run",
        processing_mode="standard",
    )  # fmt: skip
    apply(spec)
    return spec


@pytest.mark.parametrize(
    "checkpoint",
    [
        # Two in `make test` (their recovery is merge's own), two more in `make faults`, which
        # also kills at every checkpoint in one loop (tests/faults/test_merge_faults.py).
        checkpoints.MERGE_STAGING_LOADED,  # staging loaded, no MERGE: the attempt is spent
        checkpoints.DELETES_KEYS_LOADED,  # keys loaded, no delete MERGE: checked again
        # empty staging table: the same attempt reuses it
        pytest.param(checkpoints.MERGE_STAGING_CREATED, marks=pytest.mark.faults),
        # the MERGE may still land: waited for, then planned on
        pytest.param(checkpoints.LOAD_SUBMITTED, marks=pytest.mark.faults),
    ],
)
def test_a_merge_run_killed_at_a_checkpoint_then_rerun_converges_to_the_source(
    checkpoint,
    orders,
    merge_job,
    bq,
    dataset,
    tmp_path,
):
    sql, source = orders
    assert run(merge_job)["status"] == "completed"
    sql("UPDATE {t} SET note = 'moved', updated_at = updated_at + interval '9 days' WHERE id = 5")
    sql("UPDATE {t} SET note = 'same cursor' WHERE id = 11")  # at the watermark
    sql("DELETE FROM {t} WHERE id = 8")
    sql("INSERT INTO {t} VALUES (21, 'new', 1, true, timestamptz '2026-01-09 10:00:00+00')")

    crashed = _crash(tmp_path, merge_job, checkpoint)
    assert crashed.returncode == 137, crashed.stderr[-2000:]
    _free_slot(merge_job.name)

    sql("UPDATE {t} SET note = 'later', updated_at = updated_at + interval '12 days' WHERE id = 6")
    sql("DELETE FROM {t} WHERE id = 9")
    rerun = run(merge_job)
    assert rerun["status"] == "completed", rerun
    table = f"local.{dataset}.orders"
    assert_table_equals(bq, table, source(), COLUMNS)
    left = [t.table_id for t in bq.list_tables(dataset) if t.table_id.startswith("_etl_")]
    assert left == [], left  # the killed run's staging and keys tables were dropped
    again = run(merge_job)
    assert again["rows_loaded"] == 0, again
    assert again["merge"]["deletes"]["rows deleted"] == 0, again
    assert_table_equals(bq, table, source(), COLUMNS)


def test_a_key_read_that_fails_midway_deletes_nothing_and_the_run_ends_partial(
    orders, merge_job, bq, dataset, tmp_path
):
    """The key read fails after its first batch was staged: the increment is merged, nothing is
    deleted (no key file reaches BigQuery), the run ends Partial with the sentence, and the
    next run checks again and deletes then."""
    import json

    sql, source = orders
    assert run(merge_job)["status"] == "completed"
    sql("DELETE FROM {t} WHERE id IN (1, 2)")
    sql("UPDATE {t} SET note = 'moved', updated_at = updated_at + interval '9 days' WHERE id = 5")
    failed = _crash(tmp_path, merge_job, checkpoints.EXTRACT_KEYS_BATCH_STAGED, "raise")
    report = json.loads(failed.stdout.strip().splitlines()[-1])
    assert report["status"] == "partial" and report["state_name"] == "Partial", report
    assert report["merge"]["rows updated"] == 1, report
    sentence = report["merge"]["deletes"]
    assert sentence.startswith(
        f"deletes not checked: reading the keys of {merge_job.describe_source()} failed after"
    ) and sentence.endswith("nothing was deleted; the next run checks again"), sentence
    table = f"local.{dataset}.orders"
    held = {r["id"] for r in bq.query_and_wait(f"SELECT id FROM `{table}` WHERE id IN (1, 2)")}
    assert held == {1, 2}  # nothing deleted
    rerun = run(merge_job)
    assert rerun["merge"]["deletes"]["rows deleted"] == 2, rerun
    assert_table_equals(bq, table, source(), COLUMNS)
