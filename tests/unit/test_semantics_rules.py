"""The clock rule (`engine.clock_rule`) and the (identity, version) claim
(`engine.already_loaded.claim_pairs`, `engine.row_version`) on plain Arrow batches."""

from __future__ import annotations

import datetime as dt

import numpy as np
import pyarrow as pa

from etl_bigquery.engine.already_loaded import claim_pairs
from etl_bigquery.engine.clock_rule import (
    FUTURE_REASON,
    future_watermark_refusal,
    not_after,
    take_future,
)
from etl_bigquery.engine.fingerprint import KnownRows
from etl_bigquery.engine.row_version import NO_VERSION, VersionColumns, identities_of, pair_keys
from etl_bigquery.engine.schema.bqtypes import BqType

START = dt.datetime(2026, 6, 1, 12, 0, tzinfo=dt.UTC)


def test_the_bound_follows_the_cursor_type():
    five = dt.timedelta(minutes=5)
    assert not_after(BqType.TIMESTAMP, START, five) == START + five
    # Wall clocks of an unknown zone: the widest offset (UTC+14) is still 'now'.
    assert not_after(BqType.DATETIME, START, five) == dt.datetime(2026, 6, 2, 2, 5)
    assert not_after(BqType.DATE, START, five) == dt.date(2026, 6, 2)
    assert not_after(BqType.INT64, START, five) is None


def test_rows_beyond_the_bound_are_rejected_with_the_reason():
    at = pa.array(
        [START, START + dt.timedelta(hours=1), None, dt.datetime(2099, 1, 1, tzinfo=dt.UTC)],
        pa.timestamp("us", tz="UTC"),
    )
    batch = pa.RecordBatch.from_pydict(
        {"id": pa.array([1, 2, 3, 4]), "at": at, "_etl_run_id": pa.array(["r"] * 4)}
    )
    kept, future = take_future(batch, "at", START + dt.timedelta(minutes=5))
    assert kept.column("id").to_pylist() == [1, 3]
    assert [row.record["id"] for row in future] == [2, 4]
    assert all(row.reason.startswith(FUTURE_REASON) for row in future)
    assert all("_etl_run_id" not in row.record for row in future)  # the same row every run
    assert take_future(batch, "at", None)[0].num_rows == 4


def test_a_future_watermark_is_refused_with_the_figure_and_the_fix():
    bound = START + dt.timedelta(minutes=5)
    text = future_watermark_refusal("p.d.t", "at", dt.datetime(2099, 1, 1, tzinfo=dt.UTC), bound)
    assert text is not None and "2099-01-01" in text and "DELETE FROM `p.d.t`" in text
    assert future_watermark_refusal("p.d.t", "at", START, bound) is None
    assert future_watermark_refusal("p.d.t", "at", None, bound) is None


def _digests(values: list[int]) -> np.ndarray:
    batch = pa.RecordBatch.from_pydict({"v": pa.array(values, pa.int64())})
    return VersionColumns(("v",)).digests(batch)


def test_a_pair_is_claimed_by_identity_and_content_then_legacy_rows_by_identity():
    ids = _digests([1, 1, 2, 3, 3])
    versions = _digests([10, 11, 20, 30, 30])
    held = KnownRows(
        np.concatenate([pair_keys(ids[:1], versions[:1]), pair_keys(ids[2:3], None)]),
        np.array([1, 1]),
    )
    candidates = np.ones(5, dtype=bool)
    keep = claim_pairs(held, ids, versions, candidates)
    # id 1: version 10 held, 11 is new; id 2: held without a version (an older table): claimed
    # by identity; id 3: nothing held, both identical rows load.
    assert keep.tolist() == [False, True, False, True, True]
    assert held.claimed == 2


def test_identities_of_pairs_and_missing_version_columns():
    ids = _digests([5, 6])
    pairs = pair_keys(ids, None)
    assert identities_of(pairs).tolist() == sorted(ids.tolist())
    assert bytes(np.frombuffer(pairs.tobytes(), np.uint8)[16:32]) == NO_VERSION
    batch = pa.RecordBatch.from_pydict({"a": pa.array([1, 2])})
    both = VersionColumns(("a", "gone")).digests(batch)  # a removed column counts as NULL
    nulls = pa.RecordBatch.from_pydict({"a": pa.array([1, 2]), "gone": pa.nulls(2, pa.int64())})
    assert both.tolist() == VersionColumns(("a", "gone")).digests(nulls).tolist()
