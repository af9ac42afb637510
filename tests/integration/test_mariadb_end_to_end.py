"""MariaDB tables and queries through the whole flow into the BigQuery emulator, with a login of
the test's own that may only SELECT; refused queries, odd table names and connection errors."""

from __future__ import annotations

import datetime as dt
import re
import uuid
from decimal import Decimal

import pytest

from etl_bigquery.engine.errors import ConnectionFailed, ValidationError
from etl_bigquery.engine.jobs.model import QuerySource, TableSource
from etl_bigquery.engine.sources import connection_errors
from tests.integration.cli_helpers import etl
from tests.integration.conftest_mariadb import *  # noqa: F403
from tests.integration.conftest_mariadb import maria_sql
from tests.integration.helpers import apply, data_rows, job_spec, run, table_rows

SEVERAL = "The query holds several statements separated by ';'; keep one SELECT statement."
_ONLY_READS = (
    "a source query must be one SELECT (or WITH ... SELECT, UNION, VALUES) and only reads."
)


def _orders(admin, database: str, rows: int) -> None:
    maria_sql(
        admin, database,
        """CREATE TABLE orders (
             id bigint PRIMARY KEY, customer varchar(40), amount decimal(12,2), paid tinyint(1),
             tags json, updated_at datetime(6) NOT NULL) CHARACTER SET utf8mb4""",
        f"""INSERT INTO orders
            SELECT seq, CONCAT('c', seq % 7), seq * 1.25, seq % 2 = 0, JSON_OBJECT('n', seq),
                   TIMESTAMP'2026-11-01 00:00:00' + INTERVAL (seq DIV 3) MINUTE
            FROM seq_1_to_{rows}""",
    )  # fmt: skip


def _reader(maria_db, **changes):
    from etl_bigquery.blocks import SqlConnection

    fields = {
        "type": "mariadb", "host": maria_db.host, "port": maria_db.port,
        "database": maria_db.database, "username": maria_db.user, "password": maria_db.password,
    } | changes  # fmt: skip
    return SqlConnection(**fields).open_reader()


def test_catalog_load_copies_the_table_and_replaces_it_on_the_next_run(
    maria_admin, maria_db, maria_connection, destination, dataset, bq
):
    _orders(maria_admin, maria_db.database, 250)
    job = job_spec(maria_connection, destination, dataset, source={"table": "orders"})
    assert apply(job).table_created

    first = run(job)
    assert first["status"] == "completed", first
    assert first["rows_extracted"] == first["rows_loaded"] == 250

    maria_sql(maria_admin, maria_db.database, "DELETE FROM orders WHERE id > 200")
    second = run(job)
    assert second["rows_loaded"] == 200
    rows = data_rows(bq, dataset, "bq_orders")
    assert [r["id"] for r in rows] == list(range(1, 201))
    assert rows[0] == {
        "id": 1, "customer": "c1", "amount": Decimal("1.25"), "paid": False, "tags": {"n": 1},
        "updated_at": dt.datetime(2026, 11, 1, tzinfo=dt.UTC),
    }  # fmt: skip
    assert rows[1]["paid"] is True


