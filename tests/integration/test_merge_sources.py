"""`load_type: merge` from the other key-bearing families: a document store (Redis, live: the key
is `document_id`) and BigQuery as a source (the emulator, `key_columns`). After each run the
table holds exactly the source's current rows."""

from __future__ import annotations

import contextlib
import uuid
from collections.abc import Iterator
from typing import Any

import pytest

from tests.conftest import unavailable
from tests.integration.helpers import apply, data_rows, job_spec, run


@pytest.fixture()
def redis_db() -> Iterator[tuple[Any, str]]:
    import redis

    client = redis.Redis(host="127.0.0.1", port=6379, db=12, socket_connect_timeout=3)
    try:
        client.ping()
    except redis.exceptions.ConnectionError as error:
        unavailable(f"Redis is not reachable at 127.0.0.1:6379: {error}")
    prefix = f"merge{uuid.uuid4().hex[:8]}"
    yield client, prefix
    keys = list(client.scan_iter(match=f"{prefix}:*"))
    if keys:
        client.delete(*keys)
    client.close()


def test_a_document_store_merges_by_document_id_and_hard_deletes_gone_keys(
    redis_db, services, destination, dataset, bq
):
    from etl_bigquery.blocks import NoSqlConnection

    client, prefix = redis_db
    for i in range(1, 6):
        user = {"name": f"user {i}", "updated_at": "2026-11-01T10:00:00Z"}
        client.hset(f"{prefix}:{i}", mapping=user)
    name = f"redis-merge-{prefix}"
    NoSqlConnection(type="redis", host="127.0.0.1", database="12").save(name, overwrite=True)
    try:
        job = job_spec(
            name, destination, dataset, table="users", source={"schema": "db12", "table": prefix},
            load_type="merge", cursor_column="updated_at", deletes="hard",
            delete_check="every_run", processing_mode="standard",
        )  # fmt: skip
        apply(job)
        assert run(job)["merge"]["rows inserted"] == 5

        renamed = {"name": "renamed", "updated_at": "2026-11-02T10:00:00Z"}
        client.hset(f"{prefix}:2", mapping=renamed)
        client.hset(f"{prefix}:3", mapping={"name": "same instant"})  # keeps its cursor (at W)
        client.delete(f"{prefix}:4")
        client.hset(f"{prefix}:6", mapping={"name": "new", "updated_at": "2026-11-02T09:00:00Z"})
        second = run(job)
        merged = second["merge"]
        assert (merged["rows inserted"], merged["rows updated"]) == (1, 2), second
        assert merged["deletes"]["rows deleted"] == 1, second
        rows = data_rows(bq, dataset, "users", order_by="document_id")
        assert {r["document_id"]: r["name"] for r in rows} == {
            f"{prefix}:1": "user 1", f"{prefix}:2": "renamed", f"{prefix}:3": "same instant",
            f"{prefix}:5": "user 5", f"{prefix}:6": "new",
        }  # fmt: skip
    finally:
        with contextlib.suppress(Exception):
            NoSqlConnection.delete(name)


@pytest.fixture()
def bigquery_source(services) -> Iterator[tuple[Any, str, str]]:
    """A table in another emulator project, and an `ETL BigQuery Source` block for it."""
    from google.api_core.client_options import ClientOptions
    from google.auth.credentials import AnonymousCredentials
    from google.cloud import bigquery

    from etl_bigquery.blocks import BigQuerySource

    client = bigquery.Client(
        project="srcproj", credentials=AnonymousCredentials(),
        client_options=ClientOptions(api_endpoint=services.layout.bigquery_endpoint),
    )  # fmt: skip
    source = f"src_{uuid.uuid4().hex[:10]}"
    client.create_dataset(source)
    client.query_and_wait(
        f"CREATE TABLE `srcproj.{source}.items` (id INT64, note STRING, updated_at TIMESTAMP)"
    )
    block = f"bqsrc-merge-{uuid.uuid4().hex[:8]}"
    BigQuerySource(
        project="srcproj", billing_project="local", location="US",
        api_endpoint=services.layout.bigquery_endpoint,
        storage_api_endpoint=f"127.0.0.1:{services.layout.ports.bigquery_grpc}",
    ).save(block, overwrite=True)  # fmt: skip
    yield client, source, block
    with contextlib.suppress(Exception):
        BigQuerySource.delete(block)
    client.delete_dataset(source, delete_contents=True, not_found_ok=True)
    client.close()


