"""The load step of merge and history runs: staging table → plan query → ONE MERGE → drop,
then the delete check when one is due (protocol: `engine.merge`).

The MERGE's partition filter is `O + N`, literal partitions computed by a read-only plan query:
`O`, the partitions where the staged keys' rows live now, and `N`, the partitions their new
versions go to. A filter from the increment's cursor range alone would miss the old version of
an updated row that sits in an older partition and insert the key a second time; a filter
without `N` would let a re-applied MERGE insert again every row that moved partition.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from google.cloud import bigquery

from etl_bigquery.engine import checkpoints
from etl_bigquery.engine.bigquery import merge_sql
from etl_bigquery.engine.bigquery.clients import classify_google_error
from etl_bigquery.engine.bigquery.merge_sql import Partitions
from etl_bigquery.engine.bigquery.staged_dml import (
    DmlResult,
    create_staging_table,
    drop_leftover_staging,
    drop_table,
    load_into_staging,
    run_dml,
    staging_ref,
)
from etl_bigquery.engine.bigquery.tables import TableRef
from etl_bigquery.engine.errors import LoadError, Stage
from etl_bigquery.engine.merge.deletes import StagedKeys, apply_deletes
from etl_bigquery.engine.merge.keyed_filter import HASH_FIELDS
from etl_bigquery.engine.staging import delete_staged

if TYPE_CHECKING:
    from etl_bigquery.engine.pipeline.context import Extracted, LoadTarget, RunContext
    from etl_bigquery.engine.pipeline.load import Loaded

NOT_REPORTED = "not reported by the emulator"


def _staging_schema(target: LoadTarget) -> list[bigquery.SchemaField]:
    """The staged files' columns, typed as the target types them (descriptions and policy tags
    stay with the target)."""
    from etl_bigquery.engine.conform import destination_schema

    fields = {f.name: f for f in target.load_schema}
    names = [*destination_schema(target.columns).names, *(f.name for f in HASH_FIELDS)]
    return [bigquery.SchemaField(n, fields[n].field_type, mode="NULLABLE") for n in names]


def plan_partitions(
    client: bigquery.Client,
    target: LoadTarget,
    staging: TableRef,
    *,
    strict_keys: bool,
) -> tuple[Partitions | None, tuple[int, int] | None]:
    """`O + N` and the first key's range, from one read-only query; refuses a key that does
    not identify a row."""
    shape = target.planned.shape  # type: ignore[attr-defined]
    sql = merge_sql.plan_sql(shape, staging, strict_keys=strict_keys)
    try:
        rows = list(client.query_and_wait(sql, location=target.location))
    except Exception as error:
        raise classify_google_error(
            error, Stage.LOAD, f"planning the merge into {target.ref}"
        ) from None
    duplicated = [row["v"] for row in rows if row["kind"] == "dup"]
    if duplicated:
        keys = ", ".join(k.name for k in shape.keys)
        raise LoadError(
            f"key_columns ({keys}) do not identify a row of {target.ref}: {duplicated[0]} was read "
            f"{'twice' if strict_keys else 'twice with the same ' + shape.cursor.name} with "
            "different values; choose key_columns that are unique (nothing was merged)."
        )
    key_range = None
    for row in rows:
        if row["kind"] == "range" and row["v"]:
            low, high = row["v"].split(":")
            key_range = (int(low), int(high))
    if shape.partition is None:
        return None, key_range
    values = [row["v"] for row in rows if row["kind"] in ("old", "new", "reopen")]
    days = tuple(sorted({dt.date.fromisoformat(v) for v in values if v is not None}))
    return Partitions(days, any(v is None for v in values)), key_range


def _merge_increment(
    ctx: RunContext,
    target: LoadTarget,
    extracted: Extracted,
    before_submit: Callable[[], None] | None,
    on_submitted: Callable[[str], None] | None,
) -> tuple[DmlResult, Partitions | None]:
    client = ctx.bigquery.bigquery
    shape = target.planned.shape  # type: ignore[attr-defined]
    job_name, run_id, location = ctx.job.name, ctx.run_id, target.location
    staging = staging_ref(target.ref, "stage", target.job_id)
    schema = _staging_schema(target)
    create_staging_table(
        client, staging, schema, target=target.ref, job_name=job_name, run_id=run_id,
        purpose=f"{'history' if shape.history else 'merge'} increment",
    )  # fmt: skip
    checkpoints.reached(checkpoints.MERGE_STAGING_CREATED)
    if before_submit is not None:
        before_submit()
    load_into_staging(
        client, staging, extracted.staged.uris, schema, job_id=target.job_id + "_stage",
        job_name=job_name, run_id=run_id, location=location,
    )  # fmt: skip
    checkpoints.reached(checkpoints.MERGE_STAGING_LOADED)
    # One consistent read holds each key once; units of the Beam path read at different times.
    partitions, key_range = plan_partitions(
        client, target, staging, strict_keys=not extracted.units
    )
    render = merge_sql.history_sql if shape.history else merge_sql.merge_sql
    statement = render(shape, staging, partitions, key_range)
    checkpoints.reached(checkpoints.LOAD_BEFORE_SUBMIT)
    if before_submit is not None:
        before_submit()

    def submitted(job_id: str) -> None:
        checkpoints.reached(checkpoints.LOAD_SUBMITTED)
        if on_submitted is not None:
            on_submitted(job_id)

    result = run_dml(
        client, statement, job_id=target.job_id, job_name=job_name, run_id=run_id,
        location=location, what=f"the merge into {target.ref}", on_submitted=submitted,
    )  # fmt: skip
    checkpoints.reached(checkpoints.LOAD_DONE)
    drop_table(client, staging)
    checkpoints.reached(checkpoints.MERGE_STAGING_DROPPED)
    storage = ctx.bigquery.storage if ctx.settings.staging_uri.startswith("gs://") else None
    delete_staged(extracted.staged.uris, storage)
    return result, partitions


def _bytes(value: int | None, emulated: bool) -> object:
    # The emulator reports 0 for every byte figure; a 0 there would read as "free".
    if emulated:
        return NOT_REPORTED
    return value if value is not None else "unknown"


def apply_keyed(
    ctx: RunContext,
    target: LoadTarget,
    extracted: Extracted,
    rejected_table: str | None,
    *,
    before_submit: Callable[[], None] | None,
    on_submitted: Callable[[str], None] | None,
) -> Loaded:
    from etl_bigquery.engine.pipeline.load import Loaded

    client = ctx.bigquery.bigquery
    emulated = bool(ctx.settings.api_endpoint)
    shape = target.planned.shape  # type: ignore[attr-defined]
    figures: dict[str, Any] = {}
    merged: DmlResult | None = None
    if extracted.rows_extracted:
        merged, partitions = _merge_increment(ctx, target, extracted, before_submit, on_submitted)
        figures.update({
            "rows inserted": merged.inserted,
            "rows updated": merged.updated,
            "partitions touched": partitions.count if partitions is not None else "all",
            "merge job": merged.job_id,
            "bytes processed": _bytes(merged.bytes_processed, emulated),
            "bytes billed": _bytes(merged.bytes_billed, emulated),
        })  # fmt: skip
    partial = None
    keys: StagedKeys | None = extracted.deletes
    if keys is not None and keys.failure:
        partial = keys.failure
        figures["deletes"] = keys.failure
    elif keys is not None:
        outcome = apply_deletes(ctx, target, keys, merged, before_submit=before_submit)
        if "bytes processed" in outcome:
            outcome["bytes processed"] = _bytes(outcome["bytes processed"], emulated)
        figures["deletes"] = outcome
    elif ctx.job.deletes.value != "none":
        figures["deletes"] = "checked already this period"
    # Leftovers of killed runs: their jobs were settled in validation (waited for, or spent).
    for role in ("stage", "keys"):
        drop_leftover_staging(client, target.ref, role, ctx.job.name, location=target.location)
    if merged is None:
        rows = 0
    else:
        rows = merged.inserted if shape.history else merged.inserted + merged.updated
    return Loaded(
        rows,
        merged.job_id if merged else None,
        rejected_table,
        merge=figures,
        partial=partial,
    )