def test_transactional_load_appends_only_new_rows_and_keeps_rows_sharing_the_last_cursor(
    maria_admin, maria_db, maria_connection, destination, dataset, bq
):
    _orders(maria_admin, maria_db.database, 100)  # three rows a minute: 99 and 100 share the last
    job = job_spec(
        maria_connection, destination, dataset, source={"table": "orders"},
        load_type="transactional", cursor_column="updated_at", backfill_start="all",
    )  # fmt: skip
    apply(job)
    first = run(job)
    assert first["status"] == "completed", first
    assert first["rows_loaded"] == 100
    last = dt.datetime.fromisoformat(str(first["watermark_after"])).replace(tzinfo=None)

    # Two rows stamped with the last loaded time, one later: all three must arrive, once.
    maria_sql(
        maria_admin, maria_db.database,
        f"""INSERT INTO orders VALUES
              (101, 'late', 1, 1, '{{}}', '{last}'), (102, 'late', 2, 1, '{{}}', '{last}'),
              (103, 'new', 3, 0, '{{}}', '{last + dt.timedelta(hours=1)}')""",
    )  # fmt: skip
    second = run(job)
    assert second["status"] == "completed", second
    assert second["rows_loaded"] == 3

    third = run(job)
    assert third["status"] == "completed" and third["rows_loaded"] == 0

    rows = table_rows(bq, dataset, "bq_orders")
    assert [r["id"] for r in rows] == list(range(1, 104))
    assert {r["_etl_run_id"] for r in rows} == {first["flow_run_id"], second["flow_run_id"]}


def test_a_query_with_a_join_and_a_trailing_comment_loads(
    maria_admin, maria_db, maria_connection, destination, dataset, bq
):
    _orders(maria_admin, maria_db.database, 20)
    maria_sql(
        maria_admin, maria_db.database,
        "CREATE TABLE customers (name varchar(40) PRIMARY KEY, city varchar(40))",
        "INSERT INTO customers SELECT CONCAT('c', seq), CONCAT('city ', seq) FROM seq_0_to_6",
    )  # fmt: skip
    query = """SELECT o.id, UPPER(c.city) AS city, o.amount * 2 AS doubled, 'a;b' AS tag
FROM orders o JOIN customers c ON c.name = o.customer
WHERE o.id <= 10 -- the first ten; the rest later"""
    job = job_spec(maria_connection, destination, dataset, table="report", source={"query": query})
    applied = apply(job)
    assert applied.table_created and isinstance(applied.estimated_rows, int)

    report = run(job)
    assert report["status"] == "completed", report
    assert report["rows_loaded"] == 10
    rows = data_rows(bq, dataset, "report")
    assert [r["id"] for r in rows] == list(range(1, 11))
    assert rows[0] == {"id": 1, "city": "CITY 1", "doubled": Decimal("2.50"), "tag": "a;b"}


@pytest.mark.parametrize(
    ("query", "message"),
    [
        ("INSERT INTO orders (id, updated_at) VALUES (999, NOW())",
         f"The query is an INSERT statement; {_ONLY_READS}"),
        ("SELECT id FROM orders; DROP TABLE orders", SEVERAL),
        ("WITH gone AS (DELETE FROM orders RETURNING *) SELECT * FROM gone",
         f"The query's WITH part gone holds a DELETE statement, which changes data; {_ONLY_READS}"),
    ],
)  # fmt: skip
def test_a_writing_query_is_refused_before_it_reaches_the_database(
    maria_admin, maria_db, maria_connection, destination, dataset, bq, query, message
):
    _orders(maria_admin, maria_db.database, 5)
    job = job_spec(maria_connection, destination, dataset, table="never", source={"query": query})
    with pytest.raises(ValidationError) as error:
        apply(job)
    assert error.value.message == message

    # Every method that takes a query checks it before using the connection at all.
    with _reader(maria_db) as reader:
        reader._conn.close()
        for method in (reader.describe, reader.estimate_rows, reader.preview):
            with pytest.raises(ValidationError, match=re.escape(message)):
                method(QuerySource(query=query))
    assert maria_sql(maria_admin, maria_db.database, "SELECT COUNT(*) FROM orders") == [(5,)]


