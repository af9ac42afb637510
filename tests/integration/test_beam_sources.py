"""The Beam path (DirectRunner) for each source that splits beyond PostgreSQL, against the
machine's MariaDB, the BigQuery emulator and a local folder: the same job through
`processing_mode: dataflow` and through standard mode loads equal rows (compared by BigQuery
itself, row for row on every loaded column), each run one load job; the units are what the
splitter promises (NTILE key ranges, the streams of one BigQuery read session, one file each or
runs of a large Parquet file's row groups), and the run publishes a progress artifact of units
done of the total.

The BigQuery emulator (local-bigquery 0.3.2) gives one read stream per 100,000 rows of a session
(at most the streams asked for), so its table has 210,000 rows: three streams. Tables are small
otherwise; no test looks at durations.
"""

from __future__ import annotations

import contextlib
import json
import uuid
from collections.abc import Iterator
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from tests.integration.conftest_mariadb import *  # noqa: F403
from tests.integration.conftest_mariadb import maria_sql
from tests.integration.helpers import apply, job_spec, run
from tests.integration.test_dataflow_subflow import units_artifact

SOURCE_PROJECT = "srcproj"
BQ_ROWS = 210_000


def _columns(bq, dataset: str, table: str) -> list[str]:
    found = bq.get_table(f"local.{dataset}.{table}").schema
    return [f.name for f in found if f.name not in ("_etl_loaded_at", "_etl_run_id")]


def differences(bq, dataset: str, left: str, right: str) -> dict[str, int]:
    """Rows of each table the other lacks (as a multiset: rows are numbered within equal
    copies), on the JSON text of every column but the run's own stamps (load time, run id):
    fingerprints, versions and a file's trace columns included."""
    columns = _columns(bq, dataset, left)
    assert columns == _columns(bq, dataset, right)
    row = f"TO_JSON_STRING(STRUCT({', '.join(columns)}))"

    def numbered(table: str) -> str:
        return (
            f"SELECT {row} AS r, ROW_NUMBER() OVER (PARTITION BY {row}) AS k "
            f"FROM `local.{dataset}.{table}`"
        )

    a, b = numbered(left), numbered(right)
    sql = f"""SELECT
        (SELECT COUNT(*) FROM ({a} EXCEPT DISTINCT {b})) AS only_left,
        (SELECT COUNT(*) FROM ({b} EXCEPT DISTINCT {a})) AS only_right,
        (SELECT COUNT(*) FROM `local.{dataset}.{left}`) AS n_left,
        (SELECT COUNT(*) FROM `local.{dataset}.{right}`) AS n_right"""
    return dict(next(iter(bq.query_and_wait(sql))).items())


def progress_artifact(job_name: str) -> tuple[float, str]:
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import ArtifactFilter, ArtifactFilterKey

    from etl_bigquery.flows.artifacts import artifact_key

    with get_client(sync_client=True) as client:
        found = client.read_artifacts(
            artifact_filter=ArtifactFilter(
                key=ArtifactFilterKey(any_=[artifact_key(job_name, "progress")])
            )
        )
    assert found, "the run published no progress artifact"
    data = found[0].data
    value = json.loads(data) if isinstance(data, str) else data
    return float(value), str(found[0].description)


def _standard_and_beam(connection, destination, dataset, source, **fields) -> tuple[dict, dict]:
    standard = job_spec(connection, destination, dataset, source=source, table="by_standard",
                        processing_mode="standard", **fields)  # fmt: skip
    beam = job_spec(
        connection, destination, dataset, source=source, table="by_beam",
        processing_mode="dataflow", **fields,
    )  # fmt: skip
    apply(standard)
    apply(beam)
    by_standard, by_beam = run(standard), run(beam)
    assert by_standard["processing_mode"] == "standard", by_standard
    assert by_beam["processing_mode"] == "dataflow", by_beam["processing_reason"]
    by_beam["_job"] = beam.name
    return by_standard, by_beam


def _assert_one_load_job(bq, report: dict) -> None:
    """Exactly once as on the standard path: every unit's files went into the run's one load
    job (BigQuery's own job list, this job's jobs)."""
    prefix = f"etl_{report['_job']}_"
    loads = [
        j.job_id
        for j in bq.list_jobs(max_results=1000)
        if j.job_id.startswith(prefix) and j.job_type == "load"
    ]
    assert loads == [report["load_job_id"]], (loads, report["load_job_id"])


# -- MariaDB ----------------------------------------------------------------------------------


