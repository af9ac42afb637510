"""Identity fingerprint encodings (engine.fingerprint): tables created before keep encoding v1
byte for byte (golden values computed by the code before v2 existed), new tables get v2 (the
vectorised `engine.rowhash` digest), and the `_etl_row_hash` description says which a table has,
so a changed encoding never makes already-loaded rows look new."""

from __future__ import annotations

import hashlib

import numpy as np
import pyarrow as pa
import pytest

from etl_bigquery.engine.described_columns import columns_from_description, describe_columns
from etl_bigquery.engine.fingerprint import ENCODING, Identity, digests, to_hex
from etl_bigquery.engine.rowhash import row_digests
from tests.unit.test_fingerprint import conformed_batch

# Computed by engine.fingerprint as it was before encoding v2 (commit 9a4ef69), over
# `conformed_batch()`: NULLs, unicode, NaN/±inf/-0.0, NUMERIC and BIGNUMERIC, dates, DATETIME,
# TIMESTAMP with zones, TIME, JSON scalars and objects, BYTES, GEOGRAPHY.
V1_EVERY_COLUMN = [
    "be92738c625167d349a9bc707cd2138c",
    "4bfe46146d793d1265ac76cfe68837e1",
    "beb85e4eef91e7571b5e49feaa198cd0",
    "c0a5068ecd41b7e1b14cf12824222b2b",
]
V1_EACH_COLUMN = {
    "string": ["744f8d330607a82b75c597378d700b56", "9a1c7ee2c7ce38d4bbbaf29ab9f2ac1e",
               "8d9c307cb7f3c4a32822a51922d1ceaa", "d3360bface936f1ad90682e1f6d3ed6c"],
    "int64": ["81b206a89f89d5b1123b87606075c6a8", "b857eee39494dfb9ff4d5ae9ddbd9dd1",
              "31fe8cd87387060e22f126344ebd6de8", "8d9c307cb7f3c4a32822a51922d1ceaa"],
    "float64": ["9159d0d19587786f6fcb29ea0be355a4", "9df351587d5c1535d695c770e6f11756",
                "15e42972e2d3f4be73392be4751e3ae6", "ce8f2c5c9ed508a7de125874386fce54"],
    "numeric": ["ff069b651c72575b1e5e70a54e8776c6", "64f63117b8bc4d29407b393996691f51",
                "2d5fd4da820c23649de09f7cf1896af6", "8d9c307cb7f3c4a32822a51922d1ceaa"],
    "bignumeric": ["9422f70add1e442a1fe1aa22be923cb2", "c45cb288902d7bf990c9c10687ad7aed",
                   "8d9c307cb7f3c4a32822a51922d1ceaa", "503d20e473e61477d3be9b1dde7290bd"],
    "bool": ["93bcf6321b3a615fe8c44c7c3341422c", "a2a4b533abcbec305cba9e60f86bceb8",
             "8d9c307cb7f3c4a32822a51922d1ceaa", "93bcf6321b3a615fe8c44c7c3341422c"],
    "date": ["9d2f07f0f9a0dc9a033fa6946443fd24", "34daee7a9ab3323191c3283d5fd776d5",
             "8d9c307cb7f3c4a32822a51922d1ceaa", "cb9abaaa660742271e485f95581cfdeb"],
    "datetime": ["ebc4186ccded3a3ea12e349d743459ba", "8d9c307cb7f3c4a32822a51922d1ceaa",
                 "0b1a0ae72ba81185b1c69f39825119cd", "4f6c31ac1bd1a226c80711e1c4381439"],
    "timestamp": ["bc66da4b977850f92fd58c9e78c71423", "02d787802fca2205d2e10a88596fe594",
                  "8d9c307cb7f3c4a32822a51922d1ceaa", "664c93c3c1747a974bf3463fbecc92a9"],
    "time": ["0e0615abb489e96f1a18a1ce33515be3", "5cbef5f2c818475e15493d1105f510b3",
             "8d9c307cb7f3c4a32822a51922d1ceaa", "890a7f6d9d1000a4ac1bb49cba9465fc"],
    "json": ["9f7c74411e87b8c1612e85fdda57f6f5", "36f0adeae3fe835e240956cd83080855",
             "8e9cd5d9e3a2b4395065f733d6ca0445", "15bd5d5dec61159282cb42ae8439c7ab"],
    "bytes": ["2a57b6be5ac21d9335ac581f66c5b47c", "9a1c7ee2c7ce38d4bbbaf29ab9f2ac1e",
              "8d9c307cb7f3c4a32822a51922d1ceaa", "2b412cc8b786c6337ec9393a2bcfc2a6"],
    "geography": ["57893b2c0344a20f3ad878ac6c3f242f", "8d9c307cb7f3c4a32822a51922d1ceaa",
                  "3dec00326e8022ebe46ff8ca395c8cfb", "57893b2c0344a20f3ad878ac6c3f242f"],
}  # fmt: skip
V1_PREFIX = "Row fingerprint v1 (etl) of identity columns: "


