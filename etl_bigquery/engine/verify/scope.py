"""Which rows `etl verify` compares, and by which columns: the rows the job is responsible for.

- catalog: the whole source (table, query or files) against the whole table;
- transactional: the rows with cursor from the job's backfill start (or `--since`) up to the
  table's watermark W (rows above W are not loaded yet, so they are not a difference);
- merge / history: the current state: every key of the source against the table's live rows
  (history: current versions); a key whose source version is newer than W is not loaded yet and
  is left out on both sides.

Decided read-only: the same column planning as a run's validation (`engine.pipeline.validate`),
without its table changes, state settling or waits. Rows are named by the job's key: merge and
history keys, `key_columns`, else the source's primary key, else (a file) file and record
number, else every compared column.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, replace
from enum import StrEnum

from google.cloud import bigquery

from etl_bigquery.engine.bigquery import tables
from etl_bigquery.engine.bigquery.merge_sql import DELETED_AT, IS_CURRENT
from etl_bigquery.engine.bigquery.tables import TableRef
from etl_bigquery.engine.conform import TargetColumn
from etl_bigquery.engine.errors import ValidationError
from etl_bigquery.engine.jobs.model import FilesSource, LoadType
from etl_bigquery.engine.merge import layout
from etl_bigquery.engine.pipeline.context import RunContext
from etl_bigquery.engine.pipeline.validate import (
    _drift,
    destination_ref,
    plan_source,
    table_columns,
)
from etl_bigquery.engine.plan import ALWAYS_LOADED
from etl_bigquery.engine.schema.bqtypes import BqType
from etl_bigquery.engine.sources.base import (
    CursorBound,
    CursorValue,
    ReadColumn,
    ReadPlan,
    UpperBound,
)
from etl_bigquery.engine.strategies import first_run_bound, strategy_for

FILE_KEY = ("_etl_source_file", "_etl_source_row")


class VerifyMode(StrEnum):
    OFF = "off"
    COUNTS = "counts"
    """Rows per key range (and the digest of the keys in it): finds missing, extra and
    duplicated rows, reading only the key (and cursor) columns."""
    FULL = "full"
    """Row digests per key range: also finds rows whose content differs."""


@dataclass(frozen=True)
class Scope:
    ref: TableRef
    load_type: LoadType
    columns: list[TargetColumn]
    """What both sides read, in this order: keys, then the compared content, then the cursor."""
    keys: tuple[str, ...]
    content: tuple[str, ...]
    """The columns whose row digest is compared (empty in counts mode)."""
    read_plan: ReadPlan
    cursor: str | None = None
    lower: CursorValue | None = None
    watermark: CursorValue | None = None
    pending_above_watermark: bool = False
    """Merge/history: a key whose source row is above W is not loaded yet: left out both sides."""
    bigquery_filter: str = ""
    parameters: tuple[bigquery.ScalarQueryParameter, ...] = ()
    location: str | None = None
    key_source: str = ""
    """Where the key comes from, in words."""
    notes: tuple[str, ...] = ()

    @property
    def names(self) -> list[str]:
        return [c.name for c in self.columns]

    def describe(self) -> str:
        if self.cursor is None:
            return f"every row of the source and of {self.ref}"
        low = f"{self.cursor} >= {self.lower}" if self.lower is not None else ""
        high = f"{self.cursor} <= {self.watermark} (the table's watermark)"
        if self.watermark is None:
            high = "the table holds no row yet"
        what = "current rows" if self.load_type.keyed else "rows"
        return f"{what} with " + " and ".join(p for p in (low, high) if p)


def since_value(text: str, cursor: TargetColumn, now: dt.datetime) -> CursorValue:
    """`--since`: a duration back from now ('7d', time cursors) or a cursor value."""
    from decimal import Decimal, InvalidOperation

    from etl_bigquery.engine.jobs.model import parse_lookback_text

    kind = cursor.bq_type
    try:
        back = parse_lookback_text(text)
    except ValueError:
        back = None
    if isinstance(back, dt.timedelta):
        start = now - back
        if kind is BqType.DATE:
            return start.date()
        return start.replace(tzinfo=None) if kind is BqType.DATETIME else start
    try:
        if kind is BqType.DATE:
            return dt.date.fromisoformat(text)
        if kind in (BqType.TIMESTAMP, BqType.DATETIME):
            value = dt.datetime.fromisoformat(text)
            if kind is BqType.DATETIME:
                return value.replace(tzinfo=None)
            return value if value.tzinfo else value.replace(tzinfo=dt.UTC)
        if kind is BqType.INT64:
            return int(text)
        if kind is BqType.FLOAT64:
            return float(text)
        return Decimal(text)
    except (ValueError, InvalidOperation):
        raise ValidationError(
            f"--since {text!r} is neither a value of cursor {cursor.source_name!r} "
            f"({kind.value}) nor a duration such as '7d'."
        ) from None


def _watermark(
    client: bigquery.Client, ref: TableRef, column: str, where: str, location: str | None
) -> CursorValue | None:
    sql = f"SELECT MAX(`{column}`) AS w FROM {ref.sql}" + (f" WHERE {where}" if where else "")
    rows = list(client.query_and_wait(sql, location=location))
    return rows[0]["w"] if rows else None


def _keys(
    ctx: RunContext, table: bigquery.Table, ref: TableRef, loaded: list[TargetColumn], plans: list
) -> tuple[tuple[str, ...], str]:
    job = ctx.job
    by_source = {c.source_name: c.name for c in loaded}
    if job.load_type.keyed:
        return layout.table_keys(table, ref, job.load_type is LoadType.HISTORY), "the table's key"
    if job.key_columns:
        return tuple(by_source[k] for k in job.key_columns if k in by_source), "key_columns"
    primary = [p.source.name for p in plans if p.source.primary_key]
    if primary and all(k in by_source for k in primary):
        return tuple(by_source[k] for k in primary), "the source's primary key"
    if isinstance(job.source, FilesSource):
        return FILE_KEY, "file and record number"
    content = tuple(c.name for c in loaded if c.name not in ALWAYS_LOADED)
    return content, "every compared column (the source has no key)"


def plan_scope(
    ctx: RunContext, mode: VerifyMode, *, since: CursorValue | str | None = None
) -> Scope:
    """The rows and columns to compare; reads the source's and the table's schema and, for
    cursor jobs, the table's watermark. Changes nothing."""
    job = ctx.job
    client = ctx.bigquery.bigquery
    strategy = strategy_for(job)
    source_columns = ctx.reader.describe(job.source)
    ref = destination_ref(ctx)
    table = tables.get_table(client, ref)
    if table is None:
        raise ValidationError(
            f"Destination table {ref} does not exist, so there is nothing to verify; "
            "`etl job apply` creates it and a run loads it."
        )
    drifted, _ = _drift(job, source_columns, tables.table_names(table))
    plans = plan_source(ctx, drifted, source_columns, table=table, strategy=strategy)
    resolved = tables.check_existing_table(
        table, ref, [p.target for p in plans], job_name=job.name, load_type=job.load_type
    )
    columns = table_columns(list(table.schema), resolved)
    loaded = [c for c in columns if c.source_name is not None]
    keys, key_source = _keys(ctx, table, ref, loaded, plans)
    content = (
        tuple(c.name for c in loaded if c.name not in ALWAYS_LOADED)
        if mode is VerifyMode.FULL
        else ()
    )
    by_name = {c.name: c for c in loaded}
    cursor: TargetColumn | None = None
    if strategy.uses_cursor and job.cursor_column:
        cursor = next(c for c in loaded if c.source_name == job.cursor_column)
    wanted = [*keys, *(c for c in content if c not in keys)]
    if cursor is not None and cursor.name not in wanted:
        wanted.append(cursor.name)
    chosen = [by_name[n] for n in wanted]
    location = table.location or ctx.settings.location
    read_types = {p.source.name: p.read_column for p in plans}
    read_columns = [
        replace(read_types[c.source_name], bq_type=c.bq_type)
        for c in chosen
        if c.source_name is not None
    ]
    if cursor is None:
        if since is not None:
            raise ValidationError(
                f"--since narrows the cursor window of transactional, merge and history jobs; "
                f"job '{job.name}' is {job.load_type.value} without a cursor, so every row is "
                "compared."
            )
        return Scope(
            ref, job.load_type, chosen, keys, content,
            ReadPlan(job.source, read_columns),  # type: ignore[arg-type]
            location=location, key_source=key_source,
        )  # fmt: skip
    return _cursor_scope(
        ctx, ref, location, chosen, keys, content, read_columns, cursor, key_source, since
    )


