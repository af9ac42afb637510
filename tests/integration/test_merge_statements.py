"""The merge statements themselves against the BigQuery emulator: a MERGE applied twice changes
nothing the second time, an older version never overwrites a newer one, a history MERGE applied
twice opens no second version, and a DML job id submitted again is adopted by its own run and
refused to another (engine.bigquery.merge_sql, engine.bigquery.staged_dml)."""

from __future__ import annotations

import datetime as dt
import uuid

import pytest
from google.cloud import bigquery

from etl_bigquery.engine.bigquery import merge_sql
from etl_bigquery.engine.bigquery.merge_sql import Col, MergeShape, Partitions
from etl_bigquery.engine.bigquery.staged_dml import run_dml
from etl_bigquery.engine.bigquery.tables import TableRef
from etl_bigquery.engine.errors import LoadError
from etl_bigquery.engine.merge.layout import lay_out
from etl_bigquery.engine.schema.bqtypes import BqType

T0 = dt.datetime(2026, 1, 5, 10, tzinfo=dt.UTC)
DATA = [bigquery.SchemaField("id", "INT64"), bigquery.SchemaField("note", "STRING"),
        bigquery.SchemaField("updated_at", "TIMESTAMP")]  # fmt: skip
META = [bigquery.SchemaField("_etl_loaded_at", "TIMESTAMP"),
        bigquery.SchemaField("_etl_run_id", "STRING")]  # fmt: skip
HASHES = [bigquery.SchemaField("_etl_key_hash", "STRING"),
          bigquery.SchemaField("_etl_row_hash", "STRING")]  # fmt: skip


def _shape(ref: TableRef, history: bool) -> MergeShape:
    return MergeShape(
        target=ref, keys=(Col("id", BqType.INT64),), cursor=Col("updated_at", BqType.TIMESTAMP),
        loaded=("id", "note", "updated_at"),
        partition=Col("_etl_valid_from" if history else "updated_at", BqType.TIMESTAMP),
        history=history,
    )  # fmt: skip


def _target(bq, dataset: str, history: bool) -> TableRef:
    ref = TableRef("local", dataset, f"t_{uuid.uuid4().hex[:6]}")
    table = bigquery.Table(ref.id, schema=[*DATA, *META])
    lay_out(table, ["id"], "updated_at", history)
    bq.create_table(table)
    return ref


def _stage(bq, dataset: str, rows: list[tuple[int, str, dt.datetime, dt.datetime]]) -> TableRef:
    """Staged versions: (id, note, cursor, stamp)."""
    ref = TableRef("local", dataset, f"s_{uuid.uuid4().hex[:6]}")
    bq.create_table(bigquery.Table(ref.id, schema=[*DATA, *META, *HASHES]))
    values = ", ".join(
        f"({i}, '{note}', TIMESTAMP '{cursor.isoformat()}', TIMESTAMP '{stamp.isoformat()}', "
        f"'run', 'k{i}', '{i}-{note}')"
        for i, note, cursor, stamp in rows
    )
    bq.query_and_wait(f"INSERT INTO {ref.sql} VALUES {values}")
    return ref


def _apply(bq, shape: MergeShape, staging: TableRef) -> tuple[int, int, int]:
    plan = list(bq.query_and_wait(merge_sql.plan_sql(shape, staging, strict_keys=True)))
    days = {dt.date.fromisoformat(r["v"]) for r in plan if r["kind"] in ("old", "new", "reopen")}
    render = merge_sql.history_sql if shape.history else merge_sql.merge_sql
    job = bq.query(render(shape, staging, Partitions(tuple(sorted(days)))), job_retry=None)
    job.result()
    stats = job.dml_stats
    return stats.inserted_row_count, stats.updated_row_count, stats.deleted_row_count


@pytest.fixture()
def made(bq, dataset):
    bq.create_dataset(f"local.{dataset}")
    return dataset


def _rows(bq, ref: TableRef) -> list[tuple]:
    sql = f"SELECT id, note, _etl_is_current FROM {ref.sql} ORDER BY id, _etl_valid_from"
    if "_etl_is_current" not in {f.name for f in bq.get_table(ref.id).schema}:
        sql = f"SELECT id, note FROM {ref.sql} ORDER BY id"
    return [tuple(r.values()) for r in bq.query_and_wait(sql)]


def test_a_merge_applied_twice_changes_nothing_and_never_takes_an_older_version(bq, made):
    ref = _target(bq, made, history=False)
    shape = _shape(ref, history=False)
    first = _stage(bq, made, [(1, "a", T0, T0), (2, "b", T0, T0)])
    assert _apply(bq, shape, first) == (2, 0, 0)
    assert _apply(bq, shape, first) == (0, 0, 0)
    later = T0 + dt.timedelta(days=3)
    # Key 1: a newer version, and an older one in the same increment; key 2: an older version.
    before = T0 - dt.timedelta(days=1)
    second = _stage(
        bq, made, [(1, "new", later, later), (1, "older", T0, later), (2, "old", before, later)]
    )
    assert _apply(bq, shape, second) == (0, 1, 0)
    assert _apply(bq, shape, second) == (0, 0, 0)
    assert _rows(bq, ref) == [(1, "new"), (2, "b")]


def test_a_history_merge_applied_twice_opens_one_version(bq, made):
    ref = _target(bq, made, history=True)
    shape = _shape(ref, history=True)
    first = _stage(bq, made, [(1, "a", T0, T0)])
    assert _apply(bq, shape, first) == (1, 0, 0)
    later = T0 + dt.timedelta(days=2)
    second = _stage(bq, made, [(1, "b", later, later)])
    assert _apply(bq, shape, second) == (1, 1, 0)  # opens b, closes a
    assert _apply(bq, shape, second) == (0, 0, 0)
    assert _rows(bq, ref) == [(1, "a", False), (1, "b", True)]


def test_a_dml_job_id_is_adopted_by_its_own_run_and_refused_to_another(bq, made):
    ref = _target(bq, made, history=False)
    staging = _stage(bq, made, [(1, "a", T0, T0)])
    sql = merge_sql.merge_sql(_shape(ref, history=False), staging, None)
    job_id = f"etl_test_{uuid.uuid4().hex}"
    ran = run_dml(bq, sql, job_id=job_id, job_name="j", run_id="run-1", location="US", what="x")
    assert (ran.inserted, ran.adopted) == (1, False)
    again = run_dml(bq, sql, job_id=job_id, job_name="j", run_id="run-1", location="US", what="x")
    assert (again.inserted, again.adopted) == (1, True)  # the same job's figures, not a new MERGE
    with pytest.raises(LoadError, match="Another run already submitted x from the same state"):
        run_dml(bq, sql, job_id=job_id, job_name="j", run_id="run-2", location="US", what="x")
    assert _rows(bq, ref) == [(1, "a")]
