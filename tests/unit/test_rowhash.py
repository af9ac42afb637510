"""Content digests, encoding v2 (engine.rowhash): the vectorised code computes exactly the function
its docstring defines (checked against a slow reference written from that definition), the
digests never change (golden values), and they tell apart what must be told apart."""

from __future__ import annotations

import datetime as dt
import struct
from decimal import Context, Decimal

import numpy as np
import pyarrow as pa
import pytest

from etl_bigquery.engine.conform.casts import cast_array
from etl_bigquery.engine.rowhash import (
    _K_BASE,
    _M,
    _NAN_BITS,
    _P2,
    _P3,
    _P4,
    _P7,
    _mix_int,
    _seeds,
    from_hex,
    row_digests,
    to_hex,
)
from etl_bigquery.engine.schema.bqtypes import BqType
from tests.unit.test_fingerprint import EVERY_TYPE, conformed_batch

# -- a reference implementation, value by value, from the module's written definition ----------


def _words_of(value: object, kind: pa.DataType) -> tuple[list[int], int, bool]:
    """(words, len, one_word_type) of one non-NULL value."""
    if pa.types.is_boolean(kind):
        return [int(value)], 1, True
    if pa.types.is_floating(kind):
        bits = _NAN_BITS if value != value else struct.unpack("<Q", struct.pack("<d", value))[0]
        return [bits], 1, True
    if pa.types.is_decimal(kind):
        width = kind.byte_width
        scaled = int(Decimal(value).scaleb(kind.scale, context=Context(prec=100)))
        raw = scaled.to_bytes(width, "little", signed=True)
        words = [int.from_bytes(raw[i : i + 8], "little") for i in range(0, width, 8)]
        return words, len(words), False
    if isinstance(value, str | bytes):
        raw = value.encode() if isinstance(value, str) else value
        padded = raw + b"\0" * (-len(raw) % 8)
        words = [int.from_bytes(padded[i : i + 8], "little") for i in range(0, len(padded), 8)]
        return words, len(raw), False
    return [value & _M], 1, True  # integers (temporal values are given as their integers)


def _reference_lanes(value: object, kind: pa.DataType, i: int) -> tuple[int, int]:
    seeds = _seeds(i)
    if value is None:
        return seeds.null_a, seeds.null_b
    words, length, one_word = _words_of(value, kind)
    mixed = [_mix_int(w ^ ((seeds.word + j * _P2) & _M)) for j, w in enumerate(words)]
    if one_word:
        return mixed[0], (mixed[0] * seeds.kc) & _M
    a = sum(mixed) & _M
    b = sum(u * ((_K_BASE + 2 * j * _P7) & _M) for j, u in enumerate(mixed)) & _M
    return (
        _mix_int(((a + length * _P3) & _M) ^ seeds.a),
        _mix_int(((b + length * _P4) & _M) ^ seeds.b),
    )


def _python_values(array: pa.Array) -> list[object]:
    """Values as the definition reads them: temporal types as their integers, JSON as text."""
    if isinstance(array.type, pa.BaseExtensionType):
        array = array.storage
    kind = array.type
    if pa.types.is_temporal(kind):
        width = kind.bit_width
        as_int = array.cast(pa.int64() if width == 64 else pa.int32())
        return [None if v is None else v for v in as_int.to_pylist()]
    if pa.types.is_decimal(kind):
        return [None if v is None else str(v) for v in array.to_pylist()]
    return array.to_pylist()


def reference_digests(batch: pa.RecordBatch, columns: list[str]) -> np.ndarray:
    out = []
    arrays = [batch.column(c) for c in columns]
    values = [_python_values(a) for a in arrays]
    for row in range(batch.num_rows):
        total_a = total_b = 0
        for i, (array, column) in enumerate(zip(arrays, values, strict=True)):
            kind = array.type.storage_type if hasattr(array.type, "storage_type") else array.type
            a, b = _reference_lanes(column[row], kind, i)
            total_a, total_b = (total_a + a) & _M, (total_b + b) & _M
        out.append(struct.pack("<QQ", _mix_int(total_a), _mix_int(total_b)))
    return np.array(out, dtype="S16")


# -- the tests ----------------------------------------------------------------------------------


def _texts(rng: np.random.Generator, count: int) -> list[str | None]:
    """Text of every length class: empty, 1..8, exact words, 9..255, and past 32 words."""
    lengths = rng.choice([0, 1, 7, 8, 9, 16, 17, 40, 255, 256, 257, 300, 1000], size=count)
    texts: list[str | None] = [
        "".join(rng.choice(list("abcdé✓\0 |:"), size=int(n))) for n in lengths
    ]
    texts[3] = None
    return texts


