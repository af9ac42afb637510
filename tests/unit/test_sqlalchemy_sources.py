"""The SQLAlchemy sources (sqlserver, synapse, oracle, snowflake, db2, teradata) WITHOUT servers:
none of these engines can run here. Pinned: the SQL each dialect compiles (quoting, the cursor
predicate, the SELECT list), the type mapping, the connection-error translation, the connection
block's fields, the missing-driver sentence and refused queries. Snowflake, Db2 and Teradata need
the `sources` extra for their SQLAlchemy dialects; without it those cases skip, saying so."""

from __future__ import annotations

import datetime as dt
import importlib.util

import pytest
import sqlalchemy as sa

from etl_bigquery.engine.errors import ConfigurationError, ValidationError
from etl_bigquery.engine.jobs.model import QuerySource, TableSource
from etl_bigquery.engine.schema.bqtypes import BqType
from etl_bigquery.engine.schema.typemap import Confidence, propose
from etl_bigquery.engine.sources import connection_errors
from etl_bigquery.engine.sources.base import CursorBound, ReadColumn, ReadPlan
from etl_bigquery.engine.sources.registry import ConnectionSettings, source_type
from etl_bigquery.engine.sources.sqlalchemy_dialects import (
    SPECS,
    DialectSpec,
    compile_dialect,
    connection_error,
)
from etl_bigquery.engine.sources.sqlalchemy_sql import build_select, compile_sql, query_source

_EXTRA = {"snowflake": "snowflake.sqlalchemy", "db2": "ibm_db_sa", "teradata": "teradatasqlalchemy"}
ALL = list(SPECS)


def _dialect(key: str):
    module = _EXTRA.get(key)
    try:
        # find_spec of a dotted name imports its parent, which may be missing too.
        missing = bool(module) and importlib.util.find_spec(module) is None
    except ModuleNotFoundError:
        missing = True
    if missing:
        pytest.skip(f"the {key} SQLAlchemy dialect is in the 'sources' extra, not installed")
    return compile_dialect(SPECS[key])


NAME = 'or"d]e;rs é'
COLS = [
    ReadColumn("id", "integer", BqType.INT64),
    ReadColumn("up dated", "timestamp", BqType.DATETIME),
    ReadColumn('we"ird;col ü', "varchar", BqType.STRING),
]
# A bound is pushed down only onto a column of the cursor's own type family, by each dialect's
# type mapping: SQL Server's `timestamp` is rowversion (binary), its date-time is datetime2.
_TIMESTAMP_TYPE = {"sqlserver": "datetime2", "synapse": "datetime2"}


def _sql(key: str, bound: object, cursor: ReadColumn | None = None) -> str:
    dialect = _dialect(key)
    table = sa.Table(NAME, sa.MetaData(), *(sa.Column(c.name) for c in COLS), schema="sa les")
    column = COLS[0] if isinstance(bound, int) else COLS[1]
    if column is COLS[1]:
        column = ReadColumn(column.name, _TIMESTAMP_TYPE.get(key, "timestamp"), BqType.DATETIME)
    column = cursor or column
    plan = ReadPlan(TableSource(schema="sa les", table=NAME), COLS, CursorBound(column, bound))
    return compile_sql(build_select(plan, table, key, dialect), dialect)


EXPECTED_TIMESTAMP = {
    "sqlserver": "[up dated] >= CAST('2026-03-04 05:06:07.000008' AS DATETIME2)",
    "synapse": "[up dated] >= CAST('2026-03-04 05:06:07.000008' AS DATETIME2)",
    "oracle": "\"up dated\" >= TO_TIMESTAMP('2026-03-04 05:06:07.000008', "
    "'YYYY-MM-DD HH24:MI:SS.FF')",
    "snowflake": "\"up dated\" >= CAST('2026-03-04 05:06:07.000008' AS TIMESTAMP)",
    "db2": "\"up dated\" >= CAST('2026-03-04 05:06:07.000008' AS TIMESTAMP)",
    "teradata": "\"up dated\" >= CAST('2026-03-04 05:06:07.000008' AS TIMESTAMP)",
}