def _cursor_scope(
    ctx: RunContext, ref: TableRef, location: str | None, chosen: list[TargetColumn],
    keys: tuple[str, ...], content: tuple[str, ...], read_columns: list[ReadColumn],
    cursor: TargetColumn, key_source: str, since: CursorValue | str | None,
) -> Scope:  # fmt: skip
    job = ctx.job
    client = ctx.bigquery.bigquery
    keyed = job.load_type.keyed
    live = []
    if keyed:
        live.append(f"`{DELETED_AT}` IS NULL")
        if job.load_type is LoadType.HISTORY:
            live.append(f"`{IS_CURRENT}`")
    watermark = _watermark(client, ref, cursor.name, " AND ".join(live), location)
    now = ctx.started_at
    if since is not None:
        lower = since_value(since, cursor, now) if isinstance(since, str) else since
    elif keyed and not job.backfill_start:
        lower = None  # a current-state table mirrors every key
    else:
        lower = first_run_bound(job, cursor, now)
    timestamp = cursor.bq_type is BqType.TIMESTAMP
    if isinstance(lower, dt.datetime) and lower.tzinfo is None and timestamp:
        lower = lower.replace(tzinfo=dt.UTC)
    read_cursor = next(rc for rc in read_columns if rc.name == cursor.source_name)
    bound = CursorBound(read_cursor, lower) if lower is not None else None
    upper = None
    if not keyed and watermark is not None:
        upper = UpperBound(read_cursor, watermark)
    where = list(live)
    parameters = []
    type_name = cursor.bq_type.value
    if lower is not None:
        where.append(f"`{cursor.name}` >= @lower")
        parameters.append(bigquery.ScalarQueryParameter("lower", type_name, lower))
    if watermark is not None and not keyed:
        where.append(f"`{cursor.name}` <= @upper")
        parameters.append(bigquery.ScalarQueryParameter("upper", type_name, watermark))
    notes = []
    if keyed and job.deletes.value == "none":
        notes.append(
            "deletes: none: rows deleted in the source stay in BigQuery by design; they show "
            "as extra rows"
        )
    return Scope(
        ref, job.load_type, chosen, keys, content,
        ReadPlan(job.source, read_columns, bound, upper_bound=upper),  # type: ignore[arg-type]
        cursor=cursor.name, lower=lower, watermark=watermark, pending_above_watermark=keyed,
        bigquery_filter=" AND ".join(where), parameters=tuple(parameters), location=location,
        key_source=key_source, notes=tuple(notes),
    )  # fmt: skip
