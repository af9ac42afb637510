"""File formats read as streams of Arrow batches: Parquet, JSON lines, JSON arrays (CSV in
`csv_files`), and what every format shares: streams (`.gz`), record numbers, bad records.

Memory stays bounded whatever the file size: CSV goes through Arrow's streaming CSV reader a
block at a time, Parquet a row group at a time, JSON lines a line at a time and JSON arrays an
element at a time (ijson). CSV and JSON values come out as text (typed later by the conformer,
value by value, so a value that does not fit its column rejects its row, not the run); Parquet
keeps its own types.

Every row carries its record number in the file (`ROW_NUMBER`): for CSV the record's number as
a CSV reader counts them from the first line (the header is 1; it is the line number unless a
quoted value spans lines), for JSON lines the line, for JSON arrays the element (from 1), for
Parquet the row (from 1). Records that cannot be read (ragged CSV rows, bytes that are not text
in the declared encoding, lines that are not JSON objects) are handed to `on_bad` with that
number and the reason; the rest of the file is read on.
"""

from __future__ import annotations

import contextlib
import gzip
import io
import json
import zlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

from etl_bigquery.engine.errors import ExtractionError, ValidationError
from etl_bigquery.engine.jobs.model import FileFormat, FilesSource
from etl_bigquery.engine.sources.base import RowGroups
from etl_bigquery.engine.sources.files.store import FileStore, StoredFile

ROW_NUMBER = "_etl_source_row"
JSON_BATCH_ROWS = 10_000
PARQUET_BATCH_ROWS = 50_000
SAMPLE_BYTES = 5 * 1024 * 1024
"""Discovery reads at most this much of a file (compressed bytes for .gz)."""
_BOM = b"\xef\xbb\xbf"
STREAM_ERRORS = (OSError, EOFError, zlib.error)
"""What a truncated or corrupt .gz (or a broken connection) raises while it is read."""
_MAX_TEXT = 500


@dataclass(frozen=True)
class BadRecord:
    file: str
    row: int | None
    reason: str
    text: str | None = None


OnBad = Callable[[BadRecord], None]


def short(text: str | None) -> str | None:
    if text is None:
        return None
    return text if len(text) <= _MAX_TEXT else text[:_MAX_TEXT] + "..."


class _Limited(io.RawIOBase):
    """The first `limit` bytes of a stream (discovery reads at most 5 MB of a file)."""

    def __init__(self, stream: Any, limit: int) -> None:
        self._stream = stream
        self._left = limit

    def readable(self) -> bool:
        return True

    def close(self) -> None:
        self._stream.close()
        super().close()

    def readinto(self, buffer: Any) -> int:
        if self._left <= 0:
            return 0
        want = min(len(buffer), self._left)
        data = self._stream.read(want)
        buffer[: len(data)] = data
        self._left -= len(data)
        return len(data)


def is_gzip(source: FilesSource, file: StoredFile) -> bool:
    if source.compression == "gzip":
        return True
    return source.compression == "auto" and file.name.lower().endswith(".gz")


def open_text_stream(
    store: FileStore,
    source: FilesSource,
    file: StoredFile,
    limit: int | None = None,
    *,
    python: bool = False,
) -> Any:
    """A binary stream of the file's (decompressed) bytes; `limit` caps the bytes fetched.
    Arrow's own streams unless `python` (line iteration) or a limit asks for a Python one."""
    raw = store.open_stream(file)
    if python or limit is not None:
        capped = _Limited(raw, limit if limit is not None else 1 << 62)
        stream: Any = io.BufferedReader(capped, buffer_size=1024 * 1024)
        if is_gzip(source, file):
            stream = gzip.GzipFile(fileobj=stream, mode="rb")
        return stream
    if is_gzip(source, file):
        return pa.CompressedInputStream(raw, "gzip")
    return raw


# -- JSON ------------------------------------------------------------------------------------


def _json_text(value: Any) -> str | None:
    if value is None:
        return None
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, dict | list):
        return json.dumps(value, ensure_ascii=False, default=str)
    return str(value)


def json_kind(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int):
        return "integer"
    if isinstance(value, float) or type(value).__name__ == "Decimal":
        return "number"
    if isinstance(value, str):
        return "string"
    return "array" if isinstance(value, list) else "object"


def _skip_bom(stream: Any) -> None:
    """A UTF-8 byte-order mark (Windows tools write one) is not part of the first record."""
    if stream.peek(3)[:3] == _BOM:
        stream.read(3)


def _not_json_constant(name: str) -> Any:
    raise json.JSONDecodeError(f"{name} is not a JSON value", name, 0)