def test_bigquery_as_a_source_merges_by_key_columns(bigquery_source, destination, dataset, bq):
    client, source, block = bigquery_source
    items = f"`srcproj.{source}.items`"
    client.query_and_wait(
        f"INSERT INTO {items} SELECT g, CONCAT('n', CAST(g AS STRING)), "
        "TIMESTAMP_ADD(TIMESTAMP '2026-11-01 00:00:00+00', INTERVAL g MINUTE) "
        "FROM UNNEST(GENERATE_ARRAY(1, 10)) AS g"
    )
    job = job_spec(
        block, destination, dataset, table="items", source={"schema": source, "table": "items"},
        load_type="merge", cursor_column="updated_at", key_columns=["id"],
        processing_mode="standard",
    )  # fmt: skip
    apply(job)
    assert run(job)["merge"]["rows inserted"] == 10
    client.query_and_wait(
        f"UPDATE {items} SET note = 'changed', "
        "updated_at = TIMESTAMP '2026-11-02 00:00:00+00' WHERE id IN (3, 4)"
    )
    client.query_and_wait(
        f"INSERT INTO {items} VALUES (11, 'new', TIMESTAMP '2026-11-02 00:00:01+00')"
    )
    second = run(job)
    assert (second["merge"]["rows inserted"], second["merge"]["rows updated"]) == (1, 2), second
    expected = {r["id"]: r["note"] for r in client.query_and_wait(f"SELECT id, note FROM {items}")}
    assert {r["id"]: r["note"] for r in data_rows(bq, dataset, "items")} == expected


def test_files_with_key_columns_merge_so_a_later_export_replaces_a_key(
    services, destination, dataset, bq, tmp_path
):
    """Daily exports of one table, overlapping: the newest version of each key wins whichever
    file it is in; the same row in two files is one version; a key missing from every file is
    removed by the delete check (each run reads every matching file)."""
    import os
    import time

    from etl_bigquery.blocks.files import FileConnection

    drop = tmp_path / "drop"
    drop.mkdir()

    def export(name: str, text: str) -> None:
        (drop / name).write_text(text)
        stamp = time.time() + len(os.listdir(drop))  # a distinct last-modified per file
        os.utime(drop / name, (stamp, stamp))

    connection = f"files-merge-{uuid.uuid4().hex[:8]}"
    FileConnection(type="local", bucket=str(drop)).save(connection, overwrite=True)
    export("day1.csv", "id,note,updated_at\n1,a,2026-01-01T10:00:00Z\n2,b,2026-01-01T10:00:00Z\n")
    job = job_spec(
        connection, destination, dataset, table="items",
        source={"glob": "*.csv", "format": "csv"}, load_type="merge", key_columns=["id"],
        cursor_column="updated_at", deletes="hard", delete_check="every_run",
        max_deleted="100%", processing_mode="standard",
    )  # fmt: skip
    apply(job)
    assert run(job)["merge"]["rows inserted"] == 2
    # Day 2 repeats key 1 unchanged, updates key 2, adds key 3.
    export(
        "day2.csv",
        "id,note,updated_at\n1,a,2026-01-01T10:00:00Z\n2,b2,2026-01-02T10:00:00Z\n"
        "3,c,2026-01-02T10:00:00Z\n",
    )
    second = run(job)
    assert (second["merge"]["rows inserted"], second["merge"]["rows updated"]) == (1, 1), second
    rows = {r["id"]: r["note"] for r in data_rows(bq, dataset, "items")}
    assert rows == {1: "a", 2: "b2", 3: "c"}
    (drop / "day1.csv").unlink()  # key 1 is still in day2.csv; nothing goes
    third = run(job)
    assert third["rows_loaded"] == 0 and third["merge"]["deletes"]["rows deleted"] == 0, third
    (drop / "day2.csv").unlink()
    export("day3.csv", "id,note,updated_at\n3,c,2026-01-02T10:00:00Z\n")
    fourth = run(job)
    assert fourth["merge"]["deletes"]["rows deleted"] == 2, fourth
    assert {r["id"] for r in data_rows(bq, dataset, "items")} == {3}
