"""The transactional window on a real PostgreSQL source: rows at and behind the watermark are
recognised by their fingerprints, whatever their types, whatever the job's column list, and rows
committed late inside the lookback are loaded exactly once (issue 7, defects 1, 2, 3, 4, 5)."""

from __future__ import annotations

import collections

import psycopg
import pytest

from etl_bigquery.engine import checkpoints
from tests.conftest import PG_DSN
from tests.integration.helpers import apply, data_rows, job_spec, run
from tests.integration.test_exactly_once import _crash, _free_slot

W = "2026-11-01 10:00:00+00"


def _count(bq, dataset: str, table: str) -> int:
    return next(iter(bq.query_and_wait(f"SELECT COUNT(*) AS n FROM `local.{dataset}.{table}`")))[
        "n"
    ]


def _transactional(pg_connection, destination, dataset, schema, table, **fields):
    spec = job_spec(
        pg_connection, destination, dataset,
        source={"schema": schema, "table": table}, load_type="transactional",
        cursor_column="updated_at", backfill_start="all", **fields,
    )  # fmt: skip
    apply(spec)
    return spec


def test_boundary_rows_of_every_type_family_are_loaded_once(
    pg_admin, pg_schema, pg_connection, destination, dataset, bq
):
    """JSON scalars (null, string, number), NaN and ±Infinity, numerics, times, unicode and
    WKT geography, all at the watermark: a second run loads nothing, a third only the new row."""
    pg_admin.execute(
        f"""CREATE TABLE "{pg_schema}".mixed (
              id int, j jsonb, js json, f float8, n numeric(20,5), ts timestamptz,
              dtm timestamp, tm time, d date, s text, g text, updated_at timestamptz)"""
    )
    values = [
        "'null'::jsonb", "'\"text\"'::jsonb", "'1.50'::jsonb", "'{\"b\": [1, 2], \"a\": null}'",
        "NULL", "'[]'::jsonb",
    ]  # fmt: skip
    floats = ["'NaN'", "'Infinity'", "'-Infinity'", "-0.0", "1e308", "NULL"]
    for i, (j, f) in enumerate(zip(values, floats, strict=True)):
        pg_admin.execute(
            f"""INSERT INTO "{pg_schema}".mixed VALUES (
                  {i}, {j}, '{{"k" :  "v"}}', {f}, 12345.678{i}, '2026-11-01 12:00:00+05',
                  '2026-11-01 12:00:00.123456', '23:59:59.999999', '0001-01-01',
                  'naïve ✓ 🚀 {i}', 'POINT({i} 1)', '{W}')"""
        )
    job = _transactional(
        pg_connection, destination, dataset, pg_schema, "mixed", column_types={"g": "GEOGRAPHY"}
    )
    first = run(job)
    assert first["status"] == "completed", first
    assert first["rows_loaded"] == 6
    for _ in range(2):
        again = run(job)
        assert again["status"] == "completed", again
        assert again["rows_loaded"] == 0
        assert again["rows_already_loaded"] == 6
    pg_admin.execute(
        f"""INSERT INTO "{pg_schema}".mixed (id, j, f, updated_at)
            VALUES (99, 'null'::jsonb, 'NaN', '{W}')"""
    )
    assert run(job)["rows_loaded"] == 1
    assert _count(bq, dataset, "bq_mixed") == 7


@pytest.fixture()
def notes(pg_admin, pg_schema):
    pg_admin.execute(
        f"""CREATE TABLE "{pg_schema}".notes (id int, note text, updated_at timestamptz)"""
    )
    pg_admin.execute(
        f"""INSERT INTO "{pg_schema}".notes
            SELECT g, 'n' || g, timestamptz '{W}' FROM generate_series(1, 20) g"""
    )
    return pg_schema


def test_a_column_added_to_the_job_does_not_reload_the_rows_at_the_watermark(
    notes, pg_admin, pg_connection, destination, dataset, bq
):
    job = _transactional(
        pg_connection, destination, dataset, notes, "notes", columns=["id", "updated_at"]
    )
    assert run(job)["rows_loaded"] == 20
    pg_admin.execute(f"ALTER TABLE \"{notes}\".notes ADD COLUMN extra text DEFAULT 'x'")
    wider = job.model_copy(update={"columns": ["id", "note", "extra", "updated_at"]})
    apply(wider)
    report = run(wider)
    assert report["status"] == "completed", report
    assert report["rows_loaded"] == 0
    assert _count(bq, dataset, "bq_notes") == 20


