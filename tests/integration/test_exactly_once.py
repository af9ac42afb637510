"""Exactly once for transactional loads (engine.incremental): a run killed or failing at any point,
then run again, leaves exactly the source rows in BigQuery.

Each test crashes a real run in a child process at one checkpoint (os._exit, as when a container
is killed), adds rows (some sharing the last cursor value), runs the job again and compares the
BigQuery table with the source as a multiset of rows. A killed run keeps its concurrency slot until
the lease expires; the tests free it as an operator would, so they need not wait for expiry.
"""

from __future__ import annotations

import collections
import json
import subprocess
import sys

import pytest

from etl_bigquery.engine import checkpoints
from tests.integration.helpers import apply, data_rows, job_spec, run, task_attempts


@pytest.fixture()
def orders(pg_admin, pg_schema):
    pg_admin.execute(
        f'CREATE TABLE "{pg_schema}".orders (id int, note text, updated_at timestamptz NOT NULL)'
    )

    def add(first: int, count: int, at: str) -> None:
        pg_admin.execute(
            f"""INSERT INTO "{pg_schema}".orders
                SELECT g, 'n' || g, timestamptz '{at}' + (g % 5) * interval '1 second'
                FROM generate_series({first}, {first + count - 1}) g"""
        )

    def source() -> collections.Counter:
        rows = pg_admin.execute(f'SELECT id, note FROM "{pg_schema}".orders').fetchall()
        return collections.Counter(rows)

    return add, source


def _free_slot(job_name: str) -> None:
    from prefect.client.orchestration import get_client

    from etl_bigquery.flows.locking import limit_name

    with get_client(sync_client=True) as client:
        client.delete_global_concurrency_limit_by_name(limit_name(job_name))


def _crash(tmp_path, job, checkpoint: str, action: str = "kill") -> subprocess.CompletedProcess:
    spec = tmp_path / "job.json"
    spec.write_text(job.model_dump_json(by_alias=True))
    return subprocess.run(
        [sys.executable, "-m", "tests.integration.crash_run", str(spec), checkpoint, action],
        capture_output=True, text=True, timeout=300, check=False,
    )  # fmt: skip


def _bigquery(bq, dataset) -> collections.Counter:
    rows = data_rows(bq, dataset, "bq_orders")
    return collections.Counter((r["id"], r["note"]) for r in rows)


@pytest.fixture()
def job(pg_schema, pg_connection, destination, dataset):
    spec = job_spec(
        pg_connection, destination, dataset,
        source={"schema": pg_schema, "table": "orders"}, columns=["id", "note", "updated_at"],
        load_type="transactional", cursor_column="updated_at", backfill_start="all",
    )  # fmt: skip
    apply(spec)
    return spec


@pytest.mark.parametrize(
    "checkpoint",
    [
        checkpoints.EXTRACT_BATCH_STAGED,
        checkpoints.LOAD_BEFORE_SUBMIT,
        checkpoints.LOAD_SUBMITTED,
        checkpoints.LOAD_DONE,
    ],
)
def test_a_run_killed_at_any_point_then_rerun_loads_every_row_once(
    checkpoint, orders, job, bq, dataset, tmp_path
):
    add, source = orders
    add(1, 40, "2026-11-01 10:00:00+00")
    assert run(job)["status"] == "completed"
    add(41, 30, "2026-11-01 10:00:04+00")  # shares the last timestamp, and goes past it

    crashed = _crash(tmp_path, job, checkpoint)
    assert crashed.returncode == 137, crashed.stderr[-2000:]
    _free_slot(job.name)

    # More rows while the crashed run was dead, from the last timestamp on (rows that arrive
    # later with an older cursor are out of reach of any cursor-based load; see engine.incremental).
    add(71, 10, "2026-11-01 10:00:08+00")
    rerun = run(job)
    assert rerun["status"] == "completed", rerun
    assert _bigquery(bq, dataset) == source()
    assert run(job)["rows_loaded"] == 0


def test_a_failed_load_job_spends_its_id_and_the_rerun_uses_the_next_attempt(
    orders, job, bq, dataset, tmp_path
):
    add, source = orders
    add(1, 20, "2026-11-01 10:00:00+00")
    assert run(job)["status"] == "completed"
    add(21, 20, "2026-11-01 10:00:04+00")

    failed = _crash(tmp_path, job, checkpoints.LOAD_BEFORE_SUBMIT, "delete-staged")
    assert failed.stdout.strip(), failed.stderr[-3000:]
    report = json.loads(failed.stdout.strip().splitlines()[-1])
    assert report["status"] == "failed" and report["error_type"] == "load", report
    assert report["load_job_id"] is None

    rerun = run(job)
    assert rerun["status"] == "completed", rerun
    assert rerun["load_job_id"].endswith("_2")
    assert _bigquery(bq, dataset) == source()


def test_a_run_failing_after_its_load_landed_is_not_loaded_twice(
    orders, job, bq, dataset, tmp_path
):
    add, source = orders
    add(1, 20, "2026-11-01 10:00:00+00")
    failed = _crash(tmp_path, job, checkpoints.LOAD_DONE, "raise")
    report = json.loads(failed.stdout.strip().splitlines()[-1])
    assert report["status"] == "failed", report

    rerun = run(job)
    assert rerun["rows_loaded"] == 0
    assert _bigquery(bq, dataset) == source()


def test_the_watermark_unreadable_fails_the_run_instead_of_reloading_everything(
    orders, job, bq, dataset
):
    add, _ = orders
    add(1, 10, "2026-11-01 10:00:00+00")
    assert run(job)["rows_loaded"] == 10
    # The cursor column vanishes from BigQuery: the state cannot be read.
    bq.query_and_wait(f"ALTER TABLE `local.{dataset}.bq_orders` DROP COLUMN updated_at")
    report = run(job)
    assert report["status"] == "failed"
    assert report["error_type"] == "validation"
    assert "no column updated_at" in report["error"]
    assert len(data_rows(bq, dataset, "bq_orders")) == 10


def test_rows_without_a_watermark_fail_the_run_instead_of_reloading_everything(
    orders, job, bq, dataset
):
    add, _ = orders
    add(1, 10, "2026-11-01 10:00:00+00")
    assert run(job)["rows_loaded"] == 10
    bq.query_and_wait(f"UPDATE `local.{dataset}.bq_orders` SET updated_at = NULL WHERE TRUE")
    report = run(job)
    assert report["status"] == "failed" and report["error_type"] == "validation"
    assert "without a value in updated_at" in report["error"]
    assert task_attempts(report["flow_run_id"], "validate") == 1  # the table is wrong: no retry
    assert len(data_rows(bq, dataset, "bq_orders")) == 10
