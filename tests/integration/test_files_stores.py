"""File sources on the emulators of the real protocols: Cloud Storage (the fake-gcs-server of
the `services` fixture), S3 (moto's server) and Azure Blob Storage (Azurite from npm, installed
into .tools/azurite by `make test`). Each: the connection test lists objects, discovery lists
and detects files, and a transactional job loads Parquet, gzipped JSON lines and CSV files,
then only a new file, then nothing. Plus crash-and-rerun of the file protocol (exactly once).
"""

from __future__ import annotations

import collections
import gzip
import io
import json
import subprocess
import sys
import uuid

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from etl_bigquery.engine import checkpoints
from etl_bigquery.engine.errors import ValidationError
from tests.conftest import AZURITE_ACCOUNT, AZURITE_KEY
from tests.integration.helpers import apply, job_spec, run


@pytest.fixture(scope="session")
def moto_s3(moto_server: str) -> str:
    return moto_server


def _connection(store: str, services, moto_endpoint: str | None, azure: str | None):
    """A fresh bucket (container) on the store's emulator and a connection block to it."""
    from etl_bigquery.blocks.files import FileConnection

    bucket = f"etl-{uuid.uuid4().hex[:10]}"
    if store == "gcs":
        block = FileConnection(
            type="gcs", bucket=bucket, prefix="drop", endpoint=services.layout.gcs_endpoint,
            anonymous=True,
        )  # fmt: skip
    elif store == "s3":
        block = FileConnection(
            type="s3", bucket=bucket, prefix="drop", endpoint=moto_endpoint, region="us-east-1",
            access_key_id="testing", secret_access_key="testing-secret",
        )  # fmt: skip
    else:
        block = FileConnection(
            type="azure_blob", bucket=bucket, prefix="drop", endpoint=azure,
            account_name=AZURITE_ACCOUNT, account_key=AZURITE_KEY,
        )  # fmt: skip
    fs = block.open_reader().store.fs
    if store == "gcs":
        from etl_bigquery.devservices.clients import ensure_bucket

        ensure_bucket(services.layout, bucket)
    elif store == "s3":
        import boto3

        boto3.client(
            "s3", endpoint_url=moto_endpoint, region_name="us-east-1",
            aws_access_key_id="testing", aws_secret_access_key="testing-secret",
        ).create_bucket(Bucket=bucket)  # fmt: skip
    else:
        fs.create_dir(bucket)
    name = f"{store.replace('_', '-')}-{uuid.uuid4().hex[:6]}"
    block.save(name, overwrite=True)
    return name, block, fs, bucket


def _put(fs, path: str, data: bytes) -> None:
    with fs.open_output_stream(path, compression=None) as out:
        out.write(data)


def _parquet(rows: list[dict]) -> bytes:
    sink = io.BytesIO()
    pq.write_table(pa.Table.from_pylist(rows), sink)
    return sink.getvalue()


