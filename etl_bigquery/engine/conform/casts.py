"""Vectorised casts from whatever a reader produced to the Arrow type of a BigQuery column.

Each cast either converts a whole array or raises `CastFailed`; `engine.conform.batch` then finds
the offending rows one by one (slow, but only for batches that hold a bad value). Rules from SPEC
§4: FLOAT64 keeps NaN and ±Infinity, a NUMERIC NaN becomes NULL (counted by the conformer); nested
values become JSON text in STRING columns; a time-only value in a TIMESTAMP column becomes
`1970-01-01T<time>` and a date-only one `<date>T00:00:00`.
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import Callable

import pyarrow as pa
import pyarrow.compute as pc

from etl_bigquery.engine.schema.bqtypes import (
    BIGNUMERIC_PRECISION,
    BIGNUMERIC_SCALE,
    NUMERIC_PRECISION,
    NUMERIC_SCALE,
    BqType,
    arrow_type,
)


class CastFailed(ValueError):
    """A value does not fit the destination type."""


_TRUE = ("true", "t", "yes", "y", "1")
_FALSE = ("false", "f", "no", "n", "0")
_TIME_ONLY = r"^(\d{1,2}:\d{2}(:\d{2}(\.\d+)?)?)$"
_DATE_ONLY = r"^(\d{4}-\d{2}-\d{2})$"
_OFFSET = r"(Z|z|[+-]\d{2}(:?\d{2})?)$"
_NOT_A_NUMBER = r"(?i)^[+-]?(nan|inf|infinity)$"


def _strings(array: pa.Array) -> pa.Array:
    if isinstance(array.type, pa.BaseExtensionType) and pa.types.is_string(array.type.storage_type):
        array = array.storage  # e.g. ADBC's opaque PostgreSQL numeric: text underneath
    if pa.types.is_large_string(array.type) or pa.types.is_string_view(array.type):
        array = array.cast(pa.string())
    return pc.utf8_trim_whitespace(array)


def _null_where(mask: pa.Array, array: pa.Array) -> pa.Array:
    return pc.if_else(pc.fill_null(mask, False), pa.nulls(len(array), array.type), array)


def _is_nested(data_type: pa.DataType) -> bool:
    return pa.types.is_nested(data_type) or isinstance(data_type, pa.BaseExtensionType)


def _to_json_text(array: pa.Array) -> pa.Array:
    if isinstance(array.type, pa.BaseExtensionType):
        array = array.storage if pa.types.is_string(array.type.storage_type) else array
        if pa.types.is_string(array.type):
            return array
    return pa.array(
        [None if v is None else json.dumps(v, default=str, ensure_ascii=False)
         for v in array.to_pylist()],
        type=pa.string(),
    )  # fmt: skip


def to_string(array: pa.Array) -> pa.Array:
    if pa.types.is_string(array.type):
        return array
    if _is_nested(array.type):
        return _to_json_text(array)
    return pc.cast(array, pa.string())  # binary: raises on invalid UTF-8


def to_int64(array: pa.Array) -> pa.Array:
    if pa.types.is_string(array.type) or pa.types.is_large_string(array.type):
        return pc.cast(_strings(array), pa.int64())
    return pc.cast(array, pa.int64())  # safe: overflow and fractions raise


def to_float64(array: pa.Array) -> pa.Array:
    """NaN and ±Infinity are kept: BigQuery's FLOAT64 stores them (turning them into NULL, as
    the predecessor did, loses information)."""
    if pa.types.is_string(array.type) or pa.types.is_large_string(array.type):
        text = _strings(array)
        special = pc.fill_null(pc.match_substring_regex(text, _NOT_A_NUMBER), False)
        if pc.any(special).as_py():
            # Arrow parses "nan" and "inf" but not PostgreSQL's "Infinity"; normalise first.
            lowered = pc.utf8_lower(text)
            text = pc.replace_substring_regex(lowered, r"^([+-]?)infinity$", r"\1inf")
        return pc.cast(text, pa.float64())
    return pc.cast(array, pa.float64())


def _to_decimal(array: pa.Array, precision: int, scale: int, trusted: bool = False) -> pa.Array:
    target = pa.decimal128(precision, scale) if precision <= 38 else pa.decimal256(precision, scale)
    if trusted and (pa.types.is_string(array.type) or pa.types.is_decimal(array.type)):
        # The source's declared precision and scale fit the target: a plain cast is exact,
        # unless a NaN or Infinity is there, which the checked path below turns into NULL.
        with contextlib.suppress(pa.ArrowInvalid):
            return pc.cast(array, target)
    if pa.types.is_floating(array.type):
        array = _null_where(pc.or_(pc.is_nan(array), pc.is_inf(array)), array)
        array = pc.cast(array, pa.string())
    if not (pa.types.is_string(array.type) or pa.types.is_large_string(array.type)):
        return pc.cast(array, target)
    text = _strings(array)
    text = _null_where(pc.match_substring_regex(text, _NOT_A_NUMBER), text)
    # Arrow wraps around instead of failing when the integer part is too long, so check it first.
    integer_digits = precision - scale
    pattern = rf"^[+-]?0*\d{{0,{integer_digits}}}(\.\d*)?([eE][+-]?\d+)?$"
    fits = pc.match_substring_regex(text, pattern)
    if not pc.all(pc.fill_null(fits, True)).as_py():
        raise CastFailed(f"a value has more than {integer_digits} digits before the decimal point")
    wide = pc.cast(text, pa.decimal256(76, BIGNUMERIC_SCALE))
    rounded = pc.round(wide, ndigits=scale, round_mode="half_towards_infinity")
    return pc.cast(rounded, target)


def to_numeric(array: pa.Array, trusted: bool = False) -> pa.Array:
    return _to_decimal(array, NUMERIC_PRECISION, NUMERIC_SCALE, trusted)


def to_bignumeric(array: pa.Array, trusted: bool = False) -> pa.Array:
    return _to_decimal(array, BIGNUMERIC_PRECISION, BIGNUMERIC_SCALE, trusted)


def to_bool(array: pa.Array) -> pa.Array:
    if pa.types.is_boolean(array.type):
        return array
    if pa.types.is_string(array.type) or pa.types.is_large_string(array.type):
        text = pc.utf8_lower(_strings(array))
        truthy = pc.is_in(text, pa.array(_TRUE))
        falsy = pc.is_in(text, pa.array(_FALSE))
        valid = pc.or_(truthy, falsy)
        if pc.any(pc.and_(pc.is_valid(text), pc.invert(valid))).as_py():
            raise CastFailed("a value is not a boolean (true/false, yes/no, 1/0)")
        return _null_where(pc.invert(valid), truthy)
    if pa.types.is_integer(array.type):
        other = pc.invert(pc.is_in(array, pa.array([0, 1], array.type)))
        if pc.any(pc.and_(pc.is_valid(array), other)).as_py():
            raise CastFailed("an integer other than 0 or 1 cannot be a boolean")
    return pc.cast(array, pa.bool_())


def _parse_timestamps(text: pa.Array) -> pa.Array:
    """ISO 8601 text → timestamp[us, UTC]; values without an offset are taken as UTC."""
    text = _strings(text)
    text = pc.replace_substring_regex(text, _TIME_ONLY, r"1970-01-01T\1")
    text = pc.replace_substring_regex(text, _DATE_ONLY, r"\1T00:00:00")
    # Nanoseconds do not fit BigQuery's microseconds: truncate, as BigQuery itself does.
    text = pc.replace_substring_regex(text, r"(\.\d{6})\d+", r"\1")
    has_offset = pc.fill_null(pc.match_substring_regex(text, _OFFSET), False)
    utc = pa.timestamp("us", tz="UTC")
    naive = pc.cast(pc.cast(_null_where(has_offset, text), pa.timestamp("us")), utc)
    zoned = pc.cast(_null_where(pc.invert(has_offset), text), utc)
    return pc.coalesce(zoned, naive)


def to_timestamp(array: pa.Array) -> pa.Array:
    utc = pa.timestamp("us", tz="UTC")
    if pa.types.is_string(array.type) or pa.types.is_large_string(array.type):
        return _parse_timestamps(array)
    if pa.types.is_timestamp(array.type):
        # A naive timestamp is read as UTC; finer units are truncated to microseconds.
        if array.type.tz is None:
            array = pc.cast(array, pa.timestamp(array.type.unit, tz="UTC"))
        return pc.cast(array, utc, safe=False)
    if pa.types.is_date(array.type):
        return pc.cast(pc.cast(array, pa.timestamp("us")), utc)
    return pc.cast(array, utc)


def to_datetime(array: pa.Array) -> pa.Array:
    if pa.types.is_timestamp(array.type) and array.type.tz is None:
        return pc.cast(array, pa.timestamp("us"), safe=False)
    # DATETIME has no zone: keep the wall-clock time in UTC.
    utc = to_timestamp(array)
    return pc.cast(utc, pa.timestamp("us", tz="UTC")).cast(pa.int64()).cast(pa.timestamp("us"))


def to_date(array: pa.Array) -> pa.Array:
    if pa.types.is_date32(array.type):
        return array
    if pa.types.is_string(array.type) or pa.types.is_large_string(array.type):
        text = _strings(array)
        if pc.all(pc.fill_null(pc.match_substring_regex(text, _DATE_ONLY), True)).as_py():
            return pc.cast(pc.cast(text, pa.timestamp("s")), pa.date32())
        return pc.cast(to_timestamp(text), pa.date32())
    if pa.types.is_timestamp(array.type):
        return pc.cast(array, pa.date32())
    return pc.cast(array, pa.date32())


def to_time(array: pa.Array) -> pa.Array:
    if pa.types.is_time(array.type):
        return pc.cast(array, pa.time64("us"), safe=False)
    if pa.types.is_string(array.type) or pa.types.is_large_string(array.type):
        text = pc.replace_substring_regex(_strings(array), _TIME_ONLY, r"1970-01-01T\1")
        array = pc.cast(text, pa.timestamp("us"))
    if pa.types.is_timestamp(array.type):
        return pc.cast(array, pa.time64("us"), safe=False)
    return pc.cast(array, pa.time64("us"))


def _refuse_constant(name: str) -> None:
    # Python's parser accepts NaN and ±Infinity; JSON has no such values, and BigQuery refuses
    # the whole load job over one.
    raise ValueError(f"{name} is not JSON")


def to_json(array: pa.Array, trusted: bool) -> pa.Array:
    """`trusted`: the source guarantees valid JSON (PostgreSQL json/jsonb), so skip parsing."""
    text = to_string(array) if not _is_nested(array.type) else _to_json_text(array)
    if not trusted:
        for value in text.to_pylist():
            if value is not None:
                try:
                    json.loads(value, parse_constant=_refuse_constant)
                except ValueError:
                    raise CastFailed("a value is not valid JSON") from None
    return pa.ExtensionArray.from_storage(arrow_type(BqType.JSON), text)


def to_bytes(array: pa.Array) -> pa.Array:
    if pa.types.is_binary(array.type):
        return array
    return pc.cast(to_string(array), pa.binary())


CASTS: dict[BqType, Callable[[pa.Array], pa.Array]] = {
    BqType.STRING: to_string,
    BqType.INT64: to_int64,
    BqType.FLOAT64: to_float64,
    BqType.NUMERIC: to_numeric,
    BqType.BIGNUMERIC: to_bignumeric,
    BqType.BOOL: to_bool,
    BqType.DATE: to_date,
    BqType.DATETIME: to_datetime,
    BqType.TIMESTAMP: to_timestamp,
    BqType.TIME: to_time,
    BqType.BYTES: to_bytes,
    BqType.GEOGRAPHY: to_string,
}


def cast_array(array: pa.Array, bq_type: BqType, *, trusted: bool = False) -> pa.Array:
    """Convert `array` to the Arrow type of `bq_type`; `CastFailed` if any value does not fit.
    `trusted`: the source's type guarantees every value fits, so values are not checked."""
    if isinstance(array, pa.ChunkedArray):
        array = array.combine_chunks()
    try:
        if bq_type is BqType.JSON:
            result = to_json(array, trusted)
        elif bq_type is BqType.NUMERIC:
            result = to_numeric(array, trusted)
        elif bq_type is BqType.BIGNUMERIC:
            result = to_bignumeric(array, trusted)
        else:
            result = CASTS[bq_type](array)
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError, pa.ArrowTypeError, OverflowError) as err:
        raise CastFailed(str(err).splitlines()[0]) from None
    expected = arrow_type(bq_type)
    if result.type != expected:
        result = result.cast(expected)
    if bq_type in _RANGES:
        _check_range(result, bq_type)
    return result


# BigQuery's DATE, DATETIME and TIMESTAMP hold years 1 to 9999; a source may hold more
# (PostgreSQL: BC dates, year 294276, ±infinity, which drivers send as extreme integers). Such a
# value is refused, so its row is rejected with the reason instead of loading a wrong date.
_DAY_MIN, _DAY_MAX = -719_162, 2_932_896  # 0001-01-01 and 9999-12-31 as days since 1970
_US_MIN, _US_MAX = -62_135_596_800_000_000, 253_402_300_799_999_999
_RANGES = {
    BqType.DATE: (pa.int32(), _DAY_MIN, _DAY_MAX),
    BqType.DATETIME: (pa.int64(), _US_MIN, _US_MAX),
    BqType.TIMESTAMP: (pa.int64(), _US_MIN, _US_MAX),
}


def _check_range(array: pa.Array, bq_type: BqType) -> None:
    storage, low, high = _RANGES[bq_type]
    numbers = array.view(storage)
    outside = pc.or_(pc.less(numbers, low), pc.greater(numbers, high))
    if pc.any(outside).as_py():
        raise CastFailed(
            f"a value is outside BigQuery's {bq_type.value} range (years 0001 to 9999)"
        )
