"""Columns are matched to the BigQuery table by their source name, through `etl run` as a user
runs it: a CSV export, a query and a document sample that list two columns which clean up alike
(`Price (€)`, `Price ($)` → `price____`) in another order never swap their values.

Each table column records its source column in its description; a later run finds the column by
that name, whatever position the source gives it. (Firestore's case is in
test_nosql_sources.py, on Google's emulator.)
"""

from __future__ import annotations

import os
import time
import uuid
from pathlib import Path
from typing import Any

import pytest

from tests.integration.cli_helpers import apply_job_file, etl_here, run_job_file, write_job
from tests.integration.helpers import by_source, column_of

EURO, DOLLAR = "Price (€)", "Price ($)"


def _spec(connection: str, destination: str, dataset: str, **fields: Any) -> dict[str, Any]:
    return {
        "name": f"names-{uuid.uuid4().hex[:8]}",
        "connection": connection,
        "destination": {"block": destination, "dataset": dataset, "table": "prices"},
        **fields,
    }


# -- a local folder of CSV exports ---------------------------------------------------------------


def _write(path: Path, text: str, age: int) -> None:
    """A file whose last-modified is `age` seconds ago: the newest file gives the columns."""
    path.write_text(text, encoding="utf-8")
    stamp = time.time() - age
    os.utime(path, (stamp, stamp))


def test_a_newer_csv_listing_the_columns_the_other_way_round_swaps_nothing(
    services, bq, dataset, destination, tmp_path
):
    from etl_bigquery.blocks.files import FileConnection

    folder = tmp_path / "drop"
    folder.mkdir()
    connection = f"files-{uuid.uuid4().hex[:8]}"
    FileConnection(type="local", bucket=str(folder)).save(connection, overwrite=True)
    _write(folder / "a.csv", f"id,{EURO},{DOLLAR}\n1,10,11\n", age=300)
    job = write_job(tmp_path, _spec(
        connection, destination, dataset, load_type="transactional",
        source={"glob": "*.csv", "format": "csv"},
    ))  # fmt: skip
    apply_job_file(job)
    assert run_job_file(job)["rows_loaded"] == 1

    # Today's export lists them the other way round (and is the newest file: the sample).
    _write(folder / "b.csv", f"id,{DOLLAR},{EURO}\n2,21,20\n", age=200)
    second = run_job_file(job)
    assert (second["status"], second["rows_loaded"]) == ("completed", 1), second
    # Another export tool: other header case, same columns (files match a header by case too).
    _write(folder / "c.csv", f"ID,{DOLLAR.upper()},{EURO.lower()}\n3,31,30\n", age=100)
    third = run_job_file(job)
    assert (third["status"], third["rows_loaded"]) == ("completed", 1), third

    rows = by_source(bq, dataset, "prices", "id")
    assert [(r["id"], r[EURO], r[DOLLAR]) for r in rows] == [(1, 10, 11), (2, 20, 21), (3, 30, 31)]
    # A new table's derived names depend on the set of names, not their order: '$' < '€'.
    assert column_of(bq, dataset, "prices", DOLLAR) == "price____"
    assert column_of(bq, dataset, "prices", EURO) == "price_____2"


# -- a PostgreSQL query --------------------------------------------------------------------------


def test_a_query_listing_the_columns_the_other_way_round_swaps_nothing(
    services, pg_admin, pg_schema, pg_connection, bq, dataset, destination, tmp_path
):
    """A reordered SELECT list is the SQL form of a reordered export."""
    table = f'"{pg_schema}".prices'
    pg_admin.execute(
        f'CREATE TABLE {table} (id int PRIMARY KEY, "{EURO}" int, "{DOLLAR}" int, at timestamptz);'
        f"INSERT INTO {table} VALUES (1, 10, 11, '2026-11-01 10:00+00'), "
        f"(2, 20, 21, '2026-11-01 11:00+00')"
    )
    spec = _spec(
        pg_connection, destination, dataset, load_type="transactional", cursor_column="at",
        backfill_start="all",
        source={"query": f'SELECT id, "{EURO}", "{DOLLAR}", at FROM {table}'},
    )  # fmt: skip
    job = write_job(tmp_path, spec)
    apply_job_file(job)
    assert run_job_file(job)["rows_loaded"] == 2

    pg_admin.execute(f"INSERT INTO {table} VALUES (3, 30, 31, '2026-11-01 12:00+00')")
    spec["source"] = {"query": f'SELECT at, "{DOLLAR}", "{EURO}", id FROM {table}'}
    job = write_job(tmp_path, spec)
    report = run_job_file(job)
    assert (report["status"], report["rows_loaded"]) == ("completed", 1), report

    rows = by_source(bq, dataset, "prices", "id")
    assert [(r["id"], r[EURO], r[DOLLAR]) for r in rows] == [(1, 10, 11), (2, 20, 21), (3, 30, 31)]


