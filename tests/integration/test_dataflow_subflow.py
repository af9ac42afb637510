"""The Dataflow subflow on Beam's DirectRunner, against the machine's PostgreSQL and the BigQuery
emulator: a large table through the Beam path (`processing_mode: dataflow`; `auto` never picks the
DirectRunner) equals the standard path's result,
row for row (compared by BigQuery itself); an incremental run after new rows loads only those,
exactly once across units; a read without a cursor bound uses ranges of an integer primary key,
else hash units; a unit that fails fails the run in `extraction` and loads nothing, and the
re-run loads everything once.

The large table (1,500,000 rows, DATAFLOW_TEST_ROWS to change) is generated once per session with
generate_series.
"""

from __future__ import annotations

import json
import os
import uuid

import pytest

from etl_bigquery.engine import checkpoints
from etl_bigquery.engine.errors import ExtractionError, TransientExtractionError
from etl_bigquery.engine.jobs.model import ProcessingMode
from tests.integration.helpers import apply, job_spec, run

ROWS = int(os.environ.get("DATAFLOW_TEST_ROWS", "1500000"))
DATA_COLUMNS = ["id", "at", "amount", "price", "note", "flag", "payload"]


def _create(pg_admin, schema: str, table: str, rows: int, start: int = 1) -> None:
    pg_admin.execute(
        f"""CREATE TABLE IF NOT EXISTS "{schema}".{table} (
              id bigint PRIMARY KEY, at timestamptz NOT NULL, amount numeric(12,2),
              price double precision, note text, flag boolean, payload jsonb)"""
    )
    _insert(pg_admin, schema, table, start, start + rows - 1)


def _insert(
    pg_admin, schema: str, table: str, first: int, last: int, at: str | None = None
) -> None:
    stamp = (
        f"timestamptz '{at}'"
        if at
        else "timestamptz '2026-01-01 00:00:00+00' + g * interval '1 second'"
    )
    pg_admin.execute(
        f"""INSERT INTO "{schema}".{table}
            SELECT g, {stamp}, (g % 100000) / 100.0,
                   CASE WHEN g % 97 = 0 THEN 'NaN'::float8 ELSE g * 0.5 END,
                   CASE WHEN g % 13 = 0 THEN NULL ELSE 'note ' || g END, g % 3 = 0,
                   jsonb_build_object('g', g, 'tags', jsonb_build_array('a', g % 5))
            FROM generate_series({first}, {last}) g"""
    )
    pg_admin.execute(f'ANALYZE "{schema}".{table}')


@pytest.fixture(scope="session")
def big_schema(pg_admin):
    """One schema for the session's large tables, generated once and dropped at the end."""
    name = f"etl_dataflow_{uuid.uuid4().hex[:8]}"
    pg_admin.execute(f'CREATE SCHEMA "{name}"')
    yield name
    pg_admin.execute(f'DROP SCHEMA "{name}" CASCADE')


@pytest.fixture(scope="session")
def big_table(pg_admin, big_schema) -> str:
    _create(pg_admin, big_schema, "events", ROWS)
    return "events"


def counts(bq, dataset: str, table: str) -> dict[str, int]:
    sql = f"SELECT COUNT(*) AS n, COUNT(DISTINCT id) AS ids FROM `local.{dataset}.{table}`"
    return dict(next(iter(bq.query_and_wait(sql))).items())


def differences(bq, dataset: str, left: str, right: str) -> dict[str, int]:
    """Rows of each table that the other lacks, compared by BigQuery itself on the JSON text of
    every data column (JSON columns cannot be compared directly in BigQuery). With equal counts
    and unique ids, no difference means equal row for row. (A BIT_XOR(FARM_FINGERPRINT(...))
    checksum works on the emulator too, but its FARM_FINGERPRINT is a Python function there,
    about 60 us a row: minutes for the 1.5M-row case.)"""
    row = f"TO_JSON_STRING(STRUCT({', '.join(DATA_COLUMNS)}))"
    a, b = f"`local.{dataset}.{left}`", f"`local.{dataset}.{right}`"
    sql = f"""SELECT
        (SELECT COUNT(*) FROM (SELECT {row} FROM {a} EXCEPT DISTINCT SELECT {row} FROM {b}))
          AS only_left,
        (SELECT COUNT(*) FROM (SELECT {row} FROM {b} EXCEPT DISTINCT SELECT {row} FROM {a}))
          AS only_right"""
    return dict(next(iter(bq.query_and_wait(sql))).items())


