"""A file is changed only when its bytes are, and a changed file replaces its own rows (issue 16,
item 7), end to end through `etl job apply` and `etl run FILE --json` on a local folder and on
the emulators of the real stores: fake-gcs-server (MD5), moto's S3 server (ETag) and Azurite
(Content-MD5 for a single Put Blob; none for uploads in blocks, where this tool's SHA-256
decides). Tables holding the size|last-modified versions of earlier releases keep loading
without a reload.

Before content versions, every case below loaded the file again as a second copy.
"""

from __future__ import annotations

import collections
import datetime as dt
import os
import time
import uuid
from pathlib import Path

import pyarrow.fs as pafs
import pytest

from tests.conftest import AZURITE_ACCOUNT, AZURITE_KEY
from tests.integration.files_helpers import apply, job_file, rows, run

A = b"id,amount\n1,10\n2,20\n3,30\n"
A_CHANGED = b"id,amount\n1,10\n2,21\n3,30\n"  # one value, same size
B = b"id,amount\n7,70\n"


def _save(block) -> str:
    name = f"files-{uuid.uuid4().hex[:8]}"
    block.save(name, overwrite=True)
    return name


def _loaded(bq, dataset: str, table: str) -> list[tuple]:
    found = rows(bq, dataset, table, "_etl_source_file, id")
    return [(r["_etl_source_file"].rsplit("/", 1)[-1], r["id"], r["amount"]) for r in found]


def _versions(bq, dataset: str, table: str) -> dict[str, set[str]]:
    held = collections.defaultdict(set)
    for r in rows(bq, dataset, table):
        held[r["_etl_source_file"].rsplit("/", 1)[-1]].add(r["_etl_source_version"])
    return dict(held)


def _same(report: dict, rows_loaded: int) -> None:
    assert report["status"] == "completed", report
    assert report["rows_loaded"] == rows_loaded, report


# -- local folder ---------------------------------------------------------------------------


@pytest.fixture()
def folder(tmp_path: Path) -> Path:
    path = tmp_path / "drop"
    path.mkdir()
    return path


@pytest.fixture()
def local(services, folder: Path) -> str:
    from etl_bigquery.blocks.files import FileConnection

    return _save(FileConnection(type="local", bucket=str(folder)))


def _later(path: Path, seconds: float = 5) -> None:
    stamp = path.stat().st_mtime + seconds
    os.utime(path, (stamp, stamp))


def test_local_touch_and_same_bytes_load_nothing_and_a_change_replaces_the_files_rows(
    bq, dataset, destination, local, folder, tmp_path
):
    (folder / "a.csv").write_bytes(A)
    (folder / "b.csv").write_bytes(B)
    job = job_file(tmp_path, local, destination, dataset, "orders", {"glob": "*.csv",
                   "format": "csv"})  # fmt: skip
    apply(job)
    _same(run(job), 4)
    first_run = {r["id"]: r["_etl_run_id"] for r in rows(bq, dataset, "orders")}

    _later(folder / "a.csv")  # touch
    touched = run(job)
    _same(touched, 0)
    assert touched["load_job_id"] is None, touched  # nothing submitted
    (folder / "a.csv").write_bytes(A)  # the same bytes written again
    _later(folder / "a.csv", 9)
    _same(run(job), 0)
    assert len(_loaded(bq, dataset, "orders")) == 4

    (folder / "a.csv").write_bytes(A_CHANGED)  # one row changed, same size
    _later(folder / "a.csv", 13)
    changed = run(job)
    _same(changed, 3)  # the file's rows, not a second copy
    assert _loaded(bq, dataset, "orders") == [
        ("a.csv", 1, 10), ("a.csv", 2, 21), ("a.csv", 3, 30), ("b.csv", 7, 70)
    ]  # fmt: skip
    versions = _versions(bq, dataset, "orders")
    assert len(versions["a.csv"]) == 1 and next(iter(versions["a.csv"])).startswith("sha256:")
    assert {r["_etl_run_id"] for r in rows(bq, dataset, "orders") if r["id"] == 7} == {
        first_run[7]
    }  # b.csv was not touched
    _same(run(job), 0)

    (folder / "a.csv").write_bytes(b"id,amount\n2,22\n")  # fewer rows
    _same(run(job), 1)
    assert _loaded(bq, dataset, "orders") == [("a.csv", 2, 22), ("b.csv", 7, 70)]
    staging = [t.table_id for t in bq.list_tables(f"local.{dataset}") if "_etl_" in t.table_id]
    assert staging == [], staging  # the staging tables of the replacements were dropped
    _upgraded_reloads_nothing(
        bq, dataset, "orders", pafs.LocalFileSystem(), str(folder.resolve()), job
    )


