"""Discovery through the `etl` command: schemas, tables, columns, preview, delete (and --json),
against the machine's PostgreSQL and a SQLite file.

Most calls run the command in this process (typer's runner: the same code, arguments and
output, without the two seconds a new process spends importing Prefect); each test also runs the
installed `etl` at least once, as a user does.
"""

from __future__ import annotations

import json
import sqlite3
import uuid

import pytest
from typer.testing import CliRunner

from tests.conftest import AUTH_PASSWORD
from tests.integration.cli_helpers import etl


def run(*args: str, code: int = 0, real: bool = False):
    if real:
        result = etl("connection", *args)
        returncode, stdout, stderr = result.returncode, result.stdout, result.stderr
    else:
        from etl_bigquery.cli.main import app

        result = CliRunner().invoke(app, ["connection", *args])
        returncode, stdout, stderr = result.exit_code, result.stdout, result.stderr
        assert result.exception is None or isinstance(result.exception, SystemExit), stderr
    assert returncode == code, stdout + stderr
    assert AUTH_PASSWORD not in stdout + stderr
    return result


@pytest.fixture()
def pg_shop(services, pg_admin, pg_schema):
    """A connection with a password (the local server trusts logins, so it is never checked, but
    it must never be shown), an `orders` table whose text columns hide other types, and a table
    too large to count cheaply."""
    from etl_bigquery.blocks import SqlConnection

    pg_admin.execute(
        f"""CREATE TABLE "{pg_schema}".orders (
                id int PRIMARY KEY, code text NOT NULL, placed text, paid_at varchar(40),
                shipped_at text, gift text, qty text, amount numeric(12,2), note text);
            INSERT INTO "{pg_schema}".orders
            SELECT g, lpad(g::text, 4, '0'), '2026-03-' || lpad(g::text, 2, '0'),
                   '2026-03-01 10:00:00+02:00', '2026-03-02T08:00:00',
                   CASE WHEN g % 2 = 0 THEN 'true' ELSE 'false' END, (g * 3)::text,
                   g * 1.25, 'line one' || chr(10) || repeat('long text ', 10)
            FROM generate_series(1, 25) g;
            UPDATE "{pg_schema}".orders SET placed = NULL WHERE id = 25;
            CREATE TABLE "{pg_schema}".big AS
            SELECT g AS id, repeat('x', 100) AS pad FROM generate_series(1, 80000) g;
            ANALYZE "{pg_schema}".big"""
    )
    name = f"pg-disc-{uuid.uuid4().hex[:8]}"
    SqlConnection(
        type="postgresql", host="127.0.0.1", port=5432, database="test", username="postgres",
        password=AUTH_PASSWORD,
    ).save(name, overwrite=True)  # fmt: skip
    return name


def test_postgres_schemas_tables_columns_and_preview(pg_shop, pg_schema):
    assert pg_schema in run("schemas", pg_shop).stdout.splitlines()
    schemas = json.loads(run("schemas", pg_shop, "--json").stdout)
    assert pg_schema in schemas and "public" in schemas
    assert not any(s.startswith("pg_") or s == "information_schema" for s in schemas)

    listed = run("tables", pg_shop, "--schema", pg_schema).stdout
    lines = {line.split()[1]: line.split()[2] for line in listed.splitlines()[2:] if " " in line}
    assert lines["orders"] == "25"  # small: counted exactly
    assert lines["big"].startswith("~")  # large: PostgreSQL's estimate, marked
    assert "~ estimated" in listed
    tables = {
        t["name"]: t for t in json.loads(run("tables", pg_shop, "-s", pg_schema, "--json").stdout)
    }
    assert tables["orders"] == {"schema": pg_schema, "name": "orders", "row_count": 25,
                                "estimated": False}  # fmt: skip
    assert tables["big"]["estimated"] is True and tables["big"]["row_count"] > 70000

    shown = run("columns", pg_shop, "orders", "--schema", pg_schema).stdout
    assert (
        "medium (detected)" in shown
        and "all 24 sampled values (and 1 NULLs) are ISO dates" in shown
    )
    columns = {
        c["name"]: c
        for c in json.loads(
            run("columns", pg_shop, "orders", "-s", pg_schema, "--json", real=True).stdout
        )
    }
    assert columns["id"] | {"warnings": []} == {
        "name": "id", "source_type": "integer", "nullable": False, "primary_key": True,
        "bq_type": "INT64", "confidence": "high", "warnings": [], "detected": False,
    }  # fmt: skip
    detected = {name: (c["bq_type"], c["detected"]) for name, c in columns.items()}
    assert detected == {
        "id": ("INT64", False),
        "code": ("STRING", False),  # '0001': leading zeros make it an identifier
        "placed": ("DATE", True),
        "paid_at": ("TIMESTAMP", True),  # with offsets
        "shipped_at": ("DATETIME", True),  # without
        "gift": ("BOOL", True),
        "qty": ("INT64", True),
        "amount": ("NUMERIC", False),
        "note": ("STRING", False),
    }
    assert columns["placed"]["confidence"] == "medium"
    assert columns["code"]["nullable"] is False and columns["placed"]["nullable"] is True

    table = run("preview", pg_shop, "orders", "--schema", pg_schema).stdout.splitlines()
    assert table[0].split()[:3] == ["id", "code", "placed"]
    assert len(table) == 2 + 10 + 1 and table[-1] == "(10 rows)"
    assert "line one\\nlong text" in table[2] and "…" in table[2]  # escaped and shortened
    preview = json.loads(run("preview", pg_shop, "orders", "-s", pg_schema, "--json").stdout)
    assert preview["columns"][:2] == ["id", "code"] and len(preview["rows"]) == 10
    first = dict(zip(preview["columns"], preview["rows"][0], strict=True))
    assert first["id"] == 1 and first["code"] == "0001" and first["amount"] == "1.25"
    assert first["note"] == "line one\n" + "long text " * 10  # whole in JSON