@pytest.mark.parametrize("key", ALL)
def test_identifiers_are_quoted_by_the_dialect_and_the_timestamp_bound_is_a_typed_literal(key):
    # A zoned bound is compared in UTC (sessions run in UTC).
    zone = dt.timezone(dt.timedelta(hours=2))
    sql = _sql(key, dt.datetime(2026, 3, 4, 7, 6, 7, 8, tzinfo=zone))
    if key in ("sqlserver", "synapse"):
        assert 'FROM [sa les].[or"d]]e;rs é]' in sql
        assert '[we"ird;col ü]' in sql
    else:
        assert 'FROM "sa les"."or""d]e;rs é"' in sql
        assert '"we""ird;col ü"' in sql
    assert sql.startswith("SELECT ") and ".id, " in sql
    assert sql.rstrip().endswith(EXPECTED_TIMESTAMP[key])
    assert ";" not in sql.replace("e;rs", "").replace("d;col", "")


@pytest.mark.parametrize("key", ALL)
def test_a_numeric_cursor_bound_renders_as_a_number(key):
    assert _sql(key, 42).rstrip().endswith(".id >= 42")


@pytest.mark.parametrize("key", ALL)
def test_a_text_column_read_as_a_time_gets_no_bound_in_the_source(key):
    """These dialects' collations may reorder text ('-' is ignored by some SQL Server ones):
    the column is read whole and the engine keeps the rows at or after the bound."""
    text = ReadColumn("up dated", "varchar(40)", BqType.TIMESTAMP)
    sql = _sql(key, dt.datetime(2026, 3, 4, tzinfo=dt.UTC), cursor=text)
    assert "WHERE" not in sql.upper()


@pytest.mark.parametrize("key", ["sqlserver", "synapse", "oracle", "snowflake", "teradata"])
def test_a_query_source_is_checked_and_wrapped_with_colons_and_percents_kept(key):
    dialect = _dialect(key)
    origin = query_source(QuerySource(query="SELECT id, 'a:b%' AS x FROM t;"), key, ["id", "x"])
    sql = compile_sql(sa.select(origin.c.id, origin.c.x).select_from(origin), dialect)
    assert "(SELECT id, 'a:b%' AS x FROM t)" in sql


REFUSED = {
    "INSERT INTO t VALUES (1)": "INSERT",
    "SELECT 1; SELECT 2": "several statements",
    "WITH gone AS (DELETE FROM t) SELECT 1": "DELETE",
}


@pytest.mark.parametrize("key", ["sqlserver", "synapse", "oracle", "snowflake", "teradata"])
@pytest.mark.parametrize("query", list(REFUSED))
def test_writes_and_several_statements_are_refused_before_reaching_the_server(key, query):
    with pytest.raises(ValidationError) as refused:
        query_source(QuerySource(query=query), key, ["x"])
    assert REFUSED[query] in str(refused.value)


def test_db2_refuses_query_sources_with_one_sentence():
    with pytest.raises(ValidationError, match="not supported for db2 sources"):
        query_source(QuerySource(query="SELECT 1 FROM sysibm.sysdummy1"), "db2", ["x"])


