"""NoSQL sources end to end: connection test, discovery, catalog and transactional jobs through
the real `etl-job` flow into the BigQuery emulator.

How each store is reached here (no server of its own can run for two of them):
- **Redis**: live, the machine's Redis 7 (127.0.0.1:6379), database 11, keys under a prefix of
  this test's own, deleted afterwards.
- **DynamoDB**: live HTTP against moto's server (`moto.server.ThreadedMotoServer` on a free
  port), through boto3 like real DynamoDB.
- **MongoDB**: FAKE. mongomock (an in-process imitation of pymongo) is handed to the reader
  through `engine.sources.nosql.documents.register_client_factory`, the only injection point; no
  MongoDB server can be installed here.
- **Firestore**: live gRPC against Google's own Firestore emulator (shipped with the Google Cloud
  CLI, Java 17), started for the session like `etl services up --only firestore`; each test
  has a project of its own, and connections reach it through `endpoint_url`.
- **Cassandra**: FAKE. mockylla patches the driver's `Cluster.connect` in this process (no
  injection point needed: the reader runs its real driver calls); no Cassandra runs here.

Transactional runs check the exactly-once boundary: the second run's new documents include one
whose cursor equals the first run's watermark, and exactly the new documents arrive.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import decimal
import json
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest

from tests.conftest import free_port, unavailable
from tests.integration.helpers import apply, data_rows, job_spec, run

UTC = dt.UTC


def _json(value: Any) -> Any:
    """A JSON column's value: the BigQuery client parses it (the emulator may hand back text)."""
    return json.loads(value) if isinstance(value, str) else value


_SAVED: list[str] = []


@pytest.fixture(scope="module", autouse=True)
def _delete_blocks() -> Iterator[None]:
    """The connections go with the module: a later connection-health run must not test a
    fake's connection (or a stopped moto server) for real."""
    yield
    from etl_bigquery.blocks import NoSqlConnection

    for name in _SAVED:
        with contextlib.suppress(Exception):  # the CLI test deletes its own
            NoSqlConnection.delete(name)
    _SAVED.clear()


def _connection(name: str, **fields: Any) -> str:
    from etl_bigquery.blocks import NoSqlConnection

    NoSqlConnection(**fields).save(name, overwrite=True)
    _SAVED.append(name)
    return name


def _discovery(name: str, table: str, schema: str | None = None) -> dict[str, Any]:
    """Everything `etl connection test/schemas/tables/columns/preview` shows, as data."""
    from etl_bigquery.blocks import health
    from etl_bigquery.blocks.registry import load_connection
    from etl_bigquery.service import discovery

    outcome = health.check_connection(load_connection(name))
    assert outcome.status == "success", outcome.message
    return {
        "test": outcome,
        "schemas": discovery.list_schemas(name),
        "tables": {t.name: t for t in discovery.list_tables(name, schema)},
        "columns": {c.name: c for c in discovery.list_columns(name, table, schema)},
        "preview": discovery.preview(name, table, schema, limit=2),
    }


def _transactional(
    connection: str, destination: str, dataset: str, table: str, cursor: str, **more: Any
) -> Any:
    return job_spec(
        connection, destination, dataset, table=f"t_{uuid.uuid4().hex[:8]}",
        source={"table": table, **({"schema": more.pop("schema")} if "schema" in more else {})},
        load_type="transactional", cursor_column=cursor, backfill_start="all", **more,
    )  # fmt: skip


# -- Redis (live) --------------------------------------------------------------------------------


@pytest.fixture()
def redis_db() -> Iterator[Any]:
    import redis

    client = redis.Redis(host="127.0.0.1", port=6379, db=11, socket_connect_timeout=3)
    try:
        client.ping()
    except redis.exceptions.ConnectionError as error:
        unavailable(f"Redis is not reachable at 127.0.0.1:6379: {error}")
    prefix = f"etl{uuid.uuid4().hex[:8]}"
    yield client, prefix
    keys = list(client.scan_iter(match=f"{prefix}:*"))
    if keys:
        client.delete(*keys)
    client.close()