def test_a_table_named_with_quotes_backticks_semicolons_and_spaces_loads_and_runs_nothing_else(
    maria_admin, maria_db, maria_connection, destination, dataset, bq
):
    table = 'it\'s a `tick`; DROP TABLE keep; -- "quoted" é'
    quoted = "`" + table.replace("`", "``") + "`"
    maria_sql(
        maria_admin, maria_db.database,
        "CREATE TABLE keep (id int PRIMARY KEY)",
        f"CREATE TABLE {quoted} (id int PRIMARY KEY, `va``l; x` varchar(10))",
        f"INSERT INTO {quoted} VALUES (1, 'one'), (2, 'two')",
    )  # fmt: skip
    job = job_spec(maria_connection, destination, dataset, table="odd", source={"table": table})
    apply(job)
    report = run(job)
    assert report["status"] == "completed", report
    assert [r["id"] for r in data_rows(bq, dataset, "odd")] == [1, 2]
    assert maria_sql(maria_admin, maria_db.database, "SHOW TABLES LIKE 'keep'") == [("keep",)]

    # MariaDB names cannot hold 4-byte characters: such a table is missing, said in one sentence.
    emoji = job_spec(maria_connection, destination, dataset, table="emoji",
                     source={"table": "sales 😀`; DROP TABLE keep"})  # fmt: skip
    with pytest.raises(ValidationError) as error:
        apply(emoji)
    assert error.value.message == (
        f"Table '{maria_db.database}.sales 😀`; DROP TABLE keep' does not exist in database "
        f"'{maria_db.database}' (or this login cannot see it); check the database and table name."
    )
    assert maria_sql(maria_admin, maria_db.database, "SHOW TABLES LIKE 'keep'") == [("keep",)]


def test_connection_errors_are_one_sentence_and_never_show_the_password(
    maria_admin, maria_db, services
):
    cases = [
        ({"password": "Wrong-Pw-4711"}, connection_errors.AUTH),
        # MariaDB tells a login without global privileges "access denied" for any database it
        # may not use, existing or not; root learns that it does not exist.
        (
            {"database": "no_such_db_4711", "username": "root", "password": None},
            "Database 'no_such_db_4711' does not exist.",
        ),
        ({"database": "no_such_db_4711"}, connection_errors.ACCESS),
        ({"database": "mysql"}, connection_errors.ACCESS),  # exists, but not granted
        ({"port": 1}, connection_errors.REFUSED),
    ]
    for changes, message in cases:
        with pytest.raises(ConnectionFailed) as error:
            _reader(maria_db, **changes)
        assert error.value.message == message, changes

    # Through the command line a user runs: the sentence, and neither password anywhere.
    from etl_bigquery.blocks import SqlConnection

    name = f"maria-bad-{uuid.uuid4().hex[:8]}"
    SqlConnection(
        type="mariadb", host=maria_db.host, port=maria_db.port, database=maria_db.database,
        username=maria_db.user, password="Wrong-Pw-4711",
    ).save(name, overwrite=True)  # fmt: skip
    tested = etl("connection", "test", name)
    assert tested.returncode != 0
    output = tested.stdout + tested.stderr
    assert connection_errors.AUTH in output
    assert "Wrong-Pw-4711" not in output and maria_db.password not in output


def test_a_select_only_login_reads_read_only_and_gets_no_write_warning(
    maria_admin, maria_db, services
):
    _orders(maria_admin, maria_db.database, 3)
    with _reader(maria_db) as reader:
        assert reader.write_access_warning() is None
        assert maria_db.database in reader.list_schemas()
        [info] = reader.list_tables()
        assert (info.name, info.row_count) == ("orders", 3)
        columns = {c.name: c for c in reader.describe(TableSource(table="orders"))}
        assert columns["paid"].source_type == "tinyint(1)" and columns["id"].primary_key
        assert columns["tags"].source_type == "json"  # MariaDB: longtext CHECK (json_valid)
        assert not columns["updated_at"].nullable
        assert reader.preview(TableSource(table="orders")).num_rows == 3
        with reader._conn.cursor() as cursor:
            cursor.execute("SELECT @@tx_read_only, @@time_zone")
            assert cursor.fetchone() == (1, "+00:00")
    root = _reader(maria_db, username="root", password=None)
    try:
        assert root.write_access_warning().startswith("The login 'root@")
    finally:
        root.close()
