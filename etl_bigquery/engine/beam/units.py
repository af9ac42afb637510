"""How many units a read is split into, and how a unit describes itself in figures."""

from __future__ import annotations

import math
from dataclasses import replace

from etl_bigquery.engine.jobs.model import FilesSource
from etl_bigquery.engine.schema.bqtypes import BqType
from etl_bigquery.engine.sources.abilities import CanSplit, ListsFiles
from etl_bigquery.engine.sources.base import (
    CursorBound,
    CursorRange,
    HashBucket,
    ReadPlan,
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
    reader: SourceReader, plan: ReadPlan, units: int, key_columns: list[str] | None
) -> list[ReadPlan]:
    """The reader's own split: cursor ranges when the plan has a lower bound on the cursor; for a
    read without one (a catalog job) whose primary key is one integer column, ranges of that key
    (each unit reads its range through the key's index, where a hash bucket makes the source scan
    the whole table once per unit); else hash buckets of the key (or of the whole row). A reader
    that cannot split (validation sends no such source to Dataflow) reads the plan as one unit.
    A file source: one unit per file."""
    if isinstance(reader, ListsFiles) and isinstance(plan.source, FilesSource):
        # Files: one unit per file (a file is read whole by one reader; no row estimate).
        files = plan.files if plan.files is not None else tuple(reader.files(plan.source))
        return [replace(plan, files=(file,)) for file in files] or [plan]
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


def describe_unit(plan: ReadPlan) -> str:
    unit = plan.unit
    if isinstance(unit, CursorRange):
        low = "-inf" if unit.lower is None else str(unit.lower)
        high = "+inf" if unit.upper is None else str(unit.upper)
        return f"{unit.column.name} in [{low}, {high})"
    if isinstance(unit, HashBucket):
        return f"hash({', '.join(unit.columns)}) bucket {unit.bucket}/{unit.buckets}"
    if plan.files is not None and len(plan.files) == 1:
        return f"file {plan.files[0].name}"
    return "whole read"
