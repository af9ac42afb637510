"""Replace some files' rows with the rows of this run, in ONE statement, under the planned job id.

A changed file must replace its own earlier rows, never add a second copy, and a table must
never show a state between the two. A load job can only append or truncate, so the run uses the
staging table + one DML step of `engine.bigquery.staged_dml` (shared with merge and history
jobs):

1. **Stage**: the run's staged Parquet files are loaded into `_etl_replace_<job>_<digest>_<n>`
   beside the target (named after the planned job id: one staging table per state and attempt;
   created empty first, expiring after 24 h), by a load job `<planned id>_stage`.
2. **One MERGE** query job with the planned id:

       MERGE target T USING stage S ON FALSE
       WHEN NOT MATCHED BY SOURCE AND T._etl_source_file IN UNNEST(@replaced) THEN DELETE
       WHEN NOT MATCHED THEN INSERT (c1, c2, ...) VALUES (S.c1, S.c2, ...)

   One DML statement is atomic in BigQuery: the replaced files' old rows go and the new rows
   (new files' too) arrive together. The column list is explicit (an `INSERT ROW` matches by
   position on the emulator). A file that now yields no row still loses its old rows (the
   staging table is empty).
3. The staging table is dropped (best effort), with this job's leftovers of killed runs.

Crash points (the planner settles both ids, `engine.file_strategies`): killed before the staging
load → nothing was submitted, the next run does the same under the same ids; killed after it
(`checkpoints.MERGE_STAGING_LOADED`) → the staging load's id is found, that attempt is spent
and the next run stages and MERGEs under the next attempt's ids; killed after the MERGE was
submitted → the next run waits for it and plans from the state it left.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

from google.cloud import bigquery

from etl_bigquery.engine import checkpoints
from etl_bigquery.engine.bigquery.staged_dml import (
    create_staging_table,
    drop_leftover_staging,
    drop_table,
    load_into_staging,
    run_dml,
    staging_ref,
)
from etl_bigquery.engine.bigquery.tables import TableRef

ROLE = "replace"


@dataclass(frozen=True)
class Replaced:
    job_id: str
    inserted: int
    deleted: int
    adopted: bool


def stage_job_id(job_id: str) -> str:
    """The staging load's id for the planned id (settled with it: `probes`)."""
    return f"{job_id}_stage"


def probes(job_id: str) -> list[str]:
    """Every job id an attempt of a file run may have submitted (for `incremental.settle`)."""
    return [job_id, stage_job_id(job_id)]


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
    stage = staging_ref(target, ROLE, job_id)
    columns = [_plain(f) for f in schema]
    create_staging_table(
        client, stage, columns, target=target, job_name=job_name, run_id=run_id,
        purpose="rows of changed files",
    )  # fmt: skip
    if uris:
        load_into_staging(
            client, stage, uris, columns, job_id=stage_job_id(job_id), job_name=job_name,
            run_id=run_id, location=location,
        )  # fmt: skip
    checkpoints.reached(checkpoints.MERGE_STAGING_LOADED)
    result = run_dml(
        client, merge_sql(target, stage, file_column, [f.name for f in columns]),
        job_id=job_id, job_name=job_name, run_id=run_id, location=location,
        what=f"the replacement of changed files' rows in {target}",
        parameters=[bigquery.ArrayQueryParameter("replaced", "STRING", sorted(replaced))],
        on_submitted=on_submitted,
    )  # fmt: skip
    drop_table(client, stage)
    drop_leftover_staging(client, target, ROLE, job_name, keep=[stage], location=location)
    return Replaced(result.job_id, result.inserted, result.deleted, result.adopted)
