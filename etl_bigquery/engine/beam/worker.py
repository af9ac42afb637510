"""What runs inside Beam workers: read a unit, conform it, stage it, and the global steps that keep
a transactional run exactly once across units.

Everything here is plain Python, Arrow and numpy (no pandas, no Prefect), picklable, and opened
inside the worker: a DoFn carries connection *settings*, never a live connection.

Exactly once across units, by construction: a row can only be held by BigQuery already when its
cursor is at or below the watermark W and its identity is among the window's identities. Rows
that cannot be held are staged by the unit that read them. The others ("candidates") are keyed by
identity and grouped over ALL units; for an (identity, version) pair BigQuery holds k times and
the source returned n times, the first k (in unit, row order) are dropped and max(0, n - k) are
kept (then rows held without a version, loaded before versions existed, claim by identity), the
same multiset claim as the standard path's, but global. Which rows are candidates is decided by
the one filter both paths use (`engine.already_loaded`).
"""

from __future__ import annotations

import base64
import datetime as dt
import json
import logging
import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, replace
from decimal import Decimal
from pathlib import Path
from typing import TYPE_CHECKING, Any

import apache_beam as beam
import pyarrow as pa
import pyarrow.compute as pc
from apache_beam.metrics import Metrics
from apache_beam.pvalue import TaggedOutput

from etl_bigquery.engine import checkpoints
from etl_bigquery.engine.already_loaded import IncrementFilter
from etl_bigquery.engine.beam.progress import progress_marker
from etl_bigquery.engine.conform import Conformer, RejectedRow, RunStamp, TargetColumn
from etl_bigquery.engine.errors import EtlError, ExtractionError
from etl_bigquery.engine.fingerprint import ROW_HASH, KnownRows
from etl_bigquery.engine.merge.keyed_filter import KeyedFilter
from etl_bigquery.engine.prefetch import read_ahead
from etl_bigquery.engine.row_version import NO_VERSION, ROW_VERSION
from etl_bigquery.engine.sources.abilities import RejectsRecords
from etl_bigquery.engine.sources.base import ReadPlan, SourceReader
from etl_bigquery.engine.sources.registry import ConnectionSettings, source_type

if TYPE_CHECKING:
    from etl_bigquery.engine.sources.bigquery_source import BigQuerySourceSettings
    from etl_bigquery.engine.sources.files.store import StoreSettings

log = logging.getLogger(__name__)

CANDIDATES = "candidates"
REJECTED = "rejected"
CLAIMED = "claimed"
# A unit whose read fails transiently (a dropped connection) is read again from its start this
# many times in all, inside the worker: the DirectRunner does not retry bundles (Dataflow does,
# on top of this).
UNIT_ATTEMPTS = 3
UNIT_RETRY_SECONDS = 1.0
FAILURE_MARK = "ETL_UNIT_FAILED:"
NAMESPACE = "etl"


# -- what a worker is given --------------------------------------------------------------------


@dataclass(frozen=True)
class WorkerSource:
    """How a worker opens the source: the registry key and settings, secrets either resolved
    (the DirectRunner: they stay in this machine's memory) or as Secret Manager references the
    worker resolves itself (the DataflowRunner: the pipeline is staged in Cloud Storage, so a
    value must never travel inside it)."""

    source_key: str
    settings: ConnectionSettings | StoreSettings | BigQuerySourceSettings
    """A SQL connection's settings, a file store's or a BigQuery source's."""
    secrets: tuple[tuple[str, str], ...] = ()
    """(settings field, Secret Manager reference): read by the worker with its own identity
    (`password` of a SQL connection, `secret_access_key` of S3, `account_key` of Azure)."""

    def open(self) -> SourceReader:
        settings: Any = self.settings
        found = {
            name: _read_secret(reference)
            for name, reference in self.secrets
            if getattr(settings, name, None) is None
        }
        if found:
            settings = replace(settings, **found)
        return source_type(self.source_key).open(settings)