def test_an_undescribed_table_column_two_source_columns_match_is_refused(
    services, pg_admin, pg_schema, pg_connection, bq, dataset, destination, tmp_path
):
    """A table made by another tool has no descriptions: names are matched as they clean up,
    and two candidates for one column are refused with the fix, before anything loads."""
    from google.cloud import bigquery

    table = f'"{pg_schema}".prices'
    pg_admin.execute(
        f'CREATE TABLE {table} (id int, "{EURO}" int, "{DOLLAR}" int);'
        f"INSERT INTO {table} VALUES (1, 10, 11)"
    )
    bq.create_dataset(f"local.{dataset}", exists_ok=True)
    bq.create_table(bigquery.Table(f"local.{dataset}.prices", schema=[
        bigquery.SchemaField("id", "INT64"), bigquery.SchemaField("price____", "INT64"),
    ]))  # fmt: skip
    job = write_job(tmp_path, _spec(pg_connection, destination, dataset,
                                    source={"schema": pg_schema, "table": "prices"}))  # fmt: skip
    code, out, err = etl_here("job", "apply", str(job))
    assert code != 0, out
    assert (
        f"Error: Columns '{DOLLAR}', '{EURO}' all match table column price____, whose description "
        "does not say which source column it holds; set its description in BigQuery to the one "
        f"it holds (\"source column '{DOLLAR}' (integer)\" or \"source column '{EURO}' "
        '(integer)") and run again.\n'
    ) in err, err
    assert [f.name for f in bq.get_table(f"local.{dataset}.prices").schema] == ["id", "price____"]

    # The fix the sentence gives works: describe the column, apply (adds the other one), run.
    held = bq.get_table(f"local.{dataset}.prices")
    held.schema = [held.schema[0], bigquery.SchemaField(
        "price____", "INT64", description=f"source column '{EURO}' (integer)")]  # fmt: skip
    bq.update_table(held, ["schema"])
    apply_job_file(job)
    assert column_of(bq, dataset, "prices", DOLLAR) == "price_____2"
    report = run_job_file(job)
    assert report["rows_loaded"] == 1, report
    rows = bq.query_and_wait(f"SELECT id, price____, price_____2 FROM `local.{dataset}.prices`")
    assert [tuple(r.values()) for r in rows] == [(1, 10, 11)]


# -- Redis: the sample's order is SCAN order and each hash's field order --------------------------


@pytest.fixture()
def redis_keys() -> Any:
    import redis

    from tests.conftest import unavailable

    client = redis.Redis(host="127.0.0.1", port=6379, db=11, socket_connect_timeout=3)
    try:
        client.ping()
    except redis.exceptions.ConnectionError as error:
        unavailable(f"Redis is not reachable at 127.0.0.1:6379: {error}")
    prefix = f"names{uuid.uuid4().hex[:8]}"
    yield client, prefix
    keys = list(client.scan_iter(match=f"{prefix}:*"))
    if keys:
        client.delete(*keys)
    client.close()


def test_a_redis_sample_that_sees_the_fields_in_another_order_swaps_nothing(
    services, redis_keys, bq, dataset, destination, tmp_path
):
    from etl_bigquery.blocks import NoSqlConnection

    client, prefix = redis_keys
    client.hset(f"{prefix}:1", mapping={"at": "2026-11-01T10:00:00Z", EURO: "10", DOLLAR: "11"})
    connection = f"redis-names-{prefix}"
    NoSqlConnection(type="redis", host="127.0.0.1", database="11").save(connection, overwrite=True)
    job = write_job(tmp_path, _spec(
        connection, destination, dataset, load_type="transactional", cursor_column="at",
        backfill_start="all", source={"schema": "db11", "table": prefix},
    ))  # fmt: skip
    apply_job_file(job)
    assert run_job_file(job)["rows_loaded"] == 1
    # The loaded hash goes; a new one lists the fields the other way round, so today's sample
    # meets '$' first (as a SCAN that returns the keys in another order does).
    client.delete(f"{prefix}:1")
    client.hset(f"{prefix}:2", mapping={"at": "2026-11-02T10:00:00Z", DOLLAR: "21", EURO: "20"})
    report = run_job_file(job)
    assert (report["status"], report["rows_loaded"]) == ("completed", 1), report

    rows = by_source(bq, dataset, "prices", "document_id")
    assert [(r["document_id"], r[EURO], r[DOLLAR]) for r in rows] == [
        (f"{prefix}:1", 10, 11), (f"{prefix}:2", 20, 21)]  # fmt: skip
