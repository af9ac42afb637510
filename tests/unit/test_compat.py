import pytest

from etl_bigquery.engine.schema.bqtypes import BqType
from etl_bigquery.engine.schema.compat import can_load

S = BqType


@pytest.mark.parametrize(
    ("source", "allowed"),
    [
        (S.INT64, {S.INT64, S.FLOAT64, S.NUMERIC, S.STRING}),
        (S.FLOAT64, {S.FLOAT64, S.NUMERIC, S.STRING}),
        (S.STRING, {S.STRING}),
        (S.BOOL, {S.BOOL, S.STRING}),
        (S.TIMESTAMP, {S.TIMESTAMP, S.DATETIME, S.STRING}),
        (S.DATE, {S.DATE, S.STRING}),
    ],
)
def test_the_compatibility_matrix_allows_exactly_what_spec_lists(source, allowed):
    assert {target for target in BqType if can_load(source, target)} == allowed


def test_types_outside_the_matrix_load_only_into_themselves():
    assert can_load(S.JSON, S.JSON)
    assert not can_load(S.JSON, S.STRING)
    assert not can_load(S.STRING, S.INT64)
