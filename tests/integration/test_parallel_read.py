"""Parallel reads in standard mode (`parallelism`, engine.parallel_read), against the machine's
PostgreSQL and the BigQuery emulator: a catalog load read in key ranges at once equals the one
stream's load row for row (compared by BigQuery itself); a transactional job read in cursor
ranges loads each row exactly once across a re-run with a lookback; a failure while units are
being read fails the run in extraction with nothing loaded, and the re-run loads everything once;
units read the one snapshot the run's reader exported (PostgreSQL), not rows committed after it;
a file source is read one unit per file at once, its unreadable records still kept.

Tables of 200,000 rows: enough for several units (a unit is at least 50,000 estimated rows), small
enough for the shared 2-core machine. No test looks at durations.
"""

from __future__ import annotations

import uuid
from dataclasses import replace
from pathlib import Path

import pytest

from etl_bigquery.blocks.registry import load_connection
from etl_bigquery.engine import checkpoints
from etl_bigquery.engine.errors import ExtractionError
from etl_bigquery.engine.jobs.model import TableSource
from etl_bigquery.engine.schema.bqtypes import BqType
from etl_bigquery.engine.sources.abilities import SharesSnapshot
from etl_bigquery.engine.sources.base import ReadColumn, ReadPlan
from tests.integration.helpers import apply, job_spec, run
from tests.integration.test_dataflow_subflow import (
    _create,
    _insert,
    counts,
    differences,
    units_artifact,
)

ROWS = 200_000


@pytest.fixture()
def folder(tmp_path: Path) -> Path:
    path = tmp_path / "drop"
    path.mkdir()
    return path


@pytest.fixture()
def local_connection(services, folder: Path) -> str:
    from etl_bigquery.blocks.files import FileConnection

    name = f"files-{uuid.uuid4().hex[:8]}"
    FileConnection(type="local", bucket=str(folder)).save(name, overwrite=True)
    return name


def test_a_catalog_load_read_in_parallel_key_ranges_equals_the_one_stream_load(
    pg_admin, pg_schema, pg_connection, destination, dataset, bq
):
    _create(pg_admin, pg_schema, "events", ROWS)
    source = {"schema": pg_schema, "table": "events"}
    one = job_spec(pg_connection, destination, dataset, source=source, table="one_stream",
                   parallelism=1)  # fmt: skip
    many = job_spec(pg_connection, destination, dataset, source=source, table="parallel",
                    parallelism=3)  # fmt: skip
    apply(one)
    apply(many)
    by_one, by_many = run(one), run(many)
    assert by_one["status"] == by_many["status"] == "completed", (by_one, by_many)
    # `auto` on the default (Direct) runner: standard mode, whatever the size.
    assert by_one["processing_mode"] == by_many["processing_mode"] == "standard"
    assert by_one["read_units"] == 1
    assert by_many["read_units"] == 3, by_many
    assert by_many["rows_read"] == by_many["rows_loaded"] == ROWS
    assert counts(bq, dataset, "one_stream") == {"n": ROWS, "ids": ROWS}
    assert counts(bq, dataset, "parallel") == {"n": ROWS, "ids": ROWS}
    assert differences(bq, dataset, "one_stream", "parallel") == {"only_left": 0, "only_right": 0}
    # The source itself, to the id: nothing missing, nothing twice.
    low_high = next(
        iter(
            bq.query_and_wait(
                f"SELECT MIN(id) AS lo, MAX(id) AS hi FROM `local.{dataset}.parallel`"
            )
        )
    )
    assert (low_high["lo"], low_high["hi"]) == (1, ROWS)


def test_a_transactional_job_read_in_parallel_cursor_ranges_loads_each_row_once(
    pg_admin, pg_schema, pg_connection, destination, dataset, bq
):
    _create(pg_admin, pg_schema, "events", ROWS)
    job = job_spec(
        pg_connection, destination, dataset, source={"schema": pg_schema, "table": "events"},
        load_type="transactional", cursor_column="at", backfill_start="all", parallelism=2,
    )  # fmt: skip
    apply(job)
    first = run(job)
    assert first["status"] == "completed", first
    assert first["read_units"] == 2 and first["rows_loaded"] == ROWS
    last = first["watermark_after"]
    # Rows at the last loaded cursor value (the boundary) and 120,000 later ones: the next read
    # splits again, and the 10-minute lookback re-reads 600 loaded rows in one of its units.
    _insert(pg_admin, pg_schema, "events", ROWS + 1, ROWS + 5, at=last)
    _insert(pg_admin, pg_schema, "events", ROWS + 6, ROWS + 120_000)
    second = run(job)
    assert second["status"] == "completed", second
    assert second["read_units"] == 2, second
    assert second["rows_loaded"] == 120_000
    assert second["rows_already_loaded"] >= 600
    assert counts(bq, dataset, "bq_events") == {"n": ROWS + 120_000, "ids": ROWS + 120_000}
    third = run(job)
    assert third["rows_loaded"] == 0, third
    assert third["read_units"] == 1  # a small read (the lookback window) stays one stream


