"""Replace some files' rows with the rows of this run, in ONE statement, under the planned job id.

A changed file must replace its own earlier rows, never add a second copy, and a table must
never show a state between the two. A load job can only append or truncate, so:

1. **Stage**: the run's staged Parquet files are loaded into a staging table beside the target,
   `<table>__etl_stage_<run>`, created first (empty, expiring after 24 h: the backstop when no
   later run drops it) and filled by a load job `<planned id>_stage_<run>` (`WRITE_TRUNCATE`,
   `CREATE_NEVER`). Both are named after the *run*, not the state: a run killed after staging
   leaves nothing the next run trips over; it stages again under its own names. A retried task
   of the same run meets its own load (409) and adopts it.
2. **One MERGE** query job with the run's planned id (the id `engine.incremental.settle` plans
   and waits for, as for a load job):

       MERGE target T USING stage S ON FALSE
       WHEN NOT MATCHED BY SOURCE AND T._etl_source_file IN UNNEST(@replaced) THEN DELETE
       WHEN NOT MATCHED THEN INSERT (c1, c2, ...) VALUES (S.c1, S.c2, ...)

   One DML statement is atomic in BigQuery: the replaced files' old rows go and the new rows
   arrive together. The column list is explicit (an `INSERT ROW` matches by position on the
   emulator). 409 on submit: the id exists; adopted when this run submitted it (a retried
   task), otherwise another run carries the same change and this one stops, changing nothing.
   A file that now yields no row still loses its old rows (the staging table is empty).
3. The staging table is dropped (best effort), and so are this table's staging tables older than
   an hour (left by killed runs).

Same shape as `engine.bigquery.staged_dml` (issue 17, branch `merge`): when that lands, steps
1 and 2 are its `create_staging_table`, `load_into_staging` and `run_dml`.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from google.api_core import exceptions as gexc
from google.cloud import bigquery

from etl_bigquery.engine import checkpoints
from etl_bigquery.engine.bigquery.clients import classify_google_error
from etl_bigquery.engine.bigquery.loader import RUN_LABEL, _label, load_staged_files
from etl_bigquery.engine.bigquery.tables import JOB_LABEL, TableRef
from etl_bigquery.engine.errors import LoadError, Stage

STAGE_INFIX = "__etl_stage_"
STAGING_HOURS = 24
LEFTOVER_AGE = dt.timedelta(hours=1)


@dataclass(frozen=True)
class Replaced:
    job_id: str
    inserted: int
    deleted: int
    adopted: bool


def run_tag(run_id: str) -> str:
    return "".join(ch for ch in run_id.lower() if ch.isalnum())[:12]


def staging_ref(target: TableRef, run_id: str) -> TableRef:
    return TableRef(target.project, target.dataset, f"{target.table}{STAGE_INFIX}{run_tag(run_id)}")


def _plain(field: bigquery.SchemaField) -> bigquery.SchemaField:
    """A column without description or policy tags: a staging table needs names and types."""
    return bigquery.SchemaField(
        field.name, field.field_type, mode=field.mode, fields=[_plain(f) for f in field.fields]
    )


def merge_sql(target: TableRef, stage: TableRef, file_column: str, columns: Sequence[str]) -> str:
    names = ", ".join(f"`{c}`" for c in columns)
    values = ", ".join(f"S.`{c}`" for c in columns)
    return (
        f"MERGE {target.sql} AS T USING {stage.sql} AS S ON FALSE "
        f"WHEN NOT MATCHED BY SOURCE AND T.`{file_column}` IN UNNEST(@replaced) THEN DELETE "
        f"WHEN NOT MATCHED THEN INSERT ({names}) VALUES ({values})"
    )


def replace_rows(
    client: bigquery.Client,
    target: TableRef,
    uris: list[str],
    *,
    schema: list[bigquery.SchemaField],
    file_column: str,
    replaced: Sequence[str],
    job_id: str,
    job_name: str,
    run_id: str,
    location: str | None,
    on_submitted: Callable[[str], None] | None = None,
) -> Replaced:
    """Rows of `target` whose `file_column` is one of `replaced` become the rows of the staged
    files `uris` (steps above); returns the MERGE's figures."""
    stage = staging_ref(target, run_id)
    columns = [_plain(f) for f in schema]
    _create_staging(client, stage, columns, target=target, job_name=job_name, run_id=run_id)
    if uris:
        load_staged_files(
            client, stage, uris, schema=columns,
            write_disposition=bigquery.WriteDisposition.WRITE_TRUNCATE,
            job_id=f"{job_id}_stage_{run_tag(run_id)}", job_name=job_name, run_id=run_id,
            location=location,
        )  # fmt: skip
    checkpoints.reached(checkpoints.LOAD_STAGE_TABLE_DONE)
    sql = merge_sql(target, stage, file_column, [f.name for f in columns])
    parameters = [bigquery.ArrayQueryParameter("replaced", "STRING", sorted(replaced))]
    result = _run_merge(
        client, sql, parameters, job_id=job_id, job_name=job_name, run_id=run_id,
        location=location, what=f"the replacement of changed files' rows in {target}",
        on_submitted=on_submitted,
    )  # fmt: skip
    _drop(client, stage)
    drop_leftover_stages(client, target, keep=stage)
    return result


