"""Stage conformed batches as Parquet files for one BigQuery load job.

Files are written to a local temporary folder and, once closed, uploaded to the staging location
(`gs://bucket/prefix/...`) while the next file is being written; local files are deleted after
upload, so memory and disk stay bounded whatever the table size. A `file://` staging location
(usable with the emulator only) keeps the files where they are written.
"""

from __future__ import annotations

import contextlib
import shutil
import tempfile
import threading
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
from google.cloud import storage

from etl_bigquery.engine.errors import EtlError, ExtractionError, Stage, TransientExtractionError
from etl_bigquery.engine.fingerprint import ROW_HASH
from etl_bigquery.engine.merge.hashes import KEY_HASH
from etl_bigquery.engine.row_version import ROW_VERSION

# Files are uploaded while the next one is written: smaller files overlap more (the last upload
# is the only one a run waits for); 10,000 files per load job still allow 320 GB per run.
DEFAULT_FILE_BYTES = 32 * 1024 * 1024
UPLOAD_THREADS = 2
# Resumable upload chunk (a multiple of 256 KiB). The client's default, 100 MiB, is held in memory.
UPLOAD_CHUNK_BYTES = 8 * 1024 * 1024
# Digest columns (32 random hex digits a row) are written uncompressed: snappy gains 7% of the
# file on them and spent more time there than on the ten other columns of the bench table
# together (55 of 96 ms per 100,000 rows; 8 ms uncompressed).
DIGEST_COLUMNS = frozenset({ROW_HASH, ROW_VERSION, KEY_HASH})


@dataclass
class StagedFiles:
    uris: list[str] = field(default_factory=list)
    rows: int = 0
    bytes: int = 0


def split_gs_uri(uri: str) -> tuple[str, str]:
    without = uri.removeprefix("gs://")
    bucket, _, prefix = without.partition("/")
    return bucket, prefix.strip("/")


def missing_staging_bucket(staging_uri: str, storage_client: storage.Client | None) -> str | None:
    """One sentence when the staging bucket does not exist, else None. Asked before a run
    extracts anything (and by `etl connection test`): otherwise the first upload fails after the
    source has been read. Listing one object needs only the object permissions a run has anyway
    (not `storage.buckets.get`); other errors (access, outages) surface where they happen."""
    if not staging_uri.startswith("gs://") or storage_client is None:
        return None
    from google.api_core.exceptions import NotFound

    bucket, prefix = split_gs_uri(staging_uri)
    try:
        next(iter(storage_client.list_blobs(bucket, prefix=prefix or None, max_results=1)), None)
    except NotFound:
        return (
            f"Staging bucket gs://{bucket} does not exist; create it (the Terraform storage "
            "module does) or set staging_uri on the BigQuery destination to a bucket that exists."
        )
    return None


def _compression(schema: pa.Schema) -> str | dict[str, str]:
    """Snappy, but none for digest columns. A per-column codec names leaf columns, and unnamed
    ones are left uncompressed, so a schema with nested columns keeps snappy everywhere."""
    if not DIGEST_COLUMNS & set(schema.names) or any(
        pa.types.is_nested(field.type) for field in schema
    ):
        return "snappy"
    return {name: "none" if name in DIGEST_COLUMNS else "snappy" for name in schema.names}


