"""Load: the rejected rows first, then the one load job of the run (protocol:
`engine.incremental`)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from etl_bigquery.engine import checkpoints
from etl_bigquery.engine.bigquery.loader import load_staged_files
from etl_bigquery.engine.bigquery.replace import replace_rows
from etl_bigquery.engine.bigquery.staged_dml import run_dml
from etl_bigquery.engine.incremental import rejected_job_id
from etl_bigquery.engine.merge.strategy import KeyedStrategy
from etl_bigquery.engine.pipeline.context import Extracted, LoadTarget, RunContext
from etl_bigquery.engine.rejected import load_rejected
from etl_bigquery.engine.sources.files.reader import FILE_COLUMN
from etl_bigquery.engine.staging import delete_staged


@dataclass(frozen=True)
class Loaded:
    rows_loaded: int
    load_job_id: str | None
    rejected_table: str | None
    merge: dict[str, Any] | None = None
    """Merge and history runs: rows inserted/updated/deleted, partitions, bytes (engine.merge)."""
    partial: str | None = None
    """Why the run ends Partial although it loaded (a delete check that could not complete)."""
    emptied: int | None = None
    """Catalog: rows removed because the source returned an allowed empty snapshot."""


def load_extracted(
    ctx: RunContext,
    target: LoadTarget,
    extracted: Extracted,
    on_submitted: Callable[[str], None] | None = None,
    before_submit: Callable[[], None] | None = None,
) -> Loaded:
    """`before_submit` runs right before each submission (the flow checks it still holds the
    job's run slot there)."""
    client = ctx.bigquery.bigquery
    rejected_table = None
    if extracted.rejected.rows:
        # Before the rows: a crash between the two loads must not leave the watermark past
        # rejected rows that were never kept (they would not be read again).
        if before_submit is not None:
            before_submit()
        rejected_table = load_rejected(
            client,
            target.ref,
            extracted.rejected,
            rejected_job_id(target.job_id, extracted.rejected.digest),
            location=target.location,
        )
        checkpoints.reached(checkpoints.LOAD_REJECTED_DONE)
    if isinstance(target.strategy, KeyedStrategy):  # staging table, one MERGE, deletes
        return target.strategy.apply(
            ctx, target, extracted, rejected_table,
            before_submit=before_submit, on_submitted=on_submitted,
        )  # fmt: skip
    replaced = target.planned.replaced_files
    if extracted.rows_extracted == 0 and not replaced:
        if target.strategy.empty_replaces(ctx.job) and target.planned.increment.state.rows:
            # An allowed empty snapshot is the source's state too: the table is emptied.
            return _empty_table(ctx, target, rejected_table, before_submit, on_submitted)
        # Nothing new: a successful run that loads 0 rows, with no job to submit.
        return Loaded(0, None, rejected_table)
    checkpoints.reached(checkpoints.LOAD_BEFORE_SUBMIT)
    if before_submit is not None:
        before_submit()

    def submitted(job_id: str) -> None:
        checkpoints.reached(checkpoints.LOAD_SUBMITTED)
        if on_submitted is not None:
            on_submitted(job_id)

    if replaced:  # changed files: their earlier rows go as the new ones arrive, atomically
        replacement = replace_rows(
            client, target.ref, extracted.staged.uris, schema=target.load_schema,
            file_column=FILE_COLUMN, replaced=replaced, job_id=target.job_id,
            job_name=ctx.job.name, run_id=ctx.run_id, location=target.location,
            on_submitted=submitted,
        )  # fmt: skip
        rows, job_id = replacement.inserted, replacement.job_id
    else:
        result = load_staged_files(
            client,
            target.ref,
            extracted.staged.uris,
            schema=target.load_schema,
            write_disposition=target.strategy.write_disposition,
            job_id=target.job_id,
            job_name=ctx.job.name,
            run_id=ctx.run_id,
            location=target.location,
            on_submitted=submitted,
        )
        rows, job_id = result.output_rows, result.job_id
    checkpoints.reached(checkpoints.LOAD_DONE)
    storage = ctx.bigquery.storage if ctx.settings.staging_uri.startswith("gs://") else None
    delete_staged(extracted.staged.uris, storage)
    return Loaded(rows, job_id, rejected_table)


def _empty_table(
    ctx: RunContext,
    target: LoadTarget,
    rejected_table: str | None,
    before_submit: Callable[[], None] | None,
    on_submitted: Callable[[str], None] | None,
) -> Loaded:
    """An empty snapshot replaces the table: ONE DELETE under the snapshot's planned job id, so
    it is atomic and follows the protocol of every snapshot (`engine.incremental`): it can only
    replace the state it was planned from, a retry of the same run adopts it, and a kill after
    it was submitted is settled by the next run like any load. (A load job cannot do it: there
    is no file to load when nothing was extracted.)"""
    checkpoints.reached(checkpoints.LOAD_BEFORE_SUBMIT)
    if before_submit is not None:
        before_submit()

    def submitted(job_id: str) -> None:
        checkpoints.reached(checkpoints.LOAD_SUBMITTED)
        if on_submitted is not None:
            on_submitted(job_id)

    result = run_dml(
        ctx.bigquery.bigquery,
        f"DELETE FROM {target.ref.sql} WHERE TRUE",
        job_id=target.job_id,
        job_name=ctx.job.name,
        run_id=ctx.run_id,
        location=target.location,
        what=f"emptying {target.ref} (the source returned an empty snapshot)",
        on_submitted=submitted,
    )
    checkpoints.reached(checkpoints.LOAD_DONE)
    return Loaded(0, result.job_id, rejected_table, emptied=result.deleted)
