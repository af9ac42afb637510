"""How many units a read is split into, and how a unit describes itself in figures."""

from __future__ import annotations

import math

from etl.sources.base import CursorRange, HashBucket, ReadPlan, SqlReader

DEFAULT_ROWS_PER_UNIT = 250_000
DEFAULT_MAX_UNITS = 2_000


def unit_count(
    estimated_rows: int | None, rows_per_unit: int, *, min_units: int = 1, max_units: int
) -> int:
    """Enough units for about `rows_per_unit` rows each, at least one per worker (so every
    worker has work), at most `max_units` (each unit is a query and at least one file)."""
    wanted = math.ceil((estimated_rows or 0) / max(1, rows_per_unit))
    return max(1, min(max_units, max(min_units, wanted)))


def split_read(
    reader: SqlReader, plan: ReadPlan, units: int, key_columns: list[str] | None
) -> list[ReadPlan]:
    """The reader's own split: cursor ranges when the plan has a lower bound on the cursor,
    else hash buckets of the key (the primary key, else the whole row)."""
    return reader.split(plan, units, key_columns or None)


def describe_unit(plan: ReadPlan) -> str:
    unit = plan.unit
    if isinstance(unit, CursorRange):
        low = "-inf" if unit.lower is None else str(unit.lower)
        high = "+inf" if unit.upper is None else str(unit.upper)
        return f"{unit.column.name} in [{low}, {high})"
    if isinstance(unit, HashBucket):
        return f"hash({', '.join(unit.columns)}) bucket {unit.bucket}/{unit.buckets}"
    return "whole read"
