"""Load strategies: everything that differs between a catalog and a transactional load, in one
class each, so validation, extraction and load have no `if load_type` of their own.

A strategy owns its state and job id (`plan`, through `engine.incremental`), its BigQuery write
disposition, the extra metadata its rows carry (fingerprints), the table layout it creates
(partitioning), how extraction filters rows (`increment_filter`), and what an empty extraction
means. It is chosen once per run, in validation (`strategy_for`), and carried to extraction and
load with the run's `LoadTarget`; nothing after validation looks it up again.
"""

from __future__ import annotations

import abc
import datetime as dt
from dataclasses import dataclass
from typing import Any, ClassVar

from google.cloud import bigquery

from etl_bigquery.engine.already_loaded import IncrementFilter
from etl_bigquery.engine.bigquery import tables
from etl_bigquery.engine.bigquery.tables import TableRef
from etl_bigquery.engine.clock_rule import future_watermark_refusal, not_after
from etl_bigquery.engine.conform import RUN_ID, TargetColumn
from etl_bigquery.engine.cursor_reading import sequence_rule
from etl_bigquery.engine.errors import ExtractionError, ValidationError
from etl_bigquery.engine.fingerprint import ROW_HASH, Identity
from etl_bigquery.engine.incremental import IncrementPlan, Lookback, plan_increment, plan_snapshot
from etl_bigquery.engine.jobs.model import Backfill, JobSpec, LoadType
from etl_bigquery.engine.plan import ColumnPlan, cursor_plan
from etl_bigquery.engine.row_version import ROW_VERSION, VersionColumns
from etl_bigquery.engine.schema.bqtypes import CURSOR_TYPES, TIME_TYPES, BqType
from etl_bigquery.engine.sources.base import CursorValue, SqlReader, UpperBound


@dataclass
class Planned:
    """What a strategy decided for this run."""

    increment: IncrementPlan
    cursor: TargetColumn | None = None
    lookback: Lookback | None = None
    lower_bound: CursorValue | None = None
    identity: Identity | None = None
    files: tuple[Any, ...] | None = None
    """File sources: the files this run reads (`engine.file_strategies`)."""
    upper_bound: UpperBound | None = None
    """The read's settled upper bound (`engine.cursor_reading.settle_read`, set in validation):
    rows above it are not read this run, so they neither load nor move the watermark."""
    version: VersionColumns | None = None
    """Transactional: the columns of a row's version (`engine.row_version`)."""
    not_after: CursorValue | None = None
    """The clock rule's bound (`engine.clock_rule`): rows with a later cursor are not loaded
    this run (they are rejected as 'cursor is in the future')."""
    replaced_files: tuple[str, ...] = ()
    """File sources: addresses of changed files whose earlier rows this run's load replaces
    (`engine.bigquery.replace`); empty: the load appends or truncates as the strategy says."""


class LoadStrategy(abc.ABC):
    load_type: ClassVar[LoadType]
    write_disposition: ClassVar[str]
    uses_cursor: ClassVar[bool] = False

    def check_plans(self, job: JobSpec, plans: list[ColumnPlan]) -> None:
        """Checks of the job against the source's columns (before any BigQuery call)."""
        return None

    def new_table_identity(
        self, job: JobSpec, plans: list[ColumnPlan], columns: list[TargetColumn]
    ) -> Identity | None:
        return None

    def table_identity(
        self, job: JobSpec, plans: list[ColumnPlan], table: bigquery.Table, ref: TableRef,
        resolved: list[TargetColumn],
    ) -> tuple[Identity | None, bool]:  # fmt: skip
        """The identity rows of `table` are recognised by, and whether it is new to the table."""
        return None, False

    def layout(self, table: bigquery.Table, cursor: TargetColumn | None) -> None:
        """Partitioning and clustering of a table this strategy creates."""
        return None

    @abc.abstractmethod
    def plan(
        self, job: JobSpec, client: bigquery.Client, table: bigquery.Table, ref: TableRef,
        columns: list[TargetColumn], plans: list[ColumnPlan], identity: Identity | None,
        *, fingerprinted: bool, location: str | None, now: dt.datetime,
        reader: SqlReader | None = None,
    ) -> Planned: ...  # fmt: skip

    def increment_filter(self, planned: Planned) -> IncrementFilter | None:
        """The "already loaded?" filter of this run (`engine.already_loaded`), the same for the
        standard and the Beam path; None when every extracted row is loaded."""
        return None

    def check_extracted(self, job: JobSpec, ref: TableRef, rows: int, rejected: int) -> None:
        """What an extraction's outcome means before anything is loaded."""
        return None

    def empty_replaces(self, job: JobSpec) -> bool:
        """An extraction of 0 rows is the table's new content (an allowed empty snapshot),
        rather than nothing new to add."""
        return False

    def check_rejected(self, job: JobSpec, ref: TableRef, read: int, rejected: int) -> None:
        """The job's `max_rejected`, for every source: past it the run fails before anything
        is loaded (a wrong delimiter, encoding or type override rejects nearly every row)."""
        limit = job.rejected_limit
        if limit.exceeded(rejected, read):
            raise ExtractionError(
                f"{rejected:,} of {read:,} rows read from {job.describe_source()} were malformed, "
                f"more than max_rejected ({limit.describe()}), so nothing was loaded into {ref}; "
                "fix the source or the job's format options and types (a few malformed rows "
                "are kept in the __rejected table when under the limit), or raise max_rejected."
            )


