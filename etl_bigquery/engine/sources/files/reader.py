"""The reader of file sources: the engine's reader protocol over an object store.

A job's files are listed once per run (`files`, cached: validation plans on that listing and
extraction reads from it, so a file that lands meanwhile waits for the next run). Columns come
from a sample of the newest matching file (at most its first 5 MB). Every row carries three
trace columns, loaded like any other: the file's address, its version (the store's checksum
of its bytes, or a SHA-256 this tool computed: `StoredFile.version`) and the record's number in
the file, so a user can trace a row and the load strategy
(`engine.file_strategies`) can tell from the table which file versions it holds.
"""

from __future__ import annotations

import collections
from collections.abc import Iterator

import pyarrow as pa

from etl_bigquery.engine.conform import RejectedRow
from etl_bigquery.engine.errors import ConfigurationError, ExtractionError, ValidationError
from etl_bigquery.engine.jobs.model import FileFormat, FilesSource, QuerySource, TableSource
from etl_bigquery.engine.sources.base import ReadPlan, RowGroups, SourceColumn, SourceReader
from etl_bigquery.engine.sources.files import csv_files, formats, units
from etl_bigquery.engine.sources.files.formats import ROW_NUMBER, BadRecord
from etl_bigquery.engine.sources.files.store import FileStore, StoredFile, StoreSettings

FILE_COLUMN = "_etl_source_file"
VERSION_COLUMN = "_etl_source_version"
TRACE_COLUMNS = (FILE_COLUMN, VERSION_COLUMN, ROW_NUMBER)
TRACE_TYPES = {
    FILE_COLUMN: "file path",
    VERSION_COLUMN: "file version",
    ROW_NUMBER: "record number",
}
SAMPLE_ROWS = 1000


def _files_source(source: object) -> FilesSource:
    if not isinstance(source, FilesSource):
        raise ConfigurationError(
            "A file connection reads files: give the job a files source "
            "(source: {kind: files, glob: '*.csv', format: csv})."
        )
    return source


