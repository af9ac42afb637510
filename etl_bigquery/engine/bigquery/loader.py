"""One BigQuery load job per run, from the staged Parquet files (protocol: `engine.incremental`)."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol, cast

from google.api_core import exceptions as gexc
from google.cloud import bigquery

from etl_bigquery.engine.bigquery.clients import classify_google_error
from etl_bigquery.engine.bigquery.tables import JOB_LABEL, TableRef
from etl_bigquery.engine.errors import LoadError, Stage

RUN_LABEL = "etl_run"
MAX_SOURCE_URIS = 10_000  # BigQuery's limit per load job
# Polling a load job: Google's client waits 1 s, then 1.5 s, 2.25 s... between looks, so a load
# that takes 1.1 s is seen done after 2.5 s. A small job's run is mostly such waits; looking
# after 0.1 s, doubling to at most 2 s, sees it within about 0.4 s of its end and adds at
# most four cheap `jobs.get` calls to a long load.
FIRST_POLL_SECONDS = 0.1
MAX_POLL_SECONDS = 2.0


@dataclass(frozen=True)
class LoadResult:
    job_id: str
    output_rows: int
    adopted: bool
    """True when the job had been submitted by an earlier attempt of this same run."""


def _label(value: str) -> str:
    # Label values: lower case letters, digits, '_' and '-', at most 63 characters.
    return "".join(ch if ch.isalnum() or ch in "_-" else "_" for ch in value.lower())[:63]


def load_staged_files(
    client: bigquery.Client,
    ref: TableRef,
    uris: list[str],
    *,
    schema: list[bigquery.SchemaField],
    write_disposition: str,
    job_id: str,
    job_name: str,
    run_id: str,
    location: str | None = None,
    on_submitted: Callable[[str], None] | None = None,
) -> LoadResult:
    """Submit (or adopt) the load job `job_id` and wait for it.

    A 409 on submit means the id exists: if this run created it (a retried task), adopt it; if
    another run did, stop without loading: that run carries the same increment.
    """
    if len(uris) > MAX_SOURCE_URIS:
        raise LoadError(
            f"{len(uris)} staged files exceed BigQuery's {MAX_SOURCE_URIS} per load job."
        )
    config = bigquery.LoadJobConfig(
        source_format=bigquery.SourceFormat.PARQUET,
        write_disposition=write_disposition,
        create_disposition=bigquery.CreateDisposition.CREATE_NEVER,
        schema=schema,
        labels={JOB_LABEL: _label(job_name), RUN_LABEL: _label(run_id)},
    )
    adopted = False
    try:
        job = client.load_table_from_uri(
            uris, ref.id, job_id=job_id, job_config=config, location=location
        )
    except gexc.Conflict:
        job = _existing_job(client, job_id, location)
        if (job.labels or {}).get(RUN_LABEL) != _label(run_id):
            raise LoadError(
                f"Another run already submitted load job {job_id} for the same rows of {ref}; "
                "this run loaded nothing (the next run picks up anything newer)."
            ) from None
        adopted = True
    except Exception as error:
        raise classify_google_error(
            error, Stage.LOAD, f"submitting the load job for {ref}"
        ) from None
    if on_submitted is not None:
        on_submitted(job.job_id)
    try:
        wait_for_job(job)
    except gexc.GoogleAPICallError as error:
        if job.done() and job.error_result:
            reason = job.error_result.get("message", str(error))
            raise LoadError(f"BigQuery load job {job_id} failed: {reason}") from None
        raise classify_google_error(error, Stage.LOAD, f"waiting for load job {job_id}") from None
    except Exception as error:
        raise classify_google_error(error, Stage.LOAD, f"waiting for load job {job_id}") from None
    return LoadResult(job_id=job.job_id, output_rows=int(job.output_rows or 0), adopted=adopted)


class _Job(Protocol):
    def done(self) -> bool: ...
    def result(self) -> Any: ...


def wait_for_job(job: _Job) -> None:
    """Wait until the job is done (one `jobs.get` a look), then raise its error if it failed."""
    delay = FIRST_POLL_SECONDS
    while not job.done():
        time.sleep(delay)
        delay = min(delay * 2, MAX_POLL_SECONDS)
    job.result()


def _existing_job(client: bigquery.Client, job_id: str, location: str | None) -> bigquery.LoadJob:
    try:
        # The id names a load job this module submitted, so the job is a LoadJob.
        return cast(bigquery.LoadJob, client.get_job(job_id, location=location))
    except Exception as error:
        raise classify_google_error(error, Stage.LOAD, f"reading load job {job_id}") from None
