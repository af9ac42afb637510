"""Extraction: stream the source through the conformer into staged Parquet files."""

from __future__ import annotations

import time

import pyarrow as pa
import pyarrow.compute as pc

from etl import checkpoints
from etl.conform import Conformer, RunStamp
from etl.conform.batch import keep_rows_at_or_after
from etl.errors import ExtractionError
from etl.incremental import BoundaryFilter
from etl.jobs.model import LoadType
from etl.pipeline.context import Extracted, LoadTarget, ProgressCallback, RunContext
from etl.prefetch import read_ahead
from etl.staging import ParquetStager

PROGRESS_EVERY_SECONDS = 5.0


def _max(values: pa.Array, current: object | None) -> object | None:
    if len(values) == 0:
        return current
    batch_max = pc.max(values).as_py()
    if batch_max is None:
        return current
    return batch_max if current is None or batch_max > current else current


def extract_to_staging(
    ctx: RunContext,
    target: LoadTarget,
    progress: ProgressCallback | None = None,
    *,
    attempt: int = 1,
) -> Extracted:
    conformer = Conformer(target.columns, RunStamp(ctx.run_id, ctx.started_at))
    stager = ParquetStager(
        ctx.settings.staging_uri,
        # Per attempt: a retried extraction never mixes its files with a failed attempt's.
        f"{ctx.job.name}/{ctx.run_id}/attempt-{attempt}",
        conformer.schema,
        storage_client=ctx.bigquery.storage
        if ctx.settings.staging_uri.startswith("gs://")
        else None,
    )
    cursor = target.cursor
    boundary = (
        BoundaryFilter(
            cursor.name,
            target.increment.state.watermark,
            target.increment.boundary_rows,
            [c for c in target.columns if c.source_name is not None],
        )
        if cursor is not None and target.increment is not None
        else None
    )
    result = Extracted(staged=stager.result, watermark_after=target.watermark_before)
    last_report = time.monotonic()
    try:
        for batch in read_ahead(ctx.reader.read(target.read_plan)):
            result.rows_read += batch.num_rows
            good, rejected = conformer.conform(batch)
            result.rejected.extend(rejected)
            if cursor is not None:
                if target.lower_bound is not None:
                    good = keep_rows_at_or_after(good, cursor.name, target.lower_bound)
                else:
                    good = good.filter(pc.is_valid(good.column(cursor.name)))
                if boundary is not None:
                    good = boundary.apply(good)
                result.watermark_after = _max(good.column(cursor.name), result.watermark_after)
            stager.write(good)
            result.rows_extracted += good.num_rows
            checkpoints.reached(checkpoints.EXTRACT_BATCH_STAGED)
            if progress is not None and time.monotonic() - last_report >= PROGRESS_EVERY_SECONDS:
                progress(result.rows_read, target.estimated_rows)
                last_report = time.monotonic()
        result.staged = stager.finish()
    except BaseException:
        stager.abort()
        raise
    if boundary is not None:
        result.boundary_duplicates_dropped = boundary.dropped
    if (
        ctx.job.load_type is LoadType.CATALOG
        and result.rows_extracted == 0
        and not result.rejected
        and not ctx.job.allow_empty_snapshot
    ):
        raise ExtractionError(
            f"Source {ctx.job.describe_source()} returned no rows, so {target.ref} was left as it "
            "was (a catalog load never replaces a table with nothing); set allow_empty_snapshot: "
            "true if an empty table is expected."
        )
    return result
