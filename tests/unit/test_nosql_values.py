"""NoSQL values without a server: kinds and the schema from a sample, the `document` type map,
driver values into Arrow and through the conformer, cursor pushdown rules, the block's fields.
Driver types are the real ones (bson, google-cloud-firestore, cassandra, boto3)."""

from __future__ import annotations

import datetime as dt
import decimal
import json
import math
import uuid

import pyarrow as pa
import pytest

from etl_bigquery.engine.conform.casts import cast_array
from etl_bigquery.engine.schema.bqtypes import BqType
from etl_bigquery.engine.schema.typemap import Confidence, propose
from etl_bigquery.engine.sources.base import CursorBound, ReadColumn
from etl_bigquery.engine.sources.nosql.documents import (
    column_array,
    infer_columns,
    plain,
    pushable,
    union_kind,
    value_kind,
)

UTC = dt.UTC


def test_value_kinds_of_every_driver_type():
    from bson import Binary, Decimal128, ObjectId
    from cassandra.util import Date, SortedSet
    from google.api_core.datetime_helpers import DatetimeWithNanoseconds
    from google.cloud.firestore_v1 import GeoPoint

    kinds = [
        ("text", "string"), (1, "integer"), (1.5, "double"), (True, "boolean"),
        (decimal.Decimal("5"), "integer"), (decimal.Decimal("5.10"), "decimal"),
        (Decimal128("1.25"), "decimal"), (ObjectId(), "objectid"), (Binary(b"\x00"), "bytes"),
        (DatetimeWithNanoseconds(2026, 1, 1, tzinfo=UTC, nanosecond=5), "timestamp"),
        (dt.datetime(2026, 1, 1), "timestamp"), (dt.date(2026, 1, 1), "date"),
        (Date(dt.date(2026, 1, 1)), "date"), (GeoPoint(50.06, 19.94), "geopoint"),
        (uuid.uuid4(), "uuid"), (SortedSet([1, 2]), "set"), (frozenset({1}), "set"),
    ]  # fmt: skip
    for value, kind in kinds:
        assert value_kind(value) == kind, value
    assert value_kind({"a": 1}) == "map" and value_kind([1]) == "list"
    assert value_kind(None) is None


def test_the_schema_is_the_union_of_the_sampled_fields_in_order_of_appearance_kinds_sorted():
    columns = infer_columns([
        ("a", {"n": 1, "name": "x"}),
        ("b", {"n": 2.5, "tags": ["t"], "document_id": "a field of that name"}),
        ("c", {"n": None, "name": 7, "born": dt.date(2000, 1, 1)}),
    ])  # fmt: skip
    assert [(c.name, c.source_type) for c in columns] == [
        ("document_id", "string"), ("n", "double"), ("name", "mixed(integer,string)"),
        ("tags", "list"), ("born", "date"),
    ]  # fmt: skip
    assert columns[0].primary_key and not columns[0].nullable
    # The order a store returns documents in does not change a mixed type.
    reordered = infer_columns([("c", {"name": 7}), ("a", {"name": "x"})])
    assert reordered[1].source_type == "mixed(integer,string)"
    assert union_kind([]) == "null" and union_kind(["integer", "decimal"]) == "decimal"


@pytest.mark.parametrize(
    ("source_type", "bq_type", "confidence"),
    [
        ("string", BqType.STRING, Confidence.HIGH),
        ("integer", BqType.INT64, Confidence.HIGH),
        ("timestamp", BqType.TIMESTAMP, Confidence.HIGH),
        ("map", BqType.JSON, Confidence.MEDIUM),
        ("geopoint", BqType.GEOGRAPHY, Confidence.MEDIUM),
        ("mixed(integer,double)", BqType.FLOAT64, Confidence.MEDIUM),
        ("mixed(string,integer)", BqType.STRING, Confidence.LOW),
        ("mixed(string,map)", BqType.JSON, Confidence.LOW),
        ("null", BqType.STRING, Confidence.LOW),
        # Cassandra's declared CQL types
        ("bigint", BqType.INT64, Confidence.HIGH),
        ("map<text, frozen<list<int>>>", BqType.JSON, Confidence.MEDIUM),
        ("timeuuid", BqType.STRING, Confidence.HIGH),
        ("varint", BqType.NUMERIC, Confidence.MEDIUM),
        ("something new", BqType.STRING, Confidence.LOW),
    ],
)
def test_document_type_map(source_type, bq_type, confidence):
    proposal = propose("mongodb", source_type)
    assert (proposal.bq_type, proposal.confidence) == (bq_type, confidence)


