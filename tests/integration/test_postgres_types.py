"""PostgreSQL types, through the flow, arrive in BigQuery with the proposed types and values.

bytea is left out here: the emulator (local-bigquery 0.3.2) base64-decodes every BYTES column it
loads, also from Parquet, where real BigQuery takes the bytes as they are. BYTES conforming is
covered by tests/unit/test_casts.py; the load of BYTES is not verified against a live service.
Likewise the emulator stores BIGNUMERIC as a double, so that value is compared approximately.
"""

from __future__ import annotations

import datetime as dt
import math
import uuid
from decimal import Decimal

import pytest

from tests.integration.helpers import apply, data_rows, job_spec, run

COLUMNS = {
    "id": ("int4", "1"),
    "small": ("int2", "-7"),
    "big": ("int8", "9007199254740993"),
    "real_": ("float4", "1.5"),
    "dbl": ("float8", "'NaN'"),
    "money_": ("money", "12.34"),
    "num": ("numeric(12,2)", "1234.56"),
    "num_free": ("numeric", "1.123456789012345678901234567890123456789"),
    "flag": ("boolean", "true"),
    "txt": ("text", "'héllo'"),
    "vc": ("varchar(5)", "'abc'"),
    "ch": ("char(3)", "'ab'"),
    "uid": ("uuid", "'a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11'"),
    "day": ("date", "'2026-11-22'"),
    "ts": ("timestamp", "'2026-11-22 10:11:12.123456'"),
    "tstz": ("timestamptz", "'2026-11-22 10:11:12+02'"),
    "tm": ("time", "'07:08:09'"),
    "tmtz": ("timetz", "'07:08:09+02'"),
    "iv": ("interval", "'1 day 02:00:00'"),
    "js": ("json", """'{"b": 2, "a": [1, 2]}'"""),
    "jsb": ("jsonb", """'{"k": "v"}'"""),
    "arr": ("int4[]", "'{1,2,3}'"),
    "tags": ("text[]", """'{"x","y"}'"""),
    "ip": ("inet", "'10.0.0.1'"),
    "bits": ("bit(4)", "B'1010'"),
    "rng": ("int4range", "'[1,5)'"),
    "pt": ("point", "'(1,2)'"),
    "doc": ("xml", "'<a>1</a>'"),
}


def test_every_common_postgresql_type_loads(
    pg_admin, pg_schema, pg_connection, destination, dataset, bq
):
    definition = ", ".join(f"{name} {type_}" for name, (type_, _) in COLUMNS.items())
    values = ", ".join(value for _, value in COLUMNS.values())
    pg_admin.execute(f'CREATE TABLE "{pg_schema}".everything ({definition})')
    pg_admin.execute(f'INSERT INTO "{pg_schema}".everything VALUES ({values})')
    pg_admin.execute(f'INSERT INTO "{pg_schema}".everything (id) VALUES (2)')  # all NULL

    job = job_spec(
        pg_connection, destination, dataset, source={"schema": pg_schema, "table": "everything"}
    )
    apply(job)
    report = run(job)
    assert report["status"] == "completed", report
    schema = {f.name: f.field_type for f in bq.get_table(f"local.{dataset}.bq_everything").schema}
    assert schema["num"] == "NUMERIC" and schema["num_free"] == "BIGNUMERIC"
    assert schema["js"] == "JSON" and schema["arr"] == "JSON"
    assert schema["ts"] == "TIMESTAMP" and schema["tm"] == "TIME" and schema["flag"] == "BOOLEAN"

    row, empty = data_rows(bq, dataset, "bq_everything")
    assert row["big"] == 9007199254740993
    assert math.isnan(row["dbl"])  # FLOAT64 keeps NaN (SPEC §4)
    assert row["money_"] == Decimal("12.34")
    # BIGNUMERIC: exact to 38 places in the staged Parquet (tests/unit/test_casts.py), but the
    # emulator keeps it as a DuckDB DOUBLE, so only ~16 digits survive here.
    assert abs(row["num_free"] - Decimal("1.1234567890123456789")) < Decimal("1e-15")
    assert row["txt"] == "héllo" and row["ch"] == "ab "
    assert row["uid"] == str(uuid.UUID("a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11"))
    assert row["ts"] == dt.datetime(2026, 11, 22, 10, 11, 12, 123456, tzinfo=dt.UTC)
    assert row["tstz"] == dt.datetime(2026, 11, 22, 8, 11, 12, tzinfo=dt.UTC)
    assert row["tm"] == dt.time(7, 8, 9) and row["tmtz"] == "07:08:09+02"
    assert row["iv"] == "1 day 02:00:00"
    assert row["js"] == {"a": [1, 2], "b": 2} and row["jsb"] == {"k": "v"}
    assert row["arr"] == [1, 2, 3] and row["tags"] == ["x", "y"]
    assert row["ip"] == "10.0.0.1" and row["bits"] == "1010"
    assert row["rng"] == "[1,5)" and row["pt"] == "(1,2)" and row["doc"] == "<a>1</a>"
    assert all(value is None for key, value in empty.items() if key != "id")