TYPES = [
    ("sqlserver", "DATETIMEOFFSET", BqType.TIMESTAMP),
    ("sqlserver", "DATETIME2", BqType.DATETIME),
    ("sqlserver", "UNIQUEIDENTIFIER", BqType.STRING),
    ("sqlserver", "MONEY", BqType.NUMERIC),
    ("sqlserver", "BIT", BqType.BOOL),
    ("sqlserver", "NVARCHAR(max)", BqType.STRING),
    ("sqlserver", "VARBINARY(max)", BqType.BYTES),
    ("sqlserver", "XML", BqType.STRING),
    ("sqlserver", "geography", BqType.GEOGRAPHY),
    ("sqlserver", "DECIMAL(12, 2)", BqType.NUMERIC),
    ("synapse", "DATETIME2", BqType.DATETIME),
    ("oracle", "NUMBER(10, 0)", BqType.INT64),
    ("oracle", "NUMBER(12, 2)", BqType.NUMERIC),
    ("oracle", "NUMBER(38, 20)", BqType.BIGNUMERIC),
    ("oracle", "NUMBER", BqType.BIGNUMERIC),
    ("oracle", "DATE", BqType.DATETIME),
    ("oracle", "TIMESTAMP WITH TIME ZONE", BqType.TIMESTAMP),
    ("oracle", "TIMESTAMP(6)", BqType.DATETIME),
    ("oracle", "CLOB", BqType.STRING),
    ("oracle", "BLOB", BqType.BYTES),
    ("oracle", "RAW(16)", BqType.BYTES),
    ("snowflake", "NUMBER(38, 0)", BqType.INT64),
    ("snowflake", "NUMBER(10, 2)", BqType.NUMERIC),
    ("snowflake", "VARIANT", BqType.JSON),
    ("snowflake", "OBJECT", BqType.JSON),
    ("snowflake", "ARRAY", BqType.JSON),
    ("snowflake", "TIMESTAMP_NTZ", BqType.DATETIME),
    ("snowflake", "TIMESTAMP_LTZ", BqType.TIMESTAMP),
    ("snowflake", "TIMESTAMP_TZ", BqType.TIMESTAMP),
    ("db2", "INTEGER", BqType.INT64),
    ("db2", "DECIMAL(31, 5)", BqType.NUMERIC),
    ("db2", "TIMESTAMP", BqType.DATETIME),
    ("db2", "CLOB", BqType.STRING),
    ("teradata", "BYTEINT", BqType.INT64),
    ("teradata", "TIMESTAMP WITH TIME ZONE", BqType.TIMESTAMP),
    ("teradata", "PERIOD(DATE)", BqType.STRING),
    ("redshift", "super", BqType.JSON),
    ("redshift", "geometry", BqType.GEOGRAPHY),
    ("redshift", "varbyte(64)", BqType.BYTES),
    ("redshift", "time with time zone", BqType.STRING),
    ("redshift", "hllsketch", BqType.STRING),
    ("redshift", "numeric(12,2)", BqType.NUMERIC),
]


@pytest.mark.parametrize(("dialect", "type_text", "expected"), TYPES)
def test_each_dialect_proposes_the_bigquery_type(dialect, type_text, expected):
    assert propose(dialect, type_text).bq_type is expected


def test_uncertain_proposals_say_why():
    assert propose("oracle", "NUMBER").confidence is Confidence.MEDIUM
    assert propose("redshift", "hllsketch").warnings
    assert propose("sqlserver", "made_up_type").confidence is Confidence.LOW


SETTINGS = ConnectionSettings("db.example", None, "sales", "etl", "s3cr3t")
ERRORS = [
    ("(20009, b'Unable to connect: Adaptive Server is unavailable or does not exist "
     "(db.example)\\nNet-Lib error during Connection refused (111)')", connection_errors.REFUSED),
    ("(18456, b\"Login failed for user 'etl'.DB-Lib error message 20018\")",
     connection_errors.AUTH),
    ("(4060, b'Cannot open database \"sales\" requested by the login. The login failed.')",
     "Database 'sales' does not exist."),
    ("DB-Lib error message 20003, severity 6:\\nAdaptive Server connection timed out",
     connection_errors.TIMEOUT),
    ("DPY-6005: cannot connect to database (CONNECTION_ID=x).\n[Errno 111] Connection refused",
     connection_errors.REFUSED),
    ("ORA-01017: invalid username/password; logon denied", connection_errors.AUTH),
    ("DPY-6001: cannot connect to database. Service \"sales\" is not registered with the "
     "listener at host db.example port 1521. (Similar to ORA-12514)",
     "Database 'sales' does not exist."),
    ("250001 (08001): Failed to connect to DB: acct.snowflakecomputing.com:443. Incorrect "
     "username or password was specified.", connection_errors.AUTH),
    ("Database 'SALES' does not exist or not authorized.", "Database 'SALES' does not exist."),
    ("SQL30082N  Security processing failed with reason \"24\" (\"USERNAME AND/OR PASSWORD "
     "INVALID\").", connection_errors.AUTH),
    ("SQL30081N  A communication error has been detected. ... \"ECONNREFUSED\"",
     connection_errors.REFUSED),
    ("[Error 8017] The UserId, Password or Account is invalid.", connection_errors.AUTH),
    ("Failed to connect to db.example:1025: i/o timeout", connection_errors.TIMEOUT),
]  # fmt: skip


@pytest.mark.parametrize(("raw", "sentence"), ERRORS)
def test_driver_connection_errors_become_one_sentence(raw, sentence):
    error = connection_error(Exception(raw + " password=s3cr3t"), SETTINGS)
    assert str(error) == sentence
    assert "s3cr3t" not in str(error)