def test_redis_hashes_under_a_prefix_load_as_rows(redis_db, services, destination, dataset, bq):
    client, prefix = redis_db
    for i in range(1, 5):
        client.hset(f"{prefix}:{i}", mapping={
            "name": f"user {i}", "visits": str(i * 10),
            "updated_at": f"2026-11-0{i}T10:00:00Z",
        })  # fmt: skip
    client.set(f"{prefix}:5", json.dumps({"name": "json user", "visits": 50,
                                           "updated_at": "2026-11-04T10:00:00Z",
                                           "tags": ["a", "b"]}))  # fmt: skip
    name = _connection(f"redis-{prefix}", type="redis", host="127.0.0.1", database="11")

    found = _discovery(name, prefix, "db11")
    assert "db11" in found["schemas"]
    assert found["tables"][prefix].row_count == 5
    columns = found["columns"]
    assert columns["document_id"].primary_key
    # Redis keeps text: timestamps in hash fields are detected from the sampled values.
    assert columns["updated_at"].bq_type == "TIMESTAMP" and columns["updated_at"].detected
    assert columns["tags"].bq_type == "JSON"
    assert len(found["preview"].rows) == 2

    job = _transactional(name, destination, dataset, prefix, "updated_at", schema="db11")
    apply(job)
    first = run(job)
    assert first["rows_loaded"] == 5, first
    # Two more: one at the watermark itself (2026-11-04T10:00Z), one after it.
    client.hset(f"{prefix}:6", mapping={"name": "same instant", "visits": "1",
                                        "updated_at": "2026-11-04T10:00:00+00:00"})  # fmt: skip
    client.hset(f"{prefix}:7", mapping={"name": "later", "visits": "2",
                                        "updated_at": "2026-11-05T00:00:00Z"})  # fmt: skip
    second = run(job)
    assert second["rows_loaded"] == 2, second
    rows = data_rows(bq, dataset, job.destination.table, order_by="document_id")
    assert [r["document_id"] for r in rows] == [f"{prefix}:{i}" for i in range(1, 8)]
    assert rows[0]["visits"] == 10  # text in Redis, integers in every sampled value: INT64
    assert _json(rows[4]["tags"]) == ["a", "b"]

    catalog = job_spec(name, destination, dataset, table="snapshot",
                       source={"schema": "db11", "table": prefix})  # fmt: skip
    apply(catalog)
    assert run(catalog)["rows_loaded"] == 7


# -- DynamoDB (moto's server) ----------------------------------------------------------------------


def test_dynamodb_items_with_sets_decimals_and_maps(
    dynamodb_endpoint, services, destination, dataset, bq
):
    import boto3

    keys = {"aws_access_key_id": "testing", "aws_secret_access_key": "testing"}
    client = boto3.client("dynamodb", region_name="eu-west-1", endpoint_url=dynamodb_endpoint,
                          **keys)  # fmt: skip
    table_name = f"orders_{uuid.uuid4().hex[:8]}"
    client.create_table(
        TableName=table_name,
        KeySchema=[{"AttributeName": "customer", "KeyType": "HASH"},
                   {"AttributeName": "order_no", "KeyType": "RANGE"}],
        AttributeDefinitions=[{"AttributeName": "customer", "AttributeType": "S"},
                              {"AttributeName": "order_no", "AttributeType": "N"}],
        BillingMode="PAY_PER_REQUEST",
    )  # fmt: skip
    table = boto3.resource("dynamodb", region_name="eu-west-1", endpoint_url=dynamodb_endpoint,
                           **keys).Table(table_name)  # fmt: skip

    def put(order_no: int, stamp: int) -> None:
        table.put_item(Item={
            "customer": f"c{order_no % 2}", "order_no": order_no, "qty": order_no * 2,
            "price": decimal.Decimal("19.99"), "tags": {"gift", "express"},
            "address": {"city": "Kraków", "lines": ["a", decimal.Decimal("1")]},
            "updated": stamp,
        })  # fmt: skip

    for order_no in range(1, 5):
        put(order_no, 1_700_000_000 + order_no)
    name = _connection(
        f"dynamo-{uuid.uuid4().hex[:8]}", type="dynamodb", region="eu-west-1",
        endpoint_url=dynamodb_endpoint, aws_access_key_id="testing",
        aws_secret_access_key="testing",
    )  # fmt: skip

    found = _discovery(name, table_name)
    assert found["schemas"] == ["eu-west-1"]
    assert found["tables"][table_name].row_count == 4
    columns = found["columns"]
    assert (columns["qty"].bq_type, columns["price"].bq_type) == ("INT64", "NUMERIC")
    assert (columns["tags"].bq_type, columns["address"].bq_type) == ("JSON", "JSON")

    # A numeric cursor on a store that cannot settle its reads needs a lookback (the sequence
    # rule): ten seconds of epoch stamps are re-read and compared.
    job = _transactional(name, destination, dataset, table_name, "updated", lookback=10)
    apply(job)
    assert run(job)["rows_loaded"] == 4
    put(5, 1_700_000_004)  # the watermark's own value, a new item
    put(6, 1_700_000_010)
    put(7, 0)
    # A field that changes kind: this item's cursor is text (the table's INT64 decides).
    table.update_item(Key={"customer": "c1", "order_no": 7},
                      UpdateExpression="SET updated = :t",
                      ExpressionAttributeValues={":t": "1700000011"})  # fmt: skip
    second = run(job)
    assert second["rows_loaded"] == 3, second
    rows = data_rows(bq, dataset, job.destination.table, order_by="order_no")
    assert [r["order_no"] for r in rows] == [1, 2, 3, 4, 5, 6, 7]
    assert rows[6]["updated"] == 1_700_000_011
    _pushed_down_numeric_cursor_still_reads_items_of_another_kind(name, table_name)
    assert rows[0]["document_id"] == '["c1", 1]'
    assert rows[0]["price"] == decimal.Decimal("19.99")
    assert _json(rows[0]["tags"]) == ["express", "gift"]
    assert _json(rows[0]["address"]) == {"city": "Kraków", "lines": ["a", 1]}

    catalog = job_spec(name, destination, dataset, table="snapshot", source={"table": table_name})
    apply(catalog)
    assert run(catalog)["rows_loaded"] == 7