def test_local_catalog_touch_loads_nothing_and_a_change_reloads(
    bq, dataset, destination, local, folder, tmp_path
):
    (folder / "a.csv").write_bytes(A)
    (folder / "b.csv").write_bytes(B)
    job = job_file(tmp_path, local, destination, dataset, "snap", {"glob": "*.csv",
                   "format": "csv"}, load_type="catalog")  # fmt: skip
    apply(job)
    _same(run(job), 4)
    _later(folder / "b.csv")
    (folder / "a.csv").write_bytes(A)
    _same(run(job), 0)  # before: every touch replaced the whole table
    (folder / "b.csv").write_bytes(b"id,amount\n7,71\n")
    _same(run(job), 4)
    assert ("b.csv", 7, 71) in _loaded(bq, dataset, "snap") and len(
        _loaded(bq, dataset, "snap")
    ) == 4


# -- tables of earlier releases (each store's test ends with this check) -------------------------


def _legacy(fs: pafs.FileSystem, base: str) -> dict[str, str]:
    """The versions releases before content versions wrote: size|mtime from a pyarrow.fs
    listing, exactly as they made them."""
    out = {}
    for info in fs.get_file_info(pafs.FileSelector(base, recursive=True)):
        if info.type == pafs.FileType.File:
            stamp = info.mtime if info.mtime.tzinfo else info.mtime.replace(tzinfo=dt.UTC)
            out[info.path.rsplit("/", 1)[-1]] = (
                f"{info.size}|{stamp.astimezone(dt.UTC).isoformat(timespec='microseconds')}"
            )
    return out


def _make_legacy(bq, dataset: str, table: str, versions: dict[str, str]) -> None:
    from google.cloud import bigquery

    for name, version in versions.items():
        bq.query_and_wait(
            f"UPDATE `local.{dataset}.{table}` SET _etl_source_version = @v "
            "WHERE ENDS_WITH(_etl_source_file, @f)",
            job_config=bigquery.QueryJobConfig(query_parameters=[
                bigquery.ScalarQueryParameter("v", "STRING", version),
                bigquery.ScalarQueryParameter("f", "STRING", "/" + name),
            ]),
        )  # fmt: skip


def _upgraded_reloads_nothing(bq, dataset: str, table: str, fs, base: str, job) -> None:
    """The table as an earlier release would have loaded the same files (size|mtime versions,
    made from a pyarrow.fs listing exactly as it made them): the next run reloads nothing."""
    old = _legacy(fs, base)
    _make_legacy(bq, dataset, table, old)
    assert _versions(bq, dataset, table) == {k: {v} for k, v in old.items()}
    before = _loaded(bq, dataset, table)
    _same(run(job), 0)
    assert _loaded(bq, dataset, table) == before


# -- Cloud Storage (fake-gcs-server) -------------------------------------------------------------


def _gcs_bucket(services) -> str:
    from etl_bigquery.devservices.clients import ensure_bucket

    return ensure_bucket(services.layout, f"etl-v-{uuid.uuid4().hex[:10]}")


def _gcs_put(services, bucket: str, key: str, data: bytes) -> None:
    from etl_bigquery.devservices.clients import storage_client

    storage_client(services.layout).bucket(bucket).blob(key).upload_from_string(data)


def _gcs_block(services, bucket: str):
    from etl_bigquery.blocks.files import FileConnection

    return FileConnection(
        type="gcs", bucket=bucket, prefix="drop", endpoint=services.layout.gcs_endpoint,
        anonymous=True,
    )  # fmt: skip


def test_gcs_same_bytes_uploaded_again_load_nothing_and_a_change_replaces(
    services, bq, dataset, destination, tmp_path
):
    bucket = _gcs_bucket(services)
    _gcs_put(services, bucket, "drop/a.csv", A)
    _gcs_put(services, bucket, "drop/b.csv", B)
    job = job_file(tmp_path, _save(_gcs_block(services, bucket)), destination, dataset, "g",
                   {"glob": "*.csv", "format": "csv"})  # fmt: skip
    apply(job)
    _same(run(job), 4)
    time.sleep(1.1)
    _gcs_put(services, bucket, "drop/a.csv", A)  # a new generation, the same MD5
    _same(run(job), 0)
    assert all(v.startswith("md5:") for vs in _versions(bq, dataset, "g").values() for v in vs)
    _gcs_put(services, bucket, "drop/a.csv", A_CHANGED)
    _same(run(job), 3)
    assert _loaded(bq, dataset, "g") == [
        ("a.csv", 1, 10), ("a.csv", 2, 21), ("a.csv", 3, 30), ("b.csv", 7, 70)
    ]  # fmt: skip
    fs = _gcs_block(services, bucket).open_reader().store.fs
    _upgraded_reloads_nothing(bq, dataset, "g", fs, f"{bucket}/drop", job)


# -- S3 (moto's server) ------------------------------------------------------------------------


