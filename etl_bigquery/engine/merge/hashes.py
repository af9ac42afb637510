"""The one place merge and history tables meet the row-hash encoding.

A merge table's row carries two fingerprints, both computed by our own code from the conformed
values (never re-derived from values read back from BigQuery):
- `_etl_key_hash`: of the key columns, which entity the row is (its description names the key
  columns, so later runs hash the same columns);
- `_etl_row_hash`: of every loaded column, which version of it the row is.

Until issue 16's vectorised identity + content hash lands, both go through
`engine.fingerprint.digests` (MD5 of a canonical, length-prefixed encoding). Switching encoding
is a change of this module only: merge tables compare hashes computed by this run's code with
hashes computed by earlier runs' code, so a new encoding needs a new description version (the
table then fails closed until migrated) — see `KEY_DESCRIPTION`.
"""

from __future__ import annotations

import json
from collections.abc import Sequence

import numpy as np
import pyarrow as pa

from etl_bigquery.engine.fingerprint import Identity, digests, from_hex, to_hex

KEY_HASH = "_etl_key_hash"
ROW_HASH = "_etl_row_hash"
KEY_DESCRIPTION = "Key fingerprint v1 (etl) of key columns: "
ROW_DESCRIPTION = "Version fingerprint v1 (etl) of every loaded column"

__all__ = [
    "KEY_HASH",
    "ROW_HASH",
    "describe_key",
    "from_hex",
    "key_columns_described",
    "key_digests",
    "row_digests",
    "to_hex",
]


def key_digests(batch: pa.RecordBatch | pa.Table, columns: Sequence[str]) -> np.ndarray:
    """16-byte fingerprints (numpy `S16`) of the key columns of every row."""
    return digests(batch, Identity(tuple(columns)))


def row_digests(batch: pa.RecordBatch | pa.Table, columns: Sequence[str]) -> np.ndarray:
    """16-byte fingerprints of the loaded columns of every row (the version)."""
    return digests(batch, Identity(tuple(columns)))


def describe_key(columns: Sequence[str]) -> str:
    return KEY_DESCRIPTION + json.dumps(list(columns))


def key_columns_described(text: str | None) -> tuple[str, ...] | None:
    """The key columns a `_etl_key_hash` description names, or None when it names none."""
    if not text or not text.startswith(KEY_DESCRIPTION):
        return None
    try:
        names = json.loads(text[len(KEY_DESCRIPTION) :])
    except ValueError:
        return None
    if not isinstance(names, list) or not names or not all(isinstance(n, str) for n in names):
        return None
    return tuple(names)