def _read_secret(reference: str) -> str:
    """Secret Manager, with the worker's own identity (its service account). Not exercised here:
    no Dataflow worker runs on this machine."""
    from google.cloud import secretmanager

    name = reference if "/versions/" in reference else f"{reference}/versions/latest"
    client = secretmanager.SecretManagerServiceClient()
    return client.access_secret_version(name=name, timeout=10).payload.data.decode("utf-8")


@dataclass(frozen=True)
class StagingSpec:
    """Where staged files go, the same location the standard path uses."""

    staging_uri: str
    project: str
    storage_endpoint: str | None = None
    """A Cloud Storage emulator (called anonymously); None: Google with the worker's identity."""

    @property
    def remote(self) -> bool:
        return self.staging_uri.startswith("gs://")

    def storage_client(self) -> Any:
        if not self.remote:
            return None
        from google.api_core.client_options import ClientOptions
        from google.cloud import storage

        if self.storage_endpoint:
            from google.auth.credentials import AnonymousCredentials

            return storage.Client(
                project=self.project,
                credentials=AnonymousCredentials(),
                client_options=ClientOptions(api_endpoint=self.storage_endpoint),
            )
        return storage.Client(project=self.project)

    def write_text(self, path: str, text: str) -> str:
        from etl_bigquery.engine.staging import split_gs_uri

        if self.remote:
            bucket, prefix = split_gs_uri(self.staging_uri)
            name = f"{prefix}/{path}".strip("/")
            self.storage_client().bucket(bucket).blob(name).upload_from_string(text)
            return f"gs://{bucket}/{name}"
        target = Path(self.staging_uri.removeprefix("file://")) / path
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(text, encoding="utf-8")
        return target.resolve().as_uri()

    def list_names(self, prefix: str, client: Any = None) -> list[str]:
        """The names (last path part) of the objects under `prefix` (one listing call)."""
        from etl_bigquery.engine.staging import split_gs_uri

        if self.remote:
            bucket, base = split_gs_uri(self.staging_uri)
            name = f"{base}/{prefix}".strip("/") + "/"
            storage = client or self.storage_client()
            blobs = storage.list_blobs(bucket, prefix=name)
            return [blob.name.rsplit("/", 1)[-1] for blob in blobs]
        folder = Path(self.staging_uri.removeprefix("file://")) / prefix
        return [path.name for path in folder.iterdir()] if folder.is_dir() else []

    def read_text(self, path: str, client: Any = None) -> str:
        from etl_bigquery.engine.staging import split_gs_uri

        if self.remote:
            bucket, prefix = split_gs_uri(self.staging_uri)
            name = f"{prefix}/{path}".strip("/")
            storage = client or self.storage_client()
            return storage.bucket(bucket).blob(name).download_as_text()
        return (Path(self.staging_uri.removeprefix("file://")) / path).read_text(encoding="utf-8")


@dataclass(frozen=True)
class UnitWork:
    """What every unit shares: where to stage, how to conform, how to filter."""

    run_path: str
    run_id: str
    columns: tuple[TargetColumn, ...]
    stamp: RunStamp
    schema: pa.Schema
    increment: IncrementFilter | None = None
    keyed: KeyedFilter | None = None
    """Merge and history runs: stage the versions that win, by key (`engine.merge`); a per-row
    decision, so units need no global step."""


# -- values in the manifest --------------------------------------------------------------------


def encode_value(value: object) -> object:
    """A cursor value as JSON that `decode_value` turns back into the same Python value."""
    if value is None or isinstance(value, bool | int | float | str):
        return value
    if isinstance(value, dt.datetime):
        return {"datetime": value.isoformat()}
    if isinstance(value, dt.date):
        return {"date": value.isoformat()}
    if isinstance(value, Decimal):
        return {"decimal": str(value)}
    return {"text": str(value)}


def decode_value(value: object) -> object:
    if not isinstance(value, dict):
        return value
    ((kind, text),) = value.items()
    if kind == "datetime":
        return dt.datetime.fromisoformat(text)
    if kind == "date":
        return dt.date.fromisoformat(text)
    if kind == "decimal":
        return Decimal(text)
    return text


