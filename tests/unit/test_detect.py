"""Text columns whose sampled values are dates, timestamps, integers or booleans."""

from __future__ import annotations

import pyarrow as pa
import pytest

from etl_bigquery.engine.jobs.model import JobSpec
from etl_bigquery.engine.plan import plan_columns
from etl_bigquery.engine.schema.bqtypes import BqType
from etl_bigquery.engine.schema.detect import detect_columns, detect_text_type, is_text_column
from etl_bigquery.engine.schema.typemap import Confidence
from etl_bigquery.engine.sources.base import SourceColumn


def detect(*values):
    return detect_text_type(pa.array(list(values), pa.string()))


def test_iso_dates_are_dates_with_medium_confidence_and_the_reason():
    proposal = detect(*[f"2024-01-{day:02d}" for day in range(1, 29)], None)
    assert proposal.bq_type is BqType.DATE
    assert proposal.confidence is Confidence.MEDIUM
    assert proposal.warnings[0] == "all 28 sampled values (and 1 NULLs) are ISO dates"


def test_an_impossible_date_is_not_a_date():
    assert detect("2024-01-31", "2024-02-30") is None


@pytest.mark.parametrize(
    ("values", "expected"),
    [
        (["2024-01-01T10:00:00Z", "2024-01-02 11:30:00.123456+02:00", "2024-01-03T00:00+0100"],
         BqType.TIMESTAMP),
        (["2024-01-01 10:00:00", "2024-01-02T11:30", "2024-01-03 00:00:00.5"], BqType.DATETIME),
    ],
)  # fmt: skip
def test_timestamps_with_offsets_are_timestamps_without_are_datetimes(values, expected):
    proposal = detect(*values)
    assert proposal.bq_type is expected
    assert "ISO timestamps" in proposal.warnings[0]


def test_some_offsets_give_a_timestamp_with_a_warning():
    proposal = detect("2024-01-01 10:00:00+00", "2024-01-01 11:00:00")
    assert proposal.bq_type is BqType.TIMESTAMP
    assert "values without an offset are taken as UTC" in proposal.warnings


def test_integers_are_int64():
    proposal = detect("1", "-42", "9223372036854775807", " 7 ")
    assert proposal.bq_type is BqType.INT64
    assert proposal.warnings[0] == "all 4 sampled values are integers"


@pytest.mark.parametrize(
    "values",
    [
        ["007", "12"],  # leading zeros: an identifier, the zeros would be lost
        ["9223372036854775808"],  # beyond INT64
        ["1", "2.5"],  # not all integers
        ["+3"],
    ],
)
def test_codes_and_non_integers_stay_text(values):
    assert detect(*values) is None


@pytest.mark.parametrize(
    "values", [["true", "false", "TRUE"], ["t", "f"], ["Yes", "no", "yes"], ["false"]]
)
def test_booleans(values):
    assert detect(*values).bq_type is BqType.BOOL


@pytest.mark.parametrize("values", [["y", "n"], ["0", "1"], ["true", "no"]])
def test_letters_digits_and_mixed_vocabularies_are_not_booleans(values):
    proposal = detect(*values)
    assert proposal is None or proposal.bq_type is not BqType.BOOL


@pytest.mark.parametrize(
    "values",
    [
        ["2024-01-01", "2024-01-01 10:00:00"],  # dates and timestamps mixed
        ["2024-01-01", "soon"],
        ["1", "true"],
        ["2024-01-01", ""],  # an empty string would be rejected at load
        ["hello"],
    ],
)
def test_mixed_values_give_nothing(values):
    assert detect(*values) is None


def test_empty_and_all_null_samples_give_nothing():
    assert detect() is None
    assert detect(None, None) is None


def test_only_text_arrays_are_looked_at():
    assert detect_text_type(pa.array([1, 2, 3])) is None


def test_detect_columns_by_name():
    sample = pa.table({"d": ["2024-05-01"], "n": ["5"], "s": ["x"], "i": pa.array([1])})
    found = detect_columns(sample)
    assert {name: p.bq_type for name, p in found.items()} == {"d": BqType.DATE, "n": BqType.INT64}


def test_text_columns_by_dialect():
    assert is_text_column("postgresql", SourceColumn("a", "character varying(20)"))
    assert is_text_column("postgresql", SourceColumn("a", "text"))
    assert not is_text_column("postgresql", SourceColumn("a", "uuid"))
    assert not is_text_column("postgresql", SourceColumn("a", "integer"))
    assert is_text_column("sqlite", SourceColumn("a", ""))
    assert is_text_column("mysql", SourceColumn("a", "varchar(10)"))
    assert not is_text_column("sqlite", SourceColumn("a", "date"))


def test_plan_uses_detected_types_unless_overridden():
    job = JobSpec.model_validate(
        {
            "name": "j",
            "connection": "c",
            "source": {"table": "t"},
            "destination": {"block": "bq"},
            "load_type": "catalog",
            "column_types": {"b": "STRING"},
        }
    )
    columns = [SourceColumn("a", "text"), SourceColumn("b", "text"), SourceColumn("c", "integer")]
    detected = detect_columns(pa.table({"a": ["2024-01-01"], "b": ["1"], "c": ["2"]}))
    plans = {p.source.name: p for p in plan_columns(job, columns, "postgresql", detected)}
    assert plans["a"].bq_type is BqType.DATE and plans["a"].proposal.confidence is Confidence.MEDIUM
    assert plans["a"].as_row()["confidence"] == "medium"
    assert "ISO dates" in plans["a"].as_row()["warnings"]
    assert plans["b"].bq_type is BqType.STRING and plans["b"].overridden
    assert plans["c"].bq_type is BqType.INT64 and plans["c"].proposal.confidence is Confidence.HIGH