class FileReader(SourceReader):
    """Files in a bucket or a folder. Abilities: ListsFiles, RejectsRecords, SplitsFiles,
    EstimatesRead (no catalog of tables, no cursor: the load strategy picks files by their
    versions)."""

    dialect = "files"

    def __init__(self, settings: StoreSettings) -> None:
        self.store = FileStore(settings)
        self._listings: dict[tuple[str, str], list[StoredFile]] = {}
        self._bad: collections.deque[BadRecord] = collections.deque()

    # -- the connection ------------------------------------------------------------------------

    def ping(self) -> None:
        self.store.check()

    def close(self) -> None:
        return None

    # -- files ---------------------------------------------------------------------------------

    def files(self, source: FilesSource) -> list[StoredFile]:
        """The files of `source`, listed once per reader (one run sees one listing)."""
        key = (source.prefix, source.glob)
        if key not in self._listings:
            self._listings[key] = self.store.list(source.prefix, source.glob)
        return self._listings[key]

    def _sample_file(self, source: FilesSource) -> StoredFile:
        found = self.files(source)
        if not found:
            folder = source.prefix and not source.prefix.endswith("/")
            if folder and self.store.list(f"{source.prefix}/", source.glob, limit=1):
                raise ValidationError(
                    f"No file matches {source.prefix}{source.glob} in "
                    f"{self.store.settings.describe()}, but {source.prefix}/ is a folder with "
                    f"matching files: write prefix: {source.prefix}/ (a prefix without the / "
                    "matches names that start with it)."
                )
            raise ValidationError(
                f"No file matches {source.prefix}{source.glob} in "
                f"{self.store.settings.describe()}; check prefix and glob "
                "(`etl connection files NAME --prefix P --glob G` lists what matches)."
            )
        # The newest file: the columns of today's export, not of one from years ago; an empty
        # file (a marker, an export of no rows) has no columns to give while others do.
        return max(found, key=lambda f: (f.size > 0, f.modified, f.name))

    def describe(self, source: TableSource | QuerySource | FilesSource) -> list[SourceColumn]:
        files_source = _files_source(source)
        sample = self._sample_file(files_source)
        columns = describe_file(self.store, files_source, sample)
        taken = [c.name for c in columns if c.name in TRACE_COLUMNS]
        if taken:
            raise ValidationError(
                f"File {sample.uri} has column(s) {', '.join(taken)}, names this tool gives its "
                "trace columns; rename them in the file."
            )
        return [*columns, *(SourceColumn(name, TRACE_TYPES[name]) for name in TRACE_COLUMNS)]

    def estimate_rows(self, source: object) -> int | None:
        return None  # discovery and apply list no file contents; a run estimates its read

    def estimate_read(self, plan: ReadPlan) -> int | None:
        """The rows of the files this run reads (`engine.sources.files.units`)."""
        source = _files_source(plan.source)
        files = list(plan.files) if plan.files is not None else self.files(source)
        return units.estimate_rows(self.store, source, files)

    def file_units(self, plan: ReadPlan, count: int) -> list[ReadPlan]:
        source = _files_source(plan.source)
        files = list(plan.files) if plan.files is not None else self.files(source)
        return units.file_units(self.store, plan, files, count)

    def check_readable(self, plan: ReadPlan) -> None:
        files = plan.files if plan.files is not None else self.files(_files_source(plan.source))
        if files:
            self.store.open_stream(files[0]).close()

    def preview(self, source: object, limit: int = 10) -> pa.Table:
        files_source = _files_source(source)
        sample = self._sample_file(files_source)
        names = [c.name for c in describe_file(self.store, files_source, sample)]
        batches = []
        rows = 0
        for batch in _file_batches(
            self.store, files_source, sample, names, lambda _bad: None, sample_bytes=True,
            rows=limit,
        ):  # fmt: skip
            batches.append(batch.select(names))
            rows += batch.num_rows
            if rows >= limit:
                break
        if not batches:
            return pa.table({name: pa.array([], pa.string()) for name in names})
        return pa.Table.from_batches(batches).slice(0, limit)

    # -- reading -------------------------------------------------------------------------------

    def read(self, plan: ReadPlan) -> Iterator[pa.RecordBatch]:
        source = _files_source(plan.source)
        files = plan.files if plan.files is not None else self.files(source)
        wanted = [c.name for c in plan.columns]
        data_names = [n for n in wanted if n not in TRACE_COLUMNS]
        row_groups = plan.unit if isinstance(plan.unit, RowGroups) else None
        for file in files:
            checked = False
            for batch in _file_batches(
                self.store, source, file, data_names, self._bad.append, row_groups=row_groups
            ):
                if not checked:
                    _check_columns(source, file, batch, data_names)
                    checked = True
                yield _shape(batch, file, wanted)
            # Rows are labelled with the version planned on; a file rewritten meanwhile would
            # give them another version's content, so the run stops before anything is loaded.
            if _changed(file, self.store.stat(file.name), self.store.settings.type):
                raise ExtractionError(
                    f"File {file.uri} changed while it was read; nothing was loaded. Run the "
                    "job again once the file is complete (write files under a temporary name "
                    "and rename them when done, so a job never sees a half-written file)."
                )

    def content_hash(self, file: StoredFile) -> str:
        """SHA-256 of a file's bytes, for files whose store keeps no checksum."""
        return self.store.content_hash(file)

    def take_rejected(self) -> list[RejectedRow]:
        """Records that could not be read since the last call, as rejected rows (the
        extraction keeps them in the `__rejected` table)."""
        rows = []
        while self._bad:
            bad = self._bad.popleft()
            record: dict[str, object] = {
                FILE_COLUMN: bad.file,
                ROW_NUMBER: bad.row,
                "text": bad.text,
            }
            rows.append(RejectedRow(record, bad.reason))
        return rows


def _changed(planned: StoredFile, now: StoredFile, store_type: str) -> bool:
    """Whether a file is another one than the version planned on. The store's checksum says
    it for the bytes; else size and last-modified: exact on a local folder (one clock, one
    call), within a second elsewhere (S3's HEAD gives whole seconds where a listing may not)."""
    if now.size != planned.size:
        return True
    if planned.store_checksum and now.store_checksum and now.checksum != planned.checksum:
        return True
    if store_type == "local":
        return now.modified != planned.modified
    return abs((now.modified - planned.modified).total_seconds()) >= 1


def _check_columns(
    source: FilesSource, file: StoredFile, batch: pa.RecordBatch, names: list[str]
) -> None:
    """A CSV file sharing no column with the job is another kind of file matched by the glob
    (or written with another delimiter): loading it would give rows of NULLs."""
    if source.format is not FileFormat.CSV or not source.csv.header or not names:
        return
    have = {n.lower() for n in batch.schema.names if n != ROW_NUMBER}
    if not have & {n.lower() for n in names}:
        raise ExtractionError(
            f"File {file.uri} has none of the job's columns (its header: "
            f"{', '.join(sorted(have))[:120]}); nothing was loaded. Narrow the glob to the "
            "job's files, or check csv.delimiter."
        )