def test_a_column_added_to_the_source_with_all_columns_does_not_reload_rows(
    notes, pg_admin, pg_connection, destination, dataset, bq
):
    job = _transactional(pg_connection, destination, dataset, notes, "notes")
    assert run(job)["rows_loaded"] == 20
    pg_admin.execute(f'ALTER TABLE "{notes}".notes ADD COLUMN extra int DEFAULT 7')
    apply(job)
    assert run(job)["rows_loaded"] == 0
    pg_admin.execute(f"""INSERT INTO "{notes}".notes VALUES (21, 'n21', '{W}', 8)""")
    report = run(job)
    assert report["rows_loaded"] == 1
    rows = data_rows(bq, dataset, "bq_notes")
    assert len(rows) == 21 and rows[-1]["extra"] == 8


def test_an_identity_column_cannot_be_dropped_from_the_job(
    notes, pg_connection, destination, dataset, bq
):
    job = _transactional(pg_connection, destination, dataset, notes, "notes")
    assert run(job)["rows_loaded"] == 20
    narrower = job.model_copy(update={"columns": ["id", "updated_at"]})
    report = run(narrower)
    assert report["status"] == "failed" and report["error_type"] == "validation"
    assert "identify the rows of" in report["error"] and "note" in report["error"]
    assert _count(bq, dataset, "bq_notes") == 20


def test_rows_committed_late_inside_the_lookback_are_loaded_exactly_once(
    pg_admin, pg_schema, pg_connection, destination, dataset, bq
):
    """A transaction stamps its row at its start (DEFAULT now()) and commits after a run moved
    the watermark past that stamp: the default 10-minute lookback still loads it, once."""
    pg_admin.execute(
        f"""CREATE TABLE "{pg_schema}".events (
              id int PRIMARY KEY, updated_at timestamptz NOT NULL DEFAULT clock_timestamp())"""
    )
    pg_admin.execute(f'INSERT INTO "{pg_schema}".events (id) SELECT generate_series(1, 5)')
    job = _transactional(pg_connection, destination, dataset, pg_schema, "events")
    assert run(job)["rows_loaded"] == 5
    with psycopg.connect(PG_DSN) as late:
        late.execute(f'INSERT INTO "{pg_schema}".events (id) VALUES (100)')  # not committed yet
        pg_admin.execute(f'INSERT INTO "{pg_schema}".events (id) VALUES (101), (102)')
        assert run(job)["rows_loaded"] == 2  # the watermark is now past row 100's stamp
        late.commit()
    report = run(job)
    assert report["rows_loaded"] == 1, report
    assert run(job)["rows_loaded"] == 0
    ids = sorted(r["id"] for r in data_rows(bq, dataset, "bq_events"))
    assert ids == [1, 2, 3, 4, 5, 100, 101, 102]


def test_a_numeric_cursor_with_a_lookback_picks_up_late_sequence_values(
    pg_admin, pg_schema, pg_connection, destination, dataset, bq
):
    pg_admin.execute(f'CREATE TABLE "{pg_schema}".seq (id bigint, note text)')
    pg_admin.execute(
        f"""INSERT INTO "{pg_schema}".seq SELECT g, 'n' FROM generate_series(1, 50) g"""
    )
    job = job_spec(
        pg_connection, destination, dataset, source={"schema": pg_schema, "table": "seq"},
        load_type="transactional", cursor_column="id", lookback=10,
    )  # fmt: skip
    apply(job)
    assert run(job)["rows_loaded"] == 50
    pg_admin.execute(f"""INSERT INTO "{pg_schema}".seq VALUES (45, 'late'), (39, 'too late')""")
    report = run(job)
    assert report["rows_loaded"] == 1 and report["lookback"] == "10"
    assert run(job)["rows_loaded"] == 0
    assert _count(bq, dataset, "bq_seq") == 51


