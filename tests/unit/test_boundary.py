"""Rows at the last cursor value: neither lost nor duplicated (etl.incremental)."""

import collections
import datetime as dt

import pyarrow as pa

from etl.bigquery.tables import TableRef
from etl.conform import TargetColumn
from etl.incremental import BoundaryFilter, StateKey, load_job_id, row_key
from etl.schema.bqtypes import BqType

W = dt.datetime(2026, 1, 1, 10, tzinfo=dt.UTC)
COLUMNS = [
    TargetColumn("id", "int", "id", BqType.INT64),
    TargetColumn("at", "ts", "at", BqType.TIMESTAMP),
]
TYPES = [c.bq_type for c in COLUMNS]


def batch(rows):
    return pa.RecordBatch.from_pydict(
        {
            "id": [r[0] for r in rows],
            "at": pa.array([r[1] for r in rows], pa.timestamp("us", tz="UTC")),
        }
    )


def test_rows_at_the_watermark_already_loaded_are_dropped_and_new_ones_kept():
    existing = collections.Counter([row_key([1, W], TYPES), row_key([2, W], TYPES)])
    later = W + dt.timedelta(seconds=1)
    kept = BoundaryFilter("at", W, existing, COLUMNS).apply(
        batch([(1, W), (2, W), (3, W), (4, later)])
    )
    assert kept.column("id").to_pylist() == [3, 4]


def test_identical_rows_are_counted_not_collapsed():
    existing = collections.Counter([row_key([7, W], TYPES)])
    kept = BoundaryFilter("at", W, existing, COLUMNS).apply(batch([(7, W), (7, W), (7, W)]))
    assert kept.num_rows == 2


def test_json_values_compare_by_content_not_spelling():
    assert row_key(['{"b": 1, "a": [1, 2]}'], [BqType.JSON]) == row_key(
        [{"a": [1, 2], "b": 1}], [BqType.JSON]
    )


def test_load_job_ids_are_deterministic_per_job_table_state_and_attempt():
    ref = TableRef("p", "d", "t")
    key = StateKey(W, 3).token()
    assert load_job_id("orders", ref, key, 1) == load_job_id("orders", ref, key, 1)
    assert load_job_id("orders", ref, key, 1) != load_job_id("orders", ref, key, 2)
    assert load_job_id("orders", ref, key, 1) != load_job_id(
        "orders", ref, StateKey(W, 4).token(), 1
    )
    assert load_job_id("orders", ref, key, 1) != load_job_id("other", ref, key, 1)