class Catalog(LoadStrategy):
    """A full snapshot replaces the table atomically; its job id names the snapshot it replaces
    (so an older snapshot can never land after a newer one)."""

    load_type = LoadType.CATALOG
    write_disposition = bigquery.WriteDisposition.WRITE_TRUNCATE

    def plan(
        self, job: JobSpec, client: bigquery.Client, table: bigquery.Table, ref: TableRef,
        columns: list[TargetColumn], plans: list[ColumnPlan], identity: Identity | None,
        *, fingerprinted: bool, location: str | None, now: dt.datetime,
        reader: SqlReader | None = None,
    ) -> Planned:  # fmt: skip
        has_run_id = any(f.name == RUN_ID for f in table.schema)
        return Planned(
            plan_snapshot(client, ref, job.name, location=location, has_run_id=has_run_id)
        )

    def empty_replaces(self, job: JobSpec) -> bool:
        return job.allow_empty_snapshot

    def check_extracted(self, job: JobSpec, ref: TableRef, rows: int, rejected: int) -> None:
        if rows == 0 and not rejected and not job.allow_empty_snapshot:
            raise ExtractionError(
                f"Source {job.describe_source()} returned no rows, so {ref} was left as it was "
                "(a catalog load never replaces a table with nothing); set allow_empty_snapshot: "
                "true if an empty table is expected."
            )


def first_run_bound(job: JobSpec, cursor: TargetColumn, now: dt.datetime) -> CursorValue | None:
    backfill = job.backfill
    if cursor.bq_type not in TIME_TYPES:
        if backfill is None or backfill.all_history:
            return None
        raise ValidationError(
            f"backfill_start '{job.backfill_start}' needs a date or time cursor, but "
            f"'{cursor.source_name}' is {cursor.bq_type.value}; use backfill_start: all."
        )
    start = (backfill or Backfill(days=30)).start(now)
    if start is None:
        return None
    if cursor.bq_type is BqType.DATE:
        return start.date()
    if cursor.bq_type is BqType.DATETIME:
        return start.replace(tzinfo=None)
    return start


def choose_identity(job: JobSpec, plans: list[ColumnPlan], loaded: list[TargetColumn]) -> Identity:
    """The columns that identify a row of a new transactional table: `key_columns`, else the
    primary key plus the cursor when every key column is loaded, else every loaded column."""
    by_source = {c.source_name: c.name for c in loaded if c.source_name is not None}
    unknown = [k for k in job.key_columns if k not in by_source]
    if unknown:
        raise ValidationError(
            f"key_columns names {', '.join(repr(k) for k in unknown)}, which this job does not "
            f"load from {job.describe_source()}; name loaded columns."
        )
    keys = list(job.key_columns) or [p.source.name for p in plans if p.source.primary_key]
    if keys and all(k in by_source for k in keys):
        if job.cursor_column and job.cursor_column not in keys:
            keys.append(job.cursor_column)
        return Identity(tuple(by_source[k] for k in keys))
    return Identity(tuple(by_source.values()))


def require_identity_loaded(identity: Identity, columns: list[TargetColumn], ref: TableRef) -> None:
    loaded = {c.name for c in columns if c.source_name is not None}
    missing = [name for name in identity.columns if name not in loaded]
    if missing:
        raise ValidationError(
            f"Column(s) {', '.join(missing)} identify the rows of {ref} (that is how rows near "
            "the watermark are recognised), so this transactional job must keep loading them; "
            "add them back to columns, or start a new job into a new table."
        )


def _existing_identity(table: bigquery.Table, ref: TableRef) -> Identity | None:
    if not any(field.name == ROW_HASH for field in table.schema):
        return None
    identity = tables.table_identity(table)
    if identity is None:
        raise ValidationError(
            f"The description of column {ROW_HASH} in {ref} no longer names the row identity "
            "columns, so rows already loaded cannot be recognised; restore it or load into a "
            "new table."
        )
    return identity


