"""Load: rejected rows to their dead-letter table, then the one load job of the run."""

from __future__ import annotations

import contextlib
import datetime as dt
import io
import json
from collections.abc import Callable
from dataclasses import dataclass

from google.api_core import exceptions as gexc
from google.cloud import bigquery

from etl import checkpoints
from etl.bigquery.clients import classify_google_error
from etl.bigquery.loader import load_staged_files
from etl.bigquery.tables import TableRef, get_table
from etl.conform import METADATA_COLUMNS, RejectedRow
from etl.errors import Stage
from etl.pipeline.context import Extracted, LoadTarget, RunContext
from etl.staging import delete_staged

REJECTED_SUFFIX = "__rejected"
_REJECTED_SCHEMA = [
    bigquery.SchemaField("_etl_run_id", "STRING"),
    bigquery.SchemaField("_etl_rejected_at", "TIMESTAMP"),
    bigquery.SchemaField("reason", "STRING"),
    bigquery.SchemaField("record", "STRING", description="the source row as JSON"),
]


@dataclass(frozen=True)
class Loaded:
    rows_loaded: int
    load_job_id: str | None
    rejected_table: str | None


def table_schema(target: LoadTarget) -> list[bigquery.SchemaField]:
    fields = [bigquery.SchemaField(c.name, c.bq_type.value) for c in target.columns]
    fields += [bigquery.SchemaField(name, bq.value) for name, bq in METADATA_COLUMNS.items()]
    return fields


def rejected_ref(target: LoadTarget) -> TableRef:
    ref = target.ref
    return TableRef(ref.project, ref.dataset, ref.table + REJECTED_SUFFIX)


def keep_rejected(ctx: RunContext, target: LoadTarget, rejected: list[RejectedRow]) -> str:
    """Append rejected rows with their reasons to `<table>__rejected` (one load job, NDJSON)."""
    client = ctx.bigquery.bigquery
    ref = rejected_ref(target)
    now = dt.datetime.now(dt.UTC).isoformat()
    lines = "\n".join(
        json.dumps(
            {
                "_etl_run_id": ctx.run_id,
                "_etl_rejected_at": now,
                "reason": row.reason,
                "record": json.dumps(row.record, default=str),
            }
        )
        for row in rejected
    )
    try:
        if get_table(client, ref) is None:
            with contextlib.suppress(gexc.Conflict):
                client.create_table(bigquery.Table(ref.id, schema=_REJECTED_SCHEMA))
        config = bigquery.LoadJobConfig(
            source_format=bigquery.SourceFormat.NEWLINE_DELIMITED_JSON,
            write_disposition=bigquery.WriteDisposition.WRITE_APPEND,
            schema=_REJECTED_SCHEMA,
        )
        client.load_table_from_file(
            io.BytesIO(lines.encode()), ref.id, job_config=config, rewind=True
        ).result()
    except Exception as error:
        raise classify_google_error(error, Stage.LOAD, f"keeping rejected rows in {ref}") from None
    return str(ref)


def load_extracted(
    ctx: RunContext,
    target: LoadTarget,
    extracted: Extracted,
    on_submitted: Callable[[str], None] | None = None,
) -> Loaded:
    rejected_table = keep_rejected(ctx, target, extracted.rejected) if extracted.rejected else None
    if extracted.rows_extracted == 0:
        # Nothing new: a successful run that loads 0 rows, with no job to submit.
        return Loaded(0, None, rejected_table)
    checkpoints.reached(checkpoints.LOAD_BEFORE_SUBMIT)

    def submitted(job_id: str) -> None:
        checkpoints.reached(checkpoints.LOAD_SUBMITTED)
        if on_submitted is not None:
            on_submitted(job_id)

    result = load_staged_files(
        ctx.bigquery.bigquery,
        target.ref,
        extracted.staged.uris,
        schema=table_schema(target),
        load_type=ctx.job.load_type,
        job_id=target.job_id,
        job_name=ctx.job.name,
        run_id=ctx.run_id,
        on_submitted=submitted,
    )
    checkpoints.reached(checkpoints.LOAD_DONE)
    storage = ctx.bigquery.storage if ctx.settings.staging_uri.startswith("gs://") else None
    delete_staged(extracted.staged.uris, storage)
    return Loaded(result.output_rows, result.job_id, rejected_table)
