"""Row fingerprints and the multiset of rows already held (engine.fingerprint)."""

from __future__ import annotations

import datetime as dt
import decimal

import numpy as np
import pyarrow as pa
import pytest

from etl_bigquery.engine.bigquery.tables import TableRef
from etl_bigquery.engine.conform import TargetColumn
from etl_bigquery.engine.conform.casts import cast_array
from etl_bigquery.engine.fingerprint import Identity, KnownRows, digests, from_hex, to_hex
from etl_bigquery.engine.incremental import Lookback, SequenceRule, StateKey, load_job_id
from etl_bigquery.engine.schema.bqtypes import BqType

# One value per BigQuery type family, with the awkward ones: JSON scalars, NaN, unicode...
EVERY_TYPE = {
    BqType.STRING: ["naïve ✓ 🚀", "", None, "a|b:c"],
    BqType.INT64: [0, -(2**63), 2**63 - 1, None],
    BqType.FLOAT64: [float("nan"), float("inf"), float("-inf"), -0.0],
    BqType.NUMERIC: ["1.5", "-99999999999999999999999999999.999999999", "0", None],
    BqType.BIGNUMERIC: ["1e-38", "12345678901234567890.123", None, "0"],
    BqType.BOOL: [True, False, None, True],
    BqType.DATE: ["0001-01-01", "9999-12-31", None, "2026-11-22"],
    BqType.DATETIME: ["2026-11-22 10:00:00.123456", None, "1900-01-01 00:00:00", "2026-01-01"],
    BqType.TIMESTAMP: ["2026-11-22T10:00:00+02:00", "1970-01-01T00:00:00Z", None, "10:00"],
    BqType.TIME: ["23:59:59.999999", "00:00", None, "12:00:00"],
    BqType.JSON: ["null", '"text"', "1.50", '{"b": [1, {"a": null}]}'],
    BqType.BYTES: [b"\x00\xff", b"", None, b"text"],
    BqType.GEOGRAPHY: ["POINT(1 2)", None, "LINESTRING(0 0, 1 1)", "POINT(1 2)"],
}


def conformed_batch() -> pa.RecordBatch:
    arrays = {
        bq.value.lower(): cast_array(pa.array(values), bq, trusted=False)
        for bq, values in EVERY_TYPE.items()
    }
    return pa.record_batch(arrays)


def test_every_type_fingerprints_the_same_on_every_run_and_distinguishes_rows():
    batch = conformed_batch()
    identity = Identity(tuple(batch.schema.names))
    first = digests(batch, identity)
    again = digests(conformed_batch(), identity)
    assert (first == again).all()
    assert len(set(first.tolist())) == batch.num_rows


@pytest.mark.parametrize("bq_type", list(EVERY_TYPE))
def test_each_type_alone_is_exact_for_its_awkward_values(bq_type):
    values = EVERY_TYPE[bq_type]
    batch = pa.record_batch({"v": cast_array(pa.array(values), bq_type)})
    prints = digests(batch, Identity(("v",)))
    assert (prints == digests(batch, Identity(("v",)))).all()
    distinct = {repr(v) for v in batch.column("v").to_pylist()}
    assert len(set(prints.tolist())) == len(distinct)


def test_null_empty_and_separator_characters_never_collide():
    batch = pa.record_batch({"a": ["a|b", "a", None, ""], "b": ["c", "b|c", "", None]})
    prints = digests(batch, Identity(("a", "b")))
    assert len(set(prints.tolist())) == 4


def test_hex_round_trip_and_identity_description_round_trip():
    prints = digests(conformed_batch(), Identity(("string", "int64")))
    assert (from_hex(to_hex(prints)) == prints).all()
    assert all(len(h) == 32 for h in to_hex(prints).to_pylist())
    identity = Identity(("id", "updated_at"))
    assert Identity.from_description(identity.describe()) == identity
    assert Identity.from_description("edited by hand") is None