def test_mariadb_through_beam_loads_the_rows_standard_mode_loads(
    maria_admin, maria_db, maria_connection, destination, dataset, bq
):
    maria_sql(
        maria_admin, maria_db.database,
        """CREATE TABLE events (id BIGINT PRIMARY KEY, at DATETIME(6) NOT NULL,
             amount DECIMAL(12,2), note VARCHAR(40), flag BOOLEAN)""",
        """INSERT INTO events
            SELECT seq, TIMESTAMP'2026-01-01 00:00:00' + INTERVAL seq SECOND,
                   (seq MOD 1000) / 100, IF(seq MOD 13 = 0, NULL, CONCAT('n', seq)), seq MOD 3 = 0
            FROM seq_1_to_24000""",
        "ANALYZE TABLE events",
    )  # fmt: skip
    by_standard, by_beam = _standard_and_beam(
        maria_connection, destination, dataset, {"table": "events"},
        load_type="transactional", cursor_column="at", backfill_start="all",
        dataflow={"direct_workers": 1, "rows_per_unit": 6000},
    )  # fmt: skip
    assert by_standard["status"] == by_beam["status"] == "completed", (by_standard, by_beam)
    assert by_standard["rows_loaded"] == by_beam["rows_loaded"] == 24_000
    _assert_one_load_job(bq, by_beam)
    assert differences(bq, dataset, "by_standard", "by_beam") == {
        "only_left": 0, "only_right": 0, "n_left": 24_000, "n_right": 24_000,
    }  # fmt: skip
    # The first run has no cursor bound (backfill: all): NTILE ranges of the integer key, about
    # one unit per 6,000 rows of the server's estimate (ANALYZE's statistics: about 24,000).
    units = units_artifact(by_beam["_job"])
    assert 4 <= len(units) <= 5, units
    assert all(str(u["range"]).startswith("id in [") for u in units), [u["range"] for u in units]
    done = (100.0, f"Beam units: {len(units)} of {len(units)} done, 24,000 rows read")
    assert progress_artifact(by_beam["_job"]) == done


# -- BigQuery (the emulator) ------------------------------------------------------------------


@pytest.fixture(scope="module")
def bq_source_table(services) -> Iterator[tuple[str, str]]:
    """(source block, dataset) of a 210,000-row table in the emulator's source project."""
    from google.api_core.client_options import ClientOptions
    from google.auth.credentials import AnonymousCredentials
    from google.cloud import bigquery

    from etl_bigquery.blocks import BigQuerySource

    client = bigquery.Client(
        project=SOURCE_PROJECT,
        credentials=AnonymousCredentials(),
        client_options=ClientOptions(api_endpoint=services.layout.bigquery_endpoint),
    )
    name = f"src_{uuid.uuid4().hex[:10]}"
    client.create_dataset(name)
    client.query_and_wait(
        f"""CREATE TABLE `{SOURCE_PROJECT}.{name}.events` AS
            SELECT g AS id, TIMESTAMP_ADD(TIMESTAMP '2026-01-01 00:00:00+00', INTERVAL g SECOND)
                     AS at, CAST(MOD(g, 1000) AS NUMERIC) / 100 AS amount,
                   IF(MOD(g, 13) = 0, NULL, CONCAT('n', CAST(g AS STRING))) AS note
            FROM UNNEST(GENERATE_ARRAY(1, {BQ_ROWS})) AS g"""
    )
    block = f"bqsrc-{uuid.uuid4().hex[:8]}"
    BigQuerySource(
        project=SOURCE_PROJECT, billing_project="local", location="US",
        api_endpoint=services.layout.bigquery_endpoint,
        storage_api_endpoint=f"127.0.0.1:{services.layout.ports.bigquery_grpc}",
    ).save(block, overwrite=True)  # fmt: skip
    yield block, name
    with contextlib.suppress(Exception):
        BigQuerySource.delete(block)
    client.delete_dataset(name, delete_contents=True, not_found_ok=True)
    client.close()


