"""SQLite (local files, demos): text dates, a read-only query source, rows added later."""

from __future__ import annotations

import datetime as dt
import sqlite3
import uuid

import pytest

from etl_bigquery.blocks import SqlConnection
from tests.integration.helpers import apply, data_rows, job_spec, run


@pytest.fixture()
def shop(tmp_path, services):
    path = tmp_path / "shop.db"
    with sqlite3.connect(path) as db:
        db.executescript(
            """CREATE TABLE sales (id INTEGER PRIMARY KEY, item TEXT, qty INTEGER, price REAL,
                                   sold_at DATETIME, day DATE, ok BOOLEAN);
               INSERT INTO sales VALUES
                 (1, 'a', 1, 1.5, '2026-11-01 10:00:00', '2026-11-01', 1),
                 (2, 'b', 2, 2.5, '2026-11-01T11:00:00.250', '2026-11-01', 0),
                 (3, 'c', 3, NULL, '2026-11-01 11:00:00.250', '2026-11-02', NULL);"""
        )
    name = f"sqlite-{uuid.uuid4().hex[:8]}"
    SqlConnection(type="sqlite", database=str(path)).save(name, overwrite=True)
    return name, path


def test_text_timestamps_in_any_iso_spelling_load_as_timestamps(shop, destination, dataset, bq):
    name, path = shop
    job = job_spec(
        name, destination, dataset, source={"table": "sales"},
        load_type="transactional", cursor_column="sold_at", backfill_start="all",
    )  # fmt: skip
    apply(job)
    assert run(job)["rows_loaded"] == 3
    rows = data_rows(bq, dataset, "bq_sales")
    assert rows[1]["sold_at"] == dt.datetime(2026, 11, 1, 11, 0, 0, 250000, tzinfo=dt.UTC)
    assert (
        rows[0]["day"] == dt.date(2026, 11, 1) and rows[0]["ok"] is True and rows[2]["ok"] is None
    )

    with sqlite3.connect(path) as db:  # one more at the same instant, spelled differently
        db.execute(
            "INSERT INTO sales VALUES (4, 'd', 4, 4.0, '2026-11-01 11:00:00.25', '2026-11-02', 1)"
        )
    second = run(job)
    assert second["rows_loaded"] == 1
    assert [r["id"] for r in data_rows(bq, dataset, "bq_sales")] == [1, 2, 3, 4]


def test_a_query_source_is_run_read_only(shop, destination, dataset, bq):
    name, _ = shop
    job = job_spec(
        name, destination, dataset, table="sales_summary",
        source={"query": "SELECT item, qty * price AS total FROM sales WHERE price IS NOT NULL"},
    )  # fmt: skip
    apply(job)
    assert run(job)["rows_loaded"] == 2
    assert [r["total"] for r in data_rows(bq, dataset, "sales_summary", order_by="item")] == [
        1.5,
        5.0,
    ]
