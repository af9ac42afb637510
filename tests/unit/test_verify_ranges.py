"""The range arithmetic of `etl verify`: aggregates that agree exactly when the multisets of
rows agree, and bisection that narrows to the ranges holding the differences."""

from __future__ import annotations

import numpy as np
import pyarrow as pa

from etl_bigquery.engine.rowhash import row_digests
from etl_bigquery.engine.verify.ranges import (
    FIRST_BITS,
    STEP_BITS,
    RangeCounter,
    compare,
    in_ranges,
    key_prefix,
)


def _digests(ids: list[int], amounts: list[int]) -> tuple[np.ndarray, np.ndarray]:
    batch = pa.record_batch({"id": pa.array(ids, pa.int64()), "amount": pa.array(amounts)})
    return row_digests(batch, ["id"]), row_digests(batch, ["id", "amount"])


def _aggregate(ids: list[int], amounts: list[int], bits: int = FIRST_BITS, suspects=None):
    counter = RangeCounter(bits, suspects)
    keys, rows = _digests(ids, amounts)
    half = len(ids) // 2  # two batches: aggregates fold across batches
    counter.add(keys[:half], rows[:half])
    counter.add(keys[half:], rows[half:])
    return counter.finish()


def test_equal_multisets_give_equal_ranges_in_any_order():
    ids = list(range(10_000))
    source = _aggregate(ids, [i * 3 for i in ids])
    shuffled = list(reversed(ids))
    target = _aggregate(shuffled, [i * 3 for i in shuffled])
    diff = compare(source, target)
    assert len(diff.differing) == 0
    assert diff.equal == len(source.ranges) > 3000
    assert source.total_rows == 10_000


def test_a_missing_a_duplicated_and_a_changed_row_each_mark_their_range():
    ids = list(range(10_000))
    amounts = [i * 3 for i in ids]
    source = _aggregate(ids, amounts)
    target_ids = [i for i in ids if i != 17] + [42]
    target_amounts = [a if i != 99 else -1 for i, a in zip(ids, amounts, strict=True) if i != 17]
    target = _aggregate(target_ids, [*target_amounts, 126])
    diff = compare(source, target)
    keys, _ = _digests([17, 42, 99], [0, 0, 0])
    expected = np.unique(key_prefix(keys) >> np.uint64(64 - FIRST_BITS))
    assert sorted(diff.differing.tolist()) == sorted(expected.tolist())
    assert in_ranges(keys, FIRST_BITS, diff.differing).all()

    # The next level splits only the differing ranges, and still finds the same three keys.
    bits = FIRST_BITS + STEP_BITS
    deeper = compare(
        _aggregate(ids, amounts, bits, diff.differing),
        _aggregate(target_ids, [*target_amounts, 126], bits, diff.differing),
    )
    assert len(deeper.differing) == 3
    assert in_ranges(keys, bits, deeper.differing).all()
    assert deeper.rows_in_differing == 4  # the duplicated key counts its two copies


def test_a_row_held_twice_never_cancels_out():
    once = _aggregate([1, 2], [5, 5])
    twice_each = _aggregate([1, 1, 2, 2], [5, 5, 5, 5])
    assert len(compare(once, twice_each).differing) == 2
