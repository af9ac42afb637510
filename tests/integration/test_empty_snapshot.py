"""An allowed empty snapshot empties the table (issue 16 item 8), through `etl job apply` and
`etl run` on PostgreSQL: a catalog job with `allow_empty_snapshot: true` whose source becomes
empty leaves BigQuery empty too, in one step under the snapshot's job id; without the setting
the run fails and the table is left as it was."""

from __future__ import annotations

import uuid

from tests.integration.cli_helpers import apply_job_file, run_job_file, write_job


def _job(tmp_path, pg_schema, pg_connection, destination, dataset, **fields):
    name = f"empty-{uuid.uuid4().hex[:8]}"
    spec = {
        "name": name,
        "connection": pg_connection,
        "source": {"schema": pg_schema, "table": "items"},
        "destination": {"block": destination, "dataset": dataset, "table": "items"},
        "load_type": "catalog",
        "processing_mode": "standard",
        **fields,
    }
    return write_job(tmp_path, spec)


def _count(bq, dataset: str) -> int:
    return next(iter(bq.query_and_wait(f"SELECT COUNT(*) AS n FROM `local.{dataset}.items`")))["n"]


def test_an_allowed_empty_snapshot_empties_the_table(
    pg_admin, pg_schema, pg_connection, destination, dataset, bq, tmp_path
):
    pg_admin.execute(f'CREATE TABLE "{pg_schema}".items (id int PRIMARY KEY, note text)')
    pg_admin.execute(f"""INSERT INTO "{pg_schema}".items VALUES (1, 'a'), (2, 'b'), (3, 'c')""")
    job = _job(tmp_path, pg_schema, pg_connection, destination, dataset, allow_empty_snapshot=True)
    apply_job_file(job)
    first = run_job_file(job)
    assert first["status"] == "completed" and first["rows_loaded"] == 3, first
    assert _count(bq, dataset) == 3

    pg_admin.execute(f'DELETE FROM "{pg_schema}".items')
    emptied = run_job_file(job)
    assert emptied["status"] == "completed", emptied
    assert emptied["rows_loaded"] == 0 and emptied["load_job_id"], emptied
    assert any("3 rows were removed" in w for w in emptied["warnings"]), emptied
    assert _count(bq, dataset) == 0
    # The one step ran under the snapshot's planned id: the id of a load from that state.
    job_obj = bq.get_job(emptied["load_job_id"], location=None)
    assert job_obj.job_type == "query"

    again = run_job_file(job)  # still empty: nothing to do, nothing submitted
    assert again["status"] == "completed" and again["load_job_id"] is None, again
    assert _count(bq, dataset) == 0

    pg_admin.execute(f"""INSERT INTO "{pg_schema}".items VALUES (4, 'd')""")
    refilled = run_job_file(job)  # an empty table takes a snapshot again
    assert refilled["status"] == "completed" and refilled["rows_loaded"] == 1, refilled
    rows = bq.query_and_wait(f"SELECT id, note FROM `local.{dataset}.items`")
    assert [(r["id"], r["note"]) for r in rows] == [(4, "d")]


def test_an_empty_snapshot_not_allowed_leaves_the_table(
    pg_admin, pg_schema, pg_connection, destination, dataset, bq, tmp_path
):
    pg_admin.execute(f'CREATE TABLE "{pg_schema}".items (id int PRIMARY KEY, note text)')
    pg_admin.execute(f"""INSERT INTO "{pg_schema}".items VALUES (1, 'a')""")
    job = _job(tmp_path, pg_schema, pg_connection, destination, dataset)
    apply_job_file(job)
    assert run_job_file(job)["rows_loaded"] == 1
    pg_admin.execute(f'DELETE FROM "{pg_schema}".items')
    refused = run_job_file(job)
    assert refused["status"] == "failed", refused
    assert "allow_empty_snapshot" in refused["error"], refused
    assert _count(bq, dataset) == 1
