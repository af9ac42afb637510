"""Deletes by key comparison, for merge and history tables without a change log.

**When.** A run compares keys when `deletes` is on and this period's check is not done yet:
period = the UTC hour (`hourly`), date (`daily`), ISO week (`weekly`) or the run itself
(`every_run`). The record that a period was checked is the deterministic id of that period's
delete MERGE (`etl_<job>_<hash(table, period)>_<attempt>`): no state store. Validation probes it
and its keys load (`<id>_keys`): DONE without error → checked; running → waited for; failed, or
keys loaded without a MERGE (a killed run) → the next attempt.

**Read** (extract stage, after the increment): only the key columns, through the same reader
and conformer, streamed into Parquet (memory: one batch). `checked_at` is the table clock when
the key read starts, later than every version this run stages. A read that fails midway aborts
the stager: nothing reaches BigQuery, the run merges its increment and ends Partial, and the
period's MERGE was never submitted, so the next run checks again.

**Apply** (load stage, after the increment MERGE): two guards first, both free — `max_deleted`
(at least `live - keys read` rows would go) and the keys load's row count — then the keys table
and ONE MERGE `WHEN NOT MATCHED BY SOURCE AND _etl_loaded_at < @checked_at`: a version read
after the key set proves its key existed, so a stale or concurrent key set deletes nothing it
should not.

Polling limits: a key deleted and re-inserted between two checks looks like an update; the
deletion time is when a check noticed, not when the row was deleted.
"""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from google.cloud import bigquery

from etl_bigquery.engine import checkpoints
from etl_bigquery.engine.bigquery import merge_sql
from etl_bigquery.engine.bigquery.staged_dml import (
    DmlResult,
    create_staging_table,
    drop_table,
    load_into_staging,
    run_dml,
    staging_ref,
)
from etl_bigquery.engine.bigquery.tables import TableRef
from etl_bigquery.engine.conform import Conformer, RunStamp
from etl_bigquery.engine.errors import EtlError, LoadError
from etl_bigquery.engine.incremental import MAX_ATTEMPTS, _probe, _wait_for, load_job_id
from etl_bigquery.engine.jobs.model import DeleteCheck, Deletes, JobSpec
from etl_bigquery.engine.merge.window import KeyedState
from etl_bigquery.engine.prefetch import read_ahead
from etl_bigquery.engine.sources.base import ReadPlan
from etl_bigquery.engine.staging import ParquetStager, StagedFiles

if TYPE_CHECKING:
    from etl_bigquery.engine.pipeline.context import LoadTarget, RunContext

KEYS_SUFFIX = "_keys"
_MICRO = dt.timedelta(microseconds=1)


@dataclass(frozen=True)
class DeletePlan:
    job_id: str
    period: str
    hard: bool
    live: int
    """Rows not deleted (history: current versions) when the state was read."""


@dataclass
class StagedKeys:
    """The outcome of a key read: staged key files, or why there are none."""

    staged: StagedFiles = field(default_factory=StagedFiles)
    rows: int = 0
    checked_at: dt.datetime | None = None
    failure: str | None = None
    """One sentence when the read failed: nothing is deleted this run."""


def period_of(check: DeleteCheck, now: dt.datetime) -> str:
    """`now` is the run's start: the same for every retry of one run, another for each run."""
    now = now.astimezone(dt.UTC)
    if check is DeleteCheck.HOURLY:
        return f"hour-{now:%Y%m%d%H}"
    if check is DeleteCheck.DAILY:
        return f"day-{now:%Y%m%d}"
    if check is DeleteCheck.WEEKLY:
        year, week, _ = now.isocalendar()
        return f"week-{year}W{week:02d}"
    return f"run-{now:%Y%m%d%H%M%S%f}"


def plan_deletes(
    client: bigquery.Client,
    ref: TableRef,
    job: JobSpec,
    state: KeyedState,
    now: dt.datetime,
    *,
    location: str | None,
    wait_timeout: float,
) -> DeletePlan | None:
    """This period's delete MERGE id when the check is due, None when it was done."""
    period = period_of(job.delete_check, now)
    deadline = time.monotonic() + wait_timeout
    for attempt in range(1, MAX_ATTEMPTS + 1):
        job_id = load_job_id(job.name, ref, f"deletes|{period}", attempt)
        found = [j for i in (job_id, job_id + KEYS_SUFFIX) if (j := _probe(client, i, location))]
        if not found:
            return DeletePlan(job_id, period, job.deletes is Deletes.HARD, state.live)
        for earlier in found:
            if earlier.state != "DONE":
                _wait_for(client, earlier.job_id, deadline, location)
        merge = _probe(client, job_id, location)
        if merge is not None and merge.state == "DONE" and not merge.error_result:
            return None  # this period's check happened
    raise LoadError(
        f"Gave up after {MAX_ATTEMPTS} failed delete checks of {ref} in period {period}; look "
        "at the failed jobs in BigQuery."
    )


# -- read (extract stage) ----------------------------------------------------------------------


