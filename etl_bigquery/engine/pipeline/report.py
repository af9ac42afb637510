"""The figures of one run: what the summary artifact, `etl run --json` and dashboards read."""

from __future__ import annotations

import datetime as dt
import decimal
from dataclasses import asdict, dataclass, field


@dataclass
class StageTiming:
    start: dt.datetime | None = None
    end: dt.datetime | None = None

    @property
    def seconds(self) -> float | None:
        if self.start is None or self.end is None:
            return None
        return round((self.end - self.start).total_seconds(), 3)


def _json_value(value: object) -> object:
    if isinstance(value, dt.datetime | dt.date | dt.time):
        return value.isoformat()
    if isinstance(value, decimal.Decimal):
        return str(value)
    return value


@dataclass
class RunReport:
    job: str
    flow_run_id: str
    load_type: str
    status: str = "running"
    """completed | partial | failed | skipped"""
    state_name: str = "Running"
    error_type: str | None = None
    """init | validation | extraction | load | unknown, when failed"""
    error: str | None = None
    source: str = ""
    destination: str = ""
    rows_read: int = 0
    rows_extracted: int = 0
    rows_loaded: int = 0
    rows_rejected: int = 0
    rows_future: int = 0
    """Rows whose cursor is in the future (engine.clock_rule): kept in __rejected, not loaded
    yet; a later run loads them once their time has come."""
    rows_already_loaded: int = 0
    """Rows re-read inside the lookback window that BigQuery already held (not loaded again)."""
    numeric_nan_nulled: int = 0
    """NUMERIC NaN/Infinity values written as NULL (BigQuery's NUMERIC cannot hold them)."""
    bytes_processed: int = 0
    files_staged: int = 0
    read_units: int = 1
    estimated_rows: int | None = None
    watermark_before: object | None = None
    watermark_after: object | None = None
    lookback: str | None = None
    cursor_reading: str | None = None
    """How the run read its cursor: pushdown, lookback and why, settled bound."""
    read_up_to: object | None = None
    """A settled read's upper bound (numeric cursors of PostgreSQL, MySQL/MariaDB): rows above
    it were left for the next run."""
    warnings: list[str] = field(default_factory=list)
    """Schema drift and other things to know about this run (also in the summary)."""
    processing_mode: str = "standard"
    processing_reason: str | None = None
    """Why: the estimated rows against the job's threshold, or the job's own setting."""
    load_job_id: str | None = None
    merge: dict[str, object] | None = None
    """Merge and history runs: rows inserted and updated, partitions touched, the MERGE's bytes
    processed, and the delete check (engine.merge)."""
    dataflow_job_id: str | None = None
    rejected_table: str | None = None
    verification: dict[str, object] | None = None
    """The job's `verify` step after the load (`engine.verify`): equal or not, rows on each
    side, differences by kind, when it was checked; None when the job does not verify."""
    stages: dict[str, StageTiming] = field(
        default_factory=lambda: {s: StageTiming() for s in ("init", "validate", "extract", "load")}
    )

    @property
    def duration_seconds(self) -> float | None:
        starts = [t.start for t in self.stages.values() if t.start]
        ends = [t.end for t in self.stages.values() if t.end]
        if not starts or not ends:
            return None
        return round((max(ends) - min(starts)).total_seconds(), 3)

    def to_dict(self) -> dict[str, object]:
        data = asdict(self)
        data["stages"] = {
            name: {
                "start": _json_value(t.start),
                "end": _json_value(t.end),
                "seconds": t.seconds,
            }
            for name, t in self.stages.items()
        }
        data["duration_seconds"] = self.duration_seconds
        return {key: _json_value(value) for key, value in data.items()}
