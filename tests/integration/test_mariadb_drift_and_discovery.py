"""Schema drift at run time and discovery on MariaDB (issue 9, items 2 and 4), as
`test_schema_drift.py` and `test_discovery.py` do on PostgreSQL: a path proven on one source is
not proven on another."""

from __future__ import annotations

import json

from typer.testing import CliRunner

from tests.integration.conftest_mariadb import *  # noqa: F403
from tests.integration.conftest_mariadb import maria_sql
from tests.integration.helpers import apply, data_rows, job_spec, run


def _items(maria_admin, maria_db) -> None:
    maria_sql(
        maria_admin, maria_db.database,
        "CREATE TABLE items (id int PRIMARY KEY, name varchar(20), price decimal(8,2),"
        " added varchar(10)) CHARACTER SET utf8mb4",
        "INSERT INTO items VALUES (1, 'a', 1.50, '2026-01-01'), (2, 'b', 2.50, '2026-01-02')",
    )  # fmt: skip


def test_drift_new_column_waits_dropped_column_is_null_changed_type_fails(
    maria_admin, maria_db, maria_connection, destination, dataset, bq
):
    _items(maria_admin, maria_db)
    job = job_spec(
        maria_connection, destination, dataset,
        source={"table": "items"}, columns=["id", "name", "price"],
    )  # fmt: skip
    apply(job)
    assert run(job)["rows_loaded"] == 2

    # A new source column: reported, not loaded.
    maria_sql(maria_admin, maria_db.database, "ALTER TABLE items ADD COLUMN colour varchar(9)")
    everything = job.model_copy(update={"columns": []})
    report = run(everything)
    assert report["status"] == "completed", report
    assert any("colour" in w and "not loaded" in w for w in report["warnings"]), report
    assert "colour" not in [f.name for f in bq.get_table(f"local.{dataset}.bq_items").schema]

    # A dropped source column: written as NULL, with a warning.
    maria_sql(maria_admin, maria_db.database, "ALTER TABLE items DROP COLUMN price")
    report = run(job)
    assert report["status"] == "completed", report
    assert any("price" in w and "NULL" in w for w in report["warnings"]), report
    assert [row["price"] for row in data_rows(bq, dataset, "bq_items")] == [None, None]

    # A type that no longer fits: validation fails naming the column and both types.
    maria_sql(maria_admin, maria_db.database, "ALTER TABLE items MODIFY id varchar(12)")
    report = run(job.model_copy(update={"columns": ["id", "name"]}))
    assert report["status"] == "failed" and report["error_type"] == "validation", report
    assert "id" in report["error"] and "INT64" in report["error"] and "STRING" in report["error"]


def _cli(*args: str) -> str:
    from etl_bigquery.cli.main import app

    result = CliRunner().invoke(app, ["connection", *args])
    assert result.exit_code == 0, result.stdout + result.stderr
    return result.stdout


def test_discovery_lists_counts_proposes_types_and_previews(
    maria_admin, maria_db, maria_connection
):
    _items(maria_admin, maria_db)
    schemas = json.loads(_cli("schemas", maria_connection, "--json"))
    assert maria_db.database in json.dumps(schemas)
    tables = json.loads(_cli("tables", maria_connection, "--json"))
    assert "items" in json.dumps(tables) and maria_db.password not in json.dumps(tables)
    columns = {
        c["name"]: c for c in json.loads(_cli("columns", maria_connection, "items", "--json"))
    }
    assert columns["id"]["primary_key"] and columns["id"]["bq_type"] == "INT64"
    assert columns["price"]["bq_type"] == "NUMERIC"
    # `added` holds dates as text: detected from the values, with medium confidence.
    added = columns["added"]
    assert (added["bq_type"], added["detected"], added["confidence"]) == ("DATE", True, "medium")
    preview = json.loads(_cli("preview", maria_connection, "items", "--json"))
    assert preview["columns"] == ["id", "name", "price", "added"]
    assert [row[0] for row in preview["rows"]] == [1, 2] and preview["rows"][1][3] == "2026-01-02"
