"""How a transactional run reads its cursor, so that no committed row is skipped: the sequence
rule, the settled bound, and the refusal of cursors the source cannot compare.

- **Sequence rule** (`sequence_rule`, used by `Lookback.for_job` at `etl job apply` and at every
  validation): values of a numeric cursor (a sequence, AUTO_INCREMENT) are taken in one order
  and committed in another. A source that settles its reads (`SettlesCursor`: PostgreSQL,
  MySQL/MariaDB with PROCESS) or lets one transaction write at a time (`SerialWriters`: SQLite)
  needs no lookback; any other source needs an explicit `lookback`, and a job without one is
  refused with a sentence instead of silently losing rows committed late.
- **Settled bound** (`settle_read`, called by validation once the read plan is built): the read
  stops at `M`, the largest cursor value visible when the bound was taken, after every
  transaction open at that moment ended (`engine.sources.settle`). The bound is the read plan's
  `upper_bound`; rows above it are not read this run (the engine drops any a reader returns:
  `engine.already_loaded`), so the watermark never passes a value an open transaction holds.
  When a transaction that has written stays open past `settle_timeout`, the run reads nothing
  above the watermark BigQuery already holds; the rest waits for the next run.
- **Comparable cursors** (`check_cursor_comparable`, in `plan_source`, so before the first
  run): a text column read as a number is refused, and a text column read as a date or time
  is sampled and refused when a sampled value is not an ISO date or time the load can parse
  (`engine.sources.cursor_pushdown` says why the source compares such a column as text).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field, replace
from typing import cast

import pyarrow as pa

from etl_bigquery.engine.errors import ConfigurationError, EtlError, ValidationError
from etl_bigquery.engine.incremental import Lookback, SequenceRule
from etl_bigquery.engine.jobs.model import JobSpec, TableSource
from etl_bigquery.engine.plan import ColumnPlan
from etl_bigquery.engine.schema.bqtypes import TIME_TYPES
from etl_bigquery.engine.sources import cursor_pushdown
from etl_bigquery.engine.sources.abilities import SerialWriters, SettlesCursor
from etl_bigquery.engine.sources.base import (
    CursorValue,
    ReadColumn,
    ReadPlan,
    SourceReader,
    UpperBound,
)
from etl_bigquery.engine.sources.registry import by_dialect
from etl_bigquery.engine.sources.settle import OpenTransaction

SAMPLE_ROWS = 1000
_ISO_START = re.compile(r"\d{4}-\d{2}-\d{2}")


def source_name(reader: SourceReader) -> str:
    """The source's name in messages (PostgreSQL, MySQL/MariaDB, ...)."""
    try:
        source = by_dialect(reader.dialect)
    except ConfigurationError:
        return reader.dialect
    if source.dialect == "mysql":
        return "MySQL/MariaDB"
    return source.query.name if source.query is not None else source.key


def sequence_rule(reader: SourceReader, source: object) -> SequenceRule:
    """What this reader guarantees for a numeric cursor of `source`."""
    name = source_name(reader)
    if isinstance(reader, SettlesCursor):
        refusal = reader.settle_refusal(source)  # type: ignore[arg-type]
        if refusal is None:
            return SequenceRule(
                True,
                f"{name} reads a numeric cursor only up to a value no open transaction can "
                "still commit below (settled bound)",
                settles=True,
            )
        return SequenceRule(
            False,
            f"{name} cannot tell this run which values open transactions still hold "
            f"({refusal.reason})",
            fix=f"or {refusal.fix}",
        )
    if isinstance(reader, SerialWriters):
        return SequenceRule(True, reader.commit_order())
    return SequenceRule(
        False,
        f"{name} cannot tell this run which values transactions still open may commit below "
        "the watermark",
    )


def check_cursor_comparable(reader: SourceReader, job: JobSpec, plans: list[ColumnPlan]) -> None:
    """Refuse, before anything is read, a cursor the source cannot compare correctly."""
    cursor = next((p for p in plans if job.cursor_column and p.source.name == job.cursor_column),
                  None)  # fmt: skip
    if cursor is None:
        return
    column = cursor.read_column
    try:
        family = by_dialect(reader.dialect).family
    except ConfigurationError:
        return
    # Databases compare in SQL (documents and files are compared value by value, by type).
    if family not in ("relational", "warehouse") or not cursor_pushdown.is_text(
        column, reader.dialect
    ):
        return
    if cursor.bq_type in cursor_pushdown.NUMBER_TYPES:
        raise ValidationError(
            f"cursor_column '{column.name}' is text ({column.source_type}) read as "
            f"{cursor.bq_type.value}, and text is ordered character by character ('10' before "
            "'9'), so runs could not read it by its numbers; use a numeric column as the cursor, "
            f"or a query source that casts it (SELECT CAST({column.name} AS BIGINT) AS "
            f"{column.name}, ...)."
        )
    if cursor.bq_type not in TIME_TYPES or not isinstance(job.source, TableSource):
        return  # a query's sample would run the query: its values are checked row by row
    bad, sampled = _unparseable_sample(reader, job.source, column)
    if bad:
        raise ValidationError(
            f"cursor_column '{column.name}' is text and {len(bad)} of {sampled} sampled values "
            f"are not ISO {cursor.bq_type.value.lower()} values (e.g. {bad[0]!r}), so runs "
            "could not order them; choose another cursor or fix the column."
        )


