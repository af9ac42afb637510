"""Extraction: stream the source through the conformer into staged Parquet files.

Transactional runs fingerprint every row (`etl.fingerprint`) and drop the rows BigQuery already
holds inside the lookback window; rejected rows are staged beside the data (`etl.rejected`).
"""

from __future__ import annotations

import time

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from etl import checkpoints
from etl.conform import Conformer, RunStamp
from etl.conform.batch import keep_rows_at_or_after
from etl.errors import ExtractionError
from etl.fingerprint import ROW_HASH, KnownRows, digests, to_hex
from etl.jobs.model import LoadType
from etl.pipeline.context import Extracted, LoadTarget, ProgressCallback, RunContext
from etl.prefetch import read_ahead
from etl.rejected import RejectStager
from etl.staging import ParquetStager

PROGRESS_EVERY_SECONDS = 5.0
_ROW_HASH_FIELD = pa.field(ROW_HASH, pa.string())


def _max(values: pa.Array, current: object | None) -> object | None:
    if len(values) == 0:
        return current
    batch_max = pc.max(values).as_py()
    if batch_max is None:
        return current
    return batch_max if current is None or batch_max > current else current


class _Increment:
    """The transactional part of extraction: cursor bounds, fingerprints, rows already held."""

    def __init__(self, target: LoadTarget) -> None:
        assert target.cursor is not None and target.identity is not None
        self.cursor = target.cursor.name
        self.identity = target.identity
        self.lower = target.lower_bound
        self.watermark = target.watermark_before
        self.known = target.increment.known.copy() if target.increment else KnownRows.empty()

    def apply(self, good: pa.RecordBatch) -> pa.RecordBatch:
        if self.lower is not None:
            good = keep_rows_at_or_after(good, self.cursor, self.lower)
        else:
            good = good.filter(pc.is_valid(good.column(self.cursor)))
        prints = digests(good, self.identity)
        if len(self.known) and good.num_rows:
            values = good.column(self.cursor)
            # Only rows at or below W can be held already; the rest are new by construction.
            maybe_held = pc.fill_null(
                pc.less_equal(values, pa.scalar(self.watermark, values.type)), False
            )
            keep = self.known.claim(prints, np.asarray(maybe_held.to_numpy(zero_copy_only=False)))
            if not keep.all():
                good = good.filter(pa.array(keep))
                prints = prints[keep]
        return good.append_column(_ROW_HASH_FIELD, to_hex(prints))


def extract_to_staging(
    ctx: RunContext,
    target: LoadTarget,
    progress: ProgressCallback | None = None,
    *,
    attempt: int = 1,
) -> Extracted:
    conformer = Conformer(target.columns, RunStamp(ctx.run_id, ctx.started_at))
    increment = _Increment(target) if target.cursor is not None else None
    schema = conformer.schema
    if increment is not None:
        schema = schema.append(_ROW_HASH_FIELD)
    # Per attempt: a retried extraction never mixes its files with a failed attempt's.
    run_path = f"{ctx.job.name}/{ctx.run_id}/attempt-{attempt}"
    storage = ctx.bigquery.storage if ctx.settings.staging_uri.startswith("gs://") else None
    stager = ParquetStager(ctx.settings.staging_uri, run_path, schema, storage_client=storage)
    rejects = RejectStager(
        ctx.settings.staging_uri, run_path, ctx.run_id, target.known_rejected.copy(), storage
    )
    result = Extracted(staged=stager.result, watermark_after=target.watermark_before)
    last_report = time.monotonic()
    try:
        for batch in read_ahead(ctx.reader.read(target.read_plan)):
            result.rows_read += batch.num_rows
            good, rejected = conformer.conform(batch)
            rejects.write(rejected)
            if increment is not None:
                good = increment.apply(good)
                result.watermark_after = _max(good.column(increment.cursor), result.watermark_after)
            stager.write(good)
            result.rows_extracted += good.num_rows
            checkpoints.reached(checkpoints.EXTRACT_BATCH_STAGED)
            if progress is not None and time.monotonic() - last_report >= PROGRESS_EVERY_SECONDS:
                progress(result.rows_read, target.estimated_rows)
                last_report = time.monotonic()
        result.staged = stager.finish()
        result.rejected = rejects.finish()
    except BaseException:
        stager.abort()
        rejects.abort()
        raise
    result.already_loaded = increment.known.claimed if increment is not None else 0
    result.numeric_nan_nulled = conformer.numeric_nan_nulled
    if (
        ctx.job.load_type is LoadType.CATALOG
        and result.rows_extracted == 0
        and not result.rows_rejected
        and not ctx.job.allow_empty_snapshot
    ):
        raise ExtractionError(
            f"Source {ctx.job.describe_source()} returned no rows, so {target.ref} was left as it "
            "was (a catalog load never replaces a table with nothing); set allow_empty_snapshot: "
            "true if an empty table is expected."
        )
    return result