def _hex(batch: pa.RecordBatch, identity: Identity) -> list[str]:
    return to_hex(digests(batch, identity)).to_pylist()


def test_encoding_v1_is_byte_for_byte_what_tables_created_before_hold():
    batch = conformed_batch()
    assert _hex(batch, Identity(tuple(batch.schema.names), encoding=1)) == V1_EVERY_COLUMN
    for name, expected in V1_EACH_COLUMN.items():
        assert _hex(batch, Identity((name,), encoding=1)) == expected, name


def test_encoding_v1_is_the_md5_of_its_written_definition():
    """`N` for NULL, else `<byte length>:<text>`, joined with `|` (here text and integers, whose
    canonical text is plain)."""
    batch = pa.record_batch({"id": [7, None], "note": ["naïve|1:x", ""]})
    expected = [
        hashlib.md5("1:7|10:naïve|1:x".encode()).hexdigest(),
        hashlib.md5(b"N|0:").hexdigest(),
    ]
    assert _hex(batch, Identity(("id", "note"), encoding=1)) == expected


def test_encoding_v2_is_the_vectorised_row_digest_of_the_identity_columns():
    batch = conformed_batch()
    for columns in (("int64", "timestamp"), tuple(batch.schema.names)):
        v2 = digests(batch, Identity(columns))
        assert (v2 == row_digests(batch, columns)).all()
        assert _hex(batch, Identity(columns)) != _hex(batch, Identity(columns, encoding=1))


def test_a_table_keeps_the_encoding_its_description_names():
    assert ENCODING == 2 and Identity(("id",)).encoding == 2  # what new tables get
    old = Identity.from_description(V1_PREFIX + '["id", "updated_at"]')
    assert old == Identity(("id", "updated_at"), encoding=1)
    assert Identity.from_description(old.describe()) == old
    new = Identity(("id", "updated_at"))
    assert new.describe() != old.describe()
    assert Identity.from_description(new.describe()) == new
    # Another encoding (or a hand-edited description) names no identity: the run fails closed.
    assert Identity.from_description(new.describe().replace("v2", "v9")) is None
    assert Identity.from_description(V1_PREFIX + "[]") is None


def test_an_unknown_encoding_is_refused_with_a_sentence():
    with pytest.raises(ValueError, match="encoding v7 is not known"):
        digests(pa.record_batch({"a": [1]}), Identity(("a",), encoding=7))


def test_v2_digests_a_million_rows_without_per_row_python():
    """A primary key and a timestamp cursor: one numpy pass per column (this would take
    seconds row by row; no timing is asserted, only the result)."""
    n = 1_000_000
    batch = pa.record_batch(
        {"id": np.arange(n), "at": pa.array(np.arange(n) * 1_000_000, pa.timestamp("us"))}
    )
    prints = digests(batch, Identity(("id", "at")))
    assert len(np.unique(prints)) == n


@pytest.mark.parametrize(
    ("text", "allow_empty", "expected"),
    [
        ('P: ["a", "b"]', False, ("a", "b")),
        ("P: []", False, None),
        ("P: []", True, ()),
        ('Q: ["a"]', False, None),
        ("P: [1]", False, None),
        ("P: {not json", False, None),
        (None, False, None),
    ],
)
def test_column_lists_in_descriptions(text, allow_empty, expected):
    assert columns_from_description(text, "P: ", allow_empty=allow_empty) == expected
    if expected:
        assert columns_from_description(describe_columns("P: ", expected), "P: ") == expected


def test_an_identity_of_every_column_is_the_version_digest_and_computed_once():
    from etl_bigquery.engine.already_loaded import IncrementFilter
    from etl_bigquery.engine.fingerprint import KnownRows
    from etl_bigquery.engine.row_version import VersionColumns

    batch = pa.record_batch({"id": [1, 2], "at": [10, 20]})
    columns = ("id", "at")
    for identity, same in ((Identity(columns), True), (Identity(columns, encoding=1), False)):
        spec = IncrementFilter.from_known(
            "at", identity, None, None, KnownRows.empty(), version=VersionColumns(columns)
        )
        matched = spec.in_window(batch)
        assert (matched.versions == VersionColumns(columns).digests(batch)).all()
        assert (matched.identities is matched.versions) is same