def test_driver_values_reach_the_column_types_unchanged():
    from bson import Decimal128
    from google.api_core.datetime_helpers import DatetimeWithNanoseconds
    from google.cloud.firestore_v1 import GeoPoint

    stamp = DatetimeWithNanoseconds(2026, 11, 1, 9, 30, tzinfo=UTC, nanosecond=123_456_789)
    naive = dt.datetime(2026, 11, 1, 9, 30)  # pymongo and Cassandra: naive UTC
    cases = [
        ([stamp, naive, None], BqType.TIMESTAMP,
         [dt.datetime(2026, 11, 1, 9, 30, 0, 123456, tzinfo=UTC),
          dt.datetime(2026, 11, 1, 9, 30, tzinfo=UTC), None]),
        ([plain(Decimal128("12.345")), decimal.Decimal("1E+2")], BqType.NUMERIC,
         [decimal.Decimal("12.345"), decimal.Decimal("100")]),
        ([decimal.Decimal("7"), 8], BqType.INT64, [7, 8]),
        ([3, 4.0], BqType.INT64, [3, 4]),  # mongosh writes whole numbers as doubles
        (["3", 4.0], BqType.INT64, [3, 4]),  # and beside text numbers (Redis JSON and hashes)
        ([plain({"b", "a"}), plain({"k": decimal.Decimal("1.5"), "t": stamp})], BqType.JSON,
         ['["a", "b"]', '{"k": 1.5, "t": "2026-11-01T09:30:00.123456+00:00"}']),
        ([plain(GeoPoint(50.06, 19.94))], BqType.GEOGRAPHY, ["POINT(19.94 50.06)"]),
        ([b"\x00\xff"], BqType.BYTES, [b"\x00\xff"]),
        ([b"\x00\xff", {"a": [1]}], BqType.STRING, ["AP8=", '{"a": [1]}']),
    ]  # fmt: skip
    for values, bq_type, expected in cases:
        converted = cast_array(column_array(values, bq_type), bq_type)
        if bq_type is BqType.JSON:
            converted = converted.storage
        assert converted.to_pylist() == expected, bq_type


def test_a_value_of_another_kind_goes_as_text_and_the_conformer_rejects_its_row():
    from etl_bigquery.engine.conform import Conformer, RunStamp, TargetColumn

    array = column_array([1, "many", True, 2.5], BqType.INT64)
    assert array.type == pa.string()  # bools are never silently integers
    conformer = Conformer(
        [TargetColumn("qty", "integer", "qty", BqType.INT64)], RunStamp("r", dt.datetime.now(UTC))
    )
    good, rejected = conformer.conform(pa.RecordBatch.from_arrays([array], names=["qty"]))
    assert good.column("qty").to_pylist() == [1]
    assert [r.record for r in rejected] == [{"qty": "many"}, {"qty": "true"}, {"qty": "2.5"}]


def _bound(source_type: str, bq_type: BqType) -> CursorBound:
    return CursorBound(ReadColumn("c", source_type, bq_type), 0)


def test_the_cursor_is_pushed_down_only_where_the_store_holds_that_kind():
    assert pushable(_bound("timestamp", BqType.TIMESTAMP))
    assert pushable(_bound("integer", BqType.INT64))
    assert pushable(_bound("bigint", BqType.INT64))  # Cassandra
    # Text that the job reads as a time: the store would compare text with a time and miss rows.
    assert not pushable(_bound("string", BqType.TIMESTAMP))
    assert not pushable(_bound("mixed(string,timestamp)", BqType.TIMESTAMP))
    assert not pushable(None)


