"""Row fingerprints: how a transactional run recognises rows BigQuery already holds.

Every row a transactional job loads carries `_etl_row_hash`, a 128-bit digest of its *identity
columns* as conformed for the destination (BigQuery types, before any BigQuery
round-trip). The next run computes the same fingerprint, with this same code, from the same source
row, so "already loaded?" is an exact comparison of two strings for every BigQuery type: JSON of
any shape, FLOAT64 with NaN and ±Infinity, NUMERIC/BIGNUMERIC, TIMESTAMP/DATETIME/TIME, GEOGRAPHY,
BYTES, unicode text. Nothing is ever compared with a value read back from BigQuery, whose
representation (JSON spacing, float printing, time zones) is not ours to control.

The identity columns are fixed when the table is created and written in the description of the
`_etl_row_hash` column, so a job whose column list changes later keeps comparing exactly what the
earlier loads carried (a column added to a job is not part of the identity). They are the
source's primary key plus the cursor when the source declares a primary key (or the job's
`key_columns`), and every loaded column otherwise. The identity says which entity a row is; its
content (which version) is `_etl_row_version` (`engine.row_version`): "already loaded?" compares
the (identity, version) pair (`engine.already_loaded`).

Encodings. A stored fingerprint is compared with one computed from the same values years later,
so an encoding never changes in place; the `_etl_row_hash` description names the one a table uses
(`Identity.encoding`), and a table keeps it for its life:
- **v2** (every table created since): `engine.rowhash` encoding v2 of the identity columns, in
  order: 128 bits a row computed from the Arrow buffers with numpy (one operation per column,
  no per-row Python), defined value by value in that module's docstring. About 100 times faster
  than v1 on a primary key plus a timestamp cursor (0.95 ms against 75 ms per 100,000 rows).
- **v1** (tables created before, kept so their rows are still recognised): each identity value in
  order becomes `N` when NULL, else `<byte length>:<bytes>` of its canonical text (Arrow's cast to
  string: shortest round-trip floats, `nan`, `inf`; decimals with the column's scale; ISO dates
  and times; JSON as the conformed text; BYTES as raw bytes); values are joined with `|`. Length
  prefixes make the encoding injective. The MD5 (128 bits) of that, one `hashlib` call a row.
  A vectorised MD5 was measured and not kept: in numpy it is slower than `hashlib` row by row
  (158 ms against 63 ms per 100,000 rows; 64 dependent steps a block), and the text encoding
  alone costs 25-175 ms per 100,000 rows, so v1 cannot be made fast byte for byte.
Both are stored as 32 hex digits.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from etl_bigquery.engine import rowhash
from etl_bigquery.engine.described_columns import columns_from_description, describe_columns

ROW_HASH = "_etl_row_hash"
ENCODING = 2
"""The encoding of every table created from now on."""
_DESCRIPTION_PREFIXES = {
    1: "Row fingerprint v1 (etl) of identity columns: ",
    2: f"Row fingerprint v2 (etl, engine.rowhash v{rowhash.ENCODING}) of identity columns: ",
}


@dataclass(frozen=True)
class Identity:
    """The destination columns whose values identify a row, in fingerprint order, and the
    encoding of the table's fingerprints."""

    columns: tuple[str, ...]
    encoding: int = ENCODING

    def describe(self) -> str:
        """The `_etl_row_hash` column's description, which is where the identity is kept."""
        return describe_columns(_DESCRIPTION_PREFIXES[self.encoding], self.columns)

    def is_row_digest_of(self, columns: tuple[str, ...]) -> bool:
        """Whether these fingerprints equal `engine.rowhash`'s digests of `columns` (a v2
        identity over the same columns, in the same order)."""
        return self.encoding == 2 and self.columns == columns

    @classmethod
    def from_description(cls, text: str | None) -> Identity | None:
        for encoding, prefix in _DESCRIPTION_PREFIXES.items():
            names = columns_from_description(text, prefix)
            if names is not None:
                return cls(names, encoding)
        return None


def _canonical_bytes(array: pa.Array) -> pa.Array:
    """One column → binary canonical text per value (nulls stay null)."""
    if isinstance(array, pa.ChunkedArray):
        array = array.combine_chunks()
    if isinstance(array.type, pa.BaseExtensionType):
        array = array.storage
    if pa.types.is_binary(array.type) or pa.types.is_large_binary(array.type):
        return array.cast(pa.binary())
    if not (pa.types.is_string(array.type) or pa.types.is_large_string(array.type)):
        array = pc.cast(array, pa.string())
    return array.cast(pa.string()).cast(pa.binary())