def _json_objects(
    stream: Any, source: FilesSource, file: StoredFile, on_bad: OnBad, sampling: bool
) -> Iterator[tuple[int, dict[str, Any] | None]]:
    """(number, object) per record; (number, None) for one handed to `on_bad`, so a reader
    of only bad records still makes progress its caller sees."""
    with contextlib.suppress(*STREAM_ERRORS):  # the read below says what is wrong
        _skip_bom(stream)
    if source.format is FileFormat.JSON:
        import ijson

        number = 0
        try:
            for item in ijson.items(stream, "item", use_float=True):
                number += 1
                if isinstance(item, dict):
                    yield number, item
                else:
                    on_bad(BadRecord(file.uri, number, "element is not a JSON object",
                                     short(json.dumps(item, default=str))))  # fmt: skip
                    yield number, None
        except (ijson.JSONError, UnicodeDecodeError, *STREAM_ERRORS) as error:
            if sampling:
                return
            raise ExtractionError(
                f"File {file.uri} is not a valid JSON array after element {number}: "
                f"{str(error)[:200]}. A JSON array cannot be read past a syntax error; fix the "
                "file (or export it as JSON lines, where a bad line is rejected alone)."
            ) from None
        return
    number = 0
    lines = iter(stream)
    while True:
        try:
            raw = next(lines)
        except StopIteration:
            return
        except STREAM_ERRORS as error:
            if sampling:
                return  # the sample's .gz was cut off
            raise ExtractionError(
                f"File {file.uri} could not be read after line {number}: "
                f"{str(error).splitlines()[0][:200]}; the file (or its .gz) is truncated or "
                "corrupt: replace it."
            ) from None
        number += 1
        line = raw.strip()
        if not line:
            continue
        try:
            text = line.decode("utf-8")
            value = json.loads(text, parse_constant=_not_json_constant)
        except UnicodeDecodeError:
            on_bad(BadRecord(file.uri, number, "line is not UTF-8 text",
                             short(line.decode("utf-8", "replace"))))  # fmt: skip
            yield number, None
            continue
        except json.JSONDecodeError as error:
            if sampling and not raw.endswith(b"\n"):
                return  # the sample's last line was cut off
            on_bad(BadRecord(file.uri, number, f"not valid JSON: {error.msg}", short(text)))
            yield number, None
            continue
        if not isinstance(value, dict):
            on_bad(BadRecord(file.uri, number, "line is not a JSON object", short(text)))
            yield number, None
            continue
        yield number, value


def read_json(
    store: FileStore,
    source: FilesSource,
    file: StoredFile,
    names: list[str],
    on_bad: OnBad,
    *,
    limit: int | None = None,
) -> Iterator[pa.RecordBatch]:
    """Objects as text columns `names` (keys the sample did not have are left out)."""
    with open_text_stream(store, source, file, limit, python=True) as stream:
        columns: dict[str, list[str | None]] = {name: [] for name in names}
        numbers: list[int] = []
        seen = 0
        for number, item in _json_objects(stream, source, file, on_bad, limit is not None):
            seen += 1
            if item is not None:
                numbers.append(number)
                for name in names:
                    columns[name].append(_json_text(item.get(name)))
            if seen >= JSON_BATCH_ROWS:  # bad records count: see csv_files' empty batches
                yield _json_batch(columns, numbers)
                columns = {name: [] for name in names}
                numbers = []
                seen = 0
        if numbers:
            yield _json_batch(columns, numbers)


def _json_batch(columns: dict[str, list[str | None]], numbers: list[int]) -> pa.RecordBatch:
    arrays = [pa.array(values, pa.string()) for values in columns.values()]
    return pa.RecordBatch.from_arrays(
        [*arrays, pa.array(numbers, pa.int64())], names=[*columns, ROW_NUMBER]
    )


def json_sample(
    store: FileStore, source: FilesSource, file: StoredFile, rows: int
) -> tuple[list[str], dict[str, str], list[dict[str, Any]]]:
    """Keys in order of first appearance, the JSON kind of each (from non-null values), and the
    sampled objects: from at most the first 5 MB."""
    kinds: dict[str, set[str]] = {}
    items = []
    with open_text_stream(store, source, file, SAMPLE_BYTES, python=True) as stream:
        for _number, item in _json_objects(stream, source, file, lambda _bad: None, True):
            if item is None:
                continue
            items.append(item)
            for key, value in item.items():
                kinds.setdefault(key, set())
                if value is not None:
                    kinds[key].add(json_kind(value))
            if len(items) >= rows:
                break
    names = list(kinds)
    resolved = {}
    for key, seen in kinds.items():
        if seen == {"integer", "number"}:
            seen = {"number"}
        resolved[key] = next(iter(seen)) if len(seen) == 1 else ("null" if not seen else "mixed")
    return names, resolved, items


# -- Parquet ---------------------------------------------------------------------------------


def parquet_schema(store: FileStore, file: StoredFile) -> pa.Schema:
    try:
        with store.open_random_access(file) as handle:
            return pq.ParquetFile(handle).schema_arrow
    except (pa.ArrowInvalid, OSError) as error:
        raise ValidationError(
            f"File {file.uri} is not a Parquet file ({str(error).splitlines()[0][:120]})."
        ) from None


def read_parquet(
    store: FileStore,
    file: StoredFile,
    names: list[str],
    *,
    rows: int | None = None,
    row_groups: RowGroups | None = None,
) -> Iterator[pa.RecordBatch]:
    """Row groups as batches of `names` (found in another case too; columns a file lacks are
    left out: the reader fills them with NULL); only a run of them for a unit of a split read,
    numbered as a whole-file read numbers them."""
    try:
        handle = store.open_random_access(file)
        parquet = pq.ParquetFile(handle)
    except (pa.ArrowInvalid, OSError) as error:
        raise ExtractionError(
            f"File {file.uri} is not a Parquet file ({str(error).splitlines()[0][:120]})."
        ) from None
    with handle:
        have = parquet.schema_arrow.names
        folded = {n.lower(): n for n in reversed(have)}  # 'ID' for 'id', as for CSV headers
        found = (n if n in have else folded.get(n.lower()) for n in names)
        present = list(dict.fromkeys(n for n in found if n is not None))
        start = 1 if row_groups is None else row_groups.first_row + 1
        groups = None if row_groups is None else range(row_groups.first, row_groups.last)
        size = min(rows, PARQUET_BATCH_ROWS) if rows else PARQUET_BATCH_ROWS
        for batch in parquet.iter_batches(
            batch_size=size, row_groups=groups, columns=present, use_threads=False
        ):
            numbers = pa.array(range(start, start + batch.num_rows), pa.int64())
            start += batch.num_rows
            yield pa.RecordBatch.from_arrays(
                [*batch.columns, numbers], names=[*batch.schema.names, ROW_NUMBER]
            )
            if rows is not None and start > rows:
                return
