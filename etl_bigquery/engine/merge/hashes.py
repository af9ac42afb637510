"""The one place merge and history tables meet the row-hash encoding.

A merge table's row carries two digests, both computed by our own code from the conformed values
(never re-derived from values read back from BigQuery), with issue 16's vectorised content digest
(`engine.rowhash`, encoding v2: 128 bits a row from the Arrow buffers, numpy only):
- `_etl_key_hash`: of the key columns, which entity the row is (its description names the key
  columns and the encoding, so later runs hash the same columns the same way);
- `_etl_row_hash`: of every loaded column but a file's trace columns, which version it is.

Merge tables are new, so they start on encoding v2 directly. A later encoding is a new
description version: `key_columns_described` does not recognise another one, and the run fails
closed with a sentence instead of comparing digests of two encodings.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pyarrow as pa

from etl_bigquery.engine.described_columns import columns_from_description, describe_columns
from etl_bigquery.engine.rowhash import ENCODING, from_hex, to_hex
from etl_bigquery.engine.rowhash import row_digests as _digests

KEY_HASH = "_etl_key_hash"
ROW_HASH = "_etl_row_hash"
KEY_DESCRIPTION = f"Key digest v{ENCODING} (etl, engine.rowhash) of key columns: "
ROW_DESCRIPTION = f"Version digest v{ENCODING} (etl, engine.rowhash) of every loaded column"

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
    """16-byte digests (numpy `S16`) of the key columns of every row."""
    return _digests(batch, list(columns))


def row_digests(batch: pa.RecordBatch | pa.Table, columns: Sequence[str]) -> np.ndarray:
    """16-byte digests of the loaded columns of every row (the version)."""
    return _digests(batch, list(columns))


def describe_key(columns: Sequence[str]) -> str:
    return describe_columns(KEY_DESCRIPTION, columns)


def key_columns_described(text: str | None) -> tuple[str, ...] | None:
    """The key columns a `_etl_key_hash` description names, or None when it names none."""
    return columns_from_description(text, KEY_DESCRIPTION)