def test_vectorised_digests_equal_the_written_definition_for_every_type():
    rng = np.random.default_rng(7)
    batch = conformed_batch()
    texts = _texts(rng, batch.num_rows)
    batch = batch.append_column("text", pa.array(texts))
    columns = batch.schema.names
    assert (row_digests(batch, columns) == reference_digests(batch, columns)).all()


def test_long_and_mixed_length_text_equals_the_definition_also_when_sliced():
    rng = np.random.default_rng(11)
    texts = _texts(rng, 400)
    batch = pa.record_batch(
        {"t": pa.array(texts), "b": pa.array([t and t.encode() for t in texts])}
    )
    expected = reference_digests(batch, ["t", "b"])
    assert (row_digests(batch, ["t", "b"]) == expected).all()
    part = batch.slice(37, 200)
    assert (row_digests(part, ["t", "b"]) == expected[37:237]).all()
    large = pa.record_batch({"t": pa.array(texts, pa.large_string()), "b": batch.column("b")})
    assert (row_digests(large, ["t", "b"]) == expected).all()


def test_digests_never_change():
    """Golden values: a changed digest would make every stored `_etl_row_hash` unrecognisable,
    so the encoding is never changed in place (a new one would be v3)."""
    batch = pa.record_batch(
        {
            "id": pa.array([1, None], pa.int64()),
            "note": pa.array(["naïve ✓", ""]),
            "at": pa.array([dt.datetime(2026, 11, 1, tzinfo=dt.UTC), None],
                           pa.timestamp("us", tz="UTC")),
            "amount": cast_array(pa.array(["12.50", None]), BqType.NUMERIC),
            "ok": pa.array([True, False]),
        }
    )  # fmt: skip
    assert to_hex(row_digests(batch, batch.schema.names), "5:").to_pylist() == [
        "5:" + GOLDEN[0],
        "5:" + GOLDEN[1],
    ]


GOLDEN = ("e24847028e6162cbd5fee868c925c9bd", "64581cc223455dd0364257aaf1d8bf76")


def test_column_order_nulls_empties_padding_and_signs_are_told_apart():
    batch = pa.record_batch(
        {
            "a": ["x", "y", None, "", "a", "a\0", "ab", None],
            "b": ["y", "x", "", None, "a", "a", "a", None],
            "f": [0.0, 0.0, -0.0, float("nan"), 1.0, 1.0, 1.0, None],
        }
    )
    prints = row_digests(batch, ["a", "b", "f"])
    assert len(set(prints.tolist())) == batch.num_rows
    nan_payload = struct.unpack("<d", struct.pack("<Q", 0x7FF8000000000001))[0]
    nans = pa.record_batch({"f": pa.array([float("nan"), nan_payload, -float("nan")])})
    assert len(set(row_digests(nans, ["f"]).tolist())) == 1  # every NaN is one value
    assert row_digests(batch, ["a", "b"])[0] != row_digests(batch, ["b", "a"])[0]


def test_a_null_differs_from_every_value_of_its_column():
    seeds = _seeds(0)
    # The one int64 value whose lane a equals NULL's lane a still differs in lane b.
    assert (seeds.null_a * seeds.kc) & _M != seeds.null_b


@pytest.mark.parametrize("bq_type", list(EVERY_TYPE))
def test_each_type_gives_one_digest_per_distinct_value(bq_type):
    values = EVERY_TYPE[bq_type]
    batch = pa.record_batch({"v": cast_array(pa.array(values), bq_type)})
    distinct = {repr(v) for v in batch.column("v").to_pylist()}
    assert len(set(row_digests(batch, ["v"]).tolist())) == len(distinct)


def test_two_hundred_thousand_distinct_rows_give_distinct_digests():
    count = 200_000
    batch = pa.record_batch(
        {"id": pa.array(np.arange(count)), "note": pa.array([f"n{i % 977}" for i in range(count)])}
    )
    assert len(np.unique(row_digests(batch, ["id", "note"]))) == count


def test_hex_text_round_trips_with_and_without_a_prefix():
    prints = row_digests(conformed_batch(), ["string", "int64"])
    for prefix in ("", "7:", "1234:"):
        text = to_hex(prints, prefix)
        assert all(len(t) == len(prefix) + 32 and t.startswith(prefix) for t in text.to_pylist())
        assert (from_hex(text) == prints).all()
    assert to_hex(prints[:1]).to_pylist() == [prints[0].ljust(16, b"\0").hex()]
    with pytest.raises(ValueError):
        from_hex(["not hex at all, not hex at all.."])


def test_no_rows_and_unsupported_types():
    empty = pa.record_batch({"a": pa.array([], pa.int64())})
    assert len(row_digests(empty, ["a"])) == 0
    nested = pa.record_batch({"a": pa.array([[1]], pa.list_(pa.int64()))})
    with pytest.raises(TypeError):
        row_digests(nested, ["a"])