def test_bigquery_through_beam_reads_the_streams_of_one_session_and_equals_standard_mode(
    bq_source_table, destination, dataset, bq
):
    block, source_dataset = bq_source_table
    by_standard, by_beam = _standard_and_beam(
        block, destination, dataset, {"schema": source_dataset, "table": "events"},
        dataflow={"direct_workers": 1, "rows_per_unit": 60_000},
    )  # fmt: skip
    assert by_standard["status"] == by_beam["status"] == "completed", (by_standard, by_beam)
    assert by_beam["rows_read"] == by_beam["rows_loaded"] == BQ_ROWS
    _assert_one_load_job(bq, by_beam)
    assert differences(bq, dataset, "by_standard", "by_beam") == {
        "only_left": 0, "only_right": 0, "n_left": BQ_ROWS, "n_right": BQ_ROWS,
    }  # fmt: skip
    # Four streams asked (210,000 / 60,000 rows); the emulator gives one per 100,000 rows.
    units = units_artifact(by_beam["_job"])
    assert sorted(str(u["range"]) for u in units) == [f"read stream {i}/3" for i in (1, 2, 3)]
    assert sum(int(u["rows_read"]) for u in units) == BQ_ROWS
    assert progress_artifact(by_beam["_job"])[0] == 100.0


def test_bigquery_read_streams_are_standard_modes_parallel_units(
    bq_source_table, destination, dataset, bq
):
    block, source_dataset = bq_source_table
    job = job_spec(block, destination, dataset,
                   source={"schema": source_dataset, "table": "events"}, parallelism=3)  # fmt: skip
    apply(job)
    report = run(job)
    assert report["status"] == "completed", report
    assert report["processing_mode"] == "standard"
    assert report["read_units"] == 3, report
    sql = f"SELECT COUNT(*) AS n, COUNT(DISTINCT id) AS ids FROM `local.{dataset}.bq_events`"
    assert dict(next(iter(bq.query_and_wait(sql))).items()) == {"n": BQ_ROWS, "ids": BQ_ROWS}


def test_a_bounded_bigquery_read_is_estimated_by_its_read_session(bq_source_table):
    # What `auto` weighs for an incremental run: the session's estimate with the cursor
    # predicate (the emulator counts exactly; real BigQuery may give the table's size).
    import datetime as dt

    from etl_bigquery.blocks.registry import load_connection
    from etl_bigquery.engine.jobs.model import TableSource
    from etl_bigquery.engine.schema.bqtypes import BqType
    from etl_bigquery.engine.sources.base import CursorBound, ReadColumn, ReadPlan

    block, source_dataset = bq_source_table
    reader = load_connection(block).open_reader()
    at = ReadColumn("at", "TIMESTAMP", BqType.TIMESTAMP)
    plan = ReadPlan(TableSource(schema=source_dataset, table="events"), [at])
    try:
        assert reader.estimate_read(plan) == BQ_ROWS  # type: ignore[attr-defined]
        start = dt.datetime(2026, 1, 1, tzinfo=dt.UTC) + dt.timedelta(seconds=BQ_ROWS - 999)
        bounded = ReadPlan(plan.source, [at], CursorBound(at, start))
        assert reader.estimate_read(bounded) == 1000  # type: ignore[attr-defined]
    finally:
        reader.close()


# -- local files ------------------------------------------------------------------------------


@pytest.fixture()
def folder(tmp_path: Path) -> Path:
    path = tmp_path / "drop"
    path.mkdir()
    return path


@pytest.fixture()
def local_connection(services, folder: Path) -> Iterator[str]:
    from etl_bigquery.blocks.files import FileConnection

    name = f"files-{uuid.uuid4().hex[:8]}"
    FileConnection(type="local", bucket=str(folder)).save(name, overwrite=True)
    yield name
    with contextlib.suppress(Exception):
        FileConnection.delete(name)


def test_csv_files_through_beam_load_the_rows_standard_mode_loads(
    local_connection, folder, destination, dataset, bq
):
    for f in range(3):
        lines = [f"{f * 1000 + i},{i * 1.5},n{i}" for i in range(1, 1001)]
        (folder / f"part-{f}.csv").write_text("id,amount,note\n" + "\n".join(lines) + "\n")
    by_standard, by_beam = _standard_and_beam(
        local_connection, destination, dataset,
        {"kind": "files", "glob": "*.csv", "format": "csv"},
        load_type="transactional", dataflow={"direct_workers": 1},
    )  # fmt: skip
    assert by_standard["status"] == by_beam["status"] == "completed", (by_standard, by_beam)
    _assert_one_load_job(bq, by_beam)
    # Every column, the trace columns included (file, version, record number).
    assert differences(bq, dataset, "by_standard", "by_beam") == {
        "only_left": 0, "only_right": 0, "n_left": 3000, "n_right": 3000,
    }  # fmt: skip
    units = units_artifact(by_beam["_job"])
    assert sorted(str(u["range"]) for u in units) == [f"file part-{f}.csv" for f in range(3)]
    assert progress_artifact(by_beam["_job"]) == (100.0, "Beam units: 3 of 3 done, 3,000 rows read")