def _s3(moto_server: str):
    import boto3

    from etl_bigquery.blocks.files import FileConnection

    keys = {"aws_access_key_id": "testing", "aws_secret_access_key": "testing-secret"}
    s3 = boto3.client("s3", endpoint_url=moto_server, region_name="us-east-1", **keys)
    bucket = f"etl-v-{uuid.uuid4().hex[:10]}"
    s3.create_bucket(Bucket=bucket)
    block = FileConnection(
        type="s3", bucket=bucket, prefix="drop", endpoint=moto_server, region="us-east-1",
        access_key_id="testing", secret_access_key="testing-secret",
    )  # fmt: skip
    return s3, bucket, block


def test_s3_same_bytes_put_and_a_metadata_copy_load_nothing_and_a_change_replaces(
    moto_server, services, bq, dataset, destination, tmp_path
):
    s3, bucket, block = _s3(moto_server)
    s3.put_object(Bucket=bucket, Key="drop/a.csv", Body=A)
    s3.put_object(Bucket=bucket, Key="drop/b.csv", Body=B)
    job = job_file(tmp_path, _save(block), destination, dataset, "s", {"glob": "*.csv",
                   "format": "csv"})  # fmt: skip
    apply(job)
    _same(run(job), 4)
    time.sleep(1.1)  # S3 times have whole seconds: the last-modified moves
    s3.put_object(Bucket=bucket, Key="drop/a.csv", Body=A)
    _same(run(job), 0)
    time.sleep(1.1)
    s3.copy_object(
        Bucket=bucket, Key="drop/b.csv", CopySource={"Bucket": bucket, "Key": "drop/b.csv"},
        MetadataDirective="REPLACE", Metadata={"touched": "yes"},
    )  # fmt: skip
    _same(run(job), 0)
    assert all(v.startswith("etag:") for vs in _versions(bq, dataset, "s").values() for v in vs)
    s3.put_object(Bucket=bucket, Key="drop/a.csv", Body=A_CHANGED)
    _same(run(job), 3)
    assert _loaded(bq, dataset, "s") == [
        ("a.csv", 1, 10), ("a.csv", 2, 21), ("a.csv", 3, 30), ("b.csv", 7, 70)
    ]  # fmt: skip
    fs = block.open_reader().store.fs
    _upgraded_reloads_nothing(bq, dataset, "s", fs, f"{bucket}/drop", job)


# -- Azure Blob Storage (Azurite) --------------------------------------------------------------


def _azure(azurite: str):
    from azure.storage.blob import BlobServiceClient

    from etl_bigquery.blocks.files import FileConnection

    container = f"etl-v-{uuid.uuid4().hex[:10]}"
    service = BlobServiceClient(
        f"{azurite}/{AZURITE_ACCOUNT}",
        credential={"account_name": AZURITE_ACCOUNT, "account_key": AZURITE_KEY},
    )
    block = FileConnection(
        type="azure_blob", bucket=container, prefix="drop", endpoint=azurite,
        account_name=AZURITE_ACCOUNT, account_key=AZURITE_KEY,
    )  # fmt: skip
    return service.create_container(container), container, block


def test_azure_content_md5_and_the_computed_hash_of_block_uploads(
    azurite, services, bq, dataset, destination, tmp_path
):
    blobs, container, block = _azure(azurite)
    fs = block.open_reader().store.fs

    def put_blocks(key: str, data: bytes) -> None:  # Arrow uploads in blocks: no Content-MD5
        with fs.open_output_stream(f"{container}/{key}", compression=None) as out:
            out.write(data)

    blobs.upload_blob("drop/a.csv", A, overwrite=True)  # one Put Blob: Content-MD5 set
    put_blocks("drop/b.csv", B)
    job = job_file(tmp_path, _save(block), destination, dataset, "z", {"glob": "*.csv",
                   "format": "csv"})  # fmt: skip
    apply(job)
    _same(run(job), 4)
    versions = _versions(bq, dataset, "z")
    assert next(iter(versions["a.csv"])).startswith("md5:"), versions
    assert next(iter(versions["b.csv"])).startswith("sha256:"), versions  # no MD5: computed

    time.sleep(1.1)
    blobs.upload_blob("drop/a.csv", A, overwrite=True)  # the same bytes: a new ETag, same MD5
    put_blocks("drop/b.csv", B)  # the same bytes in blocks: no MD5, the computed hash decides
    _same(run(job), 0)
    put_blocks("drop/b.csv", b"id,amount\n7,77\n")
    _same(run(job), 1)
    assert _loaded(bq, dataset, "z") == [
        ("a.csv", 1, 10), ("a.csv", 2, 20), ("a.csv", 3, 30), ("b.csv", 7, 77)
    ]  # fmt: skip
    _upgraded_reloads_nothing(bq, dataset, "z", fs, f"{container}/drop", job)
