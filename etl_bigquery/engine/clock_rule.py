"""The clock rule: the watermark never runs ahead of the clock.

A row whose cursor lies beyond the run's start plus a tolerance (a clock-skewed writer, a
`valid_until`-style sentinel, a year typed as 2099) is not loadable yet. Loaded, it would become
the watermark W, and every later run would read from `W - lookback` on: nothing, silently, until
that date. So every incremental filter (transactional, merge and history, standard and Beam path)
takes such rows out before anything else decides about them:

- they go to `<table>__rejected` with the reason "cursor is in the future" (kept once, like any
  rejected row: `engine.rejected` recognises a row it already holds) and the run ends `Partial`;
- they are never loaded, so the watermark (always computed from the rows BigQuery holds) stays
  at or below the clock; the next runs read them again, and once the clock has passed their
  cursor they load like any other row.

The bound, per cursor type (`not_after`): TIMESTAMP: the run's start (UTC) plus the tolerance.
DATETIME and DATE hold a wall clock of an unknown time zone, so their bound also allows the
widest offset there is (UTC+14): a value beyond it is in the future wherever the writer is.
Numeric cursors have no clock: the rule does not apply to them.

A table that already holds a watermark beyond the bound (loaded by an earlier version) is
refused in validation with the figure and the fix (`future_watermark_refusal`).
"""

from __future__ import annotations

import datetime as dt

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from etl_bigquery.engine.conform import RejectedRow
from etl_bigquery.engine.schema.bqtypes import BqType
from etl_bigquery.engine.sources.base import CursorValue

FUTURE_REASON = "cursor is in the future"
TOLERANCE = dt.timedelta(minutes=5)
"""Clock skew between the run's machine and the source's writers that is still 'now' (a job
sets its own with `clock_tolerance`)."""
WIDEST_OFFSET = dt.timedelta(hours=14)
_METADATA_PREFIX = "_etl_"


def not_after(
    bq_type: BqType, started_at: dt.datetime, tolerance: dt.timedelta = TOLERANCE
) -> CursorValue | None:
    """The largest cursor value a run started at `started_at` may load (None: no clock)."""
    now = started_at if started_at.tzinfo else started_at.replace(tzinfo=dt.UTC)
    now = now.astimezone(dt.UTC) + tolerance
    if bq_type is BqType.TIMESTAMP:
        return now
    if bq_type is BqType.DATETIME:
        return (now + WIDEST_OFFSET).replace(tzinfo=None)
    if bq_type is BqType.DATE:
        return (now + WIDEST_OFFSET).date()
    return None


def take_future(
    batch: pa.RecordBatch, cursor: str, bound: object | None
) -> tuple[pa.RecordBatch, list[RejectedRow]]:
    """(the rows whose cursor is at or before `bound`, the others as rejected rows)."""
    if bound is None or not batch.num_rows:
        return batch, []
    values = batch.column(cursor)
    later = pc.fill_null(pc.greater(values, pa.scalar(bound, values.type)), False)
    mask = np.asarray(later.to_numpy(zero_copy_only=False), dtype=bool)
    if not mask.any():
        return batch, []
    future = batch.filter(pa.array(mask))
    rejected = [
        RejectedRow(
            # Without the run's own metadata, so the same row read by every run is kept once.
            {k: v for k, v in row.items() if not k.startswith(_METADATA_PREFIX)},
            f"{FUTURE_REASON}: {cursor} {row[cursor]} is after this run's start plus its "
            f"clock_tolerance ({bound}); it loads once that time has come",
        )
        for row in future.to_pylist()
    ]
    return batch.filter(pa.array(~mask)), rejected


def future_watermark_refusal(
    table: str, cursor: str, watermark: object | None, bound: object | None
) -> str | None:
    """The refusal for a table whose watermark is already beyond the clock, or None."""
    if watermark is None or bound is None:
        return None
    try:
        ahead = watermark > bound  # type: ignore[operator]
    except TypeError:
        return None
    if not ahead:
        return None
    return (
        f"{table} already holds rows whose {cursor} is in the future: its watermark is "
        f"{watermark}, after this run's start plus its clock_tolerance ({bound}), so every "
        f"run would read from there on and load nothing until that time. Delete those rows from "
        f"BigQuery (DELETE FROM `{table}` WHERE `{cursor}` > '{bound}'); the next run reads from "
        "the real watermark again, loads the rows it missed, and keeps rows stamped in the "
        "future in the __rejected table until their time has come."
    )
