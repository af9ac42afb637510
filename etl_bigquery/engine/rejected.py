"""Rejected rows: source rows whose values do not fit their columns, kept with the reason.

They are written line by line to a staged newline-delimited JSON file during extraction (memory
stays bounded however many there are), fingerprinted from their source values, and skipped when
`<table>__rejected` already holds them, so a malformed row that every run reads again (it sits
inside the lookback window) is kept once. The file is loaded by one load job whose id is derived
from the run's main load job and from the content (`engine.incremental.rejected_job_id`): a retried
or repeated submission of the same rows is refused by BigQuery instead of appended twice.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import hashlib
import json
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from google.api_core import exceptions as gexc
from google.cloud import bigquery, storage

from etl_bigquery.engine.bigquery.clients import classify_google_error
from etl_bigquery.engine.bigquery.loader import wait_for_job
from etl_bigquery.engine.bigquery.tables import TableRef, get_table
from etl_bigquery.engine.conform import RejectedRow
from etl_bigquery.engine.errors import LoadError, Stage, TransientExtractionError
from etl_bigquery.engine.fingerprint import ROW_HASH, KnownRows
from etl_bigquery.engine.staging import split_gs_uri

REJECTED_SUFFIX = "__rejected"
REJECTED_SCHEMA = [
    bigquery.SchemaField("_etl_run_id", "STRING"),
    bigquery.SchemaField("_etl_rejected_at", "TIMESTAMP"),
    bigquery.SchemaField("reason", "STRING"),
    bigquery.SchemaField("record", "STRING", description="the source row as JSON"),
    bigquery.SchemaField(ROW_HASH, "STRING", description="MD5 of the record's canonical JSON"),
]


def rejected_table(ref: TableRef) -> TableRef:
    return TableRef(ref.project, ref.dataset, ref.table + REJECTED_SUFFIX)


@dataclass
class StagedRejects:
    uri: str | None = None
    rows: int = 0
    already_kept: int = 0
    digest: str = ""
    """Order-independent digest of the staged rows' fingerprints (names the load job)."""


def record_fingerprint(record: dict[str, object]) -> bytes:
    text = json.dumps(record, sort_keys=True, default=str, ensure_ascii=False)
    return hashlib.md5(text.encode(), usedforsecurity=False).digest()


class RejectStager:
    """Collect rejected rows into one NDJSON file, skipping rows already kept."""

    def __init__(
        self,
        staging_uri: str,
        run_path: str,
        run_id: str,
        known: KnownRows,
        storage_client: storage.Client | None,
    ) -> None:
        self._staging_uri = staging_uri
        self._run_path = run_path
        self._run_id = run_id
        self._known = known
        self._storage = storage_client
        self._file = tempfile.NamedTemporaryFile(  # noqa: SIM115 (closed in finish/abort)
            "w", prefix="etl-rejected-", suffix=".json", delete=False, encoding="utf-8"
        )
        self._sum = 0
        self.result = StagedRejects()

    def write(self, rows: list[RejectedRow]) -> None:
        if not rows:
            return
        prints = [record_fingerprint(row.record) for row in rows]
        keep = self._known.claim(np.frombuffer(b"".join(prints), dtype="S16"))
        now = dt.datetime.now(dt.UTC).isoformat()
        for row, fingerprint, kept in zip(rows, prints, keep, strict=True):
            if not kept:
                self.result.already_kept += 1
                continue
            line = {
                "_etl_run_id": self._run_id,
                "_etl_rejected_at": now,
                "reason": row.reason,
                "record": json.dumps(row.record, default=str, ensure_ascii=False),
                ROW_HASH: fingerprint.hex(),
            }
            self._file.write(json.dumps(line, ensure_ascii=False) + "\n")
            self._sum = (self._sum + int.from_bytes(fingerprint, "big")) % (1 << 128)
            self.result.rows += 1

    def finish(self) -> StagedRejects:
        self._file.close()
        local = Path(self._file.name)
        if not self.result.rows:
            local.unlink(missing_ok=True)
            return self.result
        self.result.digest = hashlib.sha256(f"{self._sum}|{self.result.rows}".encode()).hexdigest()
        name = f"{self._run_path}/rejected.json"
        try:
            if self._staging_uri.startswith("gs://"):
                assert self._storage is not None
                bucket, prefix = split_gs_uri(self._staging_uri)
                blob_name = f"{prefix}/{name}".strip("/")
                self._storage.bucket(bucket).blob(blob_name).upload_from_filename(str(local))
                self.result.uri = f"gs://{bucket}/{blob_name}"
                local.unlink(missing_ok=True)
            else:
                target = Path(self._staging_uri.removeprefix("file://")) / name
                target.parent.mkdir(parents=True, exist_ok=True)
                local.replace(target)
                self.result.uri = target.resolve().as_uri()
        except Exception as error:
            local.unlink(missing_ok=True)
            raise TransientExtractionError(
                f"Staging the rejected rows failed: {str(error).splitlines()[0]}"
            ) from None
        return self.result

    def abort(self) -> None:
        self._file.close()
        Path(self._file.name).unlink(missing_ok=True)


def load_rejected(
    client: bigquery.Client,
    ref: TableRef,
    staged: StagedRejects,
    job_id: str,
    *,
    location: str | None,
) -> str:
    """Append the staged rejected rows to `<table>__rejected` with the job id `job_id`."""
    target = rejected_table(ref)
    if staged.uri is None:
        raise ValueError("load_rejected needs staged rows (StagedRejects.uri is None)")
    job: Any
    try:
        table = get_table(client, target)
        if table is None:
            with contextlib.suppress(gexc.Conflict):
                client.create_table(bigquery.Table(target.id, schema=REJECTED_SCHEMA))
        elif not any(f.name == ROW_HASH for f in table.schema):
            table.schema = [*table.schema, REJECTED_SCHEMA[-1]]
            client.update_table(table, ["schema"])
        config = bigquery.LoadJobConfig(
            source_format=bigquery.SourceFormat.NEWLINE_DELIMITED_JSON,
            write_disposition=bigquery.WriteDisposition.WRITE_APPEND,
            schema=REJECTED_SCHEMA,
        )
        for attempt in range(1, 51):
            try:
                job = client.load_table_from_uri(
                    staged.uri,
                    target.id,
                    job_id=f"{job_id}_{attempt}",
                    job_config=config,
                    location=location,
                )
            except gexc.Conflict:
                # The same rows were submitted before (a retried task, or a run that died after
                # submitting): that job carries them, unless it failed.
                job = client.get_job(f"{job_id}_{attempt}", location=location)
                if job.done() and job.error_result:
                    continue
            wait_for_job(job)
            break
    except gexc.GoogleAPICallError as error:
        raise classify_google_error(
            error, Stage.LOAD, f"keeping rejected rows in {target}"
        ) from None
    except LoadError:
        raise
    except Exception as error:
        raise classify_google_error(
            error, Stage.LOAD, f"keeping rejected rows in {target}"
        ) from None
    return str(target)
