"""`etl verify` on the other source families with keys or a cursor: a PostgreSQL custom query,
BigQuery itself (the emulator's other project), a document store (the machine's Redis) and
SQLite. Each: the table verified equal (exit 0), then a row deleted from BigQuery is found and
named by key (exit 1). Small tables: the mechanism is the one test_verify_postgres.py covers in
depth; these prove each family's reader, types and key reach it."""

from __future__ import annotations

import contextlib
import json
import sqlite3
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import unavailable
from tests.integration.verify_helpers import apply_and_run, found, job_file, verify

_SAVED: list[tuple[Any, str]] = []


@pytest.fixture(scope="module", autouse=True)
def _delete_blocks() -> Iterator[None]:
    """Connections go with the module: the hourly health flow must not test a gone source."""
    yield
    for kind, name in _SAVED:
        with contextlib.suppress(Exception):
            kind.delete(name)
    _SAVED.clear()


def _save(block: Any, name: str) -> str:
    block.save(name, overwrite=True)
    _SAVED.append((type(block), name))
    return name


def _equal_then_one_deleted(
    path: Path, bq: Any, table: str, rows: int, key: str, deleted: int | str
) -> dict[str, Any]:
    """Verify equal; delete the row `key = deleted` from BigQuery; verify again (full, then
    counts): the row is missing, named by key. Returns the equal verify's result."""
    code, equal = verify(path)
    assert code == 0 and equal["equal"], json.dumps(equal, default=str)[:3000]
    assert equal["source_rows"] == equal["bigquery_rows"] == rows, equal
    bq.query_and_wait(f"DELETE FROM `{table}` WHERE `{key}` = {deleted!r}")
    for mode in ("full", "counts"):
        code, result = verify(path, mode)
        assert code == 1 and not result["equal"], result
        assert found(result, "missing", key) == [deleted], result
        assert result["counts"] == {"missing": 1, "extra": 0, "duplicate": 0, "differing": 0}
    return equal


# -- PostgreSQL custom query -------------------------------------------------------------------


@pytest.mark.parametrize("load_type", ["catalog", "transactional"])
def test_a_postgresql_query_source(
    tmp_path: Path, load_type, pg_admin, pg_schema, pg_connection, destination, dataset, bq
):
    pg_admin.execute(
        f"""CREATE TABLE "{pg_schema}".orders (id bigint PRIMARY KEY, amount numeric(8,2),
                                                updated_at timestamptz NOT NULL);
            INSERT INTO "{pg_schema}".orders
            SELECT g, g * 1.5, timestamptz '2026-11-01 00:00+00' + g * interval '1 hour'
            FROM generate_series(1, 20) g"""
    )
    # numeric(10,2), not bare numeric: that maps to BIGNUMERIC, which the emulator holds as a
    # double (57 comes back as 57.000000000000008192), a gap real BigQuery does not have.
    query = (
        f'SELECT id, (amount * 2)::numeric(10,2) AS doubled, updated_at FROM "{pg_schema}".orders'
    )
    fields: dict[str, Any] = {"load_type": load_type}
    if load_type == "transactional":
        fields |= {"cursor_column": "updated_at", "backfill_start": "all", "key_columns": ["id"]}
    path = job_file(
        tmp_path, f"vq-{load_type[:5]}-{dataset[-6:]}", connection=pg_connection,
        source={"query": query},
        destination={"block": destination, "dataset": dataset, "table": "report"}, **fields,
    )  # fmt: skip
    apply_and_run(path)
    equal = _equal_then_one_deleted(path, bq, f"local.{dataset}.report", 20, "id", 7)
    if load_type == "transactional":
        assert equal["keys"] == ["id"] and equal["key_source"] == "key_columns"
    else:  # a query has no primary key: a row is named by all its values
        assert equal["keys"] == ["id", "doubled", "updated_at"], equal
        assert equal["key_source"] == "every compared column (the source has no key)"


# -- BigQuery as the source (the emulator's other project) -------------------------------------

SOURCE_PROJECT = "srcproj"