def _encoded_rows(batch: pa.RecordBatch | pa.Table, columns: tuple[str, ...]) -> pa.Array:
    pieces = []
    for name in columns:
        text = _canonical_bytes(batch.column(name))
        length = pc.cast(pc.cast(pc.binary_length(text), pa.string()), pa.binary())
        value = pc.binary_join_element_wise(length, text, b":")
        pieces.append(pc.fill_null(value, b"N"))
    if len(pieces) == 1:
        return pieces[0]
    return pc.binary_join_element_wise(*pieces, b"|")


def digests(batch: pa.RecordBatch | pa.Table, identity: Identity) -> np.ndarray:
    """The 16-byte fingerprints of every row, as a numpy `S16` array (for matching), in the
    identity's encoding."""
    if identity.encoding == 2:
        return rowhash.row_digests(batch, identity.columns)
    if identity.encoding != 1:
        raise ValueError(f"row fingerprint encoding v{identity.encoding} is not known")
    return md5_digests(batch, identity.columns)


def md5_digests(batch: pa.RecordBatch | pa.Table, columns: tuple[str, ...]) -> np.ndarray:
    """Encoding v1: the MD5 of each row's canonical text (kept for tables created with it)."""
    encoded = _encoded_rows(batch, columns).to_pylist()
    raw = b"".join(hashlib.md5(value, usedforsecurity=False).digest() for value in encoded)
    return np.frombuffer(raw, dtype="S16") if raw else np.empty(0, dtype="S16")


# Fingerprints are stored as 32 lower-case hex digits, like every digest: one vectorised codec.
to_hex = rowhash.to_hex
from_hex = rowhash.from_hex


class KnownRows:
    """A multiset of fingerprints BigQuery already holds, in bounded memory: sorted unique
    16-byte keys and their remaining counts (about 24 bytes a row, never Python objects per row).

    `claim` drops each source row whose fingerprint still has a count left, and uses that count
    up, so k identical rows held cancel exactly k identical source rows."""

    def __init__(self, keys: np.ndarray, counts: np.ndarray) -> None:
        order = np.argsort(keys, kind="stable")
        keys, counts = keys[order], counts[order].astype(np.int64)
        # Merge repeated keys (a key may come from several result pages).
        unique, starts = np.unique(keys, return_index=True)
        self.keys = unique
        self.remaining = np.add.reduceat(counts, starts) if len(counts) else counts
        self.claimed = 0

    @classmethod
    def empty(cls) -> KnownRows:
        return cls(np.empty(0, dtype="S16"), np.empty(0, dtype=np.int64))

    def copy(self) -> KnownRows:
        """A fresh multiset to claim from (a retried extraction starts from the full set)."""
        known = KnownRows.empty()
        known.keys, known.remaining = self.keys, self.remaining.copy()
        return known

    def __len__(self) -> int:
        return int(self.remaining.sum())

    def claim(self, values: np.ndarray, candidates: np.ndarray | None = None) -> np.ndarray:
        """Mask of the rows to keep. `candidates` (bool) limits matching to rows that may be
        held at all (their cursor is inside the compared window)."""
        keep = np.ones(len(values), dtype=bool)
        if not len(self.keys) or not len(values):
            return keep
        rows = np.arange(len(values)) if candidates is None else np.flatnonzero(candidates)
        if not len(rows):
            return keep
        subset = values[rows]
        position = np.searchsorted(self.keys, subset)
        position[position == len(self.keys)] = 0
        found = self.keys[position] == subset
        rows, position = rows[found], position[found]
        if not len(rows):
            return keep
        # The n-th source row with a given key is dropped while the held count exceeds n.
        order = np.argsort(position, kind="stable")
        rows, position = rows[order], position[order]
        first = np.r_[True, position[1:] != position[:-1]]
        group_start = np.maximum.accumulate(np.where(first, np.arange(len(position)), 0))
        rank = np.arange(len(position)) - group_start
        drop = rank < self.remaining[position]
        np.subtract.at(self.remaining, position[drop], 1)
        keep[rows[drop]] = False
        self.claimed += int(drop.sum())
        return keep