def read_keys(ctx: RunContext, target: LoadTarget, run_path: str, stamp: dt.datetime) -> StagedKeys:
    """Stream the source's key columns into staged Parquet; never raises for a failed read (the
    increment still merges; the outcome says why nothing will be deleted)."""
    shape = target.planned.shape  # type: ignore[attr-defined]
    key_names = [k.name for k in shape.keys]
    key_columns = [c for c in target.columns if c.name in key_names]
    sources = {c.source_name for c in key_columns}
    read_plan = ReadPlan(
        target.read_plan.source,
        [c for c in target.read_plan.columns if c.name in sources],
        files=None,
    )
    # Later than every version this run stages (they carry `stamp`), and than the clock now.
    checked_at = max(dt.datetime.now(dt.UTC), stamp + _MICRO)
    conformer = Conformer(key_columns, RunStamp(ctx.run_id, checked_at))
    import pyarrow as pa

    schema = pa.schema([conformer.schema.field(name) for name in key_names])
    storage = ctx.bigquery.storage if ctx.settings.staging_uri.startswith("gs://") else None
    stager = ParquetStager(
        ctx.settings.staging_uri, f"{run_path}/keys", schema, storage_client=storage
    )
    rows = 0
    try:
        for batch in read_ahead(ctx.reader.read(read_plan)):
            good, _bad = conformer.conform(batch)  # a key that cannot load is in no row either
            keys = good.select(key_names)
            valid = None
            for name in key_names:
                column_valid = keys.column(name).is_valid()
                valid = column_valid if valid is None else pa.compute.and_(valid, column_valid)
            keys = keys.filter(valid)
            stager.write(keys)
            rows += keys.num_rows
            checkpoints.reached(checkpoints.EXTRACT_KEYS_BATCH_STAGED)
        staged = stager.finish()
    except Exception as error:  # never a half key set: nothing is loaded, nothing deleted
        stager.abort()
        reason = error.message if isinstance(error, EtlError) else type(error).__name__
        return StagedKeys(
            rows=rows,
            failure=(
                f"deletes not checked: reading the keys of {ctx.job.describe_source()} failed "
                f"after {rows:,} keys ({reason}); nothing was deleted; the next run checks again"
            ),
        )
    return StagedKeys(staged, rows, checked_at)


# -- apply (load stage) ------------------------------------------------------------------------


def _live_after(plan: DeletePlan, merged: DmlResult | None, history: bool) -> int:
    if merged is None:
        return plan.live
    # New keys add live rows; history also closes one version for each it opens on a held key.
    return plan.live + merged.inserted - (merged.updated if history else 0)


def apply_deletes(
    ctx: RunContext,
    target: LoadTarget,
    keys: StagedKeys,
    merged: DmlResult | None,
    *,
    before_submit: Callable[[], None] | None,
) -> dict[str, Any]:
    planned = target.planned
    plan: DeletePlan = planned.deletes  # type: ignore[attr-defined]
    shape = planned.shape  # type: ignore[attr-defined]
    client = ctx.bigquery.bigquery
    live = _live_after(plan, merged, shape.history)
    at_least = max(0, live - keys.rows)
    limit = ctx.job.deleted_limit
    if at_least and limit.exceeded(at_least, live):
        share = f"{at_least / live:.0%}" if live else "all"
        raise LoadError(
            f"The key comparison would delete at least {share} of {target.ref} (the source "
            f"returned {keys.rows:,} keys for {live:,} rows), more than max_deleted "
            f"({limit.describe().replace('rows read', 'rows')}); nothing was deleted. Check the "
            "source, or raise max_deleted."
        )
    assert keys.checked_at is not None
    keys_ref = staging_ref(target.ref, "keys", plan.job_id)
    fields = {f.name: f for f in target.load_schema}
    schema = [
        bigquery.SchemaField(k.name, fields[k.name].field_type, mode="NULLABLE") for k in shape.keys
    ]
    job_name, run_id, location = ctx.job.name, ctx.run_id, target.location
    create_staging_table(
        client, keys_ref, schema, target=target.ref, job_name=job_name, run_id=run_id,
        purpose=f"keys of the delete check {plan.period}",
    )  # fmt: skip
    if keys.staged.uris:
        loaded = load_into_staging(
            client, keys_ref, keys.staged.uris, schema, job_id=plan.job_id + KEYS_SUFFIX,
            job_name=job_name, run_id=run_id, location=location,
        )  # fmt: skip
        if loaded.output_rows != keys.rows:
            raise LoadError(
                f"The keys table of {target.ref} holds {loaded.output_rows:,} keys but "
                f"{keys.rows:,} were read; nothing was deleted. Run the job again."
            )
    checkpoints.reached(checkpoints.DELETES_KEYS_LOADED)
    if before_submit is not None:
        before_submit()
    result = run_dml(
        client, merge_sql.delete_sql(shape, keys_ref, hard=plan.hard),
        job_id=plan.job_id, job_name=job_name, run_id=run_id, location=location,
        what=f"the delete check of {target.ref}",
        parameters=[merge_sql.checked_at_parameter(keys.checked_at)],
        on_submitted=lambda _id: checkpoints.reached(checkpoints.DELETES_SUBMITTED),
    )  # fmt: skip
    checkpoints.reached(checkpoints.DELETES_DONE)
    drop_table(client, keys_ref)
    return {
        "period": plan.period,
        "keys read": keys.rows,
        "checked at": keys.checked_at.isoformat(),
        "rows deleted" if plan.hard else "rows marked deleted": (
            result.deleted if plan.hard else result.updated
        ),
        "job": result.job_id,
        "bytes processed": result.bytes_processed,
    }