@pytest.fixture()
def bq_source_table(services) -> Iterator[tuple[str, str]]:
    """(source block, source dataset): `orders`, 12 rows, in project srcproj."""
    from google.api_core.client_options import ClientOptions
    from google.auth.credentials import AnonymousCredentials
    from google.cloud import bigquery

    from etl_bigquery.blocks import BigQuerySource

    client = bigquery.Client(
        project=SOURCE_PROJECT, credentials=AnonymousCredentials(),
        client_options=ClientOptions(api_endpoint=services.layout.bigquery_endpoint),
    )  # fmt: skip
    name = f"vsrc_{uuid.uuid4().hex[:10]}"
    client.create_dataset(name)
    client.query_and_wait(
        f"""CREATE TABLE `{SOURCE_PROJECT}.{name}.orders` (
              id INT64 NOT NULL, customer STRING, amount NUMERIC, updated_at TIMESTAMP)"""
    )
    client.query_and_wait(
        f"""INSERT INTO `{SOURCE_PROJECT}.{name}.orders`
            SELECT g, CONCAT('c', CAST(MOD(g, 3) AS STRING)), CAST(g AS NUMERIC) * 1.25,
                   TIMESTAMP_ADD(TIMESTAMP '2026-11-01 00:00:00+00', INTERVAL g MINUTE)
            FROM UNNEST(GENERATE_ARRAY(1, 12)) AS g"""
    )
    block = BigQuerySource(
        project=SOURCE_PROJECT, billing_project="local", location="US",
        api_endpoint=services.layout.bigquery_endpoint,
        storage_api_endpoint=f"127.0.0.1:{services.layout.ports.bigquery_grpc}",
    )  # fmt: skip
    yield _save(block, f"vbq-{uuid.uuid4().hex[:8]}"), name
    client.delete_dataset(name, delete_contents=True, not_found_ok=True)
    client.close()


def test_a_bigquery_source(tmp_path: Path, bq_source_table, destination, dataset, bq):
    source, src_dataset = bq_source_table
    path = job_file(
        tmp_path, f"vb-{dataset[-6:]}", connection=source,
        source={"schema": src_dataset, "table": "orders"},
        destination={"block": destination, "dataset": dataset, "table": "orders"},
        load_type="transactional", cursor_column="updated_at", backfill_start="all",
        key_columns=["id"],
    )  # fmt: skip
    apply_and_run(path)
    _equal_then_one_deleted(path, bq, f"local.{dataset}.orders", 12, "id", 5)


# -- Redis (a document store, live on this machine) --------------------------------------------


@pytest.fixture()
def redis_docs(services) -> Iterator[tuple[str, str]]:
    """(connection, key prefix): six hashes under a prefix of this test's own, database 11."""
    import redis

    from etl_bigquery.blocks import NoSqlConnection
    from etl_bigquery.blocks.nosql import NoSqlType

    client = redis.Redis(host="127.0.0.1", port=6379, db=11, socket_connect_timeout=3)
    try:
        client.ping()
    except redis.exceptions.ConnectionError as error:
        unavailable(f"Redis is not reachable at 127.0.0.1:6379: {error}")
    prefix = f"ver{uuid.uuid4().hex[:8]}"
    for i in range(1, 7):
        client.hset(f"{prefix}:{i}", mapping={
            "name": f"user {i}", "visits": str(i * 10), "updated_at": f"2026-11-0{i}T10:00:00Z",
        })  # fmt: skip
    block = NoSqlConnection(type=NoSqlType("redis"), host="127.0.0.1", database="11")
    yield _save(block, f"vredis-{prefix}"), prefix
    keys = list(client.scan_iter(match=f"{prefix}:*"))
    if keys:
        client.delete(*keys)
    client.close()


def test_a_redis_source(tmp_path: Path, redis_docs, destination, dataset, bq):
    import redis

    connection, prefix = redis_docs
    path = job_file(
        tmp_path, f"vr-{dataset[-6:]}", connection=connection,
        source={"schema": "db11", "table": prefix},
        destination={"block": destination, "dataset": dataset, "table": "users"},
        load_type="transactional", cursor_column="updated_at", backfill_start="all",
    )  # fmt: skip
    apply_and_run(path)
    equal = _equal_then_one_deleted(
        path, bq, f"local.{dataset}.users", 6, "document_id", f"{prefix}:4"
    )
    assert equal["keys"] == ["document_id"], equal
    # A document changed without a cursor change: its text, typed as a run types it, differs.
    with redis.Redis(host="127.0.0.1", port=6379, db=11) as client:
        client.hset(f"{prefix}:2", "visits", "999")
    code, result = verify(path)
    assert code == 1 and found(result, "differing", "document_id") == [f"{prefix}:2"], result
    assert next(d for d in result["differences"] if d["kind"] == "differing")["columns"] == [
        "visits"
    ]


# -- SQLite ------------------------------------------------------------------------------------


@pytest.fixture()
def sqlite_shop(tmp_path: Path, services) -> str:
    from etl_bigquery.blocks import SqlConnection
    from etl_bigquery.blocks.sql import SqlType

    path = tmp_path / "shop.db"
    with sqlite3.connect(path) as db:
        db.executescript(
            """CREATE TABLE sales (id INTEGER PRIMARY KEY, item TEXT, price REAL,
                                   sold_at DATETIME);"""
        )
        db.executemany(
            "INSERT INTO sales VALUES (?, ?, ?, ?)",
            [(i, f"item {i}", i * 0.5, f"2026-11-01 10:{i:02d}:00") for i in range(1, 16)],
        )
    block = SqlConnection(type=SqlType("sqlite"), database=str(path))
    return _save(block, f"vsqlite-{uuid.uuid4().hex[:8]}")