@pytest.mark.parametrize("store", ["gcs", "s3", "azure_blob"])
def test_store_connection_discovery_and_incremental_load(
    store, request, services, bq, dataset, destination
):
    moto_endpoint = request.getfixturevalue("moto_s3") if store == "s3" else None
    azure = request.getfixturevalue("azurite") if store == "azure_blob" else None
    from etl_bigquery.blocks import health
    from etl_bigquery.service.file_discovery import detect_file, list_files

    name, block, fs, bucket = _connection(store, services, moto_endpoint, azure)
    rows = [{"id": i, "amount": i * 1.5, "day": f"2026-01-0{i}"} for i in range(1, 4)]
    _put(fs, f"{bucket}/drop/in/a.parquet", _parquet(rows[:2]))
    _put(fs, f"{bucket}/drop/in/b.jsonl.gz", gzip.compress(
        b"".join(json.dumps(r).encode() + b"\n" for r in rows[2:])))  # fmt: skip
    _put(fs, f"{bucket}/drop/in/c.csv", b"id,amount,day\n4,6.0,2026-01-04\n")
    _put(fs, f"{bucket}/drop/readme.txt", b"not data")

    outcome = health.check_connection(block)  # what `etl connection test` runs
    assert outcome.status == "success", outcome.message
    assert {f["name"] for f in outcome.files} == {
        "in/a.parquet", "in/b.jsonl.gz", "in/c.csv", "readme.txt"
    }  # fmt: skip
    assert all(f["size"] > 0 and f["modified"] for f in outcome.files)
    assert [f.name for f in list_files(name, prefix="in/", glob="*.jsonl.gz")] == ["in/b.jsonl.gz"]
    detected = detect_file(name, "in/c.csv")
    assert detected.source["format"] == "csv" and detected.source["csv"]["delimiter"] == ","
    assert {c.name: c.bq_type for c in detected.columns}["day"] == "DATE"
    assert detect_file(name, "in/b.jsonl.gz").source["format"] == "jsonl"
    with pytest.raises(ValidationError, match="does not exist"):
        detect_file(name, "in/nope.csv")

    parquet = job_spec(
        name, destination, dataset, table=f"{store}_parquet", load_type="transactional",
        source={"prefix": "in/", "glob": "*.parquet", "format": "parquet"},
    )  # fmt: skip
    apply(parquet)
    assert run(parquet)["rows_loaded"] == 2
    _put(
        fs, f"{bucket}/drop/in/d.parquet", _parquet([{"id": 9, "amount": 0.5, "day": "2026-01-09"}])
    )
    report = run(parquet)
    assert report["rows_loaded"] == 1, report
    assert run(parquet)["rows_loaded"] == 0
    loaded = bq.query_and_wait(
        f"SELECT id, _etl_source_file AS f FROM `local.{dataset}.{store}_parquet` ORDER BY id"
    )
    scheme = {"gcs": "gs", "s3": "s3", "azure_blob": "azure"}[store]
    assert [(r["id"], r["f"]) for r in loaded] == [
        (1, f"{scheme}://{bucket}/drop/in/a.parquet"),
        (2, f"{scheme}://{bucket}/drop/in/a.parquet"),
        (9, f"{scheme}://{bucket}/drop/in/d.parquet"),
    ]

    jsonl = job_spec(
        name, destination, dataset, table=f"{store}_jsonl",
        source={"prefix": "in/", "glob": "*.jsonl.gz", "format": "jsonl"},
    )  # fmt: skip
    apply(jsonl)
    assert run(jsonl)["rows_loaded"] == 1


def test_connection_test_names_a_missing_bucket(services, moto_s3):
    from etl_bigquery.blocks import health
    from etl_bigquery.blocks.files import FileConnection

    block = FileConnection(
        type="s3", bucket="no-such-bucket", endpoint=moto_s3, access_key_id="testing",
        secret_access_key="testing-secret",
    )  # fmt: skip
    outcome = health.check_connection(block)
    assert outcome.status == "failed" and "does not exist" in outcome.message, outcome.message
    assert "testing-secret" not in outcome.message


def _free_slot(job_name: str) -> None:
    from prefect.client.orchestration import get_client

    from etl_bigquery.flows.locking import limit_name

    with get_client(sync_client=True) as client:
        client.delete_global_concurrency_limit_by_name(limit_name(job_name))


