"""Turn a reader's record batch into the destination's shape: BigQuery names, BigQuery types, and
the metadata columns every loaded row carries.

A value that does not fit its column does not fail the run: its row is set aside with the reason
(a "rejected" row, kept in a dead-letter table) and the run ends `Partial`.
"""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import dataclass

import pyarrow as pa
import pyarrow.compute as pc

from etl_bigquery.engine.conform.casts import CastFailed, cast_array
from etl_bigquery.engine.schema.bqtypes import BqType, arrow_type

LOADED_AT = "_etl_loaded_at"
RUN_ID = "_etl_run_id"
METADATA_COLUMNS: dict[str, BqType] = {LOADED_AT: BqType.TIMESTAMP, RUN_ID: BqType.STRING}
_MAX_VALUE_TEXT = 200
_DECIMALS = (BqType.NUMERIC, BqType.BIGNUMERIC)


@dataclass(frozen=True)
class TargetColumn:
    """One destination column: where it comes from and what it becomes. `source_name` is None for
    a table column the job does not load (it is written as NULL, so a snapshot keeps it)."""

    source_name: str | None
    source_type: str
    name: str
    bq_type: BqType
    trusted: bool = False
    """The source's own type guarantees every value fits (PostgreSQL jsonb into JSON, numeric(12,2)
    into NUMERIC), so conforming converts without checking each value."""


@dataclass(frozen=True)
class RejectedRow:
    record: dict[str, object]
    reason: str

    def to_json(self) -> str:
        return json.dumps({"reason": self.reason, "record": self.record}, default=str)


@dataclass(frozen=True)
class RunStamp:
    run_id: str
    loaded_at: dt.datetime


def destination_schema(columns: list[TargetColumn]) -> pa.Schema:
    fields = [pa.field(c.name, arrow_type(c.bq_type)) for c in columns]
    fields += [pa.field(name, arrow_type(bq)) for name, bq in METADATA_COLUMNS.items()]
    return pa.schema(fields)


def _python_value(single: pa.Array) -> object:
    """The one value of `single` as Python; a date Python cannot hold (year 0 or below, past
    9999: PostgreSQL has them) as Arrow's text of it, so a rejected row still shows its value."""
    try:
        return single[0].as_py()
    except (OverflowError, ValueError):
        return pc.cast(single, pa.string())[0].as_py()


def _short(value: object) -> str:
    text = repr(value)
    return text if len(text) <= _MAX_VALUE_TEXT else text[:_MAX_VALUE_TEXT] + "..."


class Conformer:
    def __init__(self, columns: list[TargetColumn], stamp: RunStamp) -> None:
        self.columns = columns
        self.stamp = stamp
        self.schema = destination_schema(columns)
        self._stamps: tuple[pa.Array, pa.Array] | None = None
        self.numeric_nan_nulled = 0
        """NUMERIC/BIGNUMERIC NaN or ±Infinity values written as NULL (BigQuery cannot hold
        them), counted for the extract artifact."""

    def _metadata(self, size: int) -> tuple[pa.Array, pa.Array]:
        """The two metadata columns, built once and sliced: every row of a run has the same."""
        if self._stamps is None or len(self._stamps[0]) < size:
            length = max(size, 1024)
            loaded_at = pa.scalar(self.stamp.loaded_at, arrow_type(BqType.TIMESTAMP))
            run_id = pa.scalar(self.stamp.run_id, pa.string())
            self._stamps = (
                pa.repeat(loaded_at, length),
                pa.repeat(run_id, length),
            )
        return self._stamps[0].slice(0, size), self._stamps[1].slice(0, size)

    def conform(self, batch: pa.RecordBatch) -> tuple[pa.RecordBatch, list[RejectedRow]]:
        try:
            return self._cast_all(batch), []
        except CastFailed:
            pass
        bad = self._find_bad_rows(batch)
        keep = pa.array([i not in bad for i in range(batch.num_rows)])
        good = self._cast_all(batch.filter(keep))
        rejected = [
            RejectedRow(
                {
                    name: _python_value(batch.column(name).slice(i, 1))
                    for name in batch.schema.names
                },
                reason,
            )
            for i, reason in sorted(bad.items())
        ]
        return good, rejected

    def _cast_all(self, batch: pa.RecordBatch) -> pa.RecordBatch:
        size = batch.num_rows
        arrays = []
        nulled = 0
        for c in self.columns:
            if c.source_name is None:
                arrays.append(pa.nulls(size, arrow_type(c.bq_type)))
                continue
            source = batch.column(c.source_name)
            array = cast_array(source, c.bq_type, trusted=c.trusted)
            if c.bq_type in _DECIMALS:
                nulled += array.null_count - source.null_count
            arrays.append(array)
        arrays.extend(self._metadata(size))
        result = pa.RecordBatch.from_arrays(arrays, schema=self.schema)
        self.numeric_nan_nulled += nulled  # counted once the whole batch converted
        return result

    def _find_bad_rows(self, batch: pa.RecordBatch) -> dict[int, str]:
        """Row index → reason, found value by value (only for batches that failed as a whole)."""
        bad: dict[int, str] = {}
        for column in self.columns:
            if column.source_name is None:
                continue
            array = batch.column(column.source_name)
            try:
                cast_array(array, column.bq_type, trusted=column.trusted)
                continue
            except CastFailed:
                pass
            for index in range(len(array)):
                if index in bad:
                    continue
                single = array.slice(index, 1)
                try:
                    cast_array(single, column.bq_type, trusted=column.trusted)
                except CastFailed as error:
                    value = _python_value(single)
                    bad[index] = (
                        f"column '{column.source_name}': {_short(value)} is not a valid "
                        f"{column.bq_type.value} ({error})"
                    )
        return bad


def keep_rows_at_or_before(
    batch: pa.RecordBatch, column: str, bound: object | None
) -> pa.RecordBatch:
    """Drop rows whose cursor is after `bound` (None: every row): a settled read's upper bound,
    in case a reader returned more."""
    if bound is None:
        return batch.slice(0, 0)
    values = batch.column(column)
    mask = pc.fill_null(pc.less_equal(values, pa.scalar(bound, values.type)), False)
    return batch if pc.all(mask).as_py() else batch.filter(mask)


def keep_rows_at_or_after(batch: pa.RecordBatch, column: str, bound: object) -> pa.RecordBatch:
    """Drop rows whose cursor is NULL or before `bound` (the reader's filter may be coarser)."""
    values = batch.column(column)
    mask = pc.fill_null(pc.greater_equal(values, pa.scalar(bound, values.type)), False)
    return batch if pc.all(mask).as_py() else batch.filter(mask)