def _max(current: object | None, values: pa.Array) -> object | None:
    if len(values) == 0:
        return current
    found = pc.max(values).as_py()
    if found is None:
        return current
    return found if current is None or found > current else current


def _row_bytes(batch: pa.RecordBatch) -> bytes:
    sink = pa.BufferOutputStream()
    with pa.ipc.new_stream(sink, batch.schema) as writer:
        writer.write_batch(batch)
    return sink.getvalue().to_pybytes()


def _rows_from_bytes(items: Iterable[bytes]) -> pa.Table:
    batches = []
    for item in items:
        with pa.ipc.open_stream(item) as reader:
            batches.extend(reader)
    return pa.Table.from_batches(batches)


def _failure(unit: int, error: BaseException) -> RuntimeError:
    """The error a failed unit ends with: our one-sentence message, behind a mark the driver
    finds in whatever the runner wraps it in (never a library's raw text: it could hold a
    connection string)."""
    if isinstance(error, EtlError):
        message, transient = error.message, error.transient
    else:
        message, transient = f"Unexpected {type(error).__name__}.", False
    payload = json.dumps({"unit": unit, "message": message, "transient": transient})
    return RuntimeError(FAILURE_MARK + base64.b64encode(payload.encode()).decode() + "|")


# -- the DoFns ---------------------------------------------------------------------------------


