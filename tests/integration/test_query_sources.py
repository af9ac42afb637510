"""Custom SQL queries as job sources, end to end: PostgreSQL and SQLite into the BigQuery emulator.

A query is checked with a SQL parser before it reaches the database, runs as written, read-only,
under a timeout; `etl connection test` warns when the login could write.
"""

from __future__ import annotations

import sqlite3
import uuid

import pytest

from etl_bigquery.blocks import SqlConnection
from etl_bigquery.engine.errors import ValidationError
from tests.integration.cli_helpers import etl
from tests.integration.helpers import apply, data_rows, job_spec, run

DATA_MODIFYING_WITH = (
    "The query's WITH part gone holds a DELETE statement, which changes data; a source query "
    "must be one SELECT (or WITH ... SELECT, UNION, VALUES) and only reads."
)
SEVERAL = "The query holds several statements separated by ';'; keep one SELECT statement."


def _failed(report: dict, error_type: str, text: str) -> None:
    assert report["status"] == "failed", report
    assert report["error_type"] == error_type, report
    assert text in report["error"], report["error"]


def _dataset_exists(bq, dataset: str) -> bool:
    from google.api_core.exceptions import NotFound

    try:
        bq.get_dataset(f"local.{dataset}")
        return True
    except NotFound:
        return False


# -- PostgreSQL ------------------------------------------------------------------------------


@pytest.fixture()
def shop(pg_admin, pg_schema) -> str:
    pg_admin.execute(
        f"""CREATE TABLE "{pg_schema}".customers (id int PRIMARY KEY, name text);
            CREATE TABLE "{pg_schema}".orders (id bigint PRIMARY KEY, customer_id int,
                                               updated_at timestamptz NOT NULL);
            INSERT INTO "{pg_schema}".customers VALUES (1, 'ann'), (2, 'bob');
            INSERT INTO "{pg_schema}".orders
            SELECT g, 1 + g % 2, timestamptz '2026-11-01 00:00+00' + g * interval '1 hour'
            FROM generate_series(1, 20) g"""
    )
    return pg_schema


def test_a_postgresql_query_with_a_join_a_dollar_quote_and_a_trailing_comment_loads(
    shop, pg_connection, destination, dataset, bq
):
    query = f"""SELECT o.id, upper(c.name) AS customer, o.id * 10 AS tenfold, $$a;b$$ AS tag
FROM "{shop}".orders o JOIN "{shop}".customers c ON c.id = o.customer_id
WHERE o.id <= 10 -- the first ten; the rest later"""
    job = job_spec(pg_connection, destination, dataset, table="order_report",
                   source={"query": query})  # fmt: skip
    applied = apply(job)
    assert applied.table_created
    assert isinstance(applied.estimated_rows, int)

    report = run(job)
    assert report["status"] == "completed", report
    assert report["rows_loaded"] == 10
    assert isinstance(report["estimated_rows"], int) and report["estimated_rows"] > 0
    rows = data_rows(bq, dataset, "order_report")
    assert [r["id"] for r in rows] == list(range(1, 11))
    assert rows[0] == {"id": 1, "customer": "BOB", "tenfold": 10, "tag": "a;b"}


def test_a_postgresql_query_job_with_a_cursor_loads_only_new_rows(
    pg_admin, shop, pg_connection, destination, dataset, bq
):
    query = f"""WITH named AS (
    SELECT o.id, c.name, o.updated_at
    FROM "{shop}".orders o JOIN "{shop}".customers c ON c.id = o.customer_id)
SELECT * FROM named;"""
    job = job_spec(
        pg_connection, destination, dataset, table="orders_named", source={"query": query},
        load_type="transactional", cursor_column="updated_at", backfill_start="all",
    )  # fmt: skip
    apply(job)
    first = run(job)
    assert first["status"] == "completed", first
    assert first["rows_loaded"] == 20

    pg_admin.execute(
        f"""INSERT INTO "{shop}".orders VALUES (21, 1, timestamptz '2026-11-03 00:00+00'),
                                                (22, 2, timestamptz '2026-11-03 01:00+00')"""
    )
    second = run(job)
    assert second["status"] == "completed", second
    assert second["rows_loaded"] == 2
    assert [r["id"] for r in data_rows(bq, dataset, "orders_named")] == list(range(1, 23))


