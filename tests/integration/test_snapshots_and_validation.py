"""Catalog snapshots never go back in time; a failed validation changes nothing in BigQuery; a
snapshot keeps the table's column descriptions; FLOAT64 keeps NaN and Infinity (issue 7, defects
6, 8, 9, 10)."""

from __future__ import annotations

import math
import subprocess
import sys
import time

import pytest

from etl_bigquery.engine import checkpoints
from tests.integration.helpers import apply, data_rows, job_spec, run
from tests.integration.test_exactly_once import _free_slot


@pytest.fixture()
def items(pg_admin, pg_schema):
    pg_admin.execute(f'CREATE TABLE "{pg_schema}".items (id int PRIMARY KEY, version text)')

    def version(label: str, count: int = 5) -> None:
        pg_admin.execute(f'TRUNCATE "{pg_schema}".items')
        pg_admin.execute(
            f"""INSERT INTO "{pg_schema}".items
                SELECT g, '{label}' FROM generate_series(1, {count}) g"""
        )

    return version


def _versions(bq, dataset: str) -> set[str]:
    return {row["version"] for row in data_rows(bq, dataset, "bq_items")}


def test_an_older_snapshot_never_overwrites_a_newer_one(
    items, pg_schema, pg_connection, destination, dataset, bq, tmp_path
):
    """Run A extracts v2 and stalls before submitting; its slot lapses; run B loads v3; when A
    wakes up its WRITE_TRUNCATE is refused, and the table keeps the newer v3."""
    job = job_spec(
        pg_connection, destination, dataset, source={"schema": pg_schema, "table": "items"}
    )
    apply(job)
    items("v1")
    assert run(job)["status"] == "completed"
    items("v2")
    spec = tmp_path / "job.json"
    spec.write_text(job.model_dump_json(by_alias=True))
    slow = subprocess.Popen(
        [sys.executable, "-m", "tests.integration.crash_run", str(spec),
         checkpoints.LOAD_BEFORE_SUBMIT, "pause"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    deadline = time.monotonic() + 240
    while not (tmp_path / "job.json.paused").exists():
        assert slow.poll() is None and time.monotonic() < deadline, slow.communicate()
        time.sleep(0.2)
    _free_slot(job.name)  # as if A's lease had expired
    items("v3")
    newer = run(job)
    assert newer["status"] == "completed", newer
    (tmp_path / "job.json.go").touch()
    out, err = slow.communicate(timeout=240)
    assert '"status": "failed"' in out, err[-2000:]
    assert _versions(bq, dataset) == {"v3"}


def test_two_plans_from_one_snapshot_share_one_job_id(
    items, pg_schema, pg_connection, destination, dataset, bq
):
    from etl_bigquery.engine.bigquery.tables import TableRef
    from etl_bigquery.engine.incremental import plan_snapshot

    job = job_spec(
        pg_connection, destination, dataset, source={"schema": pg_schema, "table": "items"}
    )
    apply(job)
    items("v1")
    ref = TableRef("local", dataset, "bq_items")
    first, second = plan_snapshot(bq, ref, job.name), plan_snapshot(bq, ref, job.name)
    assert first.job_id == second.job_id
    report = run(job)
    assert report["load_job_id"] == first.job_id
    assert plan_snapshot(bq, ref, job.name).job_id != first.job_id  # the state moved on


def test_a_failed_validation_leaves_the_table_as_it_was(
    pg_admin, pg_schema, pg_connection, destination, dataset, bq
):
    pg_admin.execute(f'CREATE TABLE "{pg_schema}".notes (id int, extra text, updated_at date)')
    pg_admin.execute(f"""INSERT INTO "{pg_schema}".notes VALUES (1, 'x', '2026-11-01')""")
    job = job_spec(
        pg_connection, destination, dataset, source={"schema": pg_schema, "table": "notes"},
        columns=["id", "updated_at"], load_type="transactional", cursor_column="updated_at",
        backfill_start="all",
    )  # fmt: skip
    apply(job)
    assert run(job)["rows_loaded"] == 1
    table = f"local.{dataset}.bq_notes"
    bq.query_and_wait(f"UPDATE `{table}` SET updated_at = NULL WHERE TRUE")
    before = [f.name for f in bq.get_table(table).schema]
    wider = job.model_copy(update={"columns": ["id", "extra", "updated_at"]})
    report = run(wider)
    assert report["status"] == "failed" and report["error_type"] == "validation"
    assert [f.name for f in bq.get_table(table).schema] == before  # `extra` was not added


def test_a_snapshot_keeps_the_column_descriptions_of_the_table(
    items, pg_schema, pg_connection, destination, dataset, bq
):
    job = job_spec(
        pg_connection, destination, dataset, source={"schema": pg_schema, "table": "items"}
    )
    apply(job)
    items("v1")
    assert run(job)["status"] == "completed"
    table = bq.get_table(f"local.{dataset}.bq_items")
    table.schema = [
        f.to_api_repr() | {"description": "what the business calls it"}
        if f.name == "version"
        else f.to_api_repr()
        for f in table.schema
    ]
    bq.update_table(table, ["schema"])
    items("v2")
    report = run(job)
    assert report["status"] == "completed"
    fields = {f.name: f for f in bq.get_table(f"local.{dataset}.bq_items").schema}
    assert fields["version"].description == "what the business calls it"
    # Real BigQuery replaces the schema with the load job's on WRITE_TRUNCATE (the emulator
    # keeps the table's), so the job itself must carry the table's descriptions.
    loaded = {f.name: f for f in bq.get_job(report["load_job_id"]).schema}
    assert loaded["version"].description == "what the business calls it"
    assert _versions(bq, dataset) == {"v2"}


def test_float64_keeps_nan_and_infinity_and_numeric_nan_is_counted(
    pg_admin, pg_schema, pg_connection, destination, dataset, bq
):
    pg_admin.execute(f'CREATE TABLE "{pg_schema}".odd (id int, f float8, n numeric)')
    pg_admin.execute(
        f"""INSERT INTO "{pg_schema}".odd VALUES
            (1, 'NaN', 'NaN'), (2, 'Infinity', 1.5), (3, '-Infinity', NULL)"""
    )
    job = job_spec(
        pg_connection, destination, dataset, source={"schema": pg_schema, "table": "odd"},
        column_types={"n": "NUMERIC"},
    )  # fmt: skip
    apply(job)
    report = run(job)
    assert report["status"] == "completed", report
    assert report["numeric_nan_nulled"] == 1
    rows = data_rows(bq, dataset, "bq_odd")
    assert math.isnan(rows[0]["f"]) and rows[1]["f"] == math.inf and rows[2]["f"] == -math.inf
    assert rows[0]["n"] is None


def test_a_destination_without_a_location_is_refused_with_a_sentence():
    from pydantic import ValidationError

    from etl_bigquery.blocks import BigQueryDestination

    for location in (None, ""):
        with pytest.raises(ValidationError, match="location"):
            BigQueryDestination(project="p", staging_uri="gs://b/p", location=location)


def test_a_missing_staging_bucket_fails_validation_and_the_connection_test(
    items, pg_schema, pg_connection, destination, dataset, bq
):
    """Without this check the source was read whole and the first upload failed with a 404."""
    from etl_bigquery.blocks import BigQueryDestination
    from etl_bigquery.service.connections import test_connection

    job = job_spec(
        pg_connection, destination, dataset, source={"schema": pg_schema, "table": "items"}
    )
    apply(job)
    items("v1")
    assert run(job)["status"] == "completed"
    block = BigQueryDestination.load(destination)
    missing = f"etl-missing-{dataset.removeprefix('ds_')}"
    block.staging_uri = f"gs://{missing}/loads"
    block.save(destination, overwrite=True)
    items("v2")

    report = run(job)
    sentence = f"Staging bucket gs://{missing} does not exist"
    assert report["status"] == "failed" and report["error_type"] == "validation", report
    assert sentence in report["error"], report
    assert _versions(bq, dataset) == {"v1"}
    outcome = test_connection(destination)
    assert outcome.status == "failed" and outcome.message.startswith(sentence), outcome