class ReadUnit(beam.DoFn):
    """One unit: read, conform, filter, stage. Main output: the unit's figures; tagged outputs:
    candidate rows (keyed by fingerprint) and rejected rows."""

    def __init__(self, source: WorkerSource, staging: StagingSpec, work: UnitWork) -> None:
        self.source = source
        self.staging = staging
        self.work = work
        self.rows_read = Metrics.counter(NAMESPACE, "rows_read")
        self.rows_staged = Metrics.counter(NAMESPACE, "rows_staged")
        self.rows_rejected = Metrics.counter(NAMESPACE, "rows_rejected")
        self.bytes_staged = Metrics.counter(NAMESPACE, "bytes_staged")
        self.unit_seconds = Metrics.distribution(NAMESPACE, "unit_milliseconds")

    def process(self, element: tuple[int, ReadPlan]) -> Iterator[Any]:
        index, plan = element
        started = time.monotonic()
        for attempt in range(1, UNIT_ATTEMPTS + 1):
            try:
                figures, candidates, rejected = self._read(index, plan)
                break
            except EtlError as error:
                if error.transient and attempt < UNIT_ATTEMPTS:
                    log.warning("Unit %s failed (%s); reading it again.", index, error.message)
                    time.sleep(UNIT_RETRY_SECONDS * attempt)
                    continue
                raise _failure(index, error) from None
            except Exception as error:
                log.error("Unit %s failed with %s.", index, type(error).__name__)
                raise _failure(index, error) from None
        # Outputs leave only once the unit succeeded, so a retried unit never emits twice.
        figures.update(attempts=attempt, seconds=round(time.monotonic() - started, 3))
        # The driver's progress artifact counts these (engine.beam.progress); a bundle retried
        # by the runner writes the same name again.
        self.staging.write_text(progress_marker(self.work.run_path, index, figures), "")
        self.rows_read.inc(figures["rows_read"])
        self.rows_staged.inc(figures["rows_staged"])
        self.rows_rejected.inc(len(rejected))
        self.bytes_staged.inc(figures["bytes"])
        self.unit_seconds.update(int(figures["seconds"] * 1000))
        for key, value in candidates:
            yield TaggedOutput(CANDIDATES, (key, value))
        if rejected:
            yield TaggedOutput(REJECTED, rejected)
        yield figures

    def _read(
        self, index: int, plan: ReadPlan
    ) -> tuple[dict[str, Any], list[tuple[str, tuple[int, int, bytes, str]]], list[RejectedRow]]:
        from etl_bigquery.engine.staging import ParquetStager

        work = self.work
        conformer = Conformer(list(work.columns), work.stamp)
        stager = ParquetStager(
            self.staging.staging_uri,
            f"{work.run_path}/unit-{index:05d}",
            work.schema,
            storage_client=self.staging.storage_client(),
        )
        increment = work.increment
        rows_read = ordinal = already = future = 0
        watermark: object | None = None
        candidates: list[tuple[str, tuple[int, int, bytes, str]]] = []
        rejected: list[RejectedRow] = []
        reader = self.source.open()
        # Records a file reader could not read at all are rejected rows, as on the standard path.
        unreadable = reader.take_rejected if isinstance(reader, RejectsRecords) else None
        try:
            for batch in read_ahead(reader.read(plan)):
                if unreadable is not None and (bad_records := unreadable()):
                    rows_read += len(bad_records)
                    rejected.extend(bad_records)
                rows_read += batch.num_rows
                good, bad = conformer.conform(batch)
                rejected.extend(bad)
                if work.keyed is not None:
                    decision = work.keyed.decide(good)
                    good, already = decision.staged, already + decision.held
                    rejected.extend(decision.rejected)
                    future += decision.future
                    watermark = _max(watermark, good.column(work.keyed.cursor))
                elif increment is not None:
                    good, held, later = increment.split(good)
                    rejected.extend(later)  # cursor in the future (engine.clock_rule)
                    future += len(later)
                    identities = held.column(ROW_HASH).to_pylist()
                    versions = held.column(ROW_VERSION).to_pylist()
                    for i in range(held.num_rows):
                        row = held.slice(i, 1)
                        # Grouped by identity; the version decides the claim (ClaimKnown).
                        item = (index, ordinal, _row_bytes(row), versions[i])
                        candidates.append((identities[i], item))
                        ordinal += 1
                    watermark = _max(watermark, good.column(increment.cursor))
                stager.write(good)
                checkpoints.reached(checkpoints.EXTRACT_BATCH_STAGED)
            if unreadable is not None and (bad_records := unreadable()):
                rows_read += len(bad_records)
                rejected.extend(bad_records)
            staged = stager.finish()
        except BaseException:
            stager.abort()
            raise
        finally:
            reader.close()
        from etl_bigquery.engine.beam.units import describe_unit

        figures = {
            "kind": "unit",
            "unit": index,
            "range": describe_unit(plan),
            "rows_read": rows_read,
            "rows_staged": staged.rows,
            "candidates": len(candidates),
            "already_loaded": already,
            "rejected": len(rejected),
            "future": future,
            "uris": staged.uris,
            "bytes": staged.bytes,
            "watermark": encode_value(watermark),
            "numeric_nan_nulled": conformer.numeric_nan_nulled,
        }
        return figures, candidates, rejected


class ClaimKnown(beam.DoFn):
    """Per identity, over all units: drop as many rows as BigQuery holds of each (identity,
    version) pair, then as many as it holds of the identity without a version (rows loaded
    before versions existed), keep the rest: `engine.already_loaded.claim_pairs`, globally."""

    def __init__(self, increment: IncrementFilter) -> None:
        self.increment = increment
        self._counts: dict[bytes, int] = {}
        self.already_loaded = Metrics.counter(NAMESPACE, "rows_already_loaded")

    def setup(self) -> None:
        keys, counts = self.increment.known_keys, self.increment.known_counts
        # Slices of the raw buffer: `bytes()` of a numpy S32 item drops trailing NUL bytes.
        raw = keys.tobytes()
        self._counts = {raw[32 * i : 32 * (i + 1)]: int(n) for i, n in enumerate(counts.tolist())}

    def process(self, element: tuple[str, Iterable[tuple[int, int, bytes, str]]]) -> Iterator[Any]:
        key, found = element
        identity = bytes.fromhex(key)
        rows = sorted(found, key=lambda item: (item[0], item[1]))
        remaining: dict[bytes, int] = {}  # this group's counts (a retried bundle starts over)
        kept = []
        for row in rows:
            pair = identity + bytes.fromhex(row[3])
            left = remaining.setdefault(pair, self._counts.get(pair, 0))
            if left:
                remaining[pair] = left - 1
            else:
                kept.append(row)
        legacy = identity + NO_VERSION
        left = self._counts.get(legacy, 0)
        claimed = len(rows) - len(kept) + min(left, len(kept))
        self.already_loaded.inc(claimed)
        yield TaggedOutput(CLAIMED, claimed)
        yield from kept[left:]