def test_a_sqlite_source(tmp_path: Path, sqlite_shop, destination, dataset, bq):
    path = job_file(
        tmp_path, f"vs-{dataset[-6:]}", connection=sqlite_shop, source={"table": "sales"},
        destination={"block": destination, "dataset": dataset, "table": "sales"},
    )  # fmt: skip
    apply_and_run(path)
    equal = _equal_then_one_deleted(path, bq, f"local.{dataset}.sales", 15, "id", 9)
    assert equal["key_source"] == "the source's primary key", equal


# -- Firestore (Google's emulator) and DynamoDB (moto's server): live protocols ----------------


def test_a_firestore_source(tmp_path: Path, firestore_emulator, firestore_project, destination,
                            dataset, bq):  # fmt: skip
    import datetime as dt

    from google.cloud import firestore as google_firestore

    from etl_bigquery.blocks import NoSqlConnection
    from etl_bigquery.blocks.nosql import NoSqlType

    with pytest.MonkeyPatch.context() as patch:  # the test's own client only
        patch.setenv("FIRESTORE_EMULATOR_HOST", firestore_emulator)
        client = google_firestore.Client(project=firestore_project)
    for i in range(1, 6):
        client.collection("users").document(f"user-{i}").set({
            "name": f"User {i}", "score": i * 1.5, "profile": {"age": 30 + i},
            "updated": dt.datetime(2026, 11, i, 9, 30, tzinfo=dt.UTC),
        })  # fmt: skip
    block = NoSqlConnection(type=NoSqlType("firestore"), project=firestore_project,
                            endpoint_url=firestore_emulator)  # fmt: skip
    connection = _save(block, f"vfs-{uuid.uuid4().hex[:8]}")
    path = job_file(
        tmp_path, f"vf-{dataset[-6:]}", connection=connection, source={"table": "users"},
        destination={"block": destination, "dataset": dataset, "table": "users"},
        load_type="transactional", cursor_column="updated", backfill_start="all",
    )  # fmt: skip
    apply_and_run(path)
    _equal_then_one_deleted(path, bq, f"local.{dataset}.users", 5, "document_id", "user-3")
    # A nested value changed without a cursor change is named with its column.
    client.collection("users").document("user-2").update({"profile": {"age": 99}})
    code, result = verify(path)
    assert code == 1 and found(result, "differing", "document_id") == ["user-2"], result
    client.close()


def test_a_dynamodb_source(tmp_path: Path, dynamodb_endpoint, services, destination, dataset, bq):
    """A numeric hash key: document_id is the key's value, typed as the table holds it."""
    import decimal

    import boto3

    from etl_bigquery.blocks import NoSqlConnection
    from etl_bigquery.blocks.nosql import NoSqlType

    keys = {"aws_access_key_id": "testing", "aws_secret_access_key": "testing"}
    dynamodb = boto3.resource("dynamodb", region_name="eu-west-1",
                              endpoint_url=dynamodb_endpoint, **keys)  # fmt: skip
    name = f"orders_{uuid.uuid4().hex[:8]}"
    table = dynamodb.create_table(
        TableName=name, BillingMode="PAY_PER_REQUEST",
        KeySchema=[{"AttributeName": "order_no", "KeyType": "HASH"}],
        AttributeDefinitions=[{"AttributeName": "order_no", "AttributeType": "N"}],
    )  # fmt: skip
    for i in range(1, 9):
        table.put_item(Item={"order_no": i, "qty": i * 2, "price": decimal.Decimal("19.99")})
    block = NoSqlConnection(type=NoSqlType("dynamodb"), region="eu-west-1",
                            endpoint_url=dynamodb_endpoint, **keys)  # fmt: skip
    connection = _save(block, f"vddb-{uuid.uuid4().hex[:8]}")
    path = job_file(
        tmp_path, f"vd-{dataset[-6:]}", connection=connection, source={"table": name},
        destination={"block": destination, "dataset": dataset, "table": "orders"},
        load_type="catalog",
    )  # fmt: skip
    apply_and_run(path)
    column = next(f for f in bq.get_table(f"local.{dataset}.orders").schema
                  if f.name == "document_id")  # fmt: skip
    assert column.field_type == "INTEGER", column
    _equal_then_one_deleted(path, bq, f"local.{dataset}.orders", 8, "document_id", 5)