def _pushed_down_numeric_cursor_still_reads_items_of_another_kind(name: str, table: str) -> None:
    """With a sample that saw only numbers, the scan's filter must not skip the item whose
    cursor is text: DynamoDB never matches text against a number, and the row would be lost
    without a trace (the engine loads or rejects it instead)."""
    from etl_bigquery.blocks.registry import load_connection
    from etl_bigquery.engine.jobs.model import TableSource
    from etl_bigquery.engine.schema.bqtypes import BqType
    from etl_bigquery.engine.sources.base import CursorBound, ReadColumn, ReadPlan

    cursor = ReadColumn("updated", "integer", BqType.INT64)
    columns = [ReadColumn("document_id", "string", BqType.STRING), cursor]
    reader = load_connection(name).open_reader()
    try:
        plan = ReadPlan(TableSource(table=table), columns, CursorBound(cursor, 1_700_000_010))
        read = [r for b in reader.read(plan) for r in b.to_pylist()]
        # Validation's readability check is one request, not one per item: a scan's Limit
        # counts items before the filter, and here no item is past the bound.
        client = reader._client(None)
        scans: list[Any] = []
        scan = client.scan
        client.scan = lambda **kwargs: scans.append(kwargs) or scan(**kwargs)
        nothing_new = CursorBound(cursor, 1_800_000_000)
        reader.check_readable(ReadPlan(TableSource(table=table), columns, nothing_new))
    finally:
        reader.close()
    assert sorted(r["document_id"] for r in read) == ['["c0", 6]', '["c1", 7]'], read
    assert len(scans) == 1, scans


# -- MongoDB (FAKE: mongomock through the client factory) -----------------------------------------


class _SharedClient:
    """One in-memory mongomock store for every reader the flow opens; `close` keeps it."""

    def __init__(self, client: Any) -> None:
        self._client = client

    def __getattr__(self, name: str) -> Any:
        return getattr(self._client, name)

    def __getitem__(self, name: str) -> Any:
        return self._client[name]

    def close(self) -> None:
        return None


@pytest.fixture()
def mongo() -> Iterator[Any]:
    import mongomock

    from etl_bigquery.engine.sources.nosql.documents import register_client_factory

    client = mongomock.MongoClient(tz_aware=True)
    register_client_factory("mongodb", lambda settings: _SharedClient(client))
    yield client
    register_client_factory("mongodb", None)


