"""The 13 BigQuery column types this tool writes, and how each is carried in Arrow/Parquet."""

from __future__ import annotations

from enum import StrEnum

import pyarrow as pa


class BqType(StrEnum):
    STRING = "STRING"
    INT64 = "INT64"
    FLOAT64 = "FLOAT64"
    NUMERIC = "NUMERIC"
    BIGNUMERIC = "BIGNUMERIC"
    BOOL = "BOOL"
    DATE = "DATE"
    DATETIME = "DATETIME"
    TIMESTAMP = "TIMESTAMP"
    TIME = "TIME"
    JSON = "JSON"
    BYTES = "BYTES"
    GEOGRAPHY = "GEOGRAPHY"

    @classmethod
    def parse(cls, name: str) -> BqType:
        """Accept the legacy spellings BigQuery itself reports (INTEGER, FLOAT, BOOLEAN...)."""
        key = name.strip().upper()
        return cls(_ALIASES.get(key, key))


_ALIASES = {
    "INTEGER": "INT64",
    "INT": "INT64",
    "FLOAT": "FLOAT64",
    "BOOLEAN": "BOOL",
    "DECIMAL": "NUMERIC",
    "BIGDECIMAL": "BIGNUMERIC",
}

# NUMERIC is DECIMAL(38, 9) and BIGNUMERIC DECIMAL(76, 38) in BigQuery.
NUMERIC_PRECISION, NUMERIC_SCALE = 38, 9
BIGNUMERIC_PRECISION, BIGNUMERIC_SCALE = 76, 38

TIME_TYPES = frozenset({BqType.DATE, BqType.DATETIME, BqType.TIMESTAMP})
CURSOR_TYPES = TIME_TYPES | {BqType.INT64, BqType.NUMERIC, BqType.BIGNUMERIC, BqType.FLOAT64}


def arrow_type(bq_type: BqType) -> pa.DataType:
    """The Arrow type whose Parquet encoding BigQuery loads into `bq_type` without conversion."""
    return _ARROW[bq_type]


_ARROW: dict[BqType, pa.DataType] = {
    BqType.STRING: pa.string(),
    BqType.INT64: pa.int64(),
    BqType.FLOAT64: pa.float64(),
    BqType.NUMERIC: pa.decimal128(NUMERIC_PRECISION, NUMERIC_SCALE),
    BqType.BIGNUMERIC: pa.decimal256(BIGNUMERIC_PRECISION, BIGNUMERIC_SCALE),
    BqType.BOOL: pa.bool_(),
    BqType.DATE: pa.date32(),
    # Parquet timestamps not adjusted to UTC load as DATETIME, UTC-adjusted ones as TIMESTAMP.
    BqType.DATETIME: pa.timestamp("us"),
    BqType.TIMESTAMP: pa.timestamp("us", tz="UTC"),
    BqType.TIME: pa.time64("us"),
    # Written with Parquet's JSON logical type, which BigQuery loads into a JSON column.
    BqType.JSON: pa.json_(pa.string()),
    BqType.BYTES: pa.binary(),
    # Well-known text; BigQuery parses WKT strings into GEOGRAPHY when the column says so.
    BqType.GEOGRAPHY: pa.string(),
}
