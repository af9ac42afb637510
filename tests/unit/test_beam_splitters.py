"""Issue 21 item 6 without services: which file sources the Dataflow runner takes (bucket files
with Secret Manager references or the workers' own identity; local folders, and keys kept in
Prefect, refused in one sentence), a large Parquet file's runs of row groups and a file read's
row estimate (real files in a temporary folder), and the Beam progress markers read back while a
pipeline would run (a real thread over a real folder)."""

from __future__ import annotations

import time
from dataclasses import replace
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from etl_bigquery.blocks.bigquery_source import BigQuerySource
from etl_bigquery.blocks.files import FileConnection
from etl_bigquery.blocks.gcp_credentials import GcpCredentials
from etl_bigquery.engine.beam.progress import ProgressWatch, progress_marker, units_done
from etl_bigquery.engine.beam.units import describe_unit, group_files
from etl_bigquery.engine.beam.worker import StagingSpec
from etl_bigquery.engine.errors import ConfigurationError
from etl_bigquery.engine.jobs.model import FilesSource, JobSpec, ProcessingMode
from etl_bigquery.engine.pipeline.mode import LOCAL_FILES_ON_DATAFLOW, choose_processing_mode
from etl_bigquery.engine.schema.bqtypes import BqType
from etl_bigquery.engine.sources.base import ReadColumn, ReadPlan, RowGroups
from etl_bigquery.engine.sources.files.reader import FileReader
from etl_bigquery.engine.sources.files.store import StoreSettings
from etl_bigquery.flows.dataflow import bigquery_on_dataflow, files_on_dataflow

ON_DATAFLOW = {"dataflow": {"runner": "dataflow", "region": "europe-west1"}}


def _files_job(**fields: object) -> JobSpec:
    return JobSpec.model_validate(
        {
            "name": "drops",
            "connection": "drop",
            "source": {"kind": "files", "format": "csv"},
            "destination": {"block": "bq", "table": "drops"},
        }
        | fields
    )


# -- which sources the Dataflow runner takes -----------------------------------------------------


def test_auto_counts_bucket_files_as_splittable_above_the_threshold_on_dataflow():
    job = _files_job(**ON_DATAFLOW, row_threshold=1000)
    mode, reason = choose_processing_mode(job, 5000, "gcs", True)
    assert mode is ProcessingMode.DATAFLOW, reason
    assert choose_processing_mode(job, 999, "gcs", True)[0] is ProcessingMode.STANDARD


def test_local_files_stay_standard_under_auto_and_are_refused_when_dataflow_is_set():
    auto = _files_job(**ON_DATAFLOW, row_threshold=1)
    mode, reason = choose_processing_mode(auto, 10**9, "local", True, local_files=True)
    assert mode is ProcessingMode.STANDARD and "cannot see" in reason
    forced = _files_job(**ON_DATAFLOW, processing_mode="dataflow")
    with pytest.raises(ConfigurationError) as refused:
        choose_processing_mode(forced, 10, "local", True, local_files=True)
    assert refused.value.message == LOCAL_FILES_ON_DATAFLOW
    # The DirectRunner reads this machine's folder: allowed.
    direct = _files_job(processing_mode="dataflow")
    assert choose_processing_mode(direct, 10, "local", True, local_files=True)[0] is (
        ProcessingMode.DATAFLOW
    )


def test_bucket_files_go_to_dataflow_workers_with_references_never_with_keys():
    s3 = FileConnection(
        type="s3", bucket="exports", access_key_id="AKIA1",
        secret_access_key_secret="projects/p/secrets/s3-key",
    )  # fmt: skip
    source = files_on_dataflow("s3-drop", s3)
    assert source.source_key == "s3"
    assert source.secrets == (("secret_access_key", "projects/p/secrets/s3-key"),)
    assert source.settings.secret_access_key is None  # type: ignore[union-attr]
    gcs = files_on_dataflow("gcs-drop", FileConnection(type="gcs", bucket="gs://exports/daily"))
    assert (gcs.source_key, gcs.secrets) == ("gcs", ())
    assert gcs.settings.prefix == "daily"  # type: ignore[union-attr]

    kept = FileConnection(type="azure_blob", bucket="c", account_name="a", account_key="k")
    with pytest.raises(ConfigurationError) as refused:
        files_on_dataflow("azure-drop", kept)
    assert "keeps account_key in Prefect" in refused.value.message
    assert "account_key_secret" in refused.value.message
    with pytest.raises(ConfigurationError) as local:
        files_on_dataflow("here", FileConnection(type="local", bucket="/tmp"))
    assert local.value.message == LOCAL_FILES_ON_DATAFLOW


def test_a_bigquery_source_on_dataflow_reads_with_the_workers_identity_never_a_key():
    keyless = BigQuerySource(project="warehouse", billing_project="jobs")
    source = bigquery_on_dataflow("wh", keyless)
    assert source.source_key == "bigquery"
    assert source.settings.credentials is None  # type: ignore[union-attr]
    assert source.settings.job_project == "jobs"  # type: ignore[union-attr]
    keyed = BigQuerySource(
        project="warehouse", gcp_credentials=GcpCredentials(service_account_info=_key())
    )
    with pytest.raises(ConfigurationError) as refused:
        bigquery_on_dataflow("wh", keyed)
    assert "service-account key kept in Prefect" in refused.value.message


