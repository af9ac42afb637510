"""`etl verify` on MariaDB sources: an equal table, then rows deleted from BigQuery, duplicated
in BigQuery and changed in the source without a cursor change, each named by key."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.integration.conftest_mariadb import *  # noqa: F403
from tests.integration.conftest_mariadb import maria_sql
from tests.integration.verify_helpers import apply_and_run, found, job_file, tamper, verify


def _orders(admin, database: str, rows: int) -> None:
    maria_sql(
        admin, database,
        """CREATE TABLE orders (
             id bigint PRIMARY KEY, customer varchar(40), amount decimal(12,2), paid tinyint(1),
             tags json, updated_at datetime(6) NOT NULL) CHARACTER SET utf8mb4""",
        f"""INSERT INTO orders
            SELECT seq, CONCAT('c', seq % 7), seq * 1.25, seq % 2 = 0,
                   JSON_OBJECT('n', seq, 'k', 'v'),
                   TIMESTAMP'2026-11-01 00:00:00' + INTERVAL (seq DIV 3) MINUTE
            FROM seq_1_to_{rows}""",
    )  # fmt: skip


@pytest.mark.parametrize("load_type", ["catalog", "transactional"])
def test_verify_finds_each_difference_by_key(
    tmp_path: Path, load_type, maria_admin, maria_db, maria_connection, destination, dataset, bq
):
    _orders(maria_admin, maria_db.database, 400)
    fields = {"load_type": load_type}
    if load_type == "transactional":
        fields |= {"cursor_column": "updated_at", "backfill_start": "all"}
    path = job_file(
        tmp_path, f"vm-{load_type[:5]}-{dataset[-6:]}", connection=maria_connection,
        source={"table": "orders"},
        destination={"block": destination, "dataset": dataset, "table": "orders"}, **fields,
    )  # fmt: skip
    apply_and_run(path)

    code, equal = verify(path)
    assert code == 0 and equal["equal"], equal
    assert equal["source_rows"] == equal["bigquery_rows"] == 400

    tamper(bq, f"local.{dataset}.orders", "id", deleted=[3, 333], duplicated=[100])
    maria_sql(
        maria_admin, maria_db.database,
        "UPDATE orders SET customer = 'changed' WHERE id = 200",  # updated_at left as it was
    )  # fmt: skip

    code, result = verify(path)
    assert code == 1 and not result["equal"]
    assert found(result, "missing", "id") == [3, 333]
    assert found(result, "duplicate", "id") == [100]
    assert found(result, "differing", "id") == [200]
    assert next(d for d in result["differences"] if d["kind"] == "differing")["columns"] == [
        "customer"
    ]
    assert result["counts"]["extra"] == 0