class ParquetStager:
    """Write batches into rolling Parquet files under `<staging_uri>/<run_path>/`."""

    def __init__(
        self,
        staging_uri: str,
        run_path: str,
        schema: pa.Schema,
        *,
        storage_client: storage.Client | None = None,
        max_file_bytes: int = DEFAULT_FILE_BYTES,
    ) -> None:
        self.schema = schema
        self.max_file_bytes = max_file_bytes
        self.result = StagedFiles()
        self._remote = staging_uri.startswith("gs://")
        if self._remote:
            if storage_client is None:
                raise ValueError("a gs:// staging location needs a storage client")
            bucket, prefix = split_gs_uri(staging_uri)
            self._bucket = storage_client.bucket(bucket)
            self._prefix = f"{prefix}/{run_path}".strip("/")
            self._workdir = Path(tempfile.mkdtemp(prefix="etl-stage-"))
        elif staging_uri.startswith("file://") or staging_uri.startswith("/"):
            root = Path(staging_uri.removeprefix("file://"))
            self._workdir = root / run_path
            self._workdir.mkdir(parents=True, exist_ok=True)
        else:
            raise EtlError(
                f"Staging location {staging_uri!r} is neither gs://bucket/prefix nor file:///path.",
                stage=Stage.INIT,
            )
        self._index = 0
        self._writer: pq.ParquetWriter | None = None
        self._path: Path | None = None
        self._rows_in_file = 0
        # Uploads run in the background: extraction goes on while files travel.
        self._uploads = ThreadPoolExecutor(
            max_workers=UPLOAD_THREADS, thread_name_prefix="etl-upload"
        )
        self._pending: list[Future[None]] = []
        self._lock = threading.Lock()

    def write(self, batch: pa.RecordBatch) -> None:
        if batch.num_rows == 0:
            return
        try:
            self._write(batch)
        except OSError as error:
            raise self._local_disk_error(error) from None

    def _local_disk_error(self, error: OSError) -> ExtractionError:
        reason = error.strerror or type(error).__name__
        return ExtractionError(
            f"Writing staged files to the local folder {self._workdir} failed ({reason}); free "
            "space there or point TMPDIR at a larger disk, then run the job again."
        )

    def _write(self, batch: pa.RecordBatch) -> None:
        if self._writer is None:
            self._open()
        assert self._writer is not None and self._path is not None
        self._writer.write_batch(batch)
        self._rows_in_file += batch.num_rows
        self.result.rows += batch.num_rows
        if self._path.stat().st_size >= self.max_file_bytes:
            self._close_file()

    def finish(self) -> StagedFiles:
        """Close the last file and wait for every upload; returns the staged URIs in order."""
        try:
            self._close_file()
        except OSError as error:
            raise self._local_disk_error(error) from None
        self._uploads.shutdown(wait=True)
        for future in self._pending:
            future.result()  # re-raise an upload failure
        if self._remote:
            shutil.rmtree(self._workdir, ignore_errors=True)
        return self.result

    def abort(self) -> None:
        """Stop after a failure: close the file, drop local files (remote ones expire)."""
        if self._writer is not None:
            with contextlib.suppress(OSError):
                self._writer.close()
            self._writer = None
        self._uploads.shutdown(wait=True, cancel_futures=True)
        if self._remote:
            shutil.rmtree(self._workdir, ignore_errors=True)

    def _open(self) -> None:
        self._path = self._workdir / f"part-{self._index:05d}.parquet"
        self._index += 1
        self._rows_in_file = 0
        # Snappy without dictionaries: the cheapest encoding to write (dictionaries cost more CPU
        # than they save here, the files come out no larger), and BigQuery reads it in parallel.
        self._writer = pq.ParquetWriter(
            self._path,
            self.schema,
            compression=_compression(self.schema),
            use_dictionary=False,
            write_statistics=False,
        )

    def _close_file(self) -> None:
        if self._writer is None:
            return
        assert self._path is not None
        self._writer.close()
        self._writer = None
        path = self._path
        size = path.stat().st_size
        self.result.bytes += size
        if not self._remote:
            self.result.uris.append(path.resolve().as_uri())
            return
        name = f"{self._prefix}/{path.name}"
        self.result.uris.append(f"gs://{self._bucket.name}/{name}")
        self._pending.append(self._uploads.submit(self._upload, path, name))

    def _upload(self, path: Path, name: str) -> None:
        try:
            blob = self._bucket.blob(name, chunk_size=UPLOAD_CHUNK_BYTES)
            blob.upload_from_filename(str(path))
        except Exception as error:
            raise TransientExtractionError(
                f"Uploading a staged file to gs://{self._bucket.name}/{name} failed: "
                f"{str(error).splitlines()[0]}"
            ) from None
        finally:
            path.unlink(missing_ok=True)


def delete_staged(uris: list[str], storage_client: storage.Client | None) -> None:
    """Best-effort cleanup after a successful load (leftovers expire with the bucket lifecycle)."""
    for uri in uris:
        try:
            if uri.startswith("gs://") and storage_client is not None:
                bucket, name = split_gs_uri(uri)
                storage_client.bucket(bucket).blob(name).delete()
            elif uri.startswith("file://"):
                Path(uri.removeprefix("file://")).unlink(missing_ok=True)
        except Exception:  # cleanup must never fail a run that loaded its data
            continue