def test_the_block_asks_for_what_each_store_needs_and_hides_secrets():
    from pydantic import ValidationError

    from etl_bigquery.blocks.nosql import NoSqlConnection

    for fields, message in [
        ({"type": "redis"}, "needs a host"),
        ({"type": "firestore"}, "needs a project"),
        ({"type": "dynamodb"}, "needs a region"),
        ({"type": "mongodb"}, "needs a host or a connection_string"),
        ({"type": "redis", "host": "h", "connection_string": "redis://x"}, "mongodb connections"),
        ({"type": "mongodb", "host": "h", "password": "p",
          "password_secret": "projects/p/secrets/s"}, "either password or password_secret"),
    ]:  # fmt: skip
        with pytest.raises(ValidationError, match=message):
            NoSqlConnection(**fields)
    uri = "mongodb://etl:hunter2@db.internal/shop"
    block = NoSqlConnection(type="mongodb", connection_string=uri, database="shop")
    assert "hunter2" not in repr(block) and "hunter2" not in block.describe()
    settings = block.settings()
    assert settings.connection_string == uri and "hunter2" not in repr(settings)
    assert NoSqlConnection(type="redis", host="cache").effective_port == 6379
    assert NoSqlConnection(type="dynamodb", region="eu-west-1").describe() == "dynamodb:eu-west-1"


def test_connection_documents_of_kind_nosql():
    from etl_bigquery.blocks.nosql import NoSqlConnection
    from etl_bigquery.engine.errors import ConfigurationError
    from etl_bigquery.service.connection_documents import build_block

    name, kind, block = build_block(
        {"kind": "nosql", "name": "events", "type": "cassandra", "host": "a,b",
         "database": "shop"}, "conn.yaml",
    )  # fmt: skip
    assert (name, kind, isinstance(block, NoSqlConnection)) == ("events", "nosql", True)
    with pytest.raises(ConfigurationError, match="type"):
        build_block({"kind": "nosql", "name": "x", "type": "couchdb", "host": "h"}, "conn.yaml")


def test_a_store_that_is_not_there_is_one_sentence():
    from etl_bigquery.engine.errors import ConnectionFailed
    from etl_bigquery.engine.sources.nosql.documents import NoSqlSettings
    from etl_bigquery.engine.sources.registry import source_type
    from tests.conftest import free_port

    port = free_port()  # nothing listens there
    for kind in ("mongodb", "redis"):
        settings = NoSqlSettings(type=kind, host="127.0.0.1", port=port, connect_timeout=1)
        with pytest.raises(ConnectionFailed, match=r"^Connection refused\. Check host/port\.$"):
            reader = source_type(kind).open(settings)
            try:
                reader.ping()
            finally:
                reader.close()


def test_redis_values_become_fields():
    from etl_bigquery.engine.sources.nosql.redis_source import _fields

    assert _fields("hash", {b"a": b"1", b"b": b"\xff"}) == {"a": "1", "b": b"\xff"}
    assert _fields("string", json.dumps({"x": 1}).encode()) == {"x": 1}
    assert _fields("string", b"plain") == {"value": "plain"}
    assert _fields("zset", [(b"m", 2.0)]) == {"value": [["m", 2.0]]}


