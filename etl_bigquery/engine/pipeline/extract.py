"""Extraction: stream the source through the conformer into staged Parquet files.

The run's load strategy filters each conformed batch (a transactional run fingerprints every row
and drops those BigQuery already holds in its window, `engine.already_loaded`); rejected rows are
staged beside the data (`engine.rejected`).
"""

from __future__ import annotations

import time
from collections.abc import Iterator

import pyarrow as pa
import pyarrow.compute as pc

from etl_bigquery.engine import checkpoints
from etl_bigquery.engine.already_loaded import IncrementClaim, with_fingerprints
from etl_bigquery.engine.conform import Conformer, RunStamp
from etl_bigquery.engine.merge.extraction import keyed_extraction
from etl_bigquery.engine.parallel_read import (
    ParallelRead,
    default_parallelism,
    in_one_snapshot,
    parallel_units,
)
from etl_bigquery.engine.pipeline.context import Extracted, LoadTarget, ProgressCallback, RunContext
from etl_bigquery.engine.prefetch import read_ahead
from etl_bigquery.engine.rejected import RejectStager
from etl_bigquery.engine.sources.abilities import RejectsRecords
from etl_bigquery.engine.sources.base import SourceReader
from etl_bigquery.engine.staging import ParquetStager

PROGRESS_EVERY_SECONDS = 5.0


def _max(values: pa.Array, current: object | None) -> object | None:
    if len(values) == 0:
        return current
    batch_max = pc.max(values).as_py()
    if batch_max is None:
        return current
    return batch_max if current is None or batch_max > current else current


def _reading(
    ctx: RunContext, target: LoadTarget
) -> tuple[Iterator[pa.RecordBatch], SourceReader | ParallelRead]:
    """The read's batches and what they come from: the job's units read at once on readers of
    their own (`engine.parallel_read`), or one stream of the run's reader, read ahead."""
    parallelism = ctx.job.parallelism or default_parallelism()
    if ctx.reader_factory is not None and parallelism > 1:
        keys = [p.source.name for p in target.plans if p.source.primary_key]
        units = parallel_units(
            ctx.reader, target.read_plan, target.estimated_rows, parallelism, keys
        )
        if units:
            parallel = ParallelRead(ctx.reader_factory, units, parallelism)
            return in_one_snapshot(ctx.reader, parallel), parallel
    return read_ahead(ctx.reader.read(target.read_plan)), ctx.reader


def extract_to_staging(
    ctx: RunContext,
    target: LoadTarget,
    progress: ProgressCallback | None = None,
    *,
    attempt: int = 1,
) -> Extracted:
    strategy = target.strategy
    keyed = keyed_extraction(target)  # merge/history: versions that win, by key (engine.merge)
    stamp = keyed.stamp if keyed is not None else ctx.started_at
    conformer = Conformer(target.columns, RunStamp(ctx.run_id, stamp))
    spec = strategy.increment_filter(target.planned)
    rows_filter = keyed.claim if keyed is not None else IncrementClaim(spec) if spec else None
    schema = conformer.schema
    if keyed is not None:
        schema = keyed.schema(schema)
    elif rows_filter is not None:
        schema = with_fingerprints(schema)
    # Per attempt: a retried extraction never mixes its files with a failed attempt's.
    run_path = f"{ctx.job.name}/{ctx.run_id}/attempt-{attempt}"
    storage = ctx.bigquery.storage if ctx.settings.staging_uri.startswith("gs://") else None
    stager = ParquetStager(ctx.settings.staging_uri, run_path, schema, storage_client=storage)
    rejects = RejectStager(
        ctx.settings.staging_uri, run_path, ctx.run_id, target.known_rejected.copy(), storage
    )
    result = Extracted(staged=stager.result, watermark_after=target.watermark_before)
    last_report = time.monotonic()
    batches, source = _reading(ctx, target)
    result.read_units = len(source.units) if isinstance(source, ParallelRead) else 1
    # Records a reader could not read at all (a ragged CSV row, bytes that are not text) are
    # rejected rows too, kept with the file, record number and reason (file sources).
    unreadable = source.take_rejected if isinstance(source, RejectsRecords) else None
    limit = ctx.job.rejected_limit

    def keep_unreadable() -> None:
        if unreadable is not None and (bad := unreadable()):
            result.rows_read += len(bad)
            rejects.write(bad)

    def rejected_so_far() -> int:
        # Rows in the future are not malformed: they do not count against max_rejected.
        future = rows_filter.future if rows_filter is not None else 0
        return rejects.result.rows + rejects.result.already_kept - future

    try:
        for batch in batches:
            result.rows_read += batch.num_rows
            good, rejected = conformer.conform(batch)
            rejects.write(rejected)
            keep_unreadable()
            if limit.count is not None:  # a share can only be judged at the end
                strategy.check_rejected(ctx.job, target.ref, result.rows_read, rejected_so_far())
            if rows_filter is not None:
                good = rows_filter.apply(good)
                rejects.write(rows_filter.take_rejected())  # NULL keys, cursors in the future
                cursor = good.column(rows_filter.cursor)
                result.watermark_after = _max(cursor, result.watermark_after)
            stager.write(good)
            result.rows_extracted += good.num_rows
            checkpoints.reached(checkpoints.EXTRACT_BATCH_STAGED)
            if progress is not None and time.monotonic() - last_report >= PROGRESS_EVERY_SECONDS:
                progress(result.rows_read, target.estimated_rows)
                last_report = time.monotonic()
        keep_unreadable()
        strategy.check_rejected(ctx.job, target.ref, result.rows_read, rejected_so_far())
        result.staged = stager.finish()
        result.rejected = rejects.finish()
    except BaseException:
        close = getattr(batches, "close", None)
        if close is not None:
            close()  # stops the reading threads and ends their transactions first
        stager.abort()
        rejects.abort()
        raise
    result.already_loaded = rows_filter.claimed if rows_filter is not None else 0
    result.rows_future = rows_filter.future if rows_filter is not None else 0
    result.numeric_nan_nulled = conformer.numeric_nan_nulled
    strategy.check_extracted(ctx.job, target.ref, result.rows_extracted, result.rows_rejected)
    if keyed is not None:  # after the increment: the key read for a due delete check
        keyed.finish(ctx, target, result, run_path)
    return result