def units_artifact(job_name: str) -> list[dict[str, object]]:
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import ArtifactFilter, ArtifactFilterKey

    from etl_bigquery.flows.artifacts import artifact_key

    with get_client(sync_client=True) as client:
        found = client.read_artifacts(
            artifact_filter=ArtifactFilter(
                key=ArtifactFilterKey(any_=[artifact_key(job_name, "dataflow-units")])
            )
        )
    assert found, "the Dataflow subflow published no units artifact"
    data = found[0].data
    return json.loads(data) if isinstance(data, str) else data


def _beam_equals_standard(pg_connection, destination, dataset, bq, schema, table, rows):
    source = {"schema": schema, "table": table}
    standard = job_spec(pg_connection, destination, dataset, source=source,
                        table="by_standard", processing_mode="standard")  # fmt: skip
    # `auto` never picks the DirectRunner (engine.pipeline.mode): the Beam path is asked for.
    beam = job_spec(
        pg_connection, destination, dataset, source=source, table="by_beam",
        processing_mode="dataflow",
        dataflow={"direct_workers": 2, "rows_per_unit": max(rows // 6, 1000)},
    )  # fmt: skip
    apply(standard)
    apply(beam)
    by_standard = run(standard)
    by_beam = run(beam)
    assert by_standard["status"] == "completed", by_standard
    assert by_beam["status"] == "completed", by_beam
    assert by_standard["processing_mode"] == "standard"
    assert by_beam["processing_mode"] == "dataflow", by_beam["processing_reason"]
    assert "set by the job" in by_beam["processing_reason"]
    assert by_beam["rows_read"] == by_beam["rows_loaded"] == rows
    assert by_beam["files_staged"] >= 2
    assert counts(bq, dataset, "by_standard") == {"n": rows, "ids": rows}
    assert counts(bq, dataset, "by_beam") == {"n": rows, "ids": rows}
    assert differences(bq, dataset, "by_standard", "by_beam") == {"only_left": 0, "only_right": 0}
    # No cursor bound (a catalog read) and an integer primary key: ranges of the key.
    units = units_artifact(beam.name)
    assert len(units) >= 2
    assert all(str(u["range"]).startswith("id in [") for u in units), units
    assert sum(int(u["rows_read"]) for u in units) == rows


def test_a_large_table_through_beam_equals_the_standard_result(
    pg_connection, destination, dataset, bq, big_schema, big_table
):
    _beam_equals_standard(pg_connection, destination, dataset, bq, big_schema, big_table, ROWS)


def test_incremental_run_through_beam_loads_only_new_rows_once_across_units(
    pg_admin, pg_schema, pg_connection, destination, dataset, bq
):
    _create(pg_admin, pg_schema, "events", 20_000)
    job = job_spec(
        pg_connection, destination, dataset, source={"schema": pg_schema, "table": "events"},
        load_type="transactional", cursor_column="at", backfill_start="all",
        processing_mode="dataflow", dataflow={"direct_workers": 1, "rows_per_unit": 5_000},
    )  # fmt: skip
    apply(job)
    first = run(job)  # in-process workers: starting worker processes costs seconds per run
    assert first["status"] == "completed", first
    assert first["rows_loaded"] == 20_000
    last = first["watermark_after"]
    # Rows at the last loaded cursor value (the boundary), and later ones; the 10-minute lookback
    # re-reads 600 loaded rows, spread over several units: none may come back.
    _insert(pg_admin, pg_schema, "events", 20_001, 20_005, at=last)
    _insert(pg_admin, pg_schema, "events", 20_006, 20_500)
    # The exactly-once claim across units, with units spread over two worker processes.
    second = run(job.model_copy(update={"dataflow": job.dataflow.model_copy(
        update={"direct_workers": 2})}))  # fmt: skip
    assert second["status"] == "completed", second
    assert second["processing_mode"] == "dataflow"
    assert second["rows_loaded"] == 500
    assert second["rows_already_loaded"] >= 600
    assert counts(bq, dataset, "bq_events") == {"n": 20_500, "ids": 20_500}
    third = run(job)
    assert third["rows_loaded"] == 0, third
    # In auto mode, what a run reads decides: the table (20,600 rows) is past the threshold,
    # its increment (the lookback window and 100 new rows, by the planner's estimate) is not.
    _insert(pg_admin, pg_schema, "events", 20_501, 20_600)
    auto = job.model_copy(update={"processing_mode": ProcessingMode.AUTO, "row_threshold": 10_000})
    fourth = run(auto)
    assert fourth["processing_mode"] == "standard", fourth["processing_reason"]
    assert "auto" in fourth["processing_reason"] and fourth["rows_loaded"] == 100, fourth
    assert "unknown" not in fourth["processing_reason"]  # an estimate, not the lack of one


def test_a_table_without_cursor_bound_or_integer_key_is_read_in_hash_units_rejects_kept_once(
    pg_admin, pg_schema, pg_connection, destination, dataset, bq
):
    # No key at all; `n` holds integers as text, but one row's is not a number.
    pg_admin.execute(f'CREATE TABLE "{pg_schema}".notes (code text, body text, n text)')
    pg_admin.execute(
        f"""INSERT INTO "{pg_schema}".notes
            SELECT 'c' || g, CASE WHEN g % 5 = 0 THEN NULL ELSE 'b' || g END,
                   CASE WHEN g = 777 THEN 'oops' ELSE g::text END
            FROM generate_series(1, 12000) g"""
    )
    job = job_spec(
        pg_connection, destination, dataset, source={"schema": pg_schema, "table": "notes"},
        column_types={"n": "INT64"},
        processing_mode="dataflow", dataflow={"direct_workers": 1, "rows_per_unit": 3000},
    )  # fmt: skip
    apply(job)
    report = run(job)
    # The malformed row is kept with its reason, like the standard path does: a Partial run.
    assert report["status"] == "partial", report
    assert (report["rows_loaded"], report["rows_rejected"]) == (11_999, 1)
    units = units_artifact(job.name)
    assert len(units) == 4
    # Buckets of the whole row: every row in exactly one of them.
    assert all(str(u["range"]).startswith("hash(code, body, n) bucket") for u in units), units
    assert sum(int(u["rows_read"]) for u in units) == 12_000
    sql = f"SELECT COUNT(DISTINCT code) AS codes FROM `local.{dataset}.bq_notes`"
    assert next(iter(bq.query_and_wait(sql)))["codes"] == 11_999
    kept = f"SELECT reason FROM `local.{dataset}.bq_notes__rejected`"
    reasons = [row["reason"] for row in bq.query_and_wait(kept)]
    assert len(reasons) == 1 and "'oops'" in reasons[0]
    # Read again by the next snapshot, the same malformed row is not kept a second time.
    again = run(job)
    assert (again["status"], again["rows_loaded"], again["rows_rejected"]) == (
        "completed", 11_999, 0,
    )  # fmt: skip
    assert len(list(bq.query_and_wait(kept))) == 1


def test_a_failing_unit_fails_the_run_in_extraction_and_the_rerun_loads_everything_once(
    pg_admin, pg_schema, pg_connection, destination, dataset, bq
):
    _create(pg_admin, pg_schema, "events", 30_000)
    job = job_spec(
        pg_connection, destination, dataset, source={"schema": pg_schema, "table": "events"},
        load_type="transactional", cursor_column="at", backfill_start="all",
        processing_mode="dataflow", dataflow={"direct_workers": 1, "rows_per_unit": 10_000},
    )  # fmt: skip
    apply(job)
    # In-process workers (direct_workers: 1) reach the engine's checkpoints: the third batch a
    # unit stages fails, for good (not transient: retrying the unit cannot help).
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
    assert failed["error_type"] == "extraction"
    assert "Dataflow unit" in failed["error"] and "injected" in failed["error"]
    assert failed["rows_loaded"] == 0
    assert counts(bq, dataset, "bq_events")["n"] == 0

    # A transient failure of one unit is retried inside the worker, from the unit's start.
    reached["batches"] = 0

    def fail_once() -> None:
        reached["batches"] += 1
        if reached["batches"] == 2:
            raise TransientExtractionError("injected: connection dropped")

    remove = checkpoints.on(checkpoints.EXTRACT_BATCH_STAGED, fail_once)
    try:
        rerun = run(job)
    finally:
        remove()
    assert rerun["status"] == "completed", rerun
    assert rerun["rows_loaded"] == 30_000
    assert counts(bq, dataset, "bq_events") == {"n": 30_000, "ids": 30_000}
    assert max(int(u["attempts"]) for u in units_artifact(job.name)) == 2
