"""A job's custom query: one read-only SELECT, checked with a SQL parser for the dialect."""

from __future__ import annotations

import pytest

from etl_bigquery.engine.errors import ValidationError
from etl_bigquery.engine.sources.query_check import check_query

DIALECTS = ["postgresql", "sqlite"]
FIX = "a source query must be one SELECT (or WITH ... SELECT, UNION, VALUES) and only reads."
SEVERAL = "The query holds several statements separated by ';'; keep one SELECT statement."
LOCKS = (
    "The query locks rows with FOR UPDATE or FOR SHARE; remove the locking clause (a source "
    "query only reads)."
)
INTO = (
    "SELECT ... INTO creates a table; remove the INTO clause (the job writes the rows to BigQuery)."
)


def refusal(sql: str, dialect: str) -> str:
    with pytest.raises(ValidationError) as error:
        check_query(sql, dialect)
    return error.value.message


@pytest.mark.parametrize("dialect", DIALECTS)
@pytest.mark.parametrize(
    ("sql", "runs"),
    [
        ("SELECT a, b FROM t", "SELECT a, b FROM t"),
        ("  select 1;  ", "select 1"),
        ("SELECT 1 ;\n-- done\n", "SELECT 1"),
        ("SELECT 'a;b' AS s, \"c;d\" FROM t", "SELECT 'a;b' AS s, \"c;d\" FROM t"),
        ("SELECT 1 /* ; DROP TABLE t; */ AS x", "SELECT 1 /* ; DROP TABLE t; */ AS x"),
        ("SELECT 'it''s; fine'", "SELECT 'it''s; fine'"),
        ("SELECT 1 -- trailing; comment", "SELECT 1 -- trailing; comment"),
        ("-- a report\nSELECT 1", "-- a report\nSELECT 1"),
        ("WITH x AS (SELECT 1 AS a) SELECT a FROM x", "WITH x AS (SELECT 1 AS a) SELECT a FROM x"),
        (
            "SELECT 1 UNION ALL SELECT 2 EXCEPT SELECT 3",
            "SELECT 1 UNION ALL SELECT 2 EXCEPT SELECT 3",
        ),
        ("(SELECT 1) UNION (SELECT 2) ORDER BY 1", "(SELECT 1) UNION (SELECT 2) ORDER BY 1"),
        ("VALUES (1, 'a'), (2, 'b')", "VALUES (1, 'a'), (2, 'b')"),
        (
            "WITH RECURSIVE r(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM r WHERE n < 3) "
            "SELECT n FROM r",
            "WITH RECURSIVE r(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM r WHERE n < 3) "
            "SELECT n FROM r",
        ),
    ],
)
def test_a_single_query_is_accepted_and_run_as_written(dialect, sql, runs):
    assert check_query(sql, dialect) == runs


@pytest.mark.parametrize(
    "sql",
    [
        "SELECT $$a;b$$ AS s",
        "SELECT $tag$ it's; $$ still inside $tag$ AS s",
        "SELECT E'a\\';b' AS s",
        "SELECT a::numeric(10,2), j->>'k', j @? '$.a' FROM t WHERE a = ANY('{1,2}'::int[])",
        "SELECT DISTINCT ON (a) a, b FROM t ORDER BY a, b FETCH FIRST 5 ROWS WITH TIES",
        "TABLE t",
        "WITH x AS MATERIALIZED (SELECT 1) SELECT * FROM x",
        "SELECT * FROM t, LATERAL (SELECT * FROM u WHERE u.a = t.a) s",
    ],
)
def test_postgresql_syntax_is_accepted_as_written(sql):
    assert check_query(sql, "postgresql") == sql


@pytest.mark.parametrize("dialect", DIALECTS)
@pytest.mark.parametrize(
    "sql",
    [
        "SELECT 1; SELECT 2",
        "SELECT 1; DROP TABLE t",
        "SELECT ';'; DELETE FROM t -- ;",
        "; SELECT 1",
    ],
)
def test_several_statements_are_refused(dialect, sql):
    assert refusal(sql, dialect) == SEVERAL


def test_a_dollar_quote_hides_no_second_statement_from_postgresql():
    assert refusal("SELECT $$a$$; DELETE FROM t; SELECT $$b$$", "postgresql") == SEVERAL