@pytest.mark.parametrize(
    ("query", "message"),
    [
        ('WITH gone AS (DELETE FROM "{s}".orders RETURNING *) SELECT * FROM gone',
         DATA_MODIFYING_WITH),
        ('SELECT id FROM "{s}".orders; DROP TABLE "{s}".orders', SEVERAL),
    ],
)  # fmt: skip
def test_a_refused_postgresql_query_fails_validation_and_changes_nothing(
    pg_admin, shop, pg_connection, destination, dataset, bq, query, message
):
    job = job_spec(pg_connection, destination, dataset, table="never",
                   source={"query": query.format(s=shop)})  # fmt: skip
    with pytest.raises(ValidationError) as error:
        apply(job)
    assert error.value.message == message
    assert not _dataset_exists(bq, dataset)  # apply created nothing in BigQuery

    _failed(run(job), "validation", message)
    assert pg_admin.execute(f'SELECT count(*) FROM "{shop}".orders').fetchone()[0] == 20


def test_a_postgresql_query_past_its_timeout_is_cancelled_with_one_sentence(
    services, pg_schema, destination, dataset
):
    name = f"pg-slow-{uuid.uuid4().hex[:8]}"
    SqlConnection(
        type="postgresql", host="127.0.0.1", port=5432, database="test", username="postgres",
        query_timeout_seconds=1,
    ).save(name, overwrite=True)  # fmt: skip
    # LIMIT 0 and EXPLAIN do not run it, so validation passes; the extraction sleeps 5 s.
    query = "SELECT g AS id FROM generate_series(1, 10) g, LATERAL (SELECT pg_sleep(0.5 + 0 * g)) s"
    job = job_spec(name, destination, dataset, table="slow", source={"query": query})
    apply(job)
    _failed(
        run(job),
        "extraction",
        "The query ran longer than 1 s (statement_timeout) and was cancelled; ",
    )


# -- SQLite ----------------------------------------------------------------------------------


@pytest.fixture()
def sqlite_shop(tmp_path, services):
    path = tmp_path / "shop.db"
    with sqlite3.connect(path) as db:
        db.executescript(
            """CREATE TABLE sales (id INTEGER PRIMARY KEY, item TEXT, qty INTEGER, sold_at TEXT);
               INSERT INTO sales VALUES (1, 'a', 1, '2026-11-01 10:00:00'),
                 (2, 'b', 2, '2026-11-01 11:00:00'), (3, 'c', 3, '2026-11-01 12:00:00');"""
        )
    name = f"sqlite-{uuid.uuid4().hex[:8]}"
    SqlConnection(type="sqlite", database=str(path)).save(name, overwrite=True)
    return name, path


def test_a_sqlite_query_with_a_trailing_comment_loads_and_is_estimated(
    sqlite_shop, destination, dataset, bq
):
    name, _ = sqlite_shop
    query = "SELECT id, upper(item) AS item, qty * 2 AS double_qty FROM sales -- doubled; all"
    job = job_spec(name, destination, dataset, table="sales_x2", source={"query": query})
    apply(job)
    report = run(job)
    assert report["status"] == "completed", report
    assert report["rows_loaded"] == report["estimated_rows"] == 3
    assert data_rows(bq, dataset, "sales_x2")[1] == {"id": 2, "item": "B", "double_qty": 4}


def test_a_sqlite_query_job_with_a_cursor_loads_only_new_rows(
    sqlite_shop, destination, dataset, bq
):
    name, path = sqlite_shop
    job = job_spec(
        name, destination, dataset, table="sales_q",
        source={"query": "SELECT id, item, sold_at FROM sales WHERE qty > 0; -- sold ones"},
        column_types={"sold_at": "TIMESTAMP"},  # a query's SQLite columns have no declared type
        load_type="transactional", cursor_column="sold_at", backfill_start="all",
    )  # fmt: skip
    apply(job)
    assert run(job)["rows_loaded"] == 3
    with sqlite3.connect(path) as db:
        db.execute("INSERT INTO sales VALUES (4, 'd', 4, '2026-11-02 09:00:00')")
    second = run(job)
    assert second["status"] == "completed", second
    assert second["rows_loaded"] == 1
    assert [r["id"] for r in data_rows(bq, dataset, "sales_q")] == [1, 2, 3, 4]


def test_a_refused_sqlite_query_fails_validation_and_changes_nothing(
    sqlite_shop, destination, dataset, bq
):
    name, path = sqlite_shop
    job = job_spec(name, destination, dataset, table="never",
                   source={"query": "SELECT * FROM sales; DELETE FROM sales"})  # fmt: skip
    with pytest.raises(ValidationError) as error:
        apply(job)
    assert error.value.message == SEVERAL
    assert not _dataset_exists(bq, dataset)
    with sqlite3.connect(path) as db:
        assert db.execute("SELECT count(*) FROM sales").fetchone()[0] == 3