def test_known_rows_cancel_source_rows_as_a_multiset():
    prints = digests(pa.record_batch({"v": [1, 2, 3]}), Identity(("v",)))
    one, two, three = prints
    known = KnownRows(np.array([one, one, two], dtype="S16"), np.array([1, 1, 1]))
    assert len(known) == 3
    source = np.array([one, one, one, two, two, three], dtype="S16")
    keep = known.claim(source)
    # Two held copies of `one` cancel two of three; one `two` cancels one of two.
    assert keep.tolist() == [False, False, True, False, True, True]
    assert known.claimed == 3 and len(known) == 0
    assert known.claim(source).all()  # used up: nothing more is dropped


def test_known_rows_only_match_candidate_rows_and_copies_start_fresh():
    prints = digests(pa.record_batch({"v": [1, 2]}), Identity(("v",)))
    known = KnownRows(prints, np.array([1, 1]))
    keep = known.claim(prints, np.array([False, True]))
    assert keep.tolist() == [True, False]
    fresh = known.copy()
    assert fresh.claim(prints).tolist() == [False, True]  # the copy still holds `1` only
    assert KnownRows(prints, np.array([1, 1])).copy().claim(prints).tolist() == [False, False]


def test_known_rows_stay_compact_for_millions_of_rows():
    count = 2_000_000
    keys = np.frombuffer(np.random.default_rng(1).bytes(16 * count), dtype="S16")
    known = KnownRows(keys, np.ones(count, dtype=np.int64))
    assert known.keys.nbytes + known.remaining.nbytes <= 24 * count


def _cursor(bq_type: BqType) -> TargetColumn:
    return TargetColumn("c", "", "c", bq_type)


def test_lookback_defaults_per_cursor_type():
    assert Lookback.for_job(None, _cursor(BqType.TIMESTAMP)).amount == dt.timedelta(minutes=10)
    assert Lookback.for_job(None, _cursor(BqType.DATETIME)).amount == dt.timedelta(minutes=10)
    assert Lookback.for_job(None, _cursor(BqType.DATE)).is_zero
    # A numeric cursor needs none only where the source settles its reads (test_cursor_reading).
    settled = SequenceRule(True, "settled", settles=True)
    assert Lookback.for_job(None, _cursor(BqType.INT64), settled).is_zero


def test_lookback_values_and_window_start():
    ts = Lookback.for_job("2h", _cursor(BqType.TIMESTAMP))
    w = dt.datetime(2026, 11, 22, 10, tzinfo=dt.UTC)
    assert ts.window_start(w) == w - dt.timedelta(hours=2)
    assert Lookback.for_job("10m", _cursor(BqType.DATE)).amount == dt.timedelta(days=1)
    assert Lookback.for_job(1000, _cursor(BqType.INT64)).window_start(5000) == 4000
    numeric = Lookback.for_job("0.5", _cursor(BqType.NUMERIC))
    assert numeric.window_start(decimal.Decimal("2")) == decimal.Decimal("1.5")


@pytest.mark.parametrize(
    ("value", "bq_type", "words"),
    [
        ("10m", BqType.INT64, "is a duration but the cursor"),
        (5, BqType.TIMESTAMP, "needs a unit"),
        ("1.5", BqType.INT64, "must be a whole number"),
    ],
)
def test_lookback_of_the_wrong_kind_is_refused_with_a_sentence(value, bq_type, words):
    from etl_bigquery.engine.errors import ValidationError

    with pytest.raises(ValidationError, match=words):
        Lookback.for_job(value, _cursor(bq_type))


def test_load_job_ids_are_deterministic_per_state_and_attempt():
    ref = TableRef("p", "d", "t")
    key = StateKey(dt.datetime(2026, 1, 1, tzinfo=dt.UTC), 5).token()
    assert load_job_id("orders", ref, key, 1) == load_job_id("orders", ref, key, 1)
    assert load_job_id("orders", ref, key, 1) != load_job_id("orders", ref, key, 2)
    other = StateKey(dt.datetime(2026, 1, 1, tzinfo=dt.UTC), 6).token()
    assert load_job_id("orders", ref, key, 1) != load_job_id("orders", ref, other, 1)