def test_mongodb_collection_catalog_transactional_and_rejected_values(
    mongo, services, destination, dataset, bq
):
    from bson import Decimal128, ObjectId

    orders = mongo.shop.orders
    base = dt.datetime(2026, 11, 1, 8, 0, tzinfo=UTC)
    ids = [ObjectId() for _ in range(5)]
    orders.insert_many([
        {"_id": ids[i], "qty": i + 1, "total": Decimal128(f"{i}.25"),
         "at": base + dt.timedelta(hours=i), "customer": {"name": f"c{i}", "vip": i % 2 == 0},
         "items": [{"sku": "x", "n": i}]}
        for i in range(4)
    ])  # fmt: skip
    # Past the schema sample (sample_size 4): qty is INT64 by the sample, and this one does not fit.
    orders.insert_one({"_id": ids[4], "qty": "many", "at": base + dt.timedelta(hours=4)})
    name = _connection(f"mongo-{uuid.uuid4().hex[:8]}", type="mongodb", host="mongo.invalid",
                       database="shop", sample_size=4)  # fmt: skip

    found = _discovery(name, "orders")
    assert "shop" in found["schemas"] and found["tables"]["orders"].row_count == 5
    columns = found["columns"]
    assert [c for c in columns] == ["document_id", "qty", "total", "at", "customer", "items"]
    assert (columns["qty"].bq_type, columns["total"].bq_type, columns["at"].bq_type) == (
        "INT64", "NUMERIC", "TIMESTAMP")  # fmt: skip
    assert columns["customer"].bq_type == "JSON"

    catalog = job_spec(name, destination, dataset, table="orders_snapshot",
                       source={"table": "orders"})  # fmt: skip
    apply(catalog)
    report = run(catalog)
    assert report["state_name"] == "Partial", report
    assert (report["rows_loaded"], report["rows_rejected"]) == (4, 1)
    rows = data_rows(bq, dataset, "orders_snapshot", order_by="document_id")
    assert [r["document_id"] for r in rows] == [str(i) for i in ids[:4]]
    assert rows[1]["total"] == decimal.Decimal("1.25")
    assert _json(rows[0]["customer"]) == {"name": "c0", "vip": True}

    orders.delete_one({"_id": ids[4]})
    job = _transactional(name, destination, dataset, "orders", "at")
    apply(job)
    assert run(job)["rows_loaded"] == 4
    orders.insert_many([{"qty": 9, "at": base + dt.timedelta(hours=3)},  # the watermark itself
                        {"qty": 10, "at": base + dt.timedelta(days=1)},
                        # Past the sample, which saw dates: `$gte` a date never matches text,
                        # so the pushed-down query must still read this one.
                        {"qty": 11, "at": "2026-11-03T08:00:00Z"}])  # fmt: skip
    second = run(job)
    assert second["rows_loaded"] == 3, second
    assert sorted(r["qty"] for r in data_rows(bq, dataset, job.destination.table, "qty")) == [
        1, 2, 3, 4, 9, 10, 11]  # fmt: skip


def test_a_sample_that_guesses_differently_follows_the_tables_types(
    mongo, services, destination, dataset, bq
):
    """Document fields have no declared type: the table made by the first run decides later
    runs, whatever the next sample shows (CI once failed a Redis job on the order SCAN returned
    a number-as-text and a JSON number in)."""
    events = mongo.shop.events
    base = dt.datetime(2026, 11, 1, 8, 0, tzinfo=UTC)
    events.insert_many([{"code": str(10 * (i + 1)), "at": base + dt.timedelta(hours=i)}
                        for i in range(3)])  # fmt: skip
    name = _connection(f"mongo-{uuid.uuid4().hex[:8]}", type="mongodb", host="mongo.invalid",
                       database="shop")  # fmt: skip
    job = _transactional(name, destination, dataset, "events", "at")
    apply(job)  # text that is all integers: detected, the table is made with INT64
    assert run(job)["rows_loaded"] == 3
    # Now the sample mixes a real number with the text ones, and one value is no number at all.
    events.insert_many([{"code": 40, "at": base + dt.timedelta(days=1)},
                        {"code": "n/a", "at": base + dt.timedelta(days=2)}])  # fmt: skip
    second = run(job)
    assert (second["rows_loaded"], second["rows_rejected"]) == (1, 1), second
    loaded = data_rows(bq, dataset, job.destination.table, "code")
    assert [r["code"] for r in loaded] == [10, 20, 30, 40]


# -- Firestore (Google's emulator) ----------------------------------------------------------------


@dataclass(frozen=True)
class Firestore:
    client: Any
    """google-cloud-firestore's own client on the emulator, to write the test's documents."""
    project: str
    endpoint: str

    def connection(self, **fields: Any) -> str:
        return _connection(f"fs-{uuid.uuid4().hex[:8]}", type="firestore", project=self.project,
                           endpoint_url=self.endpoint, **fields)  # fmt: skip