def test_real_driver_exception_classes_are_translated():
    import oracledb
    import pymssql

    refused = pymssql.OperationalError(20009, b"Net-Lib error during Connection refused (111)")
    assert str(connection_error(refused, SETTINGS)) == connection_errors.REFUSED
    wrapped = sa.exc.OperationalError("connect", {}, oracledb.DatabaseError("ORA-01017: invalid"
                                      " username/password; logon denied"))  # fmt: skip
    assert str(connection_error(wrapped, SETTINGS)) == connection_errors.AUTH


@pytest.mark.parametrize(
    ("key", "port"),
    [("sqlserver", 1433), ("synapse", 1433), ("oracle", 1521), ("db2", 50000),
     ("teradata", 1025), ("redshift", 5439)],
)  # fmt: skip
def test_the_connection_block_validates_each_type_and_shows_its_default_port(key, port):
    from etl_bigquery.blocks.sql import SqlConnection

    block = SqlConnection(type=key, host="db.example", database="sales", username="etl")
    assert block.effective_port == port
    assert block.describe() == f"{key}://etl@db.example:{port}/sales"
    with pytest.raises(ValueError, match="needs a host"):
        SqlConnection(type=key, database="sales")


def test_snowflake_takes_the_account_as_host_and_no_port():
    from etl_bigquery.blocks.sql import SqlConnection

    block = SqlConnection(type="snowflake", host="xy12345.eu-west-1", database="SALES")
    assert block.effective_port is None
    url = SPECS["snowflake"].url(ConnectionSettings("xy12345.eu-west-1", None, "SALES", "u", "p"))
    assert url.host == "xy12345.eu-west-1" and url.database == "SALES"


def test_abilities_are_declared_honestly():
    from etl_bigquery.engine.sources.abilities import abilities_of

    for key in ALL:
        entry = source_type(key)
        assert entry.bounded_types and not entry.inferred_schema
        # Values arrive as driver objects put into Arrow by their BigQuery type (not typed
        # Arrow); one streaming statement, no split.
        assert abilities_of(entry.reader_class()) == ["PushesDownCursor", "TableCatalog"]


def test_a_missing_driver_is_one_sentence():
    spec = DialectSpec("fake", "Fake", "mssql+pymssql", "no_such_driver_module", "fake-pkg", 1)
    with pytest.raises(ConfigurationError) as missing:
        spec.require_driver()
    assert str(missing.value) == (
        "The driver for fake sources is not installed (no_such_driver_module); "
        "pip install 'etl-bigquery[sources]'."
    )


def test_an_unreachable_sql_server_fails_with_the_refused_sentence():
    """A real pymssql connection attempt to a closed local port (no server needed)."""
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    settings = ConnectionSettings("127.0.0.1", port, "master", "sa", "x", connect_timeout=3)
    with pytest.raises(Exception) as failed:
        source_type("sqlserver").open(settings)
    assert str(failed.value) in (connection_errors.REFUSED, connection_errors.TIMEOUT)


def test_row_counts_come_from_the_catalog_with_missing_statistics_left_out():
    """No Db2 server here: its catalog query runs against a stand-in `syscat.tables` (SQLite,
    attached under that name), which checks the SQL's shape and the handling of the answer:
    names in the Inspector's lower case, -1 (no statistics) left out, estimates marked."""
    from sqlalchemy.engine import URL

    from etl_bigquery.engine.sources.sqlalchemy_counts import COUNTS, catalog_counts

    engine = sa.create_engine("sqlite://")
    with engine.connect() as connection:
        connection.exec_driver_sql("ATTACH ':memory:' AS syscat")
        connection.exec_driver_sql("CREATE TABLE syscat.tables (tabschema, tabname, card)")
        connection.exec_driver_sql(
            "INSERT INTO syscat.tables VALUES ('SHOP', 'ORDERS', 1200), ('SHOP', 'FRESH', -1),"
            " ('OTHER', 'X', 5)"
        )
        assert catalog_counts(connection, "db2", "SHOP") == ({"orders": 1200}, False)
        # A catalog the login cannot read (here: absent) gives no counts, not a failure.
        assert catalog_counts(connection, "oracle", "SHOP") is None
    assert catalog_counts(connection, "teradata", "SHOP") is None  # keeps no row counts
    assert COUNTS["snowflake"].exact and not COUNTS["sqlserver"].exact
    oracle = URL.create("oracle+oracledb").get_dialect()()
    assert oracle.denormalize_name("shop") == "SHOP"  # what the catalog is queried with
