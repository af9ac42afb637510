"""File formats read as streams of Arrow batches: CSV, Parquet, JSON lines, JSON arrays; `.gz`.

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

import bisect
import codecs
import contextlib
import gzip
import io
import json
import zlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv
import pyarrow.parquet as pq

from etl.errors import ExtractionError, ValidationError
from etl.jobs.model import CsvOptions, FileFormat, FilesSource
from etl.sources.files.store import FileStore, StoredFile

ROW_NUMBER = "_etl_source_row"
BLOCK_BYTES = 4 * 1024 * 1024
JSON_BATCH_ROWS = 10_000
PARQUET_BATCH_ROWS = 50_000
SAMPLE_BYTES = 5 * 1024 * 1024
"""Discovery reads at most this much of a file (compressed bytes for .gz)."""
MAX_BLOCK_BYTES = 256 * 1024 * 1024
"""Arrow's CSV reader needs a block to hold a whole record: a longer record is read again with
blocks 4 times larger, up to this."""
_BOM = b"\xef\xbb\xbf"
_STREAM_ERRORS = (OSError, EOFError, zlib.error)
"""What a truncated or corrupt .gz (or a broken connection) raises while it is read."""
_UTF8 = {"utf-8", "utf8", "utf-8-sig", "utf_8", "utf_8_sig"}
_MAX_TEXT = 500


@dataclass(frozen=True)
class BadRecord:
    file: str
    row: int | None
    reason: str
    text: str | None = None


OnBad = Callable[[BadRecord], None]


def _short(text: str | None) -> str | None:
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


# -- CSV -------------------------------------------------------------------------------------


def _arrow_encoding(encoding: str) -> str:
    # Arrow reads UTF-8 natively and skips a byte-order mark; other encodings are transcoded.
    return "utf8" if encoding.lower().replace(" ", "") in _UTF8 else encoding


def _parse_options(options: CsvOptions, handler: Callable[[Any], str]) -> pacsv.ParseOptions:
    return pacsv.ParseOptions(
        delimiter=options.delimiter,
        quote_char=options.quote or False,
        double_quote=options.quote is not None,
        escape_char=options.escape or False,
        newlines_in_values=options.newlines_in_values,
        invalid_row_handler=handler,
    )


def _unique_names(names: list[str]) -> list[str]:
    """Header names as the file gives them; an empty name becomes column_<n>, a repeated one
    gets _2, _3 (BigQuery names are sanitized later, by the job's column mapping)."""
    seen: dict[str, int] = {}
    result = []
    for index, raw in enumerate(names, start=1):
        name = raw.strip() or f"column_{index}"
        if name in seen:
            seen[name] += 1
            name = f"{name}_{seen[name]}"
        seen.setdefault(name, 1)
        result.append(name)
    return result


def _csv_head(stream: Any, options: CsvOptions) -> tuple[bytes, bool]:
    """The first 5 MB of a CSV stream and whether that is the whole file. A whole file gets a
    last line end if it lacks one (a header-only file written without one is still a header);
    a cut one loses the record the cut went through."""
    parts, left = [], SAMPLE_BYTES
    whole = True
    while left > 0:
        try:
            data = stream.read(left)
        except (EOFError, zlib.error):
            if not parts:
                raise
            whole = False  # a .gz sample cut by discovery's cap: keep what was read
            break
        if not data:
            break
        parts.append(bytes(data))
        left -= len(data)
    head = b"".join(parts)
    whole = whole and left > 0
    if codecs.lookup(_arrow_encoding(options.encoding)).name.startswith(("utf-16", "utf-32")):
        return head, whole  # a line end is more than one byte here: left as it is
    if not whole and b"\n" in head:
        head = head[: head.rindex(b"\n") + 1]
    elif head and not head.endswith(b"\n"):
        head += b"\n"
    return head, whole


def csv_header(stream: Any, options: CsvOptions) -> list[str]:
    """The column names of a CSV stream (its header, or column_1..n without one); [] when the
    file holds no record at all (empty, or blank lines)."""
    return _csv_names(_csv_head(stream, options)[0], options)


def _csv_names(head: bytes, options: CsvOptions) -> list[str]:
    # The head is parsed as ONE block: Arrow's streaming reader needs a block to hold a whole
    # record, so a long first record does not stop the header being read.
    try:
        reader = pacsv.open_csv(
            pa.BufferReader(head),
            read_options=pacsv.ReadOptions(
                use_threads=False,
                block_size=len(head) + 1,
                skip_rows=options.skip_rows,
                autogenerate_column_names=not options.header,
                encoding=_arrow_encoding(options.encoding),
            ),
            parse_options=_parse_options(options, lambda _row: "skip"),
            convert_options=pacsv.ConvertOptions(check_utf8=False),
        )
    except pa.ArrowInvalid as error:
        if "Empty CSV file" in str(error):
            return []
        raise
    names = reader.schema.names
    if not options.header:
        return [f"column_{i}" for i in range(1, len(names) + 1)]
    return _unique_names(names)


def _text_columns(
    batch: pa.RecordBatch, numbers: pa.Array, file: str, on_bad: OnBad, encoding: str
) -> pa.RecordBatch | None:
    """Binary CSV columns → text; rows holding bytes that are not UTF-8 are handed to
    `on_bad` (a file in another encoding needs `csv.encoding`)."""
    arrays = []
    bad: dict[int, str] = {}
    for name, column in zip(batch.schema.names, batch.columns, strict=True):
        try:
            arrays.append(pc.cast(column, pa.string()))
            continue
        except pa.ArrowInvalid:
            pass
        for index, value in enumerate(column.to_pylist()):
            if value is None or index in bad:
                continue
            try:
                value.decode("utf-8")
            except UnicodeDecodeError as error:
                bad[index] = (
                    f"column '{name}': bytes {value[error.start : error.start + 4]!r} are not "
                    f"{encoding} text (set csv.encoding, e.g. latin-1)"
                )
        arrays.append(None)
    if bad:
        keep = pa.array([i not in bad for i in range(batch.num_rows)])
        rows = numbers.to_pylist()
        for index, reason in sorted(bad.items()):
            raw = b",".join(v or b"" for v in (c[index].as_py() for c in batch.columns))
            on_bad(BadRecord(file, rows[index], reason, _short(raw.decode("utf-8", "replace"))))
        batch = batch.filter(keep)
        numbers = numbers.filter(keep)
        arrays = [pc.cast(column, pa.string()) for column in batch.columns]
    if batch.num_rows == 0:
        return None
    return pa.RecordBatch.from_arrays([*arrays, numbers], names=[*batch.schema.names, ROW_NUMBER])


def read_csv(
    store: FileStore,
    source: FilesSource,
    file: StoredFile,
    on_bad: OnBad,
    *,
    limit: int | None = None,
) -> Iterator[pa.RecordBatch]:
    options = source.csv
    try:
        with open_text_stream(store, source, file, limit) as probe:
            head, whole = _csv_head(probe, options)
        names = _csv_names(head, options)
    except (pa.ArrowInvalid, UnicodeDecodeError, *_STREAM_ERRORS) as error:
        if limit is not None:
            return
        raise ExtractionError(
            f"File {file.uri} could not be read as CSV: {str(error).splitlines()[0][:200]}. "
            "Check the CSV options (delimiter, quote, encoding) or the file."
        ) from None
    if not names:
        return  # an empty file holds no records

    def opener() -> Any:
        # A file of at most 5 MB was read whole by the probe: parsed from memory, not fetched
        # twice (and a last record without a line end is parsed like any other).
        return pa.BufferReader(head) if whole else open_text_stream(store, source, file, limit)

    # A record longer than a block stops Arrow's reader; the file is read again with larger
    # blocks, and the records already handed out (numbered below `resume`) are left out.
    block, resume, reported = BLOCK_BYTES, 0, set[int | None]()
    while True:
        progress = [resume]
        try:
            yield from _csv_batches(
                opener, file, options, names, on_bad, limit, block, resume, reported, progress
            )
            return
        except _BlockTooSmall:
            if limit is not None:
                return
            if block >= MAX_BLOCK_BYTES:
                raise ExtractionError(
                    f"File {file.uri} has a record longer than {MAX_BLOCK_BYTES >> 20} MB after "
                    f"record {progress[0] - 1}; check the quote character (an unclosed quote "
                    "runs on to the end of the file) or split the record."
                ) from None
            block, resume = block * 4, progress[0]


class _BlockTooSmall(Exception):
    pass


def _csv_batches(
    opener: Callable[[], Any],
    file: StoredFile,
    options: CsvOptions,
    names: list[str],
    on_bad: OnBad,
    limit: int | None,
    block: int,
    resume: int,
    reported: set[int | None],
    progress: list[int],
) -> Iterator[pa.RecordBatch]:
    """One pass over the file with blocks of `block` bytes; `progress[0]` is the number of the
    next record not yet handed out."""
    invalid: list[int] = []

    def handler(row: Any) -> str:
        number = row.number
        if number is not None:
            bisect.insort(invalid, number)
        if number not in reported:  # a pass after a too-small block sees the same rows again
            reported.add(number)
            on_bad(
                BadRecord(
                    file.uri,
                    number,
                    f"expected {row.expected_columns} fields, found {row.actual_columns}",
                    _short(row.text),
                )
            )
        return "skip"

    first = options.skip_rows + (1 if options.header else 0) + 1
    with opener() as stream:
        reader = pacsv.open_csv(
            stream,
            read_options=pacsv.ReadOptions(
                use_threads=False,
                block_size=block,
                skip_rows=first - 1,
                column_names=names,
                encoding=_arrow_encoding(options.encoding),
            ),
            parse_options=_parse_options(options, handler),
            convert_options=pacsv.ConvertOptions(
                column_types={name: pa.binary() for name in names},
                null_values=options.null_markers,
                strings_can_be_null=True,
            ),
        )
        next_number = first
        skip_index = 0
        while True:
            try:
                batch = reader.read_next_batch()
            except StopIteration:
                return
            except pa.ArrowInvalid as error:
                if "straddl" in str(error):
                    raise _BlockTooSmall from None
                if limit is not None:
                    return  # discovery read a cut-off sample: keep what was read
                raise _unreadable_csv(file, next_number, error) from None
            except (UnicodeDecodeError, *_STREAM_ERRORS) as error:
                if limit is not None:
                    return
                raise _unreadable_csv(file, next_number, error) from None
            # Record numbers of this batch: consecutive, skipping the rows found invalid.
            numbers = []
            while len(numbers) < batch.num_rows:
                while skip_index < len(invalid) and invalid[skip_index] < next_number:
                    skip_index += 1
                if skip_index < len(invalid) and invalid[skip_index] == next_number:
                    skip_index += 1
                else:
                    numbers.append(next_number)
                next_number += 1
            done = bisect.bisect_left(numbers, resume)  # handed out by an earlier pass
            if done:
                batch, numbers = batch.slice(done), numbers[done:]
            text = None
            if numbers:
                text = _text_columns(
                    batch, pa.array(numbers, pa.int64()), file.uri, on_bad, options.encoding
                )
                progress[0] = numbers[-1] + 1
            # A block of only bad records still yields (no rows): the extraction takes the
            # rejected records after each batch and stops at max_rejected, instead of this
            # reader collecting the bad records of a whole file first.
            yield text if text is not None else _empty_batch(names)


def _empty_batch(names: list[str]) -> pa.RecordBatch:
    return pa.RecordBatch.from_arrays(
        [*(pa.array([], pa.string()) for _ in names), pa.array([], pa.int64())],
        names=[*names, ROW_NUMBER],
    )


def _unreadable_csv(file: StoredFile, next_number: int, error: BaseException) -> ExtractionError:
    return ExtractionError(
        f"File {file.uri} could not be read as CSV after record {next_number - 1}: "
        f"{str(error).splitlines()[0][:200]}. Check the CSV options (delimiter, "
        "quote, encoding) or the file."
    )


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
    with contextlib.suppress(*_STREAM_ERRORS):  # the read below says what is wrong
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
                                     _short(json.dumps(item, default=str))))  # fmt: skip
                    yield number, None
        except (ijson.JSONError, UnicodeDecodeError, *_STREAM_ERRORS) as error:
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
        except _STREAM_ERRORS as error:
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
                             _short(line.decode("utf-8", "replace"))))  # fmt: skip
            yield number, None
            continue
        except json.JSONDecodeError as error:
            if sampling and not raw.endswith(b"\n"):
                return  # the sample's last line was cut off
            on_bad(BadRecord(file.uri, number, f"not valid JSON: {error.msg}", _short(text)))
            yield number, None
            continue
        if not isinstance(value, dict):
            on_bad(BadRecord(file.uri, number, "line is not a JSON object", _short(text)))
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
            if seen >= JSON_BATCH_ROWS:  # bad records count: see read_csv's empty batches
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
    store: FileStore, file: StoredFile, names: list[str], *, rows: int | None = None
) -> Iterator[pa.RecordBatch]:
    """Row groups as batches of `names` (found in another case too; columns a file lacks are
    left out: the reader fills them with NULL)."""
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
        start = 1
        size = min(rows, PARQUET_BATCH_ROWS) if rows else PARQUET_BATCH_ROWS
        for batch in parquet.iter_batches(batch_size=size, columns=present, use_threads=False):
            numbers = pa.array(range(start, start + batch.num_rows), pa.int64())
            start += batch.num_rows
            yield pa.RecordBatch.from_arrays(
                [*batch.columns, numbers], names=[*batch.schema.names, ROW_NUMBER]
            )
            if rows is not None and start > rows:
                return