@pytest.fixture()
def firestore(firestore_emulator: str, firestore_project: str) -> Iterator[Firestore]:
    from google.cloud import firestore as google_firestore

    # The library's own way to the emulator, for this client only: the flow's readers must
    # find it through the connection's endpoint_url, as they do in another process.
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("FIRESTORE_EMULATOR_HOST", firestore_emulator)
        client = google_firestore.Client(project=firestore_project)
    yield Firestore(client, firestore_project, firestore_emulator)
    client.close()


def test_firestore_collection_with_timestamps_and_nested_values(
    firestore, services, destination, dataset, bq
):
    from google.api_core.datetime_helpers import DatetimeWithNanoseconds

    def stamp(day: int, nanos: int = 0) -> DatetimeWithNanoseconds:
        return DatetimeWithNanoseconds(2026, 11, day, 9, 30, tzinfo=UTC, nanosecond=nanos)

    users = firestore.client.collection("users")
    for i in range(1, 4):
        users.document(f"user-{i}").set({
            "name": f"User {i}", "score": i * 1.5, "updated": stamp(i, 123_456_789),
            "profile": {"langs": ["pl", "en"], "age": 30 + i},
        })  # fmt: skip
    name = firestore.connection()

    found = _discovery(name, "users")
    assert found["test"].message.startswith("Connection successful. Found 1 table")
    assert list(found["tables"]) == ["users"]
    columns = found["columns"]
    assert columns["updated"].bq_type == "TIMESTAMP" and columns["profile"].bq_type == "JSON"
    assert columns["score"].bq_type == "FLOAT64"

    job = _transactional(name, destination, dataset, "users", "updated")
    apply(job)
    assert run(job)["rows_loaded"] == 3
    users.document("user-4").set({"name": "Same instant", "score": 0.5,
                                  "updated": stamp(3, 123_456_789)})  # fmt: skip
    users.document("user-5").set({"name": "Later", "score": 1.0, "updated": stamp(4)})
    second = run(job)
    assert second["rows_loaded"] == 2, second
    rows = data_rows(bq, dataset, job.destination.table, order_by="document_id")
    assert [r["document_id"] for r in rows] == [f"user-{i}" for i in range(1, 6)]
    # Nanoseconds are truncated to BigQuery's microseconds.
    assert rows[0]["updated"] == dt.datetime(2026, 11, 1, 9, 30, 0, 123456, tzinfo=UTC)
    assert _json(rows[0]["profile"]) == {"langs": ["pl", "en"], "age": 31}

    catalog = job_spec(name, destination, dataset, table="users_snapshot",
                       source={"table": "users"})  # fmt: skip
    apply(catalog)
    assert run(catalog)["rows_loaded"] == 5


def _job_file(folder: Any, connection: str, destination: str, dataset: str, **fields: Any) -> Any:
    from tests.integration.cli_helpers import write_job

    spec = {
        "name": f"fs-{uuid.uuid4().hex[:8]}", "connection": connection,
        "destination": {"block": destination, "dataset": dataset, "table": "docs"},
        "load_type": "transactional", "backfill_start": "all", **fields,
    }  # fmt: skip
    return write_job(folder, spec)


