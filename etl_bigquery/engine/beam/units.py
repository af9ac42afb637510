"""How many units a read is split into, and how a unit describes itself in figures.

The unit count follows the estimated rows, for every splitter (`unit_count`):

    units = clamp(ceil(estimated rows / rows_per_unit), min_units, max_units)

`rows_per_unit` is the job's `dataflow.rows_per_unit` on the Beam path (250,000 by default) and
`engine.parallel_read.MIN_ROWS_PER_UNIT` (50,000) in standard mode; `min_units` is one per worker
on the Beam path (every worker has work) and 1 in standard mode; `max_units` is the job's
`dataflow.max_units` on the Beam path and the job's `parallelism` in standard mode. An unknown
estimate is one unit (times `min_units`). What each splitter does with that number:
- cursor or integer-key ranges (PostgreSQL percentiles, MySQL/MariaDB NTILE) and hash buckets:
  exactly that many units (ranges may come out fewer when the values repeat);
- BigQuery: one read session asked for that many streams; BigQuery may give fewer;
- files: one unit per file (a file is read whole by one reader), whole files joined only past
  `max_units` (`group_files`), and a Parquet file larger than two units' share of the bytes is
  cut into runs of its row groups, so one large file does not become one long unit
  (`engine.sources.files.units`).
"""

from __future__ import annotations

import math
from dataclasses import replace

from etl_bigquery.engine.jobs.model import FilesSource
from etl_bigquery.engine.schema.bqtypes import BqType
from etl_bigquery.engine.sources.abilities import (
    CanSplit,
    ListsFiles,
    ReadsInStreams,
    SplitsFiles,
)
from etl_bigquery.engine.sources.base import (
    CursorBound,
    CursorRange,
    HashBucket,
    ReadPlan,
    ReadStream,
    RowGroups,
    SourceReader,
)

DEFAULT_ROWS_PER_UNIT = 250_000
DEFAULT_MAX_UNITS = 2_000


def unit_count(
    estimated_rows: int | None, rows_per_unit: int, *, min_units: int = 1, max_units: int
) -> int:
    """Enough units for about `rows_per_unit` rows each, at least one per worker (so every
    worker has work), at most `max_units` (each unit is a query and at least one file)."""
    wanted = math.ceil((estimated_rows or 0) / max(1, rows_per_unit))
    return max(1, min(max_units, max(min_units, wanted)))


_INT64_MIN = -(2**63)


def split_read(
    reader: SourceReader,
    plan: ReadPlan,
    units: int,
    key_columns: list[str] | None,
    max_units: int | None = None,
) -> list[ReadPlan]:
    """The reader's own split: cursor ranges when the plan has a lower bound on the cursor; for a
    read without one (a catalog job) whose primary key is one integer column, ranges of that key
    (each unit reads its range through the key's index, where a hash bucket makes the source scan
    the whole table once per unit); else hash buckets of the key (or of the whole row). A reader
    that cannot split (validation sends no such source to Dataflow) reads the plan as one unit.
    A file source: one unit per file (runs of row groups for a large Parquet file), whole files
    grouped when there are more than `max_units`. BigQuery: the streams of one read session."""
    if isinstance(reader, SplitsFiles) and isinstance(plan.source, FilesSource):
        return group_files(reader.file_units(plan, units), max_units) or [plan]
    if isinstance(reader, ListsFiles) and isinstance(plan.source, FilesSource):
        # Files: one unit per file (a file is read whole by one reader; no row estimate).
        files = plan.files if plan.files is not None else tuple(reader.files(plan.source))
        return [replace(plan, files=(file,)) for file in files] or [plan]
    if isinstance(reader, ReadsInStreams):
        return reader.read_streams(plan, units)
    if not isinstance(reader, CanSplit):
        return [plan]
    if plan.lower_bound is None and units > 1 and key_columns and len(key_columns) == 1:
        key = next((c for c in plan.columns if c.name == key_columns[0]), None)
        if key is not None and key.bq_type is BqType.INT64:
            # A bound every value passes makes the reader cut ranges of the key (its percentiles).
            keyed = reader.split(replace(plan, lower_bound=CursorBound(key, _INT64_MIN)), units)
            if len(keyed) > 1 and all(isinstance(p.unit, CursorRange) for p in keyed):
                return keyed
    return reader.split(plan, units, key_columns or None)


def group_files(units: list[ReadPlan], max_units: int | None) -> list[ReadPlan]:
    """At most `max_units` units: whole-file units are joined, consecutive files together, into
    as many as the bound leaves after the row-group runs (which stay as they are). Each unit is
    a reader opened, a DoFn call and at least one staged file: 10,000 small files are not
    10,000 units."""
    if max_units is None or len(units) <= max_units:
        return units
    runs = [u for u in units if isinstance(u.unit, RowGroups)]
    whole = [u for u in units if not isinstance(u.unit, RowGroups)]
    groups = max(1, max_units - len(runs))
    size = -(-len(whole) // groups)  # ceil: every group but the last holds `size` files
    joined = [
        replace(whole[i], files=tuple(f for u in whole[i : i + size] for f in u.files or ()))
        for i in range(0, len(whole), size)
    ]
    return [*joined, *runs]


def describe_unit(plan: ReadPlan) -> str:
    unit = plan.unit
    if isinstance(unit, CursorRange):
        low = "-inf" if unit.lower is None else str(unit.lower)
        high = "+inf" if unit.upper is None else str(unit.upper)
        return f"{unit.column.name} in [{low}, {high})"
    if isinstance(unit, HashBucket):
        return f"hash({', '.join(unit.columns)}) bucket {unit.bucket}/{unit.buckets}"
    if isinstance(unit, ReadStream):
        return f"read stream {unit.index + 1}/{unit.streams}"
    if isinstance(unit, RowGroups) and plan.files is not None and len(plan.files) == 1:
        return f"file {plan.files[0].name} row groups [{unit.first}, {unit.last})"
    if plan.files is not None and len(plan.files) == 1:
        return f"file {plan.files[0].name}"
    if plan.files:
        return f"{len(plan.files)} files, {plan.files[0].name} to {plan.files[-1].name}"
    return "whole read"
