"""Read-only query sessions hold statement by statement, on real PostgreSQL and MariaDB servers.

Two layers, each tested alone:
- the query check refuses what would change the session (`set_config`) or hide SQL from the
  parser (MySQL executable comments), through `etl run` of a query job as a user runs it;
- the readers run every statement in a read-only transaction of its own, so a session whose
  read-only default was turned off by a function (which no parser can see into) still cannot
  write: these tests turn it off with a function of the database, then try to write.
"""

from __future__ import annotations

import json
import uuid
from pathlib import Path

import pytest

from etl_bigquery.engine.errors import EtlError
from etl_bigquery.engine.jobs.model import QuerySource
from tests.integration.cli_helpers import etl
from tests.integration.conftest_mariadb import *  # noqa: F403 - the MariaDB fixtures

SET_CONFIG = (
    "The query calls set_config(), which changes the session's settings (it could turn the "
    "read-only mode off); remove the call."
)
EXECUTABLE_COMMENT = (
    "The query holds a MySQL executable comment (/*! ... */ or /*M! ... */), whose text the "
    "server runs as SQL unchecked; remove the comment or write its SQL plainly."
)


def _query_job(folder: Path, connection: str, destination: str, dataset: str, query: str) -> Path:
    file = folder / "query-job.yaml"
    file.write_text(
        f"name: sec-{uuid.uuid4().hex[:8]}\nconnection: {connection}\n"
        f"source:\n  query: {json.dumps(query)}\n"
        f"destination:\n  block: {destination}\n  dataset: {dataset}\n  table: escaped\n"
        "load_type: catalog\n"
    )
    return file


def _refused(result, sentence: str) -> None:
    assert result.returncode != 0, result.stdout + result.stderr
    report = json.loads(result.stdout)
    assert report["status"] == "failed", report
    assert report["error_type"] == "validation", report
    assert sentence in report["error"], report["error"]


# -- PostgreSQL ------------------------------------------------------------------------------


@pytest.fixture()
def pg_escape(pg_admin, pg_schema) -> str:
    """A table, a table the tests try to write to, and two functions: one turns the session's
    read-only default off (as `set_config` in a query would), one writes a row."""
    s = pg_schema
    pg_admin.execute(
        f"""CREATE TABLE "{s}".t (id int PRIMARY KEY);
            INSERT INTO "{s}".t VALUES (1), (2);
            CREATE TABLE "{s}".written (at timestamptz DEFAULT now());
            CREATE FUNCTION "{s}".escape() RETURNS int LANGUAGE sql VOLATILE AS
              $$ SELECT 1 FROM set_config('default_transaction_read_only', 'off', false) $$;
            CREATE FUNCTION "{s}".write_once() RETURNS int LANGUAGE sql VOLATILE AS
              $$ INSERT INTO "{s}".written DEFAULT VALUES RETURNING 1 $$;"""
    )
    return s


def _pg_reader():
    from etl_bigquery.engine.sources.postgres import PostgresReader, PostgresSettings

    return PostgresReader(
        PostgresSettings(
            host="127.0.0.1", port=5432, database="test", username="postgres", password=None
        )
    )


def test_a_postgresql_session_turned_writable_by_a_function_still_cannot_write(pg_admin, pg_escape):
    reader = _pg_reader()
    try:
        turned = reader.preview(QuerySource(query=f'SELECT "{pg_escape}".escape() AS x'))
        assert turned.column("x").to_pylist() == [1]
        # The setting did not outlive its statement: the transaction that ran it rolled back.
        setting = reader.preview(
            QuerySource(query="SELECT current_setting('default_transaction_read_only') AS v")
        )
        assert setting.column("v").to_pylist() == ["on"]
        with pytest.raises(EtlError) as refused:
            reader.preview(QuerySource(query=f'SELECT "{pg_escape}".write_once() AS x'))
        assert "read-only transaction" in refused.value.message, refused.value.message
    finally:
        reader.close()
    assert pg_admin.execute(f'SELECT count(*) FROM "{pg_escape}".written').fetchone()[0] == 0


def test_a_postgresql_statement_is_read_only_even_when_the_session_default_is_off(
    pg_admin, pg_escape
):
    """The session's default flipped from outside the reader's statements (as a pooled or
    reused session could be): every statement still opens its own read-only transaction."""
    reader = _pg_reader()
    try:
        reader._set("SET SESSION CHARACTERISTICS AS TRANSACTION READ WRITE")
        mode = reader.preview(
            QuerySource(query="SELECT current_setting('transaction_read_only') AS v")
        )
        assert mode.column("v").to_pylist() == ["on"]
        with pytest.raises(EtlError, match="read-only transaction"):
            reader.preview(QuerySource(query=f'SELECT "{pg_escape}".write_once() AS x'))
    finally:
        reader.close()
    assert pg_admin.execute(f'SELECT count(*) FROM "{pg_escape}".written').fetchone()[0] == 0