def test_a_table_field_outside_todays_sample_is_still_read():
    """SCAN order (Redis, DynamoDB) changes between runs: a field only some documents hold may
    be in the table but not in today's sample. It is read all the same, not written as NULL."""
    import mongomock
    from google.cloud import bigquery

    from etl_bigquery.engine.bigquery.tables import described_source, source_description
    from etl_bigquery.engine.jobs.model import TableSource
    from etl_bigquery.engine.sources.abilities import SampledSchema
    from etl_bigquery.engine.sources.base import ReadPlan
    from etl_bigquery.engine.sources.nosql.cassandra import CassandraReader
    from etl_bigquery.engine.sources.nosql.documents import NoSqlSettings, register_client_factory
    from etl_bigquery.engine.sources.nosql.mongodb import MongoReader

    client = mongomock.MongoClient(tz_aware=True)
    client.shop.orders.insert_many([{"_id": 1, "n": 1}, {"_id": 2, "n": 2},
                                    {"_id": 3, "n": 3, "coupon": "SAVE10", "it's": 1}])  # fmt: skip
    register_client_factory("mongodb", lambda settings: client)
    try:
        reader = MongoReader(NoSqlSettings(type="mongodb", database="shop", sample_size=2))
        source = TableSource(table="orders")
        sampled = reader.describe(source)
        assert [c.name for c in sampled] == ["document_id", "n"]
        table_fields = [
            bigquery.SchemaField("n", "INT64", description=source_description("n", "integer")),
            bigquery.SchemaField("coupon", "STRING",
                                 description=source_description("coupon", "string")),
            bigquery.SchemaField("it_s", "INT64",
                                 description=source_description("it's", "integer")),
            bigquery.SchemaField("_etl_loaded_at", "TIMESTAMP", description="when it loaded"),
            bigquery.SchemaField("by_hand", "STRING"),
        ]  # fmt: skip
        described = [described_source(f.description) for f in table_fields]
        assert described[2] == ("it's", "integer") and described[3:] == [None, None]
        columns = reader.columns_beyond_sample(sampled, [d for d in described if d])
        assert [(c.name, c.source_type) for c in columns] == [
            ("document_id", "string"), ("n", "integer"), ("coupon", "string"), ("it's", "integer"),
        ]  # fmt: skip
        read = [ReadColumn(c.name, c.source_type, propose("mongodb", c.source_type).bq_type)
                for c in columns]  # fmt: skip
        rows = [r for b in reader.read(ReadPlan(source, read)) for r in b.to_pylist()]
        assert {r["document_id"]: r["coupon"] for r in rows} == {"1": None, "2": None,
                                                                 "3": "SAVE10"}  # fmt: skip
    finally:
        register_client_factory("mongodb", None)
    assert not issubclass(CassandraReader, SampledSchema)  # Cassandra declares its columns


def test_json_values_never_hold_bare_nan_or_infinity():
    """JSON has no NaN: BigQuery refuses a load job whose JSON value holds one (the emulator
    does not), so a double NaN inside a map, or a Redis sorted set's +inf score, is written the
    way BigQuery's TO_JSON writes it, as a string."""
    from etl_bigquery.engine.sources.nosql.redis_source import _fields

    scores = [(b"top", float("inf")), (b"low", float("-inf"))]
    values = [{"x": float("nan"), "d": decimal.Decimal("NaN")}, _fields("zset", scores)["value"]]
    texts = column_array(values, BqType.JSON).to_pylist()
    assert texts == ['{"x": "NaN", "d": "NaN"}', '[["top", "Infinity"], ["low", "-Infinity"]]']

    def strict(name: str) -> None:
        pytest.fail(f"bare {name} in a JSON value")

    for text in texts:
        json.loads(text, parse_constant=strict)
    assert math.isnan(column_array([float("nan")], BqType.FLOAT64)[0].as_py())  # FLOAT64: NaN


def test_a_dynamodb_server_error_is_one_sentence_not_its_html_page():
    from botocore.exceptions import ClientError

    from etl_bigquery.engine.errors import ConnectionFailed
    from etl_bigquery.engine.sources.nosql.dynamodb import _classify

    page = "<!doctype html>\n<title>500 Internal Server Error</title>"
    error = ClientError({"Error": {"Code": "500", "Message": page},
                         "ResponseMetadata": {"HTTPStatusCode": 500}}, "Scan")  # fmt: skip
    classified = _classify(error)
    assert isinstance(classified, ConnectionFailed) and classified.transient
    assert str(classified) == "DynamoDB is busy (500); the run is retried."
