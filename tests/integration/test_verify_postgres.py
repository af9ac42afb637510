"""`etl verify` on PostgreSQL sources: an equal table; then rows deleted from BigQuery,
duplicated in BigQuery, and changed in the source without a cursor change, each named by key,
for a catalog, a transactional and a merge job."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.integration.verify_helpers import (
    apply_and_run,
    found,
    job_file,
    tamper,
    verify,
    verify_text,
)


def _orders(pg_admin, schema: str, rows: int) -> None:
    pg_admin.execute(
        f"""
        CREATE TABLE "{schema}".orders (
            id bigint PRIMARY KEY, customer text, amount numeric(12,2), paid boolean,
            tags jsonb, updated_at timestamptz NOT NULL)
        """
    )
    pg_admin.execute(
        f"""
        INSERT INTO "{schema}".orders
        SELECT g, 'c' || (g % 7), g * 1.25, g % 2 = 0, jsonb_build_object('n', g, 'k', 'v'),
               timestamptz '2026-11-01 00:00:00+00' + (g / 3) * interval '1 minute'
        FROM generate_series(1, {rows}) g
        """
    )


@pytest.mark.parametrize("load_type", ["catalog", "transactional", "merge", "history"])
def test_verify_finds_each_difference_by_key(
    tmp_path: Path, load_type, pg_admin, pg_schema, pg_connection, destination, dataset, bq
):
    _orders(pg_admin, pg_schema, 500)
    fields = {"load_type": load_type}
    if load_type != "catalog":
        fields |= {"cursor_column": "updated_at", "backfill_start": "all"}
    path = job_file(
        tmp_path, f"v-{load_type[:5]}-{dataset[-6:]}", connection=pg_connection,
        source={"schema": pg_schema, "table": "orders"},
        destination={"block": destination, "dataset": dataset, "table": "orders"}, **fields,
    )  # fmt: skip
    apply_and_run(path)

    code, equal = verify(path)
    assert code == 0 and equal["equal"], equal
    assert equal["source_rows"] == equal["bigquery_rows"] == 500
    assert equal["ranges_differing"] == 0 and equal["ranges"] > 100
    assert verify(path, "counts")[0] == 0
    if load_type == "transactional":  # a narrower window: ids 300.. (three per minute)
        code, recent = verify(path, "counts", "--since", "2026-11-01T01:40:00+00:00")
        assert code == 0 and recent["source_rows"] == recent["bigquery_rows"] == 201, recent
        assert "updated_at >= 2026-11-01 01:40:00+00:00" in recent["scope"]

    tamper(bq, f"local.{dataset}.orders", "id", deleted=[7, 300], duplicated=[42])
    # Changed in the source, the cursor left as it was: no run would ever load it again.
    pg_admin.execute(f'UPDATE "{pg_schema}".orders SET amount = 999 WHERE id IN (5, 250)')

    code, result = verify(path)
    assert code == 1 and not result["equal"]
    assert found(result, "missing", "id") == [7, 300]
    assert found(result, "duplicate", "id") == [42]
    assert found(result, "differing", "id") == [5, 250]
    differing = [d for d in result["differences"] if d["kind"] == "differing"]
    assert all(d["columns"] == ["amount"] for d in differing), differing
    assert result["counts"] == {"missing": 2, "extra": 0, "duplicate": 1, "differing": 2}

    # Counts mode reads only the keys: it finds the missing and the duplicated rows.
    code, counted = verify(path, "counts")
    assert code == 1
    assert found(counted, "missing", "id") == [7, 300]
    assert found(counted, "duplicate", "id") == [42]
    assert found(counted, "differing", "id") == []

    code, text = verify_text(path)
    assert code == 1
    assert "DIFFERENT" in text and "id=7: missing in BigQuery" in text, text
    assert "id=5: differs in amount" in text, text


def test_a_job_with_verify_runs_the_verify_task_after_load_and_publishes_it(
    tmp_path: Path, pg_admin, pg_schema, pg_connection, destination, dataset, bq
):
    import json

    from etl_bigquery.flows.artifacts import artifact_key
    from tests.integration.test_flow_behaviour import _artifacts

    _orders(pg_admin, pg_schema, 120)
    name = f"v-task-{dataset[-6:]}"
    path = job_file(
        tmp_path, name, connection=pg_connection, load_type="transactional",
        cursor_column="updated_at", backfill_start="all", verify="full",
        source={"schema": pg_schema, "table": "orders"},
        destination={"block": destination, "dataset": dataset, "table": "orders"},
    )  # fmt: skip
    first = apply_and_run(path)
    assert first["verification"]["equal"] is True, first
    assert first["verification"]["bigquery_rows"] == 120
    assert first["stages"]["verify"]["seconds"] is not None
    artifact = _artifacts(first["flow_run_id"])[artifact_key(name, "verify")]
    assert "equal" in (artifact.description or "")

    # A row lost behind the job's back: the next run (nothing new to load) says so, by key.
    bq.query_and_wait(f"DELETE FROM `local.{dataset}.orders` WHERE id = 77")
    second = apply_and_run(path)
    assert second["status"] == "completed" and second["rows_loaded"] == 0
    assert second["verification"]["equal"] is False
    assert second["verification"]["missing"] == 1
    assert any("verify (full) found differences: 1 missing" in w for w in second["warnings"])
    table = _artifacts(second["flow_run_id"])[artifact_key(name, "verify")]
    data = table.data if isinstance(table.data, list) else json.loads(table.data)
    assert {"kind": "missing", "key": '{"id": 77}', "detail": "id=77: missing in BigQuery"} in data