class Transactional(LoadStrategy):
    """Append what BigQuery does not hold yet, from `W - lookback` on (engine.incremental)."""

    load_type = LoadType.TRANSACTIONAL
    write_disposition = bigquery.WriteDisposition.WRITE_APPEND
    uses_cursor = True

    def check_plans(self, job: JobSpec, plans: list[ColumnPlan]) -> None:
        cursor = cursor_plan(plans, job)
        if cursor.bq_type not in CURSOR_TYPES:
            raise ValidationError(
                f"Cursor column '{cursor.source.name}' is {cursor.source.source_type} "
                f"({cursor.bq_type.value} in BigQuery); a cursor must be a date, time or number. "
                "Choose another cursor_column or override its type in column_types."
            )

    def new_table_identity(
        self, job: JobSpec, plans: list[ColumnPlan], columns: list[TargetColumn]
    ) -> Identity | None:
        return choose_identity(job, plans, columns)

    def table_identity(
        self, job: JobSpec, plans: list[ColumnPlan], table: bigquery.Table, ref: TableRef,
        resolved: list[TargetColumn],
    ) -> tuple[Identity | None, bool]:  # fmt: skip
        cursor = cursor_plan(plans, job).target
        if not any(field.name.lower() == cursor.name.lower() for field in table.schema):
            raise ValidationError(
                f"Table {ref} has no column {cursor.name}, so its watermark cannot be read; "
                "restore the column or load into a new table."
            )
        identity = _existing_identity(table, ref)
        if identity is not None:
            return identity, False
        return choose_identity(job, plans, resolved), True

    def layout(self, table: bigquery.Table, cursor: TargetColumn | None) -> None:
        if cursor is None:
            return
        if cursor.bq_type in TIME_TYPES:
            table.time_partitioning = bigquery.TimePartitioning(
                type_=bigquery.TimePartitioningType.DAY, field=cursor.name
            )
        table.clustering_fields = [cursor.name]

    def plan(
        self, job: JobSpec, client: bigquery.Client, table: bigquery.Table, ref: TableRef,
        columns: list[TargetColumn], plans: list[ColumnPlan], identity: Identity | None,
        *, fingerprinted: bool, location: str | None, now: dt.datetime,
        reader: SqlReader | None = None,
    ) -> Planned:  # fmt: skip
        assert identity is not None
        require_identity_loaded(identity, columns, ref)
        by_source = {c.source_name: c for c in columns if c.source_name is not None}
        cursor = by_source[cursor_plan(plans, job).source.name]
        rule = sequence_rule(reader, job.source) if reader is not None else None
        lookback = Lookback.for_job(job.lookback, cursor, rule)
        versioned, version = tables.table_version(table)
        if versioned and version is None:
            raise ValidationError(
                f"The description of column {ROW_VERSION} in {ref} no longer names the row "
                "version columns, so rows already loaded cannot be recognised; restore it or "
                "load into a new table."
            )
        # A table without the column gets it in this validation, described with these columns.
        version = version or tables.version_columns(columns)
        increment = plan_increment(
            client, ref, job.name, cursor, lookback,
            location=location, fingerprinted=fingerprinted, versioned=versioned,
        )  # fmt: skip
        if increment.window_start is not None:
            lower: CursorValue | None = increment.window_start  # type: ignore[assignment]
        else:
            lower = first_run_bound(job, cursor, now)
        bound = not_after(cursor.bq_type, now, job.clock_tolerance_delta)
        refusal = future_watermark_refusal(ref.id, cursor.name, increment.state.watermark, bound)
        if refusal:
            raise ValidationError(refusal)
        return Planned(
            increment, cursor, lookback, lower, identity, not_after=bound, version=version
        )

    def increment_filter(self, planned: Planned) -> IncrementFilter | None:
        assert planned.cursor is not None and planned.identity is not None
        return IncrementFilter.from_known(
            planned.cursor.name,
            planned.identity,
            planned.lower_bound,
            planned.increment.state.watermark,
            planned.increment.known,
            upper=planned.upper_bound,
            not_after=planned.not_after,
            version=planned.version,
        )


STRATEGIES: dict[LoadType, LoadStrategy] = {
    strategy.load_type: strategy for strategy in (Catalog(), Transactional())
}


def strategy_for(job: JobSpec | LoadType) -> LoadStrategy:
    """The strategy of a job (file sources have their own: `engine.file_strategies`), or of a
    load type for table and query sources."""
    if isinstance(job, LoadType):
        return STRATEGIES[job]
    if job.load_type.keyed:  # one instance per job (engine.merge.strategy)
        from etl_bigquery.engine.merge.strategy import for_job

        return for_job(job.load_type)
    if getattr(job.source, "kind", None) == "files":
        from etl_bigquery.engine.file_strategies import FILE_STRATEGIES

        return FILE_STRATEGIES[job.load_type]
    return STRATEGIES[job.load_type]
