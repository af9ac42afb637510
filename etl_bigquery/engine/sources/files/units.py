"""A file source's read in units, and its row estimate (what `processing_mode: auto` weighs).

Units: one per file (a file is read whole by one reader: a CSV or JSON file cannot be entered in
the middle), except a Parquet file larger than two units' share of the bytes, which is cut into
runs of its row groups (`RowGroups`) of about equal rows, so one large export does not become one
long unit. Its footer is read for that (one ranged read); small files are never opened here.

The estimate: Parquet footers give exact row counts, read for the largest files (at most
`SAMPLE_FILES`) and extrapolated to the others by bytes; CSV and JSON Lines count the records in
the first MiB of the largest file (decompressed when it is .gz, against the stored bytes read) and
extrapolate by bytes. A JSON array file has no cheap count: unknown.
"""

from __future__ import annotations

import gzip
import math
import zlib
from dataclasses import replace
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

from etl_bigquery.engine.errors import EtlError
from etl_bigquery.engine.jobs.model import FileFormat, FilesSource
from etl_bigquery.engine.sources.base import ReadPlan, RowGroups
from etl_bigquery.engine.sources.files.formats import is_gzip
from etl_bigquery.engine.sources.files.store import FileStore, StoredFile

SAMPLE_FILES = 8
SAMPLE_BYTES = 1024 * 1024


def file_units(store: FileStore, plan: ReadPlan, files: list[Any], units: int) -> list[ReadPlan]:
    """One unit per file; a large Parquet file as runs of its row groups (see the module)."""
    source = plan.source
    total = sum(f.size for f in files)
    share = total / max(1, units)
    parquet = isinstance(source, FilesSource) and source.format is FileFormat.PARQUET
    found: list[ReadPlan] = []
    for file in files:
        runs = None
        if parquet and units > 1 and share > 0 and file.size >= 2 * share:
            runs = row_group_runs(store, file, round(file.size / share))
        if runs:
            found += [replace(plan, files=(file,), unit=run) for run in runs]
        else:
            found.append(replace(plan, files=(file,)))
    return found


def row_group_runs(store: FileStore, file: StoredFile, parts: int) -> list[RowGroups] | None:
    """`parts` runs of consecutive row groups of about equal rows; None when the file has one
    row group (it cannot be cut)."""
    with store.open_random_access(file) as handle:
        metadata = pq.ParquetFile(handle).metadata
    counts = [metadata.row_group(i).num_rows for i in range(metadata.num_row_groups)]
    if len(counts) < 2 or parts < 2:
        return None
    wanted = min(parts, len(counts))
    per_run = sum(counts) / wanted
    runs: list[RowGroups] = []
    first = first_row = done = 0
    for index, count in enumerate(counts):
        done += count
        # Close a run once the rows so far reach its share (the last run takes the rest).
        if len(runs) < wanted - 1 and done >= per_run * (len(runs) + 1):
            runs.append(RowGroups(first, index + 1, first_row))
            first, first_row = index + 1, done
    if first < len(counts):
        runs.append(RowGroups(first, len(counts), first_row))
    return runs


def estimate_rows(store: FileStore, source: FilesSource, files: list[StoredFile]) -> int | None:
    """About how many records `files` hold (see the module); 0 for no bytes, None unknown (also
    when a sampled file cannot be read: the read itself then says why, in one sentence)."""
    try:
        return _estimate(store, source, files)
    except (pa.ArrowInvalid, OSError, EtlError):
        return None


def _estimate(store: FileStore, source: FilesSource, files: list[StoredFile]) -> int | None:
    total = sum(f.size for f in files)
    if total == 0:
        return 0
    largest = sorted(files, key=lambda f: f.size, reverse=True)
    if source.format is FileFormat.PARQUET:
        sampled = largest[:SAMPLE_FILES]
        rows = 0
        for file in sampled:
            with store.open_random_access(file) as handle:
                rows += pq.ParquetFile(handle).metadata.num_rows
        return round(rows * total / max(1, sum(f.size for f in sampled)))
    if source.format is FileFormat.JSON:
        return None
    per_byte = _records_per_stored_byte(store, source, largest[0])
    if per_byte is None:
        return None
    header = len(files) if source.format is FileFormat.CSV and source.csv.header else 0
    return max(0, math.ceil(per_byte * total) - header)


def _records_per_stored_byte(
    store: FileStore, source: FilesSource, file: StoredFile
) -> float | None:
    with store.open_stream(file) as stream:
        raw = stream.read(SAMPLE_BYTES)
    if not raw:
        return None
    text = raw
    if is_gzip(source, file):
        # A cut gzip stream: take what decompresses (the last block stays unfinished).
        decompressor = zlib.decompressobj(16 + zlib.MAX_WBITS)
        try:
            text = decompressor.decompress(raw)
        except (zlib.error, gzip.BadGzipFile):
            return None
    lines = text.count(b"\n")
    if len(raw) < SAMPLE_BYTES and not text.endswith(b"\n"):
        lines += 1  # the whole file was read: its last record has no newline
    return lines / len(raw) if lines else None