@pytest.mark.parametrize("dialect", DIALECTS)
@pytest.mark.parametrize(
    ("sql", "kind"),
    [
        ("INSERT INTO t VALUES (1)", "an INSERT"),
        ("update t set a = 1", "an UPDATE"),
        ("DELETE FROM t", "a DELETE"),
        ("MERGE INTO t USING s ON t.a = s.a WHEN MATCHED THEN DELETE", "a MERGE"),
        ("CREATE TABLE x (a int)", "a CREATE"),
        ("DROP TABLE t", "a DROP"),
        ("ALTER TABLE t ADD COLUMN b int", "an ALTER"),
        ("TRUNCATE t", "a TRUNCATE"),
        ("COPY t TO '/tmp/x'", "a COPY"),
        ("CALL p()", "a CALL"),
        ("SET search_path = x", "a SET"),
        ("EXPLAIN ANALYZE DELETE FROM t", "an EXPLAIN"),
        ("GRANT SELECT ON t TO x", "a GRANT"),
        ("WITH x AS (SELECT 1) DELETE FROM t", "a DELETE"),
    ],
)
def test_other_statements_are_refused_naming_them(dialect, sql, kind):
    assert refusal(sql, dialect) == f"The query is {kind} statement; {FIX}"


@pytest.mark.parametrize("dialect", DIALECTS)
@pytest.mark.parametrize(
    ("sql", "message"),
    [
        (
            "WITH gone AS (DELETE FROM t RETURNING *) SELECT * FROM gone",
            f"The query's WITH part gone holds a DELETE statement, which changes data; {FIX}",
        ),
        (
            "WITH n AS (INSERT INTO t VALUES (1) RETURNING *) SELECT * FROM n",
            f"The query's WITH part n holds an INSERT statement, which changes data; {FIX}",
        ),
        (
            "SELECT * FROM (WITH u AS (UPDATE t SET a = 1 RETURNING *) SELECT * FROM u) s",
            f"The query's WITH part u holds an UPDATE statement, which changes data; {FIX}",
        ),
    ],
)
def test_a_data_modifying_with_part_is_refused(dialect, sql, message):
    assert refusal(sql, dialect) == message


@pytest.mark.parametrize("dialect", DIALECTS)
def test_select_into_is_refused(dialect):
    assert refusal("SELECT * INTO copy_of_t FROM t", dialect) == INTO


@pytest.mark.parametrize(
    "clause", ["FOR UPDATE", "FOR SHARE", "FOR NO KEY UPDATE", "FOR KEY SHARE SKIP LOCKED"]
)
def test_locking_clauses_are_refused(clause):
    assert refusal(f"SELECT * FROM t {clause}", "postgresql") == LOCKS


@pytest.mark.parametrize("dialect", DIALECTS)
@pytest.mark.parametrize("sql", ["", "   ", ";", " ; ;", "-- nothing but a comment"])
def test_an_empty_query_is_refused(dialect, sql):
    assert refusal(sql, dialect) == "The query is empty; write one SELECT statement."


def test_unparsable_text_is_refused_saying_where():
    assert refusal("SELECT (1 FROM t", "postgresql") == (
        "The query is not valid PostgreSQL: Expecting ) near 'FROM' (line 1, column 14); "
        "fix the SQL."
    )
    assert refusal("SELEC 1", "sqlite") == (
        "The query starts with 'SELEC', not SELECT, WITH or VALUES; fix the SQL."
    )


@pytest.mark.parametrize(
    ("sql", "dialect"),
    [("SELECT 'unclosed", "postgresql"), ("SELECT $$unclosed", "postgresql"),
     ("SELECT 1 /* unclosed", "sqlite")],
)  # fmt: skip
def test_an_unclosed_quote_or_comment_is_refused(sql, dialect):
    message = refusal(sql, dialect)
    assert message.startswith("The query is not valid ")
    assert "(an unclosed quote, comment or dollar-quoted string?); fix the SQL." in message


def test_sqlite_has_no_dollar_quoting_so_its_semicolon_separates():
    assert refusal("SELECT $$a;b$$", "sqlite") == SEVERAL


def test_a_dialect_without_support_is_refused():
    assert refusal("SELECT 1", "db2") == ("Custom queries are not supported for db2 sources yet.")


def test_every_message_is_one_sentence():
    for sql in ["SELECT 1; SELECT 2", "DELETE FROM t", "SELECT * INTO x FROM t", "SELECT (1"]:
        message = refusal(sql, "postgresql")
        assert message.endswith(".") and ". " not in message.replace("...", ""), message