def test_firestore_cursor_of_another_type_than_the_sample_saw_is_read_not_skipped(
    firestore, services, destination, dataset, bq, tmp_path
):
    """`where(cursor >= a timestamp)` returns only timestamps (checked on the emulator): the
    documents whose cursor is an ISO string, a number or any other type past the sample would be
    skipped without a trace. They reach the engine, which loads, filters or rejects them."""
    from google.api_core.datetime_helpers import DatetimeWithNanoseconds
    from google.cloud.firestore_v1 import GeoPoint
    from google.cloud.firestore_v1.vector import Vector

    from tests.integration.cli_helpers import apply_job_file, run_job_file

    def stamp(day: int) -> DatetimeWithNanoseconds:
        return DatetimeWithNanoseconds(2026, 11, day, 9, 30, tzinfo=UTC)

    events = firestore.client.collection("events")
    for i in range(1, 4):  # the sample (sample_size 3): timestamps only
        events.document(f"a{i}").set({"n": i, "at": stamp(i)})
    # sample_size 3: documents come in id order, so the sample is a1..a3 on every run.
    job = _job_file(tmp_path, firestore.connection(sample_size=3), destination, dataset,
                    source={"table": "events"}, cursor_column="at")  # fmt: skip
    apply_job_file(job)
    assert run_job_file(job)["rows_loaded"] == 3

    later = {
        "b-timestamp": stamp(5),
        "b-text-newer": "2026-11-06T09:30:00Z",  # a writer that stores ISO text
        "b-text-older": "2026-10-01T00:00:00Z",  # before the watermark: not loaded
        "b-null": None,  # a NULL cursor never loads
        # One of every other type Firestore orders: none is a timestamp, each is rejected.
        "b-number": 1_780_000_000,  # seconds since the epoch, say
        "b-nan": float("nan"),
        "b-boolean": True,
        "b-bytes": b"2026-11-07",
        "b-reference": firestore.client.document("users/alice"),
        "b-geopoint": GeoPoint(52.2, 21.0),
        "b-array": ["2026-11-07T00:00:00Z"],
        "b-vector": Vector([1.0, 2.0]),
        "b-map": {"seconds": 1},
    }
    rejects = sorted(name for name in later if name.startswith("b-") and name not in (
        "b-timestamp", "b-text-newer", "b-text-older", "b-null"))  # fmt: skip
    for name, at in later.items():
        events.document(name).set({"n": 0, "at": at})
    events.document("b-missing").set({"n": 0})
    second = run_job_file(job)
    assert second["state_name"] == "Partial", second
    assert (second["rows_loaded"], second["rows_rejected"]) == (2, len(rejects)), second
    loaded = data_rows(bq, dataset, "docs", order_by="document_id")
    assert [r["document_id"] for r in loaded] == ["a1", "a2", "a3", "b-text-newer", "b-timestamp"]
    assert loaded[3]["at"] == dt.datetime(2026, 11, 6, 9, 30, tzinfo=UTC)
    rejected = bq.query_and_wait(f"SELECT record FROM `local.{dataset}.docs__rejected`")
    ids = sorted(json.loads(row["record"])["document_id"] for row in rejected)
    assert ids == rejects, ids
    # Nothing new: the rejected ones are known, nothing loads twice.
    third = run_job_file(job)
    assert third["rows_loaded"] == 0, third


def test_firestore_sample_that_meets_the_fields_in_another_order_swaps_nothing(
    firestore, services, destination, dataset, bq, tmp_path
):
    """Columns match the table by source name: a document that sorts first makes the sample
    meet `Price ($)` before `Price (€)`, and its value still lands in its own column."""
    from tests.integration.cli_helpers import apply_job_file, run_job_file
    from tests.integration.helpers import by_source

    euro, dollar = "Price (€)", "Price ($)"
    prices = firestore.client.collection("prices")
    prices.document("a").set({"at": dt.datetime(2026, 11, 1, tzinfo=UTC), euro: 1})
    prices.document("b").set({"at": dt.datetime(2026, 11, 2, tzinfo=UTC), dollar: 2})
    job = _job_file(tmp_path, firestore.connection(), destination, dataset,
                    source={"table": "prices"}, cursor_column="at")  # fmt: skip
    apply_job_file(job)
    assert run_job_file(job)["rows_loaded"] == 2
    prices.document("0").set({"at": dt.datetime(2026, 11, 3, tzinfo=UTC), dollar: 3})
    second = run_job_file(job)
    assert (second["status"], second["rows_loaded"]) == ("completed", 1), second
    rows = by_source(bq, dataset, "docs", "document_id")
    assert [(r["document_id"], r[euro], r[dollar]) for r in rows] == [
        ("0", None, 3), ("a", 1, None), ("b", None, 2)]  # fmt: skip


def test_etl_services_up_only_firestore_starts_the_emulator_and_down_stops_it(
    firestore_emulator, tmp_path
):
    """The optional local service, as a developer starts it (its own state folder and port);
    `etl services up` without --only never starts it, and `status` does not require it."""
    import urllib.request

    from tests.integration.cli_helpers import etl

    state = {"ETL_STATE_DIR": str(tmp_path / "state")}
    port = free_port()
    up = etl("services", "up", "--only", "firestore", "--firestore-port", str(port), env=state)
    assert up.returncode == 0, up.stdout + up.stderr
    assert f"endpoint_url: 127.0.0.1:{port}" in up.stdout, up.stdout
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=5) as answer:
            assert answer.read().strip() == b"Ok"
        status = etl("services", "status", env=state)
        line = next(row for row in status.stdout.splitlines() if row.startswith("firestore"))
        assert "healthy" in line, status.stdout
    finally:
        down = etl("services", "down", env=state)
    assert "firestore: stopped" in down.stdout, down.stdout + down.stderr
    with pytest.raises(OSError):  # the whole process group is gone (the script and its Java)
        urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=2)