def _shape(batch: pa.RecordBatch, file: StoredFile, wanted: list[str]) -> pa.RecordBatch:
    """The plan's columns in order: columns this file lacks are NULL, trace columns added. A
    column is found by its name in another case too ('ID' for 'id'): BigQuery's names are
    case-insensitive, and one export tool's header is not always another's."""
    size = batch.num_rows
    folded = {n.lower(): n for n in reversed(batch.schema.names)}
    lowered = [n.lower() for n in wanted]
    for twice in {n for n in lowered if lowered.count(n) > 1}:
        folded.pop(twice, None)  # the job has 'id' and 'ID': only exact names are meant
    arrays = []
    for name in wanted:
        if name == FILE_COLUMN:
            arrays.append(pa.array([file.uri] * size, pa.string()))
        elif name == VERSION_COLUMN:
            arrays.append(pa.array([file.version] * size, pa.string()))
        elif name in batch.schema.names:
            arrays.append(batch.column(name))
        elif name.lower() in folded:
            arrays.append(batch.column(folded[name.lower()]))
        else:
            arrays.append(pa.nulls(size, pa.string()))
    return pa.RecordBatch.from_arrays(arrays, names=wanted)


def _file_batches(
    store: FileStore,
    source: FilesSource,
    file: StoredFile,
    names: list[str],
    on_bad: formats.OnBad,
    *,
    sample_bytes: bool = False,
    rows: int | None = None,
    row_groups: RowGroups | None = None,
) -> Iterator[pa.RecordBatch]:
    limit = formats.SAMPLE_BYTES if sample_bytes else None
    if source.format is FileFormat.CSV:
        yield from csv_files.read_csv(store, source, file, on_bad, limit=limit)
    elif source.format is FileFormat.PARQUET:
        yield from formats.read_parquet(store, file, names, rows=rows, row_groups=row_groups)
    else:
        yield from formats.read_json(store, source, file, names, on_bad, limit=limit)


def describe_file(store: FileStore, source: FilesSource, file: StoredFile) -> list[SourceColumn]:
    """The columns of one file with their source types: `text` for CSV, `json <kind>` for JSON
    (from the sampled values), the Arrow type for Parquet. Reads at most the first 5 MB (Parquet:
    its footer)."""
    if source.format is FileFormat.CSV:
        with formats.open_text_stream(store, source, file, formats.SAMPLE_BYTES) as stream:
            try:
                names = csv_files.csv_header(stream, source.csv)
            except (pa.ArrowInvalid, OSError, EOFError) as error:
                raise ValidationError(
                    f"File {file.uri} could not be read as CSV: {str(error).splitlines()[0]}."
                ) from None
        if not names:
            raise ValidationError(f"File {file.uri} is empty: it has no header to give columns.")
        _check_delimiter(file, source, names)
        return [SourceColumn(name, "text") for name in names]
    if source.format is FileFormat.PARQUET:
        schema = formats.parquet_schema(store, file)
        return [SourceColumn(f.name, str(f.type), f.nullable) for f in schema]
    names, kinds, _items = formats.json_sample(store, source, file, SAMPLE_ROWS)
    if not names:
        raise ValidationError(
            f"File {file.uri} holds no JSON objects in its first 5 MB; check the format (jsonl: "
            "one object per line, json: an array of objects, or csv, parquet)."
        )
    return [SourceColumn(name, f"json {kinds[name]}") for name in names]


def _check_delimiter(file: StoredFile, source: FilesSource, names: list[str]) -> None:
    """One column whose header holds another usual delimiter is a wrong `csv.delimiter`: loading
    it would put whole lines into one column."""
    if len(names) != 1 or not source.csv.header:
        return
    for other in (",", ";", "\t", "|"):
        if other != source.csv.delimiter and other in names[0]:
            raise ValidationError(
                f"File {file.uri} reads as one column {names[0][:60]!r} with delimiter "
                f"{source.csv.delimiter!r}; its header looks {other!r}-delimited: set "
                f"csv.delimiter: {other!r} (`etl connection detect` proposes it)."
            )


def open_reader(settings: StoreSettings) -> FileReader:
    return FileReader(settings)