def _key() -> dict[str, str]:
    """A service-account key of a key pair made here (never used to sign in)."""
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import rsa

    private = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    pem = private.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    ).decode()
    return {
        "type": "service_account",
        "project_id": "warehouse",
        "private_key_id": "k1",
        "private_key": pem,
        "client_email": "reader@warehouse.iam.gserviceaccount.com",
        "token_uri": "https://oauth2.googleapis.com/token",
    }


# -- files: units and estimates ----------------------------------------------------------------


def _reader(folder: Path) -> FileReader:
    return FileReader(StoreSettings(type="local", bucket=str(folder)))


def _plan(source: FilesSource) -> ReadPlan:
    return ReadPlan(source, [ReadColumn("id", "int64", BqType.INT64)])  # type: ignore[arg-type]


def _ids(reader: FileReader, plan: ReadPlan) -> list[int]:
    return [i for batch in reader.read(plan) for i in batch.column("id").to_pylist()]


def test_a_large_parquet_file_is_cut_into_runs_of_row_groups_small_files_stay_whole(tmp_path):
    ids = pa.table({"id": pa.array(range(1, 10_001), pa.int64())})
    pq.write_table(ids, tmp_path / "large.parquet", row_group_size=1000)
    pq.write_table(ids.slice(0, 5), tmp_path / "small.parquet")
    reader = _reader(tmp_path)
    source = FilesSource(glob="*.parquet", format="parquet")
    units = reader.file_units(_plan(source), 4)
    runs = [u.unit for u in units if isinstance(u.unit, RowGroups)]
    assert [(r.first, r.last, r.first_row) for r in runs] == [
        (0, 3, 0), (3, 5, 3000), (5, 8, 5000), (8, 10, 8000),
    ]  # fmt: skip
    assert [describe_unit(u) for u in units][-1] == "file small.parquet"
    assert describe_unit(units[1]) == "file large.parquet row groups [3, 5)"
    # The runs together are the file, each row once, numbered as a whole-file read numbers it.
    assert sorted(i for unit in units for i in _ids(reader, unit)) == sorted(
        [*range(1, 10_001), *range(1, 6)]
    )
    numbered = [*units[1].columns, ReadColumn("_etl_source_row", "record number", BqType.INT64)]
    first_batch = next(iter(reader.read(replace(units[1], columns=numbered))))
    assert first_batch.column("_etl_source_row")[0].as_py() == 3001
    # One unit asked for: the file stays whole.
    assert len(reader.file_units(_plan(source), 1)) == 2


def test_whole_files_are_joined_past_max_units_row_group_runs_stay(tmp_path):
    for i in range(7):
        (tmp_path / f"part-{i}.csv").write_text(f"id\n{i}\n")
    reader = _reader(tmp_path)
    plan = _plan(FilesSource(glob="*.csv", format="csv"))
    units = reader.file_units(plan, 1)
    assert group_files(units, 10) == units  # within the bound: one unit per file
    joined = group_files(units, 3)
    assert [len(u.files or ()) for u in joined] == [3, 3, 1]
    assert describe_unit(joined[0]) == "3 files, part-0.csv to part-2.csv"
    assert sorted(int(i) for unit in joined for i in _ids(reader, unit)) == list(range(7))
    run = replace(units[0], unit=RowGroups(0, 1, 0))
    assert group_files([*units, run], 3)[-1] is run


def test_a_file_read_is_estimated_from_parquet_footers_or_sampled_records(tmp_path):
    pq.write_table(pa.table({"id": list(range(700))}), tmp_path / "a.parquet")
    pq.write_table(pa.table({"id": list(range(300))}), tmp_path / "b.parquet")
    reader = _reader(tmp_path)
    parquet = FilesSource(glob="*.parquet", format="parquet")
    assert reader.estimate_read(_plan(parquet)) == 1000
    lines = "id,note\n" + "".join(f"{i},row {i:05d}\n" for i in range(4000))
    for name in ("one.csv", "two.csv"):
        (tmp_path / name).write_text(lines)
    csv = FilesSource(glob="*.csv", format="csv")
    estimate = reader.estimate_read(_plan(csv))
    assert estimate is not None and abs(estimate - 8000) <= 10, estimate
    # The files this run reads, not every matching one; an unreadable Parquet file: unknown.
    only = replace(_plan(csv), files=(reader.files(csv)[0],))
    assert abs((reader.estimate_read(only) or 0) - 4000) <= 5
    (tmp_path / "broken.parquet").write_text("not parquet")
    broken = FilesSource(glob="broken.parquet", format="parquet")
    assert reader.estimate_read(_plan(broken)) is None


# -- progress ----------------------------------------------------------------------------------


def test_unit_markers_are_counted_once_each_and_reported_from_a_thread(tmp_path):
    staging = StagingSpec(tmp_path.as_uri(), "local")
    heard: list[tuple[int, int, int]] = []
    watch = ProgressWatch(staging, "job/run/attempt-1", 3, lambda *a: heard.append(a), every=0.05)
    with watch:
        for unit, rows in ((0, 10), (2, 30), (2, 30)):  # unit 2 written twice (a retry)
            staging.write_text(progress_marker("job/run/attempt-1", unit, {"rows_read": rows}), "")
        deadline = time.monotonic() + 30
        while (2, 3, 40) not in heard and time.monotonic() < deadline:
            time.sleep(0.05)
    watch.finish(3, 60)
    assert heard[0] == (0, 3, 0) and (2, 3, 40) in heard and heard[-1] == (3, 3, 60)
    assert units_done(["unit-00001-rows-5", "unit-00001-rows-5", "manifest.json"]) == (1, 5)