# -- Cassandra (FAKE: mockylla patches the driver in this process) --------------------------------


@pytest.fixture()
def cassandra() -> Iterator[Any]:
    from mockylla import MockScyllaDB

    with MockScyllaDB():
        from cassandra.cluster import Cluster

        session = Cluster(["127.0.0.1"]).connect()
        session.execute(
            "CREATE KEYSPACE shop WITH REPLICATION = "
            "{'class': 'SimpleStrategy', 'replication_factor': 1}"
        )
        session.execute(
            "CREATE TABLE shop.events (id int PRIMARY KEY, kind text, amount decimal, "
            "at timestamp, tags set<text>, attrs map<text, int>)"
        )
        yield session


def test_cassandra_table_catalog_and_transactional(cassandra, services, destination, dataset, bq):
    insert = (
        "INSERT INTO shop.events (id, kind, amount, at, tags, attrs) "
        "VALUES (%s, %s, %s, %s, %s, %s)"
    )

    def add(i: int, at: dt.datetime) -> None:
        cassandra.execute(insert, (i, f"k{i}", decimal.Decimal(f"{i}.50"), at, {"x", "y"},
                                   {"n": i}))  # fmt: skip

    base = dt.datetime(2026, 11, 1, 12, 0)  # the driver's timestamps are naive UTC
    for i in range(1, 4):
        add(i, base + dt.timedelta(hours=i))
    name = _connection(f"cass-{uuid.uuid4().hex[:8]}", type="cassandra", host="127.0.0.1",
                       database="shop")  # fmt: skip

    found = _discovery(name, "events", "shop")
    assert found["schemas"] == ["shop"] and list(found["tables"]) == ["events"]
    columns = found["columns"]
    assert columns["id"].primary_key and columns["id"].source_type == "int"
    assert (columns["amount"].bq_type, columns["at"].bq_type, columns["attrs"].bq_type) == (
        "NUMERIC", "TIMESTAMP", "JSON")  # fmt: skip

    job = _transactional(name, destination, dataset, "events", "at", schema="shop")
    apply(job)
    assert run(job)["rows_loaded"] == 3
    add(4, base + dt.timedelta(hours=3))  # at the watermark
    add(5, base + dt.timedelta(hours=9))
    second = run(job)
    assert second["rows_loaded"] == 2, second
    rows = data_rows(bq, dataset, job.destination.table)
    assert [r["id"] for r in rows] == [1, 2, 3, 4, 5]
    assert rows[0]["at"] == dt.datetime(2026, 11, 1, 13, 0, tzinfo=UTC)
    assert _json(rows[0]["tags"]) == ["x", "y"] and rows[0]["amount"] == decimal.Decimal("1.5")

    catalog = job_spec(name, destination, dataset, table="events_snapshot",
                       source={"schema": "shop", "table": "events"})  # fmt: skip
    apply(catalog)
    assert run(catalog)["rows_loaded"] == 5


# -- the command line, as a user runs it (Redis: the store another process can reach) -----------


def test_etl_connection_commands_on_a_nosql_connection(redis_db, services, tmp_path):
    from tests.integration.cli_helpers import etl

    client, prefix = redis_db
    client.hset(f"{prefix}:1", mapping={"name": "Ann", "joined": "2026-01-02"})
    client.hset(f"{prefix}:2", mapping={"name": "Bob", "joined": "2026-02-03"})
    name = f"redis-cli-{prefix}"
    (tmp_path / "conn.yaml").write_text(
        # localhost: the same server as the other Redis test's connection, another identity
        f"kind: nosql\nname: {name}\ntype: redis\nhost: localhost\ndatabase: '11'\n"
    )
    applied = etl("connection", "apply", str(tmp_path / "conn.yaml"))
    assert applied.returncode == 0, applied.stdout + applied.stderr
    assert f"created nosql connection '{name}'" in applied.stdout

    tested = etl("connection", "test", name)
    assert tested.returncode == 0, tested.stdout + tested.stderr
    assert tested.stdout.startswith("success: Connection successful.")
    assert prefix in tested.stdout

    from etl_bigquery.service.discovery import delete_connection

    delete_connection(name, prefect_yaml=None)
