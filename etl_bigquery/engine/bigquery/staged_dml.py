"""Load into a run-scoped staging table, then change the target with ONE DML query job.

The building blocks of every step that changes a table with a statement instead of a load job
(merge and history tables, deletes by key comparison; reusable by any step that replaces rows):

- `staging_ref`: the staging table's name, derived from the DML job's deterministic id, so a
  given (state, attempt) has exactly one staging table, whoever stages it.
- `create_staging_table`: through the API, `exists_ok` (a leftover empty table of a killed run is
  reused harmlessly), expiring after 24 h (the backstop if no later run drops it), labelled
  `etl_job`, `etl_role: staging`, `etl_run`, with a description naming its target.
- `load_into_staging`: `WRITE_TRUNCATE`, `CREATE_NEVER` under `<dml job id>_stage` (a load that
  lands after its table was dropped fails instead of re-creating it; a Prefect retry of the same
  run adopts its own load through 409 + the `etl_run` label).
- `run_dml`: the statement under its deterministic id with `job_retry=None` (the client must
  never re-issue it under another id). 409 adopts the job when its `etl_run` label is this
  run's, otherwise stops: another run carries the same change. Returns `dml_stats` and bytes.
- `drop_leftover_staging`: drops a job's staging tables except the ones named to keep.

Crash safety comes from the caller's state token (`engine.incremental.settle` with probes for the
DML id and the staging load id): see `engine.merge` for the protocol these serve.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from google.api_core import exceptions as gexc
from google.cloud import bigquery

from etl_bigquery.engine.bigquery.clients import classify_google_error
from etl_bigquery.engine.bigquery.loader import RUN_LABEL, LoadResult, _label, load_staged_files
from etl_bigquery.engine.bigquery.tables import JOB_LABEL, TableRef
from etl_bigquery.engine.errors import LoadError, Stage

ROLE_LABEL = "etl_role"
STAGING_HOURS = 24
_ID_TAIL = re.compile(r"^[0-9a-f]{24}_\d+$")


@dataclass(frozen=True)
class DmlResult:
    job_id: str
    inserted: int
    updated: int
    deleted: int
    bytes_processed: int | None
    bytes_billed: int | None
    adopted: bool
    """True when the job had been submitted by an earlier attempt of this same run."""


def staging_ref(target: TableRef, role: str, dml_job_id: str) -> TableRef:
    """`_etl_<role>_<job>_<digest>_<attempt>` beside the target, from `etl_<job>_<digest>_<a>`."""
    name = f"_etl_{role}_{dml_job_id.removeprefix('etl_')}"
    return TableRef(target.project, target.dataset, name)


def staging_prefix(role: str, job_name: str) -> str:
    safe = "".join(ch if ch.isalnum() or ch in "_-" else "_" for ch in job_name)
    return f"_etl_{role}_{safe}_"


def create_staging_table(
    client: bigquery.Client,
    ref: TableRef,
    schema: Sequence[bigquery.SchemaField],
    *,
    target: TableRef,
    job_name: str,
    run_id: str,
    purpose: str,
) -> None:
    table = bigquery.Table(ref.id, schema=list(schema))
    table.expires = dt.datetime.now(dt.UTC) + dt.timedelta(hours=STAGING_HOURS)
    table.labels = {JOB_LABEL: _label(job_name), ROLE_LABEL: "staging", RUN_LABEL: _label(run_id)}
    table.description = f"Staging of {target} ({purpose}); dropped after use, expires in 24 h."
    try:
        client.create_table(table, exists_ok=True)
    except Exception as error:
        raise classify_google_error(error, Stage.LOAD, f"creating staging table {ref}") from None


def load_into_staging(
    client: bigquery.Client,
    ref: TableRef,
    uris: list[str],
    schema: Sequence[bigquery.SchemaField],
    *,
    job_id: str,
    job_name: str,
    run_id: str,
    location: str | None,
) -> LoadResult:
    return load_staged_files(
        client, ref, uris, schema=list(schema),
        write_disposition=bigquery.WriteDisposition.WRITE_TRUNCATE,
        job_id=job_id, job_name=job_name, run_id=run_id, location=location,
    )  # fmt: skip


def run_dml(
    client: bigquery.Client,
    sql: str,
    *,
    job_id: str,
    job_name: str,
    run_id: str,
    location: str | None,
    what: str,
    parameters: Sequence[bigquery.ScalarQueryParameter | bigquery.ArrayQueryParameter] = (),
    on_submitted: Callable[[str], None] | None = None,
) -> DmlResult:
    """Submit (or adopt) the DML job `job_id` and wait for it; `what` names the change for
    messages ("the merge into raw_data.orders")."""
    config = bigquery.QueryJobConfig(
        query_parameters=list(parameters),
        labels={JOB_LABEL: _label(job_name), RUN_LABEL: _label(run_id)},
    )
    adopted = False
    try:
        job = client.query(sql, job_config=config, job_id=job_id, location=location, job_retry=None)
    except gexc.Conflict:
        job = _existing(client, job_id, location)
        if (job.labels or {}).get(RUN_LABEL) != _label(run_id):
            raise LoadError(
                f"Another run already submitted {what} from the same state (job {job_id}); this "
                "run changed nothing (the next run picks up anything newer)."
            ) from None
        adopted = True
    except Exception as error:
        raise classify_google_error(error, Stage.LOAD, f"submitting {what}") from None
    if on_submitted is not None:
        on_submitted(job.job_id)
    try:
        job.result(job_retry=None)
    except gexc.GoogleAPICallError as error:
        if job.done() and job.error_result:
            reason = job.error_result.get("message", str(error))
            raise LoadError(f"BigQuery job {job_id} ({what}) failed: {reason}") from None
        raise classify_google_error(error, Stage.LOAD, f"waiting for {what}") from None
    except Exception as error:
        raise classify_google_error(error, Stage.LOAD, f"waiting for {what}") from None
    stats = job.dml_stats
    return DmlResult(
        job_id=job.job_id,
        inserted=int(stats.inserted_row_count or 0) if stats else 0,
        updated=int(stats.updated_row_count or 0) if stats else 0,
        deleted=int(stats.deleted_row_count or 0) if stats else 0,
        bytes_processed=job.total_bytes_processed,
        bytes_billed=job.total_bytes_billed,
        adopted=adopted,
    )


def _existing(client: bigquery.Client, job_id: str, location: str | None) -> Any:
    try:
        return client.get_job(job_id, location=location)
    except Exception as error:
        raise classify_google_error(error, Stage.LOAD, f"reading job {job_id}") from None


def drop_table(client: bigquery.Client, ref: TableRef) -> None:
    """Best effort: a staging table left behind expires on its own."""
    try:
        client.delete_table(ref.id, not_found_ok=True)
    except Exception:  # cleanup must never fail a run whose change landed
        return


def drop_leftover_staging(
    client: bigquery.Client,
    target: TableRef,
    role: str,
    job_name: str,
    *,
    keep: Sequence[TableRef] = (),
    location: str | None,
) -> list[str]:
    """Drop `role` staging tables of `job_name` beside `target` except `keep`; returns their
    names. Only names of exactly this job's pattern are touched (`_etl_stage_a_` is also the
    start of job `a_b`'s tables, whose tail is not `<24 hex>_<n>`). Best effort."""
    prefix = staging_prefix(role, job_name)
    sql = (
        f"SELECT table_name FROM `{target.project}.{target.dataset}`.INFORMATION_SCHEMA.TABLES "
        "WHERE STARTS_WITH(table_name, @prefix)"
    )
    config = bigquery.QueryJobConfig(
        query_parameters=[bigquery.ScalarQueryParameter("prefix", "STRING", prefix)]
    )
    try:
        rows = client.query_and_wait(sql, job_config=config, location=location)
        names = [row["table_name"] for row in rows]
    except Exception:
        return []
    kept = {ref.table for ref in keep}
    dropped = []
    for name in names:
        if name in kept or not _ID_TAIL.match(name[len(prefix) :]):
            continue
        drop_table(client, TableRef(target.project, target.dataset, name))
        dropped.append(name)
    return dropped


__all__ = [
    "DmlResult",
    "LoadResult",
    "create_staging_table",
    "drop_leftover_staging",
    "drop_table",
    "load_into_staging",
    "run_dml",
    "staging_prefix",
    "staging_ref",
]
