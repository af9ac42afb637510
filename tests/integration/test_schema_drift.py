"""Schema drift at run time (issue 9, item 4): a new source column is reported and not loaded
until the job lists it; a dropped one is written as NULL with a warning; a type that no longer
fits fails validation naming the column and both types."""

from __future__ import annotations

from tests.integration.helpers import apply, data_rows, job_spec, run


def _table(pg_admin, schema: str) -> None:
    pg_admin.execute(f'CREATE TABLE "{schema}".items (id int, name text, price numeric(8,2))')
    pg_admin.execute(f"""INSERT INTO "{schema}".items VALUES (1, 'a', 1.5), (2, 'b', 2.5)""")


def test_a_new_source_column_is_reported_and_not_loaded_until_applied(
    pg_admin, pg_schema, pg_connection, destination, dataset, bq
):
    _table(pg_admin, pg_schema)
    job = job_spec(
        pg_connection, destination, dataset, source={"schema": pg_schema, "table": "items"}
    )
    apply(job)
    pg_admin.execute(f"ALTER TABLE \"{pg_schema}\".items ADD COLUMN colour text DEFAULT 'red'")
    report = run(job)
    assert report["status"] == "completed", report
    assert any("colour" in w and "not loaded" in w for w in report["warnings"]), report
    fields = [f.name for f in bq.get_table(f"local.{dataset}.bq_items").schema]
    assert "colour" not in fields
    apply(job)  # the user takes the new column in
    assert run(job)["warnings"] == []
    assert {row["colour"] for row in data_rows(bq, dataset, "bq_items")} == {"red"}


def test_a_dropped_source_column_is_written_as_null_with_a_warning(
    pg_admin, pg_schema, pg_connection, destination, dataset, bq
):
    _table(pg_admin, pg_schema)
    job = job_spec(
        pg_connection, destination, dataset, source={"schema": pg_schema, "table": "items"},
        columns=["id", "name", "price"],
    )  # fmt: skip
    apply(job)
    assert run(job)["rows_loaded"] == 2
    pg_admin.execute(f'ALTER TABLE "{pg_schema}".items DROP COLUMN price')
    report = run(job)
    assert report["status"] == "completed", report
    assert any("price" in w and "NULL" in w for w in report["warnings"]), report
    assert [row["price"] for row in data_rows(bq, dataset, "bq_items")] == [None, None]


def test_a_type_that_no_longer_fits_fails_naming_the_column_and_types(
    pg_admin, pg_schema, pg_connection, destination, dataset, bq
):
    _table(pg_admin, pg_schema)
    job = job_spec(
        pg_connection, destination, dataset, source={"schema": pg_schema, "table": "items"}
    )
    apply(job)
    assert run(job)["rows_loaded"] == 2
    pg_admin.execute(f'ALTER TABLE "{pg_schema}".items ALTER COLUMN id TYPE text')
    report = run(job)
    assert report["status"] == "failed" and report["error_type"] == "validation"
    assert "id" in report["error"] and "INT64" in report["error"] and "STRING" in report["error"]


def test_text_dates_detected_when_the_table_is_created_stay_dates_on_every_run(
    pg_admin, pg_schema, pg_connection, destination, dataset, bq
):
    """Detection proposes DATE for a text column at `apply`; later runs follow the table, and a
    value that is not a date goes to the rejected rows instead of failing the run."""
    pg_admin.execute(f'CREATE TABLE "{pg_schema}".people (id int, born text)')
    pg_admin.execute(
        f"""INSERT INTO "{pg_schema}".people
            SELECT g, '2000-01-' || lpad(g::text, 2, '0') FROM generate_series(1, 20) g"""
    )
    job = job_spec(
        pg_connection, destination, dataset, source={"schema": pg_schema, "table": "people"}
    )
    apply(job)
    fields = {f.name: f.field_type for f in bq.get_table(f"local.{dataset}.bq_people").schema}
    assert fields["born"] == "DATE"
    pg_admin.execute(f"""INSERT INTO "{pg_schema}".people VALUES (21, 'unknown')""")
    report = run(job)
    assert report["status"] == "partial", report
    assert report["rows_loaded"] == 20 and report["rows_rejected"] == 1
