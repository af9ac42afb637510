"""What a run carries from stage to stage (in memory only: it holds live connections and, inside
them, resolved secrets, so it is never persisted or logged)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from google.cloud import bigquery

from etl_bigquery.engine.bigquery.clients import BigQueryClients, BigQuerySettings
from etl_bigquery.engine.bigquery.tables import TableRef
from etl_bigquery.engine.conform import TargetColumn
from etl_bigquery.engine.fingerprint import KnownRows
from etl_bigquery.engine.incremental import Lookback
from etl_bigquery.engine.jobs.model import JobSpec, ProcessingMode
from etl_bigquery.engine.plan import ColumnPlan
from etl_bigquery.engine.rejected import StagedRejects
from etl_bigquery.engine.sources.base import ReadPlan, SourceReader
from etl_bigquery.engine.staging import StagedFiles
from etl_bigquery.engine.strategies import LoadStrategy, Planned


@dataclass
class RunContext:
    job: JobSpec
    run_id: str
    started_at: dt.datetime
    reader: SourceReader
    bigquery: BigQueryClients
    settings: BigQuerySettings
    reader_factory: Callable[[], SourceReader] | None = None

    def reopen_reader(self) -> None:
        """A fresh source connection (after a failed attempt may have broken the old one)."""
        if self.reader_factory is None:
            return
        self.reader.close()
        self.reader = self.reader_factory()

    def close(self) -> None:
        self.reader.close()
        self.bigquery.close()


@dataclass
class LoadTarget:
    """The outcome of validation: where and how this run loads."""

    ref: TableRef
    columns: list[TargetColumn]
    """Every column of the destination table except the metadata ones, in table order."""
    plans: list[ColumnPlan]
    read_plan: ReadPlan
    strategy: LoadStrategy
    """Chosen once, in validation; extraction and load act through it."""
    planned: Planned
    """What the load strategy decided: state and job id, cursor, lookback, identity."""
    estimated_rows: int | None
    processing_mode: ProcessingMode
    known_rejected: KnownRows = field(default_factory=KnownRows.empty)
    location: str | None = None
    load_schema: list[bigquery.SchemaField] = field(default_factory=list)
    """The destination's own schema (descriptions and policy tags included): a load that
    replaces the table keeps them."""
    warnings: list[str] = field(default_factory=list)
    """Schema drift and other things the user should know about this run."""
    processing_reason: str = ""
    """Why this run uses its processing mode (the estimate against the job's threshold)."""
    cursor_reading: str = ""
    """How this run reads its cursor: the bound pushed to the source, the lookback and why,
    the settled upper bound (`engine.cursor_reading`)."""

    @property
    def job_id(self) -> str:
        return self.planned.increment.job_id

    @property
    def lookback(self) -> Lookback | None:
        return self.planned.lookback

    @property
    def watermark_before(self) -> object | None:
        return self.planned.increment.state.watermark if self.planned.cursor else None


@dataclass
class Extracted:
    staged: StagedFiles
    rows_read: int = 0
    rows_extracted: int = 0
    already_loaded: int = 0
    """Rows re-read inside the lookback window that BigQuery already holds."""
    rejected: StagedRejects = field(default_factory=StagedRejects)
    rows_future: int = 0
    """Rows whose cursor is in the future (`engine.clock_rule`): rejected this run, in the
    __rejected table (kept once), loaded by a later run once their time has come."""
    numeric_nan_nulled: int = 0
    watermark_after: object | None = None
    read_units: int = 1
    """Standard mode: units of the read read at once (1: one stream; engine.parallel_read)."""
    dataflow_job_id: str | None = None
    """Set when the Dataflow subflow ran on Google Cloud Dataflow."""
    units: list[dict[str, object]] = field(default_factory=list)
    """Per unit of the Dataflow subflow: its range, rows, files, seconds, attempts."""
    pipeline: dict[str, object] = field(default_factory=dict)
    """The Dataflow subflow's runner, counters and duration (empty in standard mode)."""
    deletes: Any = None
    """Merge and history runs whose delete check is due: the staged source keys
    (`engine.merge.deletes.StagedKeys`)."""
    warnings: list[str] = field(default_factory=list)
    """Things the user should know that only extraction can see."""

    @property
    def rows_rejected(self) -> int:
        return self.rejected.rows


ProgressCallback = Callable[[int, int | None], None]
"""Called with (rows so far, estimated total) during extraction."""