def test_a_sqlite_query_past_its_timeout_is_cancelled_with_one_sentence(tmp_path, services):
    from etl_bigquery.engine.jobs.model import QuerySource
    from etl_bigquery.engine.sources.sqlite import SqliteReader, SqliteSettings

    path = tmp_path / "empty.db"
    sqlite3.connect(path).close()
    forever = QuerySource(
        query="WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c) "
        "SELECT max(x) AS n FROM c"
    )
    with SqliteReader(SqliteSettings(str(path), query_timeout_seconds=0.5)) as reader:
        with pytest.raises(ValidationError) as error:
            reader.describe(forever)
        assert error.value.message.startswith(
            "The query ran longer than 0.5 s (query_timeout_seconds) and was cancelled; "
        )
        assert reader.estimate_rows(forever) is None  # no estimate, not a failed validation


@pytest.mark.parametrize(("file_name", "wrong_file"), [("a?b.db", "a"), ("x#y.db", "x")])
def test_a_sqlite_path_with_question_mark_or_hash_opens_that_file_read_only(
    tmp_path, file_name, wrong_file
):
    from etl_bigquery.engine.jobs.model import QuerySource
    from etl_bigquery.engine.sources.sqlite import SqliteReader, SqliteSettings

    path = tmp_path / file_name
    with sqlite3.connect(path) as db:
        db.execute("CREATE TABLE t (a INTEGER)")
        db.execute("INSERT INTO t VALUES (42)")
    with SqliteReader(SqliteSettings(str(path))) as reader:
        assert [t.name for t in reader.list_tables()] == ["t"]
        assert reader.preview(QuerySource(query="SELECT a FROM t")).to_pylist() == [{"a": "42"}]
        with pytest.raises(sqlite3.OperationalError, match="readonly"):
            reader._conn.execute("INSERT INTO t VALUES (1)")
    assert not (tmp_path / wrong_file).exists()


# -- Secrets and write access ----------------------------------------------------------------


def test_postgres_settings_never_show_the_password():
    from etl_bigquery.engine.sources.postgres import PostgresSettings

    settings = PostgresSettings("db", 5432, "shop", "etl", "Pw-Never-Shown-7")
    assert "Pw-Never-Shown-7" not in repr(settings)
    assert "Pw-Never-Shown-7" not in str(settings)
    assert "Pw-Never-Shown-7" not in f"{settings!r} {settings}"


def test_connection_test_warns_when_the_login_can_write(pg_connection, services):
    from etl_bigquery.blocks import health

    tested = etl("connection", "test", pg_connection)
    assert tested.returncode == 0, tested.stderr
    assert tested.stdout.startswith("success: ")
    assert "warning: The login 'postgres' is a superuser, so it could change this database; " in (
        tested.stdout
    )
    assert health.last_status(pg_connection)["warning"].startswith("The login 'postgres' ")


def test_connection_test_does_not_warn_for_a_read_only_role(pg_admin, shop, services):
    from etl_bigquery.blocks import health

    role = f"ro_{uuid.uuid4().hex[:8]}"
    pg_admin.execute(f'CREATE ROLE {role} LOGIN; GRANT USAGE ON SCHEMA "{shop}" TO {role};'
                     f'GRANT SELECT ON ALL TABLES IN SCHEMA "{shop}" TO {role}')  # fmt: skip
    try:
        name = role.replace("_", "-")
        SqlConnection(
            type="postgresql", host="127.0.0.1", port=5432, database="test", username=role
        ).save(name, overwrite=True)
        tested = etl("connection", "test", name)
        assert tested.returncode == 0, tested.stderr
        assert "orders" in tested.stdout
        assert "warning" not in tested.stdout
        assert "warning" not in health.last_status(name)

        # One write privilege is enough for a warning.
        pg_admin.execute(f'GRANT INSERT ON "{shop}".orders TO {role}')
        block = SqlConnection.load(name)
        outcome = health.check_connection(block)
        assert outcome.warning == (
            f"The login '{role}' can write to 1 table (e.g. {shop}.orders), so it could change "
            "this database; use a read-only role (SELECT privileges only) for ETL, since a "
            "read-only transaction does not stop every function with side effects."
        )
    finally:
        pg_admin.execute(f"DROP OWNED BY {role}; DROP ROLE {role}")
