"""Which version of a row: the content half of "already loaded?" for transactional tables.

A transactional row carries two digests: `_etl_row_hash`, its *identity* (`engine.fingerprint`:
which entity, e.g. the primary key plus the cursor), and `_etl_row_version`, its *content* (this
module: encoding v2 of `engine.rowhash` over every loaded column, vectorised). A source row is
already loaded when its (identity, version) pair is held in the window; k identical rows held
cancel exactly k identical source rows, so multisets stay exact, and an update that kept its
cursor value (a DATE cursor updated the same day, two updates in one second of a DATETIME) has
a new version, so it is loaded as a new row.

The version columns are fixed when the column is added and written in its description, like
the identity: a column the job starts loading later is not part of the version (otherwise every
row re-read in the lookback window would look new once).

Tables written before versions existed (identity only): validation adds `_etl_row_version`
(NULLABLE) and later rows carry it; no reload. Their rows without a version are matched by
identity alone, as before, so during the one lookback window after the upgrade an update that
kept its cursor of a row loaded by the earlier version is still not seen; every row loaded
since is compared by (identity, content).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pyarrow as pa

from etl_bigquery.engine.described_columns import columns_from_description, describe_columns
from etl_bigquery.engine.rowhash import ENCODING, row_digests

ROW_VERSION = "_etl_row_version"
_DESCRIPTION_PREFIX = f"Row version v{ENCODING} (etl, engine.rowhash) of columns: "
NO_VERSION = b"\0" * 16
"""The version half of a pair held without a version (a row of an earlier version)."""


@dataclass(frozen=True)
class VersionColumns:
    """The destination columns whose values make a row's version, in digest order."""

    columns: tuple[str, ...]

    def describe(self) -> str:
        return describe_columns(_DESCRIPTION_PREFIX, self.columns)

    @classmethod
    def from_description(cls, text: str | None) -> VersionColumns | None:
        names = columns_from_description(text, _DESCRIPTION_PREFIX, allow_empty=True)
        return None if names is None else cls(names)

    def digests(self, batch: pa.RecordBatch) -> np.ndarray:
        """The 16-byte version of every row (a version column the batch lacks counts as NULL,
        so a column removed from the table does not make every row new)."""
        present = set(batch.schema.names)
        if all(name in present for name in self.columns):
            return row_digests(batch, self.columns)
        arrays = [
            batch.column(name) if name in present else pa.nulls(batch.num_rows, pa.int64())
            for name in self.columns
        ]
        complete = pa.RecordBatch.from_arrays(arrays, names=list(self.columns))
        return row_digests(complete, self.columns)


def pair_keys(identities: np.ndarray, versions: np.ndarray | None) -> np.ndarray:
    """(identity, version) as one 32-byte key per row (`S32`); versions None: NO_VERSION."""
    n = len(identities)
    raw = np.zeros((n, 32), dtype=np.uint8)
    if n:
        raw[:, :16] = np.frombuffer(identities.tobytes(), dtype=np.uint8).reshape(n, 16)
        if versions is not None:
            raw[:, 16:] = np.frombuffer(versions.tobytes(), dtype=np.uint8).reshape(n, 16)
    return raw.view("S32").reshape(n)


def identities_of(pairs: np.ndarray) -> np.ndarray:
    """The sorted unique identities (`S16`) of 32-byte pair keys."""
    n = len(pairs)
    if not n:
        return np.empty(0, dtype="S16")
    raw = np.frombuffer(pairs.tobytes(), dtype=np.uint8).reshape(n, 32)[:, :16].copy()
    return np.unique(raw.view("S16").reshape(n))
