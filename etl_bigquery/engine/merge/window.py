"""The state of a merge or history table, read in ONE query (one query job sees one snapshot).

- `W`: the watermark (largest cursor); `n`: rows; `L`: the table clock, the latest stamp in the
  table (`_etl_loaded_at`, and `_etl_deleted_at` of soft deletes); `live`: rows not deleted
  (history: current versions), for the `max_deleted` guard.
- The *window*: every row with cursor ≥ `W - lookback` (history: the latest version of each key),
  as key hash, row hash, cursor, stamp and deleted flag, held in arrays sorted by key hash
  (about 48 bytes a row, bounded by the lookback like a transactional window).

The state token `(W, n, L, live)` names the next MERGE: every table change a merge run makes
moves it (a MERGE stages only winning versions, so it always moves `L`; deletes move `live` or
`n`).
"""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import dataclass

import numpy as np
import pyarrow as pa
from google.cloud import bigquery

from etl_bigquery.engine.bigquery import merge_sql
from etl_bigquery.engine.bigquery.merge_sql import MergeShape
from etl_bigquery.engine.errors import EtlError, StateUnavailable
from etl_bigquery.engine.incremental import Lookback, StateKey, unreadable
from etl_bigquery.engine.merge.hashes import KEY_HASH, ROW_HASH, from_hex

_MICRO = dt.timedelta(microseconds=1)
_EPOCH = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)


@dataclass(frozen=True)
class KeyedState:
    watermark: object | None
    rows: int
    clock: dt.datetime | None
    """The latest stamp the table holds (loaded or deleted), None for an empty table."""
    live: int

    def key(self) -> StateKey:
        """The token that names the next MERGE (`engine.incremental.load_job_id`)."""
        clock = self.clock.isoformat() if self.clock is not None else None
        marker = self.watermark
        if isinstance(marker, dt.datetime | dt.date | dt.time):
            marker = marker.isoformat()
        text = json.dumps(["keyed", str(marker) if marker is not None else None, clock, self.live])
        return StateKey(text, self.rows)

    def next_stamp(self, now: dt.datetime) -> dt.datetime:
        """The table clock for the next version: later than every stamp the table holds even
        when this machine's clock is behind, so stamps grow strictly per table."""
        now = now.astimezone(dt.UTC)
        if self.clock is None:
            return now
        return max(now, self.clock + _MICRO)


@dataclass(frozen=True)
class KeyedWindow:
    """The window's rows, sorted by key hash (plain numpy and Arrow: picklable for Beam)."""

    keys: np.ndarray
    """`S16` key hashes, sorted, unique."""
    rows: np.ndarray
    """`S16` row hashes, aligned."""
    cursors: pa.Array
    stamps: np.ndarray
    """int64 microseconds since the epoch (UTC)."""
    deleted: np.ndarray
    """bool: soft-deleted (history: closed by a delete)."""

    @classmethod
    def empty(cls, cursor_type: pa.DataType) -> KeyedWindow:
        return cls(
            np.empty(0, dtype="S16"), np.empty(0, dtype="S16"), pa.array([], cursor_type),
            np.empty(0, dtype=np.int64), np.empty(0, dtype=bool),
        )  # fmt: skip

    def __len__(self) -> int:
        return len(self.keys)


def _micros(values: pa.Array) -> np.ndarray:
    stamps = values.cast(pa.timestamp("us", tz="UTC")).cast(pa.int64())
    return np.asarray(stamps.fill_null(0).to_numpy(zero_copy_only=False), dtype=np.int64)


def _window(result: pa.Table, rows_mask: np.ndarray, cursor_type: pa.DataType) -> KeyedWindow:
    rows = result.filter(pa.array(rows_mask))
    if rows.num_rows == 0:
        return KeyedWindow.empty(cursor_type)
    keys = from_hex(rows.column("k").combine_chunks())
    hashes = from_hex(rows.column("h").combine_chunks())
    stamps = _micros(rows.column("l").combine_chunks())
    # A key should appear once; if a table holds it twice, its latest stamp is its version.
    order = np.lexsort((stamps, keys))
    keys, hashes, stamps = keys[order], hashes[order], stamps[order]
    last = np.r_[keys[1:] != keys[:-1], True]
    take = order[last]
    cursors = rows.column("c").combine_chunks().take(pa.array(take)).cast(cursor_type)
    deleted_at = rows.column("d").combine_chunks()
    deleted = np.asarray(deleted_at.is_valid().to_numpy(zero_copy_only=False))
    return KeyedWindow(keys[last], hashes[last], cursors, stamps[last], deleted[take])


def read_keyed_state(
    client: bigquery.Client,
    shape: MergeShape,
    lookback: Lookback,
    cursor_type: pa.DataType,
    *,
    location: str | None,
) -> tuple[KeyedState, KeyedWindow, object | None]:
    """(state, window, window start) from ONE query; fails closed when the table holds rows it
    cannot place (no cursor, no key or row hash): the run never starts over."""
    start_sql, parameters = lookback.sql("state.w")
    text = merge_sql.state_sql(shape, start_sql)
    try:
        result = client.query_and_wait(
            text, job_config=bigquery.QueryJobConfig(query_parameters=parameters), location=location
        ).to_arrow(create_bqstorage_client=False)
    except EtlError:
        raise
    except Exception as error:
        raise unreadable(error, shape.target, "the state") from None
    kinds = np.array(result.column("kind").to_pylist())
    state_at = int(np.flatnonzero(kinds == "state")[0])
    first = result.slice(state_at, 1).to_pylist()[0]
    untraced = int(first["u"] or 0)
    if untraced:
        raise StateUnavailable(
            f"{shape.target} holds {untraced} rows without a value in {shape.cursor.name}, "
            f"{KEY_HASH} or {ROW_HASH} (loaded by hand or by another tool), so what it holds is "
            "unknown and this run loads nothing (it never starts over); fix those rows or load "
            "into a new table."
        )
    clocks = [value for value in (first["l"], first["d"]) if value is not None]
    state = KeyedState(
        watermark=first["c"],
        rows=int(first["n"] or 0),
        clock=max(clocks) if clocks else None,
        live=int(first["live"] or 0),
    )
    window = _window(result, kinds == "row", cursor_type)
    start = lookback.window_start(state.watermark) if state.watermark is not None else None
    return state, window, start