# Edge values, one row each (SPEC §4): the extremes every type can hold that BigQuery can hold
# too, value by value. Values BigQuery cannot hold are the next test.
EDGES = {
    "i2": ("int2", ["-32768", "32767"]),
    "i4": ("int4", ["-2147483648", "2147483647"]),
    "i8": ("int8", ["-9223372036854775808", "9223372036854775807"]),
    "f8": ("float8", ["'-Infinity'", "'Infinity'"]),
    "f4": ("float4", ["'-3.4028235e38'", "'1.4e-45'"]),
    "n": ("numeric(38,9)", ["-99999999999999999999999999999.999999999", "0.000000001"]),
    "d": ("date", ["'0001-01-01'", "'9999-12-31'"]),
    "ts": ("timestamp", ["'0001-01-01 00:00:00'", "'9999-12-31 23:59:59.999999'"]),
    "tz": ("timestamptz", ["'2026-01-01 00:30:00+14'", "'2026-01-01 00:30:00-12'"]),
    "t": ("time", ["'00:00:00'", "'23:59:59.999999'"]),
    "txt": ("text", ["repeat('ab', 100000)", "'🎉 漢字 Ωμέγα ''quoted'' \\ back'"]),
}


def test_edge_values_of_postgresql_types_survive_value_by_value(
    pg_admin, pg_schema, pg_connection, destination, dataset, bq
):
    definition = ", ".join(f"{name} {type_}" for name, (type_, _) in EDGES.items())
    for row_id, position in ((1, 0), (2, 1)):
        values = ", ".join(values[position] for _, values in EDGES.values())
        pg_admin.execute(
            f'INSERT INTO "{pg_schema}".edges VALUES ({row_id}, {values})'
            if row_id > 1
            else f'CREATE TABLE "{pg_schema}".edges (id int, {definition}); '
            f'INSERT INTO "{pg_schema}".edges VALUES ({row_id}, {values})'
        )

    job = job_spec(
        pg_connection, destination, dataset, source={"schema": pg_schema, "table": "edges"}
    )
    apply(job)
    report = run(job)
    assert report["status"] == "completed" and report["rows_rejected"] == 0, report
    low, high = data_rows(bq, dataset, "bq_edges")
    assert (low["i2"], high["i2"]) == (-32768, 32767)
    assert (low["i4"], high["i4"]) == (-2147483648, 2147483647)
    assert (low["i8"], high["i8"]) == (-9223372036854775808, 9223372036854775807)
    assert low["f8"] == -math.inf and high["f8"] == math.inf
    assert low["f4"] == pytest.approx(-3.4028235e38, rel=1e-7) and high["f4"] > 0
    assert low["n"] == Decimal("-99999999999999999999999999999.999999999")
    assert high["n"] == Decimal("0.000000001")
    assert (low["d"], high["d"]) == (dt.date(1, 1, 1), dt.date(9999, 12, 31))
    assert low["ts"] == dt.datetime(1, 1, 1, tzinfo=dt.UTC)
    assert high["ts"] == dt.datetime(9999, 12, 31, 23, 59, 59, 999999, tzinfo=dt.UTC)
    assert low["tz"] == dt.datetime(2025, 12, 31, 10, 30, tzinfo=dt.UTC)
    assert high["tz"] == dt.datetime(2026, 1, 1, 12, 30, tzinfo=dt.UTC)
    assert (low["t"], high["t"]) == (dt.time(0, 0), dt.time(23, 59, 59, 999999))
    assert low["txt"] == "ab" * 100000
    assert high["txt"] == "🎉 漢字 Ωμέγα 'quoted' \\ back"


def test_values_bigquery_cannot_hold_are_rejected_with_the_reason(
    pg_admin, pg_schema, pg_connection, destination, dataset, bq
):
    """PostgreSQL holds dates BigQuery has no room for (BC, past 9999, ±infinity): the row is
    kept in the rejected-rows table with the reason and the run ends Partial; nothing is cut."""
    pg_admin.execute(
        f'CREATE TABLE "{pg_schema}".far (id int, d date, ts timestamptz);'
        f"INSERT INTO \"{pg_schema}\".far VALUES (1, '2026-01-01', '2026-01-01 00:00:00+00'),"
        f" (2, '0044-03-15 BC', NULL), (3, '10000-01-01', NULL), (4, 'infinity', NULL),"
        f" (5, NULL, '-infinity')"
    )
    job = job_spec(
        pg_connection, destination, dataset, source={"schema": pg_schema, "table": "far"}
    )
    apply(job)
    report = run(job)
    assert report["status"] == "partial", report
    assert report["rows_loaded"] == 1 and report["rows_rejected"] == 4, report
    assert [row["id"] for row in data_rows(bq, dataset, "bq_far")] == [1]
    rejected = bq.query_and_wait(f"SELECT * FROM `local.{dataset}.bq_far__rejected`")
    reasons = [dict(row.items()) for row in rejected]
    assert len(reasons) == 4, reasons
    assert all("range (years 0001 to 9999)" in row["reason"] for row in reasons), reasons
    assert any("-0043-03-15" in row["record"] for row in reasons), reasons  # 44 BC, as text