def test_a_failure_while_units_are_read_loads_nothing_and_the_rerun_loads_everything_once(
    pg_admin, pg_schema, pg_connection, destination, dataset, bq
):
    _create(pg_admin, pg_schema, "events", ROWS)
    job = job_spec(
        pg_connection, destination, dataset, source={"schema": pg_schema, "table": "events"},
        load_type="transactional", cursor_column="at", backfill_start="all", parallelism=3,
    )  # fmt: skip
    apply(job)
    reached = {"batches": 0}

    def fail_third() -> None:
        reached["batches"] += 1
        if reached["batches"] == 3:
            raise ExtractionError("injected: the source row cannot be read")

    remove = checkpoints.on(checkpoints.EXTRACT_BATCH_STAGED, fail_third)
    try:
        failed = run(job)
    finally:
        remove()
    assert failed["status"] == "failed", failed
    assert failed["error_type"] == "extraction" and "injected" in failed["error"]
    assert failed["rows_loaded"] == 0
    assert counts(bq, dataset, "bq_events")["n"] == 0
    again = run(job)
    assert again["status"] == "completed", again
    assert again["read_units"] == 3 and again["rows_loaded"] == ROWS
    assert counts(bq, dataset, "bq_events") == {"n": ROWS, "ids": ROWS}


def test_units_read_the_snapshot_the_run_exported_not_rows_committed_after_it(
    pg_admin, pg_schema, pg_connection
):
    # What makes a catalog read in units one consistent image: the run's reader exports a
    # snapshot, and a unit read on another connection sees exactly that snapshot.
    _create(pg_admin, pg_schema, "events", 1000)
    connection = load_connection(pg_connection)
    exporter, unit_reader = connection.open_reader(), connection.open_reader()
    assert isinstance(exporter, SharesSnapshot)
    plan = ReadPlan(
        TableSource.model_validate({"schema": pg_schema, "table": "events"}),
        [ReadColumn("id", "bigint", BqType.INT64)],
    )

    def rows(read: ReadPlan) -> int:
        return sum(batch.num_rows for batch in unit_reader.read(read))

    try:
        with exporter.exported_snapshot() as snapshot:
            _insert(pg_admin, pg_schema, "events", 1001, 1500)  # committed after the export
            assert rows(replace(plan, snapshot=snapshot)) == 1000
            assert rows(plan) == 1500  # a read of its own sees the new rows
    finally:
        exporter.close()
        unit_reader.close()


def _five_files(folder: Path) -> None:
    """Five CSV files of 1,000 rows, the third with one ragged record (a field short)."""
    for f in range(5):
        lines = [f"{f * 1000 + i},{i * 1.5},n{i}" for i in range(1, 1001)]
        if f == 2:
            lines.insert(10, "2999,1.0")
        (folder / f"part-{f}.csv").write_text("id,amount,note\n" + "\n".join(lines) + "\n")


def test_files_are_read_one_unit_per_file_at_once_with_unreadable_records_kept(
    bq, dataset, destination, local_connection, folder
):
    # Read in parallel, each file is a unit on a reader of its own, and the record that reader
    # could not read is still kept with its reason.
    _five_files(folder)
    job = job_spec(
        local_connection, destination, dataset, table="parts",
        source={"kind": "files", "glob": "*.csv", "format": "csv"},
        load_type="transactional", parallelism=3,
    )  # fmt: skip
    apply(job)
    first = run(job)
    assert first["status"] == "partial", first
    assert first["read_units"] == 5
    assert (first["rows_loaded"], first["rows_rejected"]) == (5000, 1)
    sql = f"SELECT COUNT(*) AS n, COUNT(DISTINCT id) AS ids FROM `local.{dataset}.parts`"
    assert dict(next(iter(bq.query_and_wait(sql))).items()) == {"n": 5000, "ids": 5000}
    again = run(job)  # no file changed: nothing read, nothing loaded twice
    assert again["rows_loaded"] == 0, again


def test_the_beam_path_reads_files_one_unit_per_file_and_keeps_unreadable_records(
    bq, dataset, destination, local_connection, folder
):
    _five_files(folder)
    job = job_spec(
        local_connection, destination, dataset, table="parts",
        source={"kind": "files", "glob": "*.csv", "format": "csv"},
        load_type="transactional", processing_mode="dataflow", dataflow={"direct_workers": 1},
    )  # fmt: skip
    apply(job)
    first = run(job)
    assert first["status"] == "partial", first
    assert first["processing_mode"] == "dataflow", first["processing_reason"]
    assert (first["rows_read"], first["rows_loaded"], first["rows_rejected"]) == (5001, 5000, 1)
    sql = f"SELECT COUNT(*) AS n, COUNT(DISTINCT id) AS ids FROM `local.{dataset}.parts`"
    assert dict(next(iter(bq.query_and_wait(sql))).items()) == {"n": 5000, "ids": 5000}
    kept = f"SELECT reason FROM `local.{dataset}.parts__rejected`"
    assert len(list(bq.query_and_wait(kept))) == 1
    units = units_artifact(job.name)
    assert sorted(str(u["range"]) for u in units) == [f"file part-{f}.csv" for f in range(5)]
    again = run(job)  # no file changed: nothing read, nothing loaded twice
    assert again["rows_loaded"] == 0, again
