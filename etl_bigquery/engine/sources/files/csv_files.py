"""CSV files as a stream of Arrow batches of text columns (see `formats` for what every reader
of a file format shares: record numbers, bad records, streams).

Arrow's streaming CSV reader parses a 4 MB block at a time; a record longer than a block is read
again with larger blocks. The head of each file (at most 5 MB) is read first for its header: a
file that small is then parsed from memory, not fetched twice.
"""

from __future__ import annotations

import bisect
import codecs
import zlib
from collections.abc import Callable, Iterator
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv

from etl_bigquery.engine.errors import ExtractionError
from etl_bigquery.engine.jobs.model import CsvOptions, FilesSource
from etl_bigquery.engine.sources.files.formats import (
    ROW_NUMBER,
    SAMPLE_BYTES,
    STREAM_ERRORS,
    BadRecord,
    OnBad,
    open_text_stream,
    short,
)
from etl_bigquery.engine.sources.files.store import FileStore, StoredFile

BLOCK_BYTES = 4 * 1024 * 1024
MAX_BLOCK_BYTES = 256 * 1024 * 1024
"""Arrow's CSV reader needs a block to hold a whole record: a longer record is read again with
blocks 4 times larger, up to this."""
_UTF8 = {"utf-8", "utf8", "utf-8-sig", "utf_8", "utf_8_sig"}


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
    parts: list[bytes] = []
    left = SAMPLE_BYTES
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
            on_bad(BadRecord(file, rows[index], reason, short(raw.decode("utf-8", "replace"))))
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
    except (pa.ArrowInvalid, UnicodeDecodeError, *STREAM_ERRORS) as error:
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
                    short(row.text),
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
            except (UnicodeDecodeError, *STREAM_ERRORS) as error:
                if limit is not None:
                    return
                raise _unreadable_csv(file, next_number, error) from None
            # Record numbers of this batch: consecutive, skipping the rows found invalid.
            numbers: list[int] = []
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