def test_a_malformed_row_at_the_watermark_is_kept_once_and_survives_a_crash(
    notes, pg_admin, pg_connection, destination, dataset, bq, tmp_path
):
    pg_admin.execute(f"""INSERT INTO "{notes}".notes VALUES (21, 'not a number', '{W}')""")
    bad = job_spec(
        pg_connection, destination, dataset, source={"schema": notes, "table": "notes"},
        table="bq_notes_int", load_type="transactional", cursor_column="updated_at",
        backfill_start="all", column_types={"note": "INT64"},
    )  # fmt: skip
    apply(bad)
    pg_admin.execute(f'UPDATE "{notes}".notes SET note = id::text WHERE id <= 20')
    # Killed right after the rejected rows were kept, before the rows were loaded.
    crashed = _crash(tmp_path, bad, checkpoints.LOAD_REJECTED_DONE)
    assert crashed.returncode == 137, crashed.stderr[-2000:]
    _free_slot(bad.name)
    for expected_rows in (20, 0, 0):
        report = run(bad)
        assert report["status"] == "completed", report
        assert report["rows_loaded"] == expected_rows
        assert report["rows_rejected"] == 0  # kept by the killed run already
    assert _count(bq, dataset, "bq_notes_int__rejected") == 1
    assert _count(bq, dataset, "bq_notes_int") == 20


def test_the_state_and_the_window_are_read_in_one_query(
    notes, pg_connection, destination, dataset, bq
):
    """One query job = one snapshot: a load landing between two reads cannot skew the state."""
    from etl_bigquery.engine.bigquery.tables import TableRef
    from etl_bigquery.engine.conform import TargetColumn
    from etl_bigquery.engine.incremental import Lookback, plan_increment
    from etl_bigquery.engine.schema.bqtypes import BqType

    job = _transactional(pg_connection, destination, dataset, notes, "notes")
    assert run(job)["rows_loaded"] == 20
    queries = collections.Counter()
    original = bq.query_and_wait

    def counting(sql, *args, **kwargs):
        queries["n"] += 1
        return original(sql, *args, **kwargs)

    bq.query_and_wait = counting
    try:
        cursor = TargetColumn("updated_at", "timestamptz", "updated_at", BqType.TIMESTAMP)
        ref = TableRef("local", dataset, "bq_notes")
        plan = plan_increment(bq, ref, job.name, cursor, Lookback.for_job(None, cursor))
    finally:
        del bq.query_and_wait
    assert queries["n"] == 1
    assert plan.state.rows == 20 and len(plan.known) == 20


@pytest.mark.parametrize(("key_columns", "reloaded"), [(["id"], 1), ([], 1)])
def test_a_row_updated_in_place_at_the_watermark_is_a_new_version(
    key_columns, reloaded, notes, pg_admin, pg_connection, destination, dataset, bq
):
    """Whatever the identity (id + cursor, or every column), the edited row's content is new:
    its (identity, version) pair is not held, so it is appended once (issue 16 item 1; before,
    with id + cursor, the edit never arrived)."""
    job = _transactional(
        pg_connection, destination, dataset, notes, "notes", key_columns=key_columns
    )
    assert run(job)["rows_loaded"] == 20
    pg_admin.execute(f"""UPDATE "{notes}".notes SET note = 'edited' WHERE id = 3""")
    assert run(job)["rows_loaded"] == reloaded
    assert run(job)["rows_loaded"] == 0
    assert _count(bq, dataset, "bq_notes") == 20 + reloaded


def test_key_columns_that_the_job_does_not_load_are_refused(
    notes, pg_connection, destination, dataset, bq
):
    from etl_bigquery.engine.errors import ValidationError

    job = job_spec(
        pg_connection, destination, dataset, source={"schema": notes, "table": "notes"},
        load_type="transactional", cursor_column="updated_at", key_columns=["nope"],
    )  # fmt: skip
    with pytest.raises(ValidationError, match="key_columns names 'nope'"):
        apply(job)
    assert not _dataset_exists(bq, dataset) or not list(bq.list_tables(dataset))


def _dataset_exists(bq, dataset: str) -> bool:
    from google.api_core.exceptions import NotFound

    try:
        bq.get_dataset(f"local.{dataset}")
    except NotFound:
        return False
    return True