def _create_staging(
    client: bigquery.Client,
    ref: TableRef,
    schema: list[bigquery.SchemaField],
    *,
    target: TableRef,
    job_name: str,
    run_id: str,
) -> None:
    table = bigquery.Table(ref.id, schema=schema)
    table.expires = dt.datetime.now(dt.UTC) + dt.timedelta(hours=STAGING_HOURS)
    table.labels = {JOB_LABEL: _label(job_name), RUN_LABEL: _label(run_id), "etl_role": "staging"}
    table.description = f"Staging of {target} for one run; dropped after use, expires in 24 h."
    try:
        client.create_table(table, exists_ok=True)
    except Exception as error:
        raise classify_google_error(error, Stage.LOAD, f"creating staging table {ref}") from None


def _run_merge(
    client: bigquery.Client,
    sql: str,
    parameters: list[bigquery.ArrayQueryParameter],
    *,
    job_id: str,
    job_name: str,
    run_id: str,
    location: str | None,
    what: str,
    on_submitted: Callable[[str], None] | None,
) -> Replaced:
    config = bigquery.QueryJobConfig(
        query_parameters=parameters,
        labels={JOB_LABEL: _label(job_name), RUN_LABEL: _label(run_id)},
    )
    adopted = False
    try:
        # job_retry=None: the client must never re-issue the statement under another id.
        job = client.query(sql, job_config=config, job_id=job_id, location=location, job_retry=None)
    except gexc.Conflict:
        try:
            job = client.get_job(job_id, location=location)
        except Exception as error:
            raise classify_google_error(error, Stage.LOAD, f"reading job {job_id}") from None
        if (job.labels or {}).get(RUN_LABEL) != _label(run_id):
            raise LoadError(
                f"Another run already submitted {what} from the same state (job {job_id}); "
                "this run changed nothing (the next run picks up anything newer)."
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
    return Replaced(
        job_id=job.job_id,
        inserted=int(stats.inserted_row_count or 0) if stats else 0,
        deleted=int(stats.deleted_row_count or 0) if stats else 0,
        adopted=adopted,
    )


def _drop(client: bigquery.Client, ref: TableRef) -> None:
    """Best effort: a staging table left behind expires on its own."""
    try:
        client.delete_table(ref.id, not_found_ok=True)
    except Exception:  # cleanup must never fail a run whose change landed
        return


def drop_leftover_stages(client: bigquery.Client, target: TableRef, *, keep: TableRef) -> None:
    """Drop `target`'s staging tables created over an hour ago (a killed run's), best effort."""
    prefix = f"{target.table}{STAGE_INFIX}"
    cutoff = dt.datetime.now(dt.UTC) - LEFTOVER_AGE
    try:
        for item in client.list_tables(f"{target.project}.{target.dataset}"):
            name = item.table_id
            if name.startswith(prefix) and name != keep.table and item.created < cutoff:
                _drop(client, TableRef(target.project, target.dataset, name))
    except Exception:
        return
