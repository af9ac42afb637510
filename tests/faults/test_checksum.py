"""The comparison itself (no services): canonical forms, multiset differences, and a checksum
that does not depend on row order."""

from __future__ import annotations

import datetime as dt
import math
from decimal import Decimal

import numpy as np

from tests.faults.checksum import canonical, multiset_excess, row_hash


def test_the_same_value_read_back_differently_is_one_canonical_text():
    utc = dt.datetime(2026, 1, 1, 12, 0, 0, 123456, tzinfo=dt.UTC)
    paris = utc.astimezone(dt.timezone(dt.timedelta(hours=1)))
    assert canonical(utc) == canonical(paris) == canonical(utc.replace(tzinfo=None))
    assert canonical(Decimal("1.50")) == canonical(Decimal("1.5"))
    assert canonical(Decimal("0E-9")) == canonical(Decimal("0")) == canonical(0)
    assert canonical(float("nan")) == canonical(math.nan)
    assert canonical(float("inf")) != canonical(float("-inf"))
    assert canonical('{"b": 1, "a": [1, 2.50]}', is_json=True) == canonical(
        '{"a":[1,2.5],"b":1}', is_json=True
    )


def test_values_that_differ_stay_different():
    assert canonical(None) != canonical("null", is_json=True)  # SQL NULL is not JSON null
    assert canonical(None) != canonical("") != canonical("NULL")
    assert canonical(float("nan")) != canonical(None)
    assert canonical(1.5) != canonical(Decimal("1.5"))  # FLOAT64 is not NUMERIC
    assert canonical(True) != canonical(1)
    assert canonical('"1"', is_json=True) != canonical("1", is_json=True)


def test_row_hashes_sum_the_same_in_any_order():
    rows = [(i, f"n{i}", float(i) / 3) for i in range(100)]
    flags = [False, False, False]
    forward = np.array([row_hash(r, flags) for r in rows], dtype=np.uint64)
    backward = np.array([row_hash(r, flags) for r in reversed(rows)], dtype=np.uint64)
    assert forward.sum(dtype=np.uint64) == backward.sum(dtype=np.uint64)


def test_lost_and_duplicated_are_multiset_differences():
    source = np.array([1, 2, 3, 3, 4], dtype=np.int64)
    bigquery = np.array([1, 1, 3, 4, 5], dtype=np.int64)
    assert multiset_excess(source, bigquery) == 2  # 2 and one 3 are missing
    assert multiset_excess(bigquery, source) == 2  # a second 1, and 5
    assert multiset_excess(source, np.array([], dtype=np.int64)) == 5
    assert multiset_excess(np.array([], dtype=np.int64), source) == 0