def _unparseable_sample(
    reader: SourceReader, source: TableSource, column: ReadColumn
) -> tuple[list[str], int]:
    from etl_bigquery.engine.conform.casts import cast_array
    from etl_bigquery.engine.schema.detect import sample

    try:
        values = sample(reader, source, [column.name], SAMPLE_ROWS).column(column.name)
    except EtlError:
        return [], 0  # no sample (privileges): malformed values become rejected rows
    texts = [str(v).strip() for v in values.to_pylist() if v is not None]

    def parses(text: str) -> bool:
        if not _ISO_START.match(text):  # a time alone would compare below any date
            return False
        try:
            cast_array(pa.array([text], pa.string()), column.bq_type)
        except (pa.ArrowInvalid, pa.ArrowNotImplementedError, ValueError, OverflowError):
            return False
        return True

    return [text for text in texts if not parses(text)], len(texts)


@dataclass(frozen=True)
class CursorReading:
    """How this run reads its cursor: the final read plan, a line for the validate artifact,
    and what the user should know."""

    read_plan: ReadPlan
    description: str = ""
    warnings: list[str] = field(default_factory=list)


def settle_read(
    reader: SourceReader,
    job: JobSpec,
    read_plan: ReadPlan,
    cursor: ReadColumn | None,
    lookback: Lookback | None,
    watermark: object | None,
) -> CursorReading:
    """The read plan with its settled upper bound when the lookback says the source settles,
    and how the cursor is read."""
    if cursor is None or lookback is None:
        return CursorReading(read_plan)
    parts = [
        cursor_pushdown.describe(cursor, reader.dialect),
        f"lookback {lookback.describe()} ({lookback.reason})" if lookback.reason else "",
    ]
    if not (lookback.settles and isinstance(reader, SettlesCursor)):
        return CursorReading(read_plan, "; ".join(p for p in parts if p))
    timeout = job.settle_seconds
    settled = reader.settle(read_plan, cursor, timeout)
    value, warnings = settled.upper, []
    if settled.writers:
        # A writer still open may hold any value at or below M: go no further than the rows
        # BigQuery holds already (rows at or below them are read and compared as usual).
        if value is not None:
            value = None if watermark is None else _lower(value, watermark)
        warnings.append(
            f"{source_name(reader)} transaction(s) {_labels(settled.writers)} wrote and stayed "
            f"open longer than settle_timeout ({timeout:g} s), so they may hold {cursor.name} "
            f"values at or below {settled.upper}: this run read "
            + (f"{cursor.name} only up to {value}" if value is not None else "no new row")
            + " (what BigQuery holds already); the rest loads once they end"
        )
    if settled.idle:
        warnings.append(
            f"transaction(s) {_labels(settled.idle)} open before this run had not written the "
            f"source after settle_timeout ({timeout:g} s); a {cursor.name} value they took before "
            "writing it (nextval() first, INSERT later) would be missed: raise settle_timeout, "
            "or set lookback"
        )
    warnings += settled.caveats
    upper = UpperBound(cursor, value)
    if value is not None:
        reached = f"up to {value}"
    elif settled.upper is None:
        reached = "no row (none at or after the lower bound when the bound was taken)"
    else:
        reached = "no row (waiting for the transactions above)"
    parts.append(
        f"{cursor.name} read {reached}: settled in {settled.seconds:.2f} s, "
        f"{settled.open_at_start} transaction(s) open when the bound was taken"
    )
    return CursorReading(
        replace(read_plan, upper_bound=upper), "; ".join(p for p in parts if p), warnings
    )


def _lower(value: CursorValue, watermark: object) -> CursorValue:
    """The lower of M and the watermark (the same numeric kind: both are this cursor's)."""
    return cast(CursorValue, watermark) if watermark < value else value  # type: ignore[operator]


def _labels(transactions: tuple[OpenTransaction, ...]) -> str:
    shown = ", ".join(t.label for t in transactions[:5])
    return shown + (f" and {len(transactions) - 5} more" if len(transactions) > 5 else "")
