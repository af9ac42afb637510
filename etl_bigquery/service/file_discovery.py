"""Discovery of file connections, for the CLI and the web console alike.

`list_files` lists what a prefix and glob match (name, size, last-modified); `detect_file`
reads at most the first 5 MB of one file and proposes its format, the format's options and the
columns with their BigQuery types. (The connection test is the block's: `blocks.health`.)
Nothing here prints, and nothing changes the store.
"""

from __future__ import annotations

import csv
import gzip
import io
from dataclasses import asdict, dataclass, field
from typing import Any

from etl_bigquery.blocks.files import FileConnection
from etl_bigquery.blocks.health import FileInfo
from etl_bigquery.engine.errors import ConfigurationError
from etl_bigquery.engine.jobs.model import CsvOptions, FileFormat, FilesSource
from etl_bigquery.engine.schema.detect import detect_columns
from etl_bigquery.engine.schema.typemap import propose
from etl_bigquery.engine.sources.files import formats
from etl_bigquery.engine.sources.files.reader import FileReader, describe_file
from etl_bigquery.engine.sources.files.store import FileStore, StoredFile, glob_escape


@dataclass(frozen=True)
class DetectedColumn:
    name: str
    source_type: str
    bq_type: str
    confidence: str
    warnings: list[str] = field(default_factory=list)
    detected: bool = False


@dataclass(frozen=True)
class Detected:
    """What `detect_file` proposes: paste `source` into a job file."""

    file: FileInfo
    source: dict[str, Any]
    """A job's `source:` (kind files, glob = the file's name, format and its options)."""
    columns: list[DetectedColumn]
    sample_rows: int
    bytes_read_at_most: int = formats.SAMPLE_BYTES

    def as_dict(self) -> dict[str, Any]:
        return {
            "file": self.file.as_dict(),
            "source": self.source,
            "columns": [asdict(c) for c in self.columns],
            "sample_rows": self.sample_rows,
            "bytes_read_at_most": self.bytes_read_at_most,
        }


def _connection(connection: str | FileConnection) -> FileConnection:
    if isinstance(connection, FileConnection):
        return connection
    from etl_bigquery.blocks.registry import load_connection

    block = load_connection(connection)
    if not isinstance(block, FileConnection):
        raise ConfigurationError(
            f"Connection '{connection}' is not a file connection (gcs, s3, azure_blob, local)."
        )
    return block


def list_files(
    connection: str | FileConnection, prefix: str = "", glob: str = "**", limit: int = 1000
) -> list[FileInfo]:
    """Files under `prefix` matching `glob` (`*` within a folder, `**` across), by name."""
    store = FileStore(_connection(connection).settings())
    return [FileInfo.of(f) for f in store.list(prefix, glob, limit=limit)]


def _guess_format(name: str) -> FileFormat:
    lower = name.lower().removesuffix(".gz")
    if lower.endswith(".parquet") or lower.endswith(".pq"):
        return FileFormat.PARQUET
    if lower.endswith((".jsonl", ".ndjson")):
        return FileFormat.JSONL
    if lower.endswith(".json"):
        return FileFormat.JSON
    return FileFormat.CSV


def _head(store: FileStore, stored: StoredFile, size: int = 256 * 1024) -> bytes:
    with store.open_stream(stored) as stream:
        data = stream.read(min(size, formats.SAMPLE_BYTES))
    if stored.name.lower().endswith(".gz"):
        try:
            return gzip.GzipFile(fileobj=io.BytesIO(data)).read1(size)
        except (OSError, EOFError):
            return b""
    return data


def _guess_json(head: bytes) -> FileFormat:
    text = head.lstrip(b"\xef\xbb\xbf").lstrip()
    return FileFormat.JSON if text.startswith(b"[") else FileFormat.JSONL


def _guess_csv(head: bytes) -> CsvOptions:
    """Encoding (UTF-8, with or without BOM, else Latin-1), delimiter, quote and header from
    the first 256 KB."""
    encoding = "utf-8"
    try:
        text = head.decode("utf-8")
    except UnicodeDecodeError as error:
        if error.start < len(head) - 4:  # not just a character cut at the sample's end
            encoding = "latin-1"
        text = head.decode(encoding, "replace" if encoding == "utf-8" else "strict")
    text = text.lstrip("\ufeff")
    lines = text.splitlines()[:50]
    sample = "\n".join(lines)
    try:
        dialect = csv.Sniffer().sniff(sample, delimiters=",;\t|")
        delimiter, quote = dialect.delimiter, dialect.quotechar or '"'
    except csv.Error:
        delimiter, quote = ",", '"'
    try:
        header = csv.Sniffer().has_header(sample)
    except csv.Error:
        header = True
    return CsvOptions(delimiter=delimiter, quote=quote, encoding=encoding, header=header)


def detect_file(
    connection: str | FileConnection,
    path: str,
    *,
    file_format: str | None = None,
    csv_options: dict[str, Any] | None = None,
) -> Detected:
    """Propose how to read one file: format (from its name and first bytes), CSV options
    (encoding, delimiter, quote, header), and columns with BigQuery types (text columns sampled
    for dates, timestamps, integers and booleans). Reads at most its first 5 MB."""
    block = _connection(connection)
    store = FileStore(block.settings())
    stored = store.stat(path)
    fmt = FileFormat(file_format) if file_format else _guess_format(stored.name)
    head = b"" if fmt is FileFormat.PARQUET else _head(store, stored)
    if fmt in (FileFormat.JSON, FileFormat.JSONL) and not file_format:
        fmt = _guess_json(head)
    options = CsvOptions()
    if fmt is FileFormat.CSV:
        options = CsvOptions.model_validate(csv_options) if csv_options else _guess_csv(head)
    folder, _, name = stored.name.rpartition("/")
    source = FilesSource(
        prefix=f"{folder}/" if folder else "", glob=glob_escape(name), format=fmt, csv=options
    )
    columns = describe_file(store, source, stored)
    reader = FileReader(block.settings())
    try:
        sample = reader.preview(source, limit=1000)
    finally:
        reader.close()
    text = [c.name for c in columns if propose("files", c.source_type).bq_type.value == "STRING"]
    detected = detect_columns(sample, text)
    result = []
    for column in columns:
        proposal = detected.get(column.name) or propose("files", column.source_type)
        result.append(
            DetectedColumn(
                column.name,
                column.source_type,
                proposal.bq_type.value,
                proposal.confidence.value,
                list(proposal.warnings),
                column.name in detected,
            )
        )
    shown = source.model_dump(mode="json", exclude_defaults=False)
    if fmt is not FileFormat.CSV:
        shown.pop("csv", None)
    return Detected(FileInfo.of(stored), shown, result, sample.num_rows)