@pytest.mark.parametrize(
    "checkpoint",
    [
        checkpoints.LOAD_SUBMITTED,  # the most telling point: the job may or may not land
        pytest.param(checkpoints.LOAD_DONE, marks=pytest.mark.faults),
        pytest.param(checkpoints.EXTRACT_BATCH_STAGED, marks=pytest.mark.faults),
    ],
)
def test_a_file_run_killed_then_rerun_loads_each_file_version_once(
    checkpoint, services, bq, dataset, destination, tmp_path
):
    from etl_bigquery.blocks.files import FileConnection

    folder = tmp_path / "drop"
    folder.mkdir()
    name = f"files-{uuid.uuid4().hex[:8]}"
    FileConnection(type="local", bucket=str(folder)).save(name, overwrite=True)
    (folder / "a.csv").write_text("id\n1\n2\n")
    job = job_spec(
        name, destination, dataset, table="crash", load_type="transactional",
        source={"glob": "*.csv", "format": "csv"},
    )  # fmt: skip
    apply(job)
    assert run(job)["rows_loaded"] == 2
    (folder / "b.csv").write_text("id\n3\n4\n5\n")

    spec = tmp_path / "job.json"
    spec.write_text(job.model_dump_json(by_alias=True))
    crashed = subprocess.run(
        [sys.executable, "-m", "tests.integration.crash_run", str(spec), checkpoint, "kill"],
        capture_output=True, text=True, timeout=300, check=False,
    )  # fmt: skip
    assert crashed.returncode == 137, crashed.stderr[-2000:]
    _free_slot(job.name)
    (folder / "c.csv").write_text("id\n6\n")  # arrives while the crashed run is dead

    rerun = run(job)
    assert rerun["status"] == "completed", rerun
    ids = [r["id"] for r in bq.query_and_wait(f"SELECT id FROM `local.{dataset}.crash`")]
    assert collections.Counter(ids) == collections.Counter([1, 2, 3, 4, 5, 6])
    assert run(job)["rows_loaded"] == 0


@pytest.mark.parametrize(
    "checkpoint",
    [
        checkpoints.MERGE_STAGING_LOADED,  # rows staged for the MERGE, the MERGE not submitted
        checkpoints.LOAD_SUBMITTED,  # the MERGE submitted: it may or may not land
        pytest.param(checkpoints.LOAD_DONE, marks=pytest.mark.faults),
    ],
)
def test_a_run_replacing_a_changed_file_killed_then_rerun_keeps_one_copy(
    checkpoint, services, bq, dataset, destination, tmp_path
):
    """A changed file's rows replace its earlier ones in ONE MERGE under the planned id; killed
    at each point of that step, the next run ends with exactly the files' current rows."""
    from etl_bigquery.blocks.files import FileConnection

    folder = tmp_path / "drop"
    folder.mkdir()
    name = f"files-{uuid.uuid4().hex[:8]}"
    FileConnection(type="local", bucket=str(folder)).save(name, overwrite=True)
    (folder / "a.csv").write_text("id,v\n1,a\n2,a\n")
    (folder / "b.csv").write_text("id,v\n3,b\n")
    job = job_spec(
        name, destination, dataset, table="replace_crash", load_type="transactional",
        source={"glob": "*.csv", "format": "csv"},
    )  # fmt: skip
    apply(job)
    assert run(job)["rows_loaded"] == 3
    (folder / "a.csv").write_text("id,v\n1,A\n2,A\n4,A\n")  # changed: replaces rows 1 and 2
    (folder / "c.csv").write_text("id,v\n5,c\n")  # new: in the same MERGE

    spec = tmp_path / "job.json"
    spec.write_text(job.model_dump_json(by_alias=True))
    crashed = subprocess.run(
        [sys.executable, "-m", "tests.integration.crash_run", str(spec), checkpoint, "kill"],
        capture_output=True, text=True, timeout=300, check=False,
    )  # fmt: skip
    assert crashed.returncode == 137, crashed.stderr[-2000:]
    _free_slot(job.name)
    (folder / "d.csv").write_text("id,v\n6,d\n")  # arrives while the crashed run is dead

    rerun = run(job)
    assert rerun["status"] == "completed", rerun
    found = bq.query_and_wait(f"SELECT id, v FROM `local.{dataset}.replace_crash`")
    assert sorted((r["id"], r["v"]) for r in found) == [
        (1, "A"), (2, "A"), (3, "b"), (4, "A"), (5, "c"), (6, "d")
    ]  # fmt: skip
    assert run(job)["rows_loaded"] == 0
    if checkpoint == checkpoints.MERGE_STAGING_LOADED:  # the rerun replaced: leftovers dropped
        tables = [t.table_id for t in bq.list_tables(f"local.{dataset}")]
        assert [t for t in tables if t.startswith("_etl_")] == [], tables
