"""Every MariaDB type, with NULLs and edge values, through the flow into BigQuery, value by value.

Values that cannot survive, named where they are checked:
- zero dates ('0000-00-00', '0000-00-00 00:00:00') have no BigQuery equivalent: NULL, counted;
- TIME (up to 838:59:59, negative too: often a duration) loads as MySQL's own text, since a
  BigQuery TIME holds only a time of day (test_cursor_reading_mariadb: the TIME and NUMERIC
  overrides);
- NaN and ±Infinity: MariaDB refuses to store them in FLOAT/DOUBLE, so none can arrive;
- BYTES (blob, binary, varbinary): the emulator (local-bigquery 0.3.2) base64-decodes every BYTES
  value it loads, also from Parquet, where real BigQuery takes the bytes as they are; they are
  checked in the reader's Arrow batches here, not read back from the emulator;
- BIGNUMERIC (decimal(65,30)): the emulator casts it to DECIMAL(38,18) on load, so a value with
  more than 20 integer digits fails the whole load there (real BigQuery holds 38); the test stores
  17 integer digits, and compares to ~15 significant digits (it reads back through a DOUBLE).
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pymysql
import pytest

from etl_bigquery.engine.jobs.model import TableSource
from etl_bigquery.engine.schema.typemap import propose
from etl_bigquery.engine.sources.base import ReadColumn, ReadPlan
from tests.integration.conftest_mariadb import *  # noqa: F403
from tests.integration.conftest_mariadb import maria_sql
from tests.integration.helpers import apply, data_rows, job_spec, run

LONG_TEXT = "ünï😀" * 20_000
COLUMNS = {  # name: (type, max/edge row, min row)
    "i8": ("tinyint", "127", "-128"),
    "u8": ("tinyint unsigned", "255", "0"),
    "i16": ("smallint", "32767", "-32768"),
    "i24": ("mediumint", "8388607", "-8388608"),
    "i32": ("int", "2147483647", "-2147483648"),
    "i64": ("bigint", "9223372036854775807", "-9223372036854775808"),
    "u64": ("bigint unsigned", "18446744073709551615", "0"),
    "flag": ("tinyint(1)", "1", "0"),
    "bit1": ("bit(1)", "b'1'", "b'0'"),
    "bits": ("bit(5)", "b'10101'", "b'0'"),
    "bit64": ("bit(64)", "x'ffffffffffffffff'", "0"),
    "dec": ("decimal(12,2)", "9999999999.99", "-9999999999.99"),
    "dec65": ("decimal(65,30)", "12345678901234567.123456789012345678901234567891",
              "-1.000000000000000000000000000001"),
    "fl": ("float", "3.4e38", "-1.5"),
    "dbl": ("double", "1.7976931348623157e308", "-2.2250738585072014e-308"),
    "ch": ("char(3)", "'abc'", "''"),
    "vc": ("varchar(20)", "'héllo 😀'", "''"),
    "txt": ("longtext", f"'{LONG_TEXT}'", "''"),
    "en": ("enum('x','y z')", "'y z'", "'x'"),
    "st": ("set('a','b','c')", "'a,c'", "''"),
    "js": ("json", """'{"a": [1, 2.5, "ü"], "b": null}'""", "'[]'"),
    "yr": ("year", "2155", "1901"),
    "d": ("date", "'9999-12-31'", "'1000-01-01'"),
    "dtm": ("datetime(6)", "'9999-12-31 23:59:59.999999'", "'1000-01-01 00:00:00'"),
    "ts": ("timestamp(6) NULL", "'2038-01-19 03:14:07.999999'", "'1970-01-01 00:00:01'"),
    "tm": ("time(6)", "'23:59:59.999999'", "'00:00:00'"),
    "uid": ("uuid", "'a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11'",
            "'00000000-0000-0000-0000-000000000000'"),
    "ip4": ("inet4", "'255.255.255.255'", "'0.0.0.0'"),
    "blb": ("blob", "x'00ff10'", "''"),
    "vbin": ("varbinary(8)", "x'0001'", "''"),
}  # fmt: skip
UTC = dt.UTC


@pytest.fixture()
def everything(maria_admin, maria_db) -> str:
    definition = ", ".join(f"`{name}` {type_}" for name, (type_, _, _) in COLUMNS.items())
    names = ", ".join(f"`{name}`" for name in COLUMNS)
    maria_sql(
        maria_admin, maria_db.database,
        "SET SESSION sql_mode = ''",  # zero dates can only be written without strict mode
        "SET time_zone = '+00:00'",
        f"CREATE TABLE everything (id int PRIMARY KEY, {definition}) CHARACTER SET utf8mb4",
        f"INSERT INTO everything (id, {names}) VALUES "
        f"(1, {', '.join(v[1] for v in COLUMNS.values())}), "
        f"(2, {', '.join(v[2] for v in COLUMNS.values())})",
        "INSERT INTO everything (id) VALUES (3)",  # all NULL
        "INSERT INTO everything (id, d, dtm, ts) VALUES "
        "(4, '0000-00-00', '0000-00-00 00:00:00', '0000-00-00 00:00:00')",
        "INSERT INTO everything (id, tm) VALUES (5, '838:59:59'), (6, '-00:00:01')",
        "SET SESSION sql_mode = DEFAULT",
    )  # fmt: skip
    return "everything"


def test_every_mariadb_type_loads_value_by_value(
    everything, maria_admin, maria_db, maria_connection, destination, dataset, bq
):
    loaded = ["id", *(name for name in COLUMNS if name not in ("blb", "vbin"))]
    job = job_spec(maria_connection, destination, dataset, source={"table": everything},
                   columns=loaded)  # fmt: skip
    apply(job)
    report = run(job)
    # Rows 5 and 6 hold TIMEs beyond a time of day: loaded as text like every other.
    assert report["status"] == "completed", report["error"]
    assert report["rows_loaded"] == 6 and report["rows_rejected"] == 0

    schema = {f.name: f.field_type for f in bq.get_table(f"local.{dataset}.bq_everything").schema}
    assert schema["u64"] == "NUMERIC" and schema["bit64"] == "NUMERIC"
    assert schema["flag"] == schema["bit1"] == "BOOLEAN" and schema["bits"] == "INTEGER"
    assert schema["dec65"] == "BIGNUMERIC" and schema["js"] == "JSON" and schema["yr"] == "INTEGER"
    assert schema["dtm"] == schema["ts"] == "TIMESTAMP" and schema["tm"] == "STRING"

    top, bottom, empty, zeros, longest, negative = data_rows(bq, dataset, "bq_everything")
    assert (longest["tm"], negative["tm"]) == ("838:59:59.000000", "-00:00:01.000000")
    assert top == {
        "id": 1, "i8": 127, "u8": 255, "i16": 32767, "i24": 8388607, "i32": 2147483647,
        "i64": 9223372036854775807, "u64": Decimal("18446744073709551615"), "flag": True,
        "bit1": True, "bits": 21, "bit64": Decimal("18446744073709551615"),
        "dec": Decimal("9999999999.99"), "dec65": top["dec65"],
        "fl": pytest.approx(3.4e38, rel=1e-6), "dbl": 1.7976931348623157e308,
        "ch": "abc", "vc": "héllo 😀", "txt": LONG_TEXT, "en": "y z", "st": "a,c",
        "js": {"a": [1, 2.5, "ü"], "b": None}, "yr": 2155, "d": dt.date(9999, 12, 31),
        "dtm": dt.datetime(9999, 12, 31, 23, 59, 59, 999999, tzinfo=UTC),
        "ts": dt.datetime(2038, 1, 19, 3, 14, 7, 999999, tzinfo=UTC),
        "tm": "23:59:59.999999", "uid": "a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11",
        "ip4": "255.255.255.255",
    }  # fmt: skip
    # BIGNUMERIC: exact in the staged Parquet, a DOUBLE in the emulator (see the docstring).
    assert abs(top["dec65"] - Decimal("12345678901234567.123456789")) < Decimal(10)
    assert bottom == {
        "id": 2, "i8": -128, "u8": 0, "i16": -32768, "i24": -8388608, "i32": -2147483648,
        "i64": -9223372036854775808, "u64": Decimal(0), "flag": False, "bit1": False, "bits": 0,
        "bit64": Decimal(0), "dec": Decimal("-9999999999.99"), "dec65": bottom["dec65"],
        "fl": -1.5, "dbl": -2.2250738585072014e-308, "ch": "", "vc": "", "txt": "", "en": "x",
        "st": "", "js": [], "yr": 1901, "d": dt.date(1000, 1, 1),
        "dtm": dt.datetime(1000, 1, 1, tzinfo=UTC),
        "ts": dt.datetime(1970, 1, 1, 0, 0, 1, tzinfo=UTC),
        "tm": "00:00:00.000000", "uid": "00000000-0000-0000-0000-000000000000",
        "ip4": "0.0.0.0",
    }  # fmt: skip
    assert abs(bottom["dec65"] - Decimal("-1.000000000000000000000000000001")) < Decimal("1e-14")
    assert all(value is None for key, value in empty.items() if key != "id")
    # Zero dates: NULL (BigQuery has no such date), counted by the reader.
    assert (zeros["id"], zeros["d"], zeros["dtm"], zeros["ts"]) == (4, None, None, None)


def test_zero_dates_are_counted_and_bytes_arrive_exact_in_the_reader(
    everything, maria_db, services
):
    from etl_bigquery.blocks import SqlConnection

    reader = SqlConnection(
        type="mariadb", host=maria_db.host, port=maria_db.port, database=maria_db.database,
        username=maria_db.user, password=maria_db.password,
    ).open_reader()  # fmt: skip
    with reader:
        columns = reader.describe(TableSource(table=everything))
        plan = ReadPlan(
            TableSource(table=everything),
            [ReadColumn(c.name, c.source_type, propose("mysql", c.source_type).bq_type)
             for c in columns],
        )  # fmt: skip
        rows = [row for batch in reader.read(plan) for row in batch.to_pylist()]
        assert reader.zero_dates_nulled == 3
    # BYTES cannot be read back from the emulator (see the docstring): exact here instead.
    assert [(r["blb"], r["vbin"]) for r in rows[:3]] == [
        (b"\x00\xff\x10", b"\x00\x01"),
        (b"", b""),
        (None, None),
    ]


def test_mariadb_refuses_nan_and_infinity_so_none_can_arrive(maria_admin, maria_db):
    maria_sql(maria_admin, maria_db.database, "CREATE TABLE f (x double)")
    for value in ("'NaN'", "'inf'", "1e309"):
        with pytest.raises(pymysql.MySQLError):
            maria_sql(maria_admin, maria_db.database, f"INSERT INTO f VALUES ({value})")
    assert maria_sql(maria_admin, maria_db.database, "SELECT COUNT(*) FROM f") == [(0,)]