def test_a_large_parquet_file_is_read_in_runs_of_row_groups_with_whole_file_record_numbers(
    local_connection, folder, destination, dataset, bq
):
    # One file of 12 row groups of 2,000 rows and a small one: with about 4,000 rows per unit the
    # large file is cut into runs of its row groups, the small one stays whole.
    rows = 24_000
    table = pa.table({
        "id": pa.array(range(1, rows + 1), pa.int64()),
        "note": pa.array([None if i % 7 == 0 else f"n{i}" for i in range(1, rows + 1)]),
    })  # fmt: skip
    pq.write_table(table, folder / "large.parquet", row_group_size=2000)
    pq.write_table(table.slice(0, 10), folder / "small.parquet")
    by_standard, by_beam = _standard_and_beam(
        local_connection, destination, dataset,
        {"kind": "files", "glob": "*.parquet", "format": "parquet"},
        dataflow={"direct_workers": 1, "rows_per_unit": 4000},
    )  # fmt: skip
    assert by_standard["status"] == by_beam["status"] == "completed", (by_standard, by_beam)
    assert by_beam["rows_loaded"] == rows + 10
    _assert_one_load_job(bq, by_beam)
    # Record numbers included: a unit starting at row group 3 numbers its first row 6,001.
    assert differences(bq, dataset, "by_standard", "by_beam") == {
        "only_left": 0, "only_right": 0, "n_left": rows + 10, "n_right": rows + 10,
    }  # fmt: skip
    ranges = sorted(str(u["range"]) for u in units_artifact(by_beam["_job"]))
    large = [r for r in ranges if r.startswith("file large.parquet row groups")]
    assert len(large) >= 3 and "file small.parquet" in ranges, ranges
    assert len(ranges) == len(large) + 1


# -- auto on the Dataflow runner ----------------------------------------------------------------


def _validated(job):
    """The run's validate step alone (`prepare_target`): the mode it chose and why."""
    import datetime as dt

    from etl_bigquery.blocks.registry import load_connection, load_destination
    from etl_bigquery.engine.pipeline.context import RunContext
    from etl_bigquery.engine.pipeline.validate import prepare_target

    destination = load_destination(job.destination.block)
    ctx = RunContext(
        job, "validate", dt.datetime.now(dt.UTC), load_connection(job.connection).open_reader(),
        destination.clients(), destination.settings(),
    )  # fmt: skip
    try:
        target = prepare_target(ctx)
        return target.processing_mode.value, target.processing_reason, target.estimated_rows
    finally:
        ctx.close()


def test_auto_sends_bucket_files_to_dataflow_above_the_threshold_never_a_local_folder(
    services, local_connection, folder, destination, dataset
):
    from etl_bigquery.blocks.files import FileConnection
    from etl_bigquery.devservices.clients import ensure_bucket

    table = pa.table({"id": pa.array(range(5000), pa.int64())})
    bucket = f"etl-{uuid.uuid4().hex[:10]}"
    ensure_bucket(services.layout, bucket)
    block = FileConnection(type="gcs", bucket=bucket, endpoint=services.layout.gcs_endpoint,
                           anonymous=True)  # fmt: skip
    with block.open_reader().store.fs.open_output_stream(f"{bucket}/a.parquet") as out:
        pq.write_table(table, out)
    gcs = f"gcs-{uuid.uuid4().hex[:6]}"
    block.save(gcs, overwrite=True)
    pq.write_table(table, folder / "a.parquet")
    on_dataflow = {"runner": "dataflow", "region": "europe-west1"}
    source = {"kind": "files", "glob": "*.parquet", "format": "parquet"}
    try:
        for connection, table_name in ((gcs, "from_bucket"), (local_connection, "from_folder")):
            job = job_spec(connection, destination, dataset, source=source, table=table_name,
                           row_threshold=1000, dataflow=on_dataflow)  # fmt: skip
            apply(job)
            mode, reason, estimated = _validated(job)
            assert estimated == 5000  # the Parquet footer's count
            if connection == gcs:
                assert (mode, reason) == ("dataflow", "dataflow (auto: about 5,000 rows >= 1,000)")
            else:
                assert mode == "standard" and "Dataflow workers cannot see" in reason, reason
    finally:
        with contextlib.suppress(Exception):
            FileConnection.delete(gcs)