class StageKept(beam.DoFn):
    """The candidates that survived the claim (few: rows the source has more often than
    BigQuery), staged as the run's last files."""

    def __init__(self, staging: StagingSpec, work: UnitWork) -> None:
        self.staging = staging
        self.work = work

    def process(self, kept: list[tuple[int, int, bytes]]) -> Iterator[dict[str, Any]]:
        from etl_bigquery.engine.staging import ParquetStager

        figures: dict[str, Any] = {"kind": "kept", "rows": 0, "uris": [], "bytes": 0}
        if not kept:
            yield figures
            return
        table = _rows_from_bytes(item[2] for item in sorted(kept, key=lambda i: (i[0], i[1])))
        stager = ParquetStager(
            self.staging.staging_uri,
            f"{self.work.run_path}/kept",
            self.work.schema,
            storage_client=self.staging.storage_client(),
        )
        try:
            for batch in table.cast(self.work.schema).to_batches():
                stager.write(batch)
            staged = stager.finish()
        except BaseException:
            stager.abort()
            raise
        assert self.work.increment is not None
        watermark = _max(None, table.column(self.work.increment.cursor).combine_chunks())
        figures.update(rows=staged.rows, uris=staged.uris, bytes=staged.bytes)
        figures["watermark"] = encode_value(watermark)
        yield figures


class StageRejects(beam.DoFn):
    """All units' rejected rows into one file, each kept once (against the rejected-rows table's
    fingerprints, globally), with the standard path's own `RejectStager`."""

    def __init__(self, staging: StagingSpec, work: UnitWork, known: KnownRows) -> None:
        self.staging = staging
        self.work = work
        self.known = known

    def process(self, groups: list[list[RejectedRow]]) -> Iterator[dict[str, Any]]:
        from etl_bigquery.engine.rejected import RejectStager

        stager = RejectStager(
            self.staging.staging_uri,
            self.work.run_path,
            self.work.run_id,
            self.known.copy(),
            self.staging.storage_client(),
        )
        try:
            for rows in groups:
                stager.write(rows)
            result = stager.finish()
        except BaseException:
            stager.abort()
            raise
        yield {
            "kind": "rejected",
            "uri": result.uri,
            "rows": result.rows,
            "already_kept": result.already_kept,
            "digest": result.digest,
        }


class WriteManifest(beam.DoFn):
    """The pipeline's own figures, written where the driver reads them after the run (a Beam
    pipeline returns nothing to the process that started it)."""

    def __init__(self, staging: StagingSpec, path: str) -> None:
        self.staging = staging
        self.path = path

    def process(self, figures: list[Any]) -> Iterator[str]:
        claimed = sum(item for item in figures if isinstance(item, int))
        parts = [item for item in figures if isinstance(item, dict)]
        parts.append({"kind": "claimed", "rows": claimed})
        yield self.staging.write_text(self.path, json.dumps(parts, sort_keys=True))


def failure_in(text: str) -> dict[str, Any] | None:
    """The failed unit's payload in the text of the runner's exception, if there is one."""
    start = text.find(FAILURE_MARK)
    if start < 0:
        return None
    encoded = text[start + len(FAILURE_MARK) :].split("|", 1)[0]
    try:
        return json.loads(base64.b64decode(encoded))
    except ValueError:
        return None


def unit_error(payload: dict[str, Any]) -> ExtractionError:
    from etl_bigquery.engine.errors import TransientExtractionError

    message = f"Dataflow unit {payload['unit']} failed: {payload['message']}"
    if payload.get("transient"):
        return TransientExtractionError(message)
    return ExtractionError(message)
