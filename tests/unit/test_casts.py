"""Conforming values to BigQuery types (SPEC §4, "Conforming at load")."""

import datetime as dt
from decimal import Decimal

import pyarrow as pa
import pytest

from etl_bigquery.engine.conform import Conformer, RunStamp, TargetColumn
from etl_bigquery.engine.conform.casts import CastFailed, cast_array
from etl_bigquery.engine.schema.bqtypes import BqType

S = BqType
UTC = dt.UTC


def values(array: pa.Array) -> list:
    return array.to_pylist()


def _same(left: list, right: list) -> bool:
    """Equal, with NaN equal to NaN."""
    return [repr(v) for v in left] == [repr(v) for v in right]


def test_float64_keeps_nan_and_infinity():
    nan, inf = float("nan"), float("inf")
    array = pa.array([1.5, nan, inf, -inf, None])
    assert _same(values(cast_array(array, S.FLOAT64)), [1.5, nan, inf, -inf, None])
    text = pa.array(["NaN", "2.5", "-Infinity", "Infinity", "inf", None])
    assert _same(values(cast_array(text, S.FLOAT64)), [nan, 2.5, -inf, inf, inf, None])


def test_numeric_nan_becomes_null_and_is_counted():
    assert values(cast_array(pa.array(["NaN", "2.5"]), S.NUMERIC)) == [None, Decimal("2.5")]
    conformer = Conformer(
        [TargetColumn("n", "numeric", "n", S.NUMERIC)],
        RunStamp("run", dt.datetime(2026, 1, 1, tzinfo=UTC)),
    )
    good, rejected = conformer.conform(pa.record_batch({"n": ["NaN", "1", None, "Infinity"]}))
    assert good.column("n").to_pylist() == [None, Decimal("1"), None, None]
    assert not rejected
    assert conformer.numeric_nan_nulled == 2


def test_time_only_and_date_only_text_in_timestamp_columns():
    array = pa.array(["18:53:06", "2024-02-22", "2024-02-22T10:00:00+02:00", "2024-02-22 10:00:00"])
    assert values(cast_array(array, S.TIMESTAMP)) == [
        dt.datetime(1970, 1, 1, 18, 53, 6, tzinfo=UTC),
        dt.datetime(2024, 2, 22, tzinfo=UTC),
        dt.datetime(2024, 2, 22, 8, tzinfo=UTC),
        dt.datetime(2024, 2, 22, 10, tzinfo=UTC),
    ]


def test_naive_timestamps_are_taken_as_utc_and_nanoseconds_truncated():
    array = pa.array([dt.datetime(2026, 1, 1, 12)], pa.timestamp("ns"))
    assert values(cast_array(array, S.TIMESTAMP)) == [dt.datetime(2026, 1, 1, 12, tzinfo=UTC)]
    text = pa.array(["2026-01-01T12:00:00.123456789"])
    assert values(cast_array(text, S.TIMESTAMP))[0].microsecond == 123456


def test_nested_values_become_json_text_in_string_columns():
    array = pa.array([{"a": 1, "b": [1, 2]}, None])
    assert values(cast_array(array, S.STRING)) == ['{"a": 1, "b": [1, 2]}', None]
    lists = pa.array([[1, 2], []])
    assert values(cast_array(lists, S.STRING)) == ["[1, 2]", "[]"]


def test_numeric_rounds_to_nine_places_and_refuses_integer_overflow_instead_of_wrapping():
    array = pa.array(["1.1234567891", "-2.5", None])
    assert values(cast_array(array, S.NUMERIC)) == [Decimal("1.123456789"), Decimal("-2.5"), None]
    with pytest.raises(CastFailed):
        cast_array(pa.array(["1" * 30]), S.NUMERIC)  # 30 integer digits > NUMERIC's 29
    assert values(cast_array(pa.array(["1" * 30]), S.BIGNUMERIC)) == [Decimal("1" * 30)]


def test_booleans_from_text_and_integers():
    assert values(cast_array(pa.array(["true", "No", "1", None]), S.BOOL)) == [
        True,
        False,
        True,
        None,
    ]
    assert values(cast_array(pa.array([0, 1, None]), S.BOOL)) == [False, True, None]
    with pytest.raises(CastFailed):
        cast_array(pa.array([2]), S.BOOL)
    with pytest.raises(CastFailed):
        cast_array(pa.array(["maybe"]), S.BOOL)


def test_json_is_validated_unless_the_source_guarantees_it():
    with pytest.raises(CastFailed):
        cast_array(pa.array(["{not json"]), S.JSON)
    for text in ('{"score": NaN}', "[Infinity]", "-Infinity"):  # Python's parser takes these
        with pytest.raises(CastFailed):
            cast_array(pa.array([text]), S.JSON)
    trusted = cast_array(pa.array(['{"a": 1}']), S.JSON, trusted=True)
    assert isinstance(trusted.type, pa.BaseExtensionType)


def test_text_to_integer_date_and_time():
    assert values(cast_array(pa.array([" 42 ", None]), S.INT64)) == [42, None]
    assert values(cast_array(pa.array(["2026-11-22"]), S.DATE)) == [dt.date(2026, 11, 22)]
    assert values(cast_array(pa.array(["07:30:00.5"]), S.TIME)) == [dt.time(7, 30, 0, 500000)]


def test_a_row_with_a_bad_value_is_set_aside_with_its_reason_and_the_rest_load():
    columns = [
        TargetColumn("id", "integer", "id", S.INT64),
        TargetColumn("when", "text", "when", S.TIMESTAMP),
    ]
    stamp = RunStamp("run-1", dt.datetime(2026, 1, 1, tzinfo=UTC))
    batch = pa.RecordBatch.from_pydict(
        {"id": ["1", "x", "3"], "when": ["2026-01-01", "2026-01-02", "nope"]}
    )
    good, rejected = Conformer(columns, stamp).conform(batch)
    assert good.column("id").to_pylist() == [1]
    assert good.column("_etl_run_id").to_pylist() == ["run-1"]
    assert [r.record["id"] for r in rejected] == ["x", "3"]
    assert "column 'id'" in rejected[0].reason and "INT64" in rejected[0].reason
    assert "column 'when'" in rejected[1].reason


def test_a_table_column_the_job_does_not_load_is_written_as_null():
    columns = [
        TargetColumn("id", "integer", "id", S.INT64),
        TargetColumn(None, "", "old", S.STRING),
    ]
    stamp = RunStamp("r", dt.datetime(2026, 1, 1, tzinfo=UTC))
    good, _ = Conformer(columns, stamp).conform(pa.RecordBatch.from_pydict({"id": [1, 2]}))
    assert good.column("old").to_pylist() == [None, None]


def test_bytes_stay_bytes_and_text_becomes_its_utf8_bytes():
    assert values(cast_array(pa.array([b"\x01\x02", None]), S.BYTES)) == [b"\x01\x02", None]
    assert values(cast_array(pa.array(["é"]), S.BYTES)) == ["é".encode()]


def test_bignumeric_keeps_38_decimal_places_exactly():
    text = "123.12345678901234567890123456789012345678"
    assert values(cast_array(pa.array([text]), S.BIGNUMERIC)) == [Decimal(text)]
