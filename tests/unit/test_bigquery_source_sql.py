"""BigQuery as a source, without a server: quoting, generated SQL, cursor literals, the bytes
limit's sentence, refused queries, type text and type mapping, the block's fields."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest
from google.cloud.bigquery import SchemaField

from etl_bigquery.engine.errors import ConfigurationError, ValidationError
from etl_bigquery.engine.jobs.model import QuerySource, TableSource
from etl_bigquery.engine.schema.bqtypes import BqType
from etl_bigquery.engine.schema.typemap import Confidence, propose
from etl_bigquery.engine.sources.base import CursorBound, ReadColumn
from etl_bigquery.engine.sources.bigquery_sql import (
    DEFAULT_MAX_QUERY_BYTES,
    bytes_limit_error,
    cursor_literal,
    quote_identifier,
    quote_string,
    row_restriction,
    select_sql,
    table_ref,
)
from etl_bigquery.engine.sources.bigquery_types import type_text
from etl_bigquery.engine.sources.registry import source_type


def _bound(value: object, source_type: str, name: str = "updated_at") -> CursorBound:
    return CursorBound(ReadColumn(name, source_type, BqType.TIMESTAMP), value)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    "name", ["orders", "my table", "a;DROP TABLE x", "it's", 'say "hi"', "zamówienia 🛒", "--x"]
)
def test_names_are_quoted_whole_with_backticks(name: str) -> None:
    assert quote_identifier(name) == f"`{name}`"


@pytest.mark.parametrize("name", ["a`b", "x`; DROP TABLE t; --", "a\\b", "two\nlines", ""])
def test_names_that_could_leave_the_quotes_are_refused_with_a_sentence(name: str) -> None:
    with pytest.raises(ValidationError, match="cannot be a BigQuery name"):
        quote_identifier(name, "table")


def test_string_literals_escape_quotes_backslashes_and_line_breaks() -> None:
    assert quote_string("it's \\ a\nb") == "'it\\'s \\\\ a\\nb'"


def test_table_ref_takes_the_connection_project_or_the_one_in_the_schema() -> None:
    own = table_ref(TableSource(schema="sales", table="orders"), "src-proj")
    assert own.sql == "`src-proj`.`sales`.`orders`"
    assert own.path == "projects/src-proj/datasets/sales/tables/orders"
    other = table_ref(TableSource(schema="other-proj.sales", table="my orders"), "src-proj")
    assert other.sql == "`other-proj`.`sales`.`my orders`"
    scoped = table_ref(TableSource(schema="example.com:proj.sales", table="t"), "p")
    assert (scoped.project, scoped.dataset) == ("example.com:proj", "sales")


def test_a_table_without_a_dataset_is_refused_with_what_to_set() -> None:
    with pytest.raises(ValidationError, match=r"set source\.schema to the dataset"):
        table_ref(TableSource(table="orders"), "p")
    with pytest.raises(ValidationError, match="cannot be a BigQuery name"):
        table_ref(TableSource(schema="sales", table="x`; DELETE"), "p")


def test_cursor_literals_are_typed_by_the_cursor_column() -> None:
    aware = dt.datetime(2026, 11, 1, 13, 0, tzinfo=dt.timezone(dt.timedelta(hours=1)))
    assert cursor_literal(_bound(aware, "TIMESTAMP")) == (
        "TIMESTAMP '2026-11-01 12:00:00.000000+00'"
    )
    naive = dt.datetime(2026, 11, 1, 12, 0, 0, 5)
    assert cursor_literal(_bound(naive, "DATETIME")) == "DATETIME '2026-11-01 12:00:00.000005'"
    assert cursor_literal(_bound(dt.date(2026, 1, 2), "DATE")) == "DATE '2026-01-02'"
    assert cursor_literal(_bound(42, "INT64")) == "42"
    assert cursor_literal(_bound(Decimal("1.50"), "NUMERIC(12, 2)")) == "NUMERIC '1.50'"
    assert cursor_literal(_bound(Decimal("7"), "BIGNUMERIC")) == "BIGNUMERIC '7'"
    assert cursor_literal(_bound(2.5, "FLOAT64")) == "2.5"
    assert cursor_literal(_bound(float("inf"), "FLOAT64")) == "CAST('inf' AS FLOAT64)"


def test_the_cursor_predicate_and_the_selects() -> None:
    bound = _bound(dt.datetime(2026, 1, 1, tzinfo=dt.UTC), "TIMESTAMP", name="updated at")
    assert row_restriction(bound) == "`updated at` >= TIMESTAMP '2026-01-01 00:00:00.000000+00'"
    assert row_restriction(None) == ""
    columns = [ReadColumn("id", "INT64", BqType.INT64), ReadColumn("updated at", "TIMESTAMP",
               BqType.TIMESTAMP)]  # fmt: skip
    sql = select_sql(TableSource(schema="other.sales", table="orders"), columns, bound, "p")
    assert sql == (
        "SELECT `id`, `updated at` FROM `other`.`sales`.`orders` "
        "WHERE `updated at` >= TIMESTAMP '2026-01-01 00:00:00.000000+00'"
    )
    query = QuerySource(query="SELECT id, ts AS `updated at` FROM d.t -- paid only\n;")
    wrapped = select_sql(query, columns, bound, "p", limit=5)
    assert wrapped == (
        "SELECT `id`, `updated at` FROM (\nSELECT id, ts AS `updated at` FROM d.t -- paid only"
        "\n) AS _etl_src WHERE `updated at` >= TIMESTAMP '2026-01-01 00:00:00.000000+00' LIMIT 5"
    )


@pytest.mark.parametrize(
    ("query", "words"),
    [
        ("INSERT INTO d.t VALUES (1)", "INSERT statement"),
        ("DELETE FROM d.t WHERE true", "DELETE statement"),
        ("UPDATE d.t SET x = 1 WHERE true", "UPDATE statement"),
        ("MERGE d.t USING d.s ON true WHEN MATCHED THEN DELETE", "MERGE statement"),
        ("CREATE TABLE d.x AS SELECT 1", "CREATE statement"),
        ("EXPORT DATA OPTIONS(uri='gs://b/*', format='CSV') AS SELECT 1", "EXPORT statement"),
        ("TRUNCATE TABLE d.t", "TRUNCATE statement"),
        ("CALL d.proc()", "CALL statement"),
        ("SELECT 1; DROP TABLE d.t", "several statements"),
        ("DECLARE x INT64; SELECT x", "several statements"),
    ],
)
def test_queries_that_write_are_refused_before_reaching_bigquery(query: str, words: str) -> None:
    with pytest.raises(ValidationError, match=words):
        select_sql(QuerySource(query=query), None, None, "p")


def test_the_bytes_limit_sentence_names_the_estimate_the_limit_and_the_setting() -> None:
    assert DEFAULT_MAX_QUERY_BYTES == 10 * 1024**3
    assert bytes_limit_error(DEFAULT_MAX_QUERY_BYTES, DEFAULT_MAX_QUERY_BYTES) is None
    error = bytes_limit_error(50 * 1024**3, DEFAULT_MAX_QUERY_BYTES)
    assert error is not None
    assert "50.0 GiB (53,687,091,200 bytes" in error.message
    assert "limit of 10.0 GiB (10,737,418,240 bytes)" in error.message
    assert "raise max_query_bytes" in error.message


def test_type_text_prints_standard_sql_names() -> None:
    assert type_text(SchemaField("a", "INTEGER")) == "INT64"
    assert type_text(SchemaField("a", "FLOAT", mode="REPEATED")) == "ARRAY<FLOAT64>"
    assert type_text(SchemaField("a", "NUMERIC", precision=12, scale=2)) == "NUMERIC(12, 2)"
    nested = SchemaField("s", "RECORD", fields=[SchemaField("x", "BOOLEAN"),
                         SchemaField("y", "DATE", mode="REPEATED")])  # fmt: skip
    assert type_text(nested) == "STRUCT<x BOOL, y ARRAY<DATE>>"


@pytest.mark.parametrize(
    ("text", "bq_type", "confidence"),
    [
        ("INT64", BqType.INT64, Confidence.HIGH),
        ("FLOAT64", BqType.FLOAT64, Confidence.HIGH),
        ("NUMERIC(12, 2)", BqType.NUMERIC, Confidence.HIGH),
        ("BIGNUMERIC", BqType.BIGNUMERIC, Confidence.HIGH),
        ("BOOL", BqType.BOOL, Confidence.HIGH),
        ("STRING(10)", BqType.STRING, Confidence.HIGH),
        ("BYTES", BqType.BYTES, Confidence.HIGH),
        ("DATE", BqType.DATE, Confidence.HIGH),
        ("DATETIME", BqType.DATETIME, Confidence.HIGH),
        ("TIMESTAMP", BqType.TIMESTAMP, Confidence.HIGH),
        ("TIME", BqType.TIME, Confidence.HIGH),
        ("JSON", BqType.JSON, Confidence.HIGH),
        ("GEOGRAPHY", BqType.GEOGRAPHY, Confidence.HIGH),
        ("ARRAY<INT64>", BqType.JSON, Confidence.MEDIUM),
        ("STRUCT<a INT64>", BqType.JSON, Confidence.MEDIUM),
        ("RANGE<DATE>", BqType.JSON, Confidence.MEDIUM),
        ("INTERVAL", BqType.STRING, Confidence.MEDIUM),
        ("SOMETHING_NEW", BqType.STRING, Confidence.LOW),
    ],
)
def test_each_bigquery_type_maps_to_itself(text: str, bq_type: BqType, confidence: str) -> None:
    proposal = propose("bigquery", text)
    assert (proposal.bq_type, proposal.confidence) == (bq_type, confidence)
    if confidence is Confidence.MEDIUM:
        assert proposal.warnings


def test_the_registry_and_the_block() -> None:
    from etl_bigquery.blocks.bigquery_source import BigQuerySource
    from etl_bigquery.blocks.registry import CONNECTION_TYPES
    from etl_bigquery.blocks.sql import SqlType
    from etl_bigquery.service.connection_documents import build_block

    assert source_type("bigquery").dialect == "bigquery"
    from etl_bigquery.engine.sources.abilities import PushesDownCursor

    assert issubclass(source_type("bigquery").reader_class(), PushesDownCursor)
    assert "bigquery" not in {t.value for t in SqlType}  # its own block, not a SQL type
    assert BigQuerySource in CONNECTION_TYPES
    name, kind, block = build_block(
        {"kind": "bigquery", "name": "analytics", "project": "src-proj", "location": "EU"}, "f"
    )
    assert (name, kind, block.describe()) == ("analytics", "bigquery", "bigquery://src-proj")
    assert block.max_query_bytes == DEFAULT_MAX_QUERY_BYTES
    assert block.type.value == "bigquery" and block.use_storage_api
    with pytest.raises(ConfigurationError, match="max_query_bytes"):
        build_block({"kind": "bigquery", "name": "x", "project": "p", "max_query_bytes": 0}, "f")


def test_intervals_from_the_storage_read_api_load_as_bigquery_interval_text() -> None:
    import pyarrow as pa

    from etl_bigquery.engine.sources.bigquery_types import interval_text, intervals_as_text

    assert interval_text(14, 3, 3_723_000_000_000) == "1-2 3 1:02:03"
    assert interval_text(-14, -3, -3_723_500_000_000) == "-1-2 -3 -1:02:03.5"
    kind = pa.month_day_nano_interval()
    batch = pa.RecordBatch.from_arrays(
        [pa.array([1, 2]), pa.array([pa.MonthDayNano([0, 1, 0]), None], type=kind)],
        names=["id", "wait"],
    )
    converted = intervals_as_text(batch)
    assert converted.schema.field("wait").type == pa.string()
    assert converted.to_pylist() == [{"id": 1, "wait": "0-0 1 0:00:00"}, {"id": 2, "wait": None}]
    plain = batch.select(["id"])
    assert intervals_as_text(plain) is plain