def test_missing_tables_schemas_and_connections_get_one_sentence(pg_shop, pg_schema):
    missing = run("columns", pg_shop, "nope", "--schema", pg_schema, code=1, real=True)
    assert missing.stderr.strip() == (
        f"Error: Table '{pg_schema}.nope' does not exist in database 'test'; check the schema "
        "and table name."
    )
    assert run("preview", pg_shop, "nope", "-s", pg_schema, code=1).stderr == missing.stderr
    schema = run("tables", pg_shop, "--schema", "no_such_schema", code=1).stderr
    assert "Schema 'no_such_schema' does not exist" in schema and len(schema.splitlines()) == 1
    for command in ("schemas", "delete"):
        gone = run(command, "no-such-connection", code=2, real=command == "delete").stderr
        assert gone.strip() == (
            "Error: Connection 'no-such-connection' does not exist; `etl connection list` shows "
            "the existing ones."
        )


@pytest.fixture()
def sqlite_shop(services, tmp_path):
    from etl_bigquery.blocks import SqlConnection

    path = tmp_path / "shop.db"
    with sqlite3.connect(path) as db:
        db.execute("CREATE TABLE items (sku TEXT PRIMARY KEY, added TEXT, price REAL, n, "
                   "blob BLOB)")  # fmt: skip
        db.executemany(
            "INSERT INTO items VALUES (?, ?, ?, ?, ?)",
            [(f"A{i}", f"2026-01-{i:02d}", i + 0.5, i, b"\x00\x01") for i in range(1, 13)],
        )
    db.close()
    name = f"sqlite-disc-{uuid.uuid4().hex[:8]}"
    SqlConnection(type="sqlite", database=str(path)).save(name, overwrite=True)
    return name


def test_sqlite_discovery(sqlite_shop):
    assert json.loads(run("schemas", sqlite_shop, "--json", real=True).stdout) == ["main"]
    assert run("schemas", sqlite_shop).stdout.strip() == "main"
    assert json.loads(run("tables", sqlite_shop, "--json").stdout) == [
        {"schema": "main", "name": "items", "row_count": 12, "estimated": False}
    ]
    columns = {
        c["name"]: c for c in json.loads(run("columns", sqlite_shop, "items", "--json").stdout)
    }
    assert columns["sku"]["primary_key"] and columns["sku"]["bq_type"] == "STRING"
    assert (columns["added"]["bq_type"], columns["added"]["detected"]) == ("DATE", True)
    assert columns["n"]["bq_type"] == "INT64" and columns["n"]["detected"]  # no declared type
    assert columns["price"]["bq_type"] == "FLOAT64"
    preview = json.loads(run("preview", sqlite_shop, "items", "--json").stdout)
    assert len(preview["rows"]) == 10
    assert preview["rows"][0][:2] == ["A1", "2026-01-01"]
    assert "A1" in run("preview", sqlite_shop, "items").stdout


def test_columns_and_preview_of_a_query_are_checked_read_only(sqlite_shop):
    """`--query`: the columns and first rows of a read-only SELECT (what the console's wizard
    shows for a query job); a statement that writes is refused before it runs."""
    query = "SELECT sku, price * 2 AS doubled FROM items WHERE n > 10"
    columns = json.loads(run("columns", sqlite_shop, "--query", query, "--json").stdout)
    assert [c["name"] for c in columns] == ["sku", "doubled"]
    preview = json.loads(run("preview", sqlite_shop, "--query", query, "--json").stdout)
    assert [row[0] for row in preview["rows"]] == ["A11", "A12"]
    refused = run("columns", sqlite_shop, "--query", "DELETE FROM items", code=1)
    assert "a source query must be one SELECT" in refused.stderr
    both = run("columns", sqlite_shop, "items", "--query", query, code=2)
    assert "Name a TABLE or pass --query, not both" in both.stderr
    assert run("preview", sqlite_shop, "items").stdout.count("A1") >= 1  # nothing was deleted


def test_delete_is_refused_while_a_deployment_uses_the_connection(sqlite_shop):
    from prefect.client.orchestration import get_client

    job_name = f"uses-{sqlite_shop}"
    with get_client(sync_client=True) as client:
        deployment = client.create_deployment(
            flow_id=client.create_flow_from_name("etl-job"),
            name=job_name,
            parameters={"job": {"name": job_name, "connection": sqlite_shop,
                                "source": {"table": "items"}, "destination": {"block": "bq"},
                                "load_type": "catalog"}},
        )  # fmt: skip
    refused = run("delete", sqlite_shop, code=2, real=True).stderr
    assert refused.strip() == (
        f"Error: Connection '{sqlite_shop}' is used by job '{job_name}'; delete or change that "
        "job first."
    )
    assert json.loads(run("tables", sqlite_shop, "--json").stdout)  # still there

    with get_client(sync_client=True) as client:
        client.delete_deployment(deployment)
    assert json.loads(run("delete", sqlite_shop, "--json").stdout) == {"deleted": sqlite_shop}
    assert "does not exist" in run("tables", sqlite_shop, code=2).stderr