@pytest.mark.parametrize(
    "query",
    [
        "SELECT id, set_config('default_transaction_read_only', 'off', false) AS s FROM \"{s}\".t",
        "SELECT id FROM \"{s}\".t WHERE pg_catalog.set_config('transaction_read_only', 'off', "
        "true) IS NOT NULL",
    ],
    ids=["set_config", "qualified-in-where"],
)
def test_etl_run_refuses_a_postgresql_query_that_changes_session_settings(
    services, pg_admin, pg_escape, pg_connection, destination, dataset, bq, tmp_path, query
):
    from google.api_core.exceptions import NotFound

    job = _query_job(tmp_path, pg_connection, destination, dataset, query.format(s=pg_escape))
    _refused(etl("run", str(job), "--json"), SET_CONFIG)
    with pytest.raises(NotFound):  # nothing was created or loaded
        bq.get_table(f"local.{dataset}.escaped")


# -- MariaDB ---------------------------------------------------------------------------------


@pytest.fixture()
def maria_escape(maria_admin, maria_db) -> str:
    """As pg_escape, in MariaDB: `flip()` sets the session read-write (a stored function may),
    `write_once()` inserts. The test login may SELECT and EXECUTE, nothing else."""
    from tests.integration.conftest_mariadb import maria_sql

    maria_sql(
        maria_admin, maria_db.database,
        "CREATE TABLE t (id int PRIMARY KEY)", "INSERT INTO t VALUES (1), (2)",
        "CREATE TABLE written (x int)",
        "CREATE FUNCTION flip() RETURNS int MODIFIES SQL DATA "
        "BEGIN SET SESSION tx_read_only = 0; RETURN 1; END",
        "CREATE FUNCTION write_once() RETURNS int MODIFIES SQL DATA "
        "BEGIN INSERT INTO written VALUES (1); RETURN 1; END",
        f"GRANT EXECUTE ON `{maria_db.database}`.* TO '{maria_db.user}'@'%'",
    )  # fmt: skip
    return maria_db.database


def test_a_mariadb_session_turned_writable_by_a_function_still_cannot_write(
    maria_admin, maria_db, maria_escape
):
    from etl_bigquery.engine.sources.mysql import MySqlReader, MySqlSettings
    from tests.integration.conftest_mariadb import maria_sql

    reader = MySqlReader(
        MySqlSettings(
            host=maria_db.host,
            port=maria_db.port,
            database=maria_db.database,
            username=maria_db.user,
            password=maria_db.password,
        )
    )
    try:
        assert reader.preview(QuerySource(query="SELECT flip() AS x")).column("x").to_pylist() == [
            1
        ]
        with pytest.raises(EtlError) as refused:
            reader.preview(QuerySource(query="SELECT write_once() AS x"))
        assert "READ ONLY" in refused.value.message, refused.value.message
    finally:
        reader.close()
    assert maria_sql(maria_admin, maria_escape, "SELECT count(*) FROM written") == [(0,)]


@pytest.mark.parametrize(
    "query",
    [
        "SELECT id /*!, write_once() AS w */ FROM t",
        "SELECT id /*!100000 , write_once() AS w */ FROM t",
        "SELECT id /*M!, write_once() AS w */ FROM t",
    ],
    ids=["mysql", "versioned", "mariadb"],
)
def test_etl_run_refuses_mysql_executable_comments(
    services,
    maria_admin,
    maria_escape,
    maria_connection,
    destination,
    dataset,
    bq,
    tmp_path,
    query,
):
    from google.api_core.exceptions import NotFound

    from tests.integration.conftest_mariadb import maria_sql

    job = _query_job(tmp_path, maria_connection, destination, dataset, query)
    _refused(etl("run", str(job), "--json"), EXECUTABLE_COMMENT)
    with pytest.raises(NotFound):
        bq.get_table(f"local.{dataset}.escaped")
    assert maria_sql(maria_admin, maria_escape, "SELECT count(*) FROM written") == [(0,)]


def test_a_comment_that_only_looks_executable_inside_a_string_is_data(
    services, maria_escape, maria_connection, destination, dataset, bq, tmp_path
):
    job = _query_job(tmp_path, maria_connection, destination, dataset,
                     "SELECT id, '/*! not code */' AS note FROM t")  # fmt: skip
    from etl_bigquery.service.job_files import load_job_file
    from tests.integration.helpers import apply

    apply(load_job_file(job))  # what `etl job apply` checks and creates, without a deployment
    result = etl("run", str(job), "--json")
    assert result.returncode == 0, result.stdout + result.stderr
    rows = bq.query_and_wait(f"SELECT note FROM `local.{dataset}.escaped`")
    assert {r["note"] for r in rows} == {"/*! not code */"}
