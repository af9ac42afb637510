"""The two sides of a verify as streams of Arrow batches with the same columns and types.

Source: read and conformed exactly as a run reads it (`Conformer`), so a value BigQuery holds
compares with the value a load would write today. BigQuery: the scope's rows read page by page
and cast to the same Arrow types. Memory: one batch (a page) at a time on either side.

JSON values are compared by their meaning: both sides' text is re-serialised with sorted keys
(BigQuery stores JSON normalised, without the source's spacing or key order).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
from google.cloud import bigquery

from etl_bigquery.engine.conform import Conformer, RunStamp
from etl_bigquery.engine.conform.batch import keep_rows_at_or_after, keep_rows_at_or_before
from etl_bigquery.engine.pipeline.context import RunContext
from etl_bigquery.engine.prefetch import read_ahead
from etl_bigquery.engine.schema.bqtypes import BqType, arrow_type
from etl_bigquery.engine.sources.abilities import RejectsRecords
from etl_bigquery.engine.verify.ranges import key_prefix
from etl_bigquery.engine.verify.scope import Scope

PAGE_ROWS = 10_000
"""Rows per BigQuery result page: the REST pages arrive as JSON, several times the size of the
same rows in Arrow, so smaller pages keep the peak memory down."""
Digest = Callable[[pa.RecordBatch], np.ndarray]


def _canonical_json(array: pa.Array | pa.ChunkedArray) -> pa.Array:
    if isinstance(array, pa.ChunkedArray):
        array = array.combine_chunks()
    if isinstance(array.type, pa.BaseExtensionType):
        array = array.storage
    values: list[str | None] = []
    for text in array.to_pylist():
        if text is None:
            values.append(None)
            continue
        if not isinstance(text, str):
            text = json.dumps(text)
        try:
            parsed = json.loads(text)
        except ValueError:
            values.append(text)
            continue
        values.append(json.dumps(parsed, sort_keys=True, separators=(",", ":"), ensure_ascii=False))
    return pa.array(values, pa.string())


def normalise(batch: pa.RecordBatch | pa.Table, scope: Scope) -> pa.RecordBatch:
    """`batch` with exactly the scope's columns, in its order, in the conformed Arrow types."""
    arrays = []
    fields = []
    for column in scope.columns:
        values = batch.column(column.name)
        if column.bq_type is BqType.JSON:
            values = _canonical_json(values)
            kind = pa.string()
        else:
            kind = arrow_type(column.bq_type)
            if isinstance(values, pa.ChunkedArray):
                values = values.combine_chunks()
            if isinstance(values.type, pa.BaseExtensionType):
                values = values.storage
            if values.type != kind:
                values = pc.cast(values, kind)
        arrays.append(values)
        fields.append(pa.field(column.name, kind))
    return pa.RecordBatch.from_arrays(arrays, schema=pa.schema(fields))


@dataclass
class SourceFigures:
    rows: int = 0
    rejected: int = 0
    """Rows a load would set aside as malformed (they are in `__rejected`, not the table)."""
    not_loaded_yet: int = 0
    """Merge/history: source rows newer than the table's watermark."""


class SourceSide:
    """The source's rows in scope; for merge/history also the keys not loaded yet, which the
    BigQuery side then leaves out (read the source first)."""

    def __init__(self, ctx: RunContext, scope: Scope) -> None:
        self.ctx = ctx
        self.scope = scope
        self.figures = SourceFigures()
        self.pending = np.empty(0, np.uint64)

    def batches(self, key_digest: Digest) -> Iterator[pa.RecordBatch]:
        scope = self.scope
        self.figures = SourceFigures()
        pending: list[np.ndarray] = []
        conformer = Conformer(scope.columns, RunStamp("verify", self.ctx.started_at))
        reader = self.ctx.reader
        unreadable = reader.take_rejected if isinstance(reader, RejectsRecords) else None
        for raw in read_ahead(reader.read(scope.read_plan)):
            good, rejected = conformer.conform(raw)
            self.figures.rejected += len(rejected)
            if unreadable is not None:
                self.figures.rejected += len(unreadable())
            if scope.cursor is not None:
                if scope.lower is not None:
                    good = keep_rows_at_or_after(good, scope.cursor, scope.lower)
                else:
                    good = good.filter(pc.is_valid(good.column(scope.cursor)))
                if scope.watermark is not None:
                    kept = keep_rows_at_or_before(good, scope.cursor, scope.watermark)
                    if scope.pending_above_watermark and kept.num_rows < good.num_rows:
                        values = good.column(scope.cursor)
                        above = pc.greater(values, pa.scalar(scope.watermark, values.type))
                        newer = normalise(good.filter(pc.fill_null(above, False)), scope)
                        self.figures.not_loaded_yet += newer.num_rows
                        pending.append(key_prefix(key_digest(newer)))
                    good = kept
            batch = normalise(good, scope)
            self.figures.rows += batch.num_rows
            if batch.num_rows:
                yield batch
        self.pending = np.unique(np.concatenate(pending)) if pending else np.empty(0, np.uint64)


class BigQuerySide:
    def __init__(self, ctx: RunContext, scope: Scope) -> None:
        self.client: bigquery.Client = ctx.bigquery.bigquery
        self.scope = scope
        self.rows = 0
        self.left_out = 0
        """Rows of keys the source has newer versions of (not loaded yet)."""

    def batches(
        self,
        key_digest: Digest,
        pending: np.ndarray,
    ) -> Iterator[pa.RecordBatch]:
        scope = self.scope
        self.rows = self.left_out = 0
        names = ", ".join(f"`{n}`" for n in scope.names)
        sql = f"SELECT {names} FROM {scope.ref.sql}"
        if scope.bigquery_filter:
            sql += f" WHERE {scope.bigquery_filter}"
        config = bigquery.QueryJobConfig(query_parameters=list(scope.parameters))
        job = self.client.query(sql, job_config=config, location=scope.location)
        rows = job.result(page_size=PAGE_ROWS)
        for page in rows.to_arrow_iterable(bqstorage_client=None):
            batch = normalise(page, scope)
            if len(pending) and batch.num_rows:
                newer = np.isin(key_prefix(key_digest(batch)), pending)
                if newer.any():
                    self.left_out += int(newer.sum())
                    batch = batch.filter(pa.array(~newer))
            self.rows += batch.num_rows
            if batch.num_rows:
                yield batch
