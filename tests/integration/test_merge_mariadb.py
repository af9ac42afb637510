"""`load_type: merge` on MariaDB through `etl run` (a DATETIME cursor, a SELECT-only login):
after every run the BigQuery table equals the source table."""

from __future__ import annotations

from tests.integration.conftest_mariadb import *  # noqa: F403
from tests.integration.conftest_mariadb import maria_sql
from tests.integration.merge_helpers import apply_job, assert_table_equals, run_job, write_job

COLUMNS = {"id": "INT64", "note": "STRING", "amount": "NUMERIC", "updated_at": "DATETIME"}


def test_merge_follows_inserts_updates_and_hard_deletes_of_a_mariadb_table(
    maria_admin, maria_db, maria_connection, destination, dataset, bq, tmp_path
):
    db = maria_db.database

    def sql(*statements: str) -> None:
        maria_sql(maria_admin, db, *statements)

    def source() -> list[tuple]:
        return maria_sql(
            maria_admin, db, "SELECT id, note, amount, updated_at FROM orders ORDER BY id"
        )

    sql(
        """CREATE TABLE orders (id bigint PRIMARY KEY, note varchar(40), amount decimal(12,2),
                                updated_at datetime(6) NOT NULL) CHARACTER SET utf8mb4""",
        """INSERT INTO orders SELECT seq, CONCAT('n', seq), seq * 1.5,
                  TIMESTAMP'2026-01-01 10:00:00' + INTERVAL (seq MOD 4) DAY FROM seq_1_to_20""",
    )
    path = write_job(
        tmp_path, connection=maria_connection, source={"table": "orders"},
        destination={"block": destination, "dataset": dataset, "table": "orders"},
        load_type="merge", cursor_column="updated_at", deletes="hard", delete_check="every_run",
    )  # fmt: skip
    apply_job(path)
    table = f"local.{dataset}.orders"
    first = run_job(path)
    assert first["merge"]["rows inserted"] == 20, first
    assert_table_equals(bq, table, source(), COLUMNS)

    sql(
        "UPDATE orders SET note = 'moved', updated_at = updated_at + INTERVAL 9 DAY WHERE id = 4",
        # An update keeping its cursor, at the watermark (inside the lookback).
        "UPDATE orders SET note = 'same cursor' WHERE id = 3",
        "DELETE FROM orders WHERE id IN (10, 11)",
        "INSERT INTO orders VALUES (21, 'new', 2, '2026-01-10 00:00:00')",
    )
    second = run_job(path)
    merged = second["merge"]
    assert (merged["rows inserted"], merged["rows updated"]) == (1, 2), second
    assert merged["deletes"]["rows deleted"] == 2, second
    assert_table_equals(bq, table, source(), COLUMNS)

    sql("INSERT INTO orders VALUES (10, 'back', 3, '2026-01-10 09:55:00')")  # a key comes back
    third = run_job(path)
    assert third["merge"]["rows inserted"] == 1, third
    assert_table_equals(bq, table, source(), COLUMNS)
