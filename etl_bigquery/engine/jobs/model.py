"""The job: what one deployment of the `etl-job` flow moves, and how.

A job is the flow's only parameter, so this model is also the form the Prefect UI renders. It
holds names, never secrets: the connection is referred to by its block name and resolved at run
time.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from decimal import Decimal
from enum import StrEnum
from typing import Annotated, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Discriminator,
    Field,
    Tag,
    ValidationInfo,
    field_validator,
    model_validator,
)

from etl_bigquery.engine.schema.bqtypes import BqType
from etl_bigquery.engine.schema.names import sanitize_column_name
from etl_bigquery.engine.sources.files.paths import FIX as PATH_FIX
from etl_bigquery.engine.sources.files.paths import path_problem

JOB_NAME = re.compile(r"^[a-z][a-z0-9_-]{0,62}$")
BQ_DATASET = re.compile(r"^[A-Za-z0-9_]{1,1024}$")
BQ_TABLE = re.compile(r"^[A-Za-z0-9_-]{1,1024}$")
DEFAULT_DATASET = "raw_data"
DEFAULT_ROW_THRESHOLD = 1_000_000
DEFAULT_BACKFILL_DAYS = 30
# A wrong delimiter, encoding or type override rejects nearly every row, so any sizable source
# passes this count and the run fails before loading garbage; a few malformed lines in a big
# export stay far below it. A count rather than a share: one bad row of a ten-row file is 10%.
DEFAULT_MAX_REJECTED = 1000
# How long a run waits for transactions open when it takes a numeric cursor's bound
# (engine.sources.settle): ordinary OLTP transactions end in milliseconds, so this is reached
# only by a session left open; past it the run goes no further than what is certain.
DEFAULT_SETTLE_SECONDS = 30.0


class LoadType(StrEnum):
    CATALOG = "catalog"
    """Full snapshot: every run replaces the whole table atomically."""
    TRANSACTIONAL = "transactional"
    """Incremental append of rows whose cursor is at or past what BigQuery already holds."""
    MERGE = "merge"
    """Current-state table: each run merges the increment by key; the newest version wins."""
    HISTORY = "history"
    """Every version of a row is kept with validity columns (slowly changing dimension type 2)."""

    @property
    def keyed(self) -> bool:
        """Merge and history tables hold one entity per key (engine.merge)."""
        return self in (LoadType.MERGE, LoadType.HISTORY)


class Deletes(StrEnum):
    NONE = "none"
    SOFT = "soft"
    """The row stays, with `_etl_deleted_at` set; a key that comes back is undeleted."""
    HARD = "hard"
    """The row is removed (history: every version of the key)."""


class DeleteCheck(StrEnum):
    """How often a merge/history run compares the source's keys with the table's."""

    EVERY_RUN = "every_run"
    HOURLY = "hourly"
    DAILY = "daily"
    WEEKLY = "weekly"


class ProcessingMode(StrEnum):
    AUTO = "auto"
    STANDARD = "standard"
    DATAFLOW = "dataflow"


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True, frozen=True)


class TableSource(_Strict):
    """A table (or view) of the connection's database."""

    model_config = ConfigDict(title="Table")

    kind: Literal["table"] = Field(
        default="table", title="Kind", description="Set by the Query / Table choice above."
    )
    schema_name: str | None = Field(
        default=None,
        alias="schema",
        description="Schema of the table; empty means the connection's default "
        "(PostgreSQL: public, SQLite: main).",
    )
    table: str = Field(
        min_length=1,
        title="Table",
        description="Table or view name, exactly as in the source, e.g. orders.",
    )


class QuerySource(_Strict):
    """A read-only SQL query; its result columns are the job's columns."""

    model_config = ConfigDict(title="Query")

    kind: Literal["query"] = Field(
        default="query", title="Kind", description="Set by the Query / Table choice above."
    )
    query: str = Field(
        min_length=1,
        title="Query",
        description="One SELECT statement (WITH, UNION and VALUES too), run read-only with a "
        "statement timeout, e.g. SELECT id, total FROM orders WHERE status = 'paid'. A query "
        "source needs destination.table.",
    )

    @field_validator("query")
    @classmethod
    def _not_empty(cls, value: str) -> str:
        # Only dialect-free checks here: the reader checks the statement with a SQL parser for
        # its own dialect (engine.sources.query_check) before anything reaches the database, since
        # what is one valid statement differs by dialect (e.g. PostgreSQL's $$dollar quoting$$).
        text = value.strip()
        if not text.rstrip(";").strip():
            raise ValueError("the query is empty; write one SELECT statement")
        return text


class FileFormat(StrEnum):
    CSV = "csv"
    PARQUET = "parquet"
    JSONL = "jsonl"
    """One JSON object per line (newline-delimited JSON)."""
    JSON = "json"
    """A JSON array of objects (streamed element by element)."""


class CsvOptions(_Strict):
    """How CSV files are written; every value of a CSV column is read as text, then typed."""

    model_config = ConfigDict(title="CSV options")

    delimiter: str = Field(
        default=",", min_length=1, max_length=1, description="e.g. , ; | or a tab."
    )
    quote: str | None = Field(
        default='"', description="Quote character; empty means values are never quoted."
    )
    escape: str | None = Field(
        default=None, description="Escape character inside quoted values (e.g. \\); default none."
    )
    encoding: str = Field(
        default="utf-8",
        description="utf-8 (a byte-order mark is skipped), latin-1, cp1252 or any Python codec.",
    )
    header: bool = Field(default=True, description="The first row names the columns.")
    skip_rows: int = Field(default=0, ge=0, description="Rows to skip before the header/data.")
    null_markers: list[str] = Field(
        default_factory=lambda: [""],
        description='Values that mean NULL, e.g. ["", "NULL", "\\N"]. Default: empty fields.',
    )
    newlines_in_values: bool = Field(
        default=True, description="Quoted values may span lines (slower to parse when true)."
    )

    @field_validator("quote", "escape")
    @classmethod
    def _one_character(cls, value: str | None) -> str | None:
        if value is not None and len(value) > 1:
            raise ValueError("quote and escape are one character each")
        return value or None

    @field_validator("encoding")
    @classmethod
    def _known_encoding(cls, value: str) -> str:
        import codecs

        try:
            codecs.lookup(value)
        except LookupError:
            raise ValueError(f"encoding {value!r} is not a known text encoding") from None
        return value


class FilesSource(_Strict):
    """Files under a prefix of an object-store connection (or a local folder)."""

    model_config = ConfigDict(title="Files")

    kind: Literal["files"] = Field(
        default="files", title="Kind", description="Set by the Query / Table / Files choice above."
    )
    prefix: str = Field(
        default="",
        description="Folder or key prefix under the connection's bucket and prefix, e.g. exports/.",
    )
    glob: str = Field(
        default="*",
        min_length=1,
        description="Which files under the prefix: * and ? stay within a folder, ** crosses "
        "folders, e.g. *.csv, 2026-*/orders_*.csv.gz, **/*.parquet.",
    )
    format: FileFormat = Field(description="csv, parquet, jsonl (one object per line) or json.")
    compression: Literal["auto", "none", "gzip"] = Field(
        default="auto", description="auto: files ending in .gz are gunzipped while read."
    )
    csv: CsvOptions = Field(default_factory=CsvOptions, title="CSV options")

    @field_validator("prefix", "glob")
    @classmethod
    def _inside_the_connection(cls, value: str) -> str:
        # A job is a flow parameter anyone allowed to start a run may set: it must never name
        # a file outside its connection's folder or bucket (engine.sources.files.paths).
        problem = path_problem(value)
        if problem:
            raise ValueError(f"{value!r} {problem}; {PATH_FIX}")
        return value

    def describe(self) -> str:
        return f"files {self.prefix}{self.glob} ({self.format.value})"


class DestinationSpec(_Strict):
    """Where the rows land in BigQuery."""

    block: str = Field(
        default="bigquery",
        min_length=1,
        description="Name of the BigQuery destination block (project, credentials, staging).",
    )
    dataset: str | None = Field(
        default=None,
        description="BigQuery dataset, created if missing; empty means the destination block's "
        f"default ({DEFAULT_DATASET}).",
    )
    table: str | None = Field(
        default=None,
        description="BigQuery table; empty means bq_ and the source table's name, e.g. bq_orders.",
    )

    @field_validator("dataset")
    @classmethod
    def _dataset_name(cls, value: str | None) -> str | None:
        if value is not None and not BQ_DATASET.match(value):
            raise ValueError("a dataset name has only letters, digits and underscores")
        return value

    @field_validator("table")
    @classmethod
    def _table_name(cls, value: str | None) -> str | None:
        if value is not None and not BQ_TABLE.match(value):
            raise ValueError("a table name has only letters, digits, '_' and '-'")
        return value


class DataflowRunner(StrEnum):
    DIRECT = "direct"
    """Beam's DirectRunner on the machine that runs the flow (N worker processes)."""
    DATAFLOW = "dataflow"
    """Google Cloud Dataflow (workers read the source password from Secret Manager)."""


class DataflowSpec(_Strict):
    """How the Dataflow subflow runs a job's extraction (processing mode dataflow, or auto at or
    above the threshold)."""

    runner: DataflowRunner = Field(
        default=DataflowRunner.DIRECT,
        description="direct: Beam's DirectRunner on the flow's own machine; dataflow: Google "
        "Cloud Dataflow in `region` (needs a gs:// staging location and a connection whose "
        "password is a Secret Manager reference).",
    )
    rows_per_unit: int = Field(
        default=250_000, ge=1000, description="Target rows per unit of work (a cursor range or "
        "a hash bucket of the key); units = estimated rows / this, at least one per worker.",
    )  # fmt: skip
    max_units: int = Field(default=2000, ge=1, description="Upper bound on the number of units.")
    direct_workers: int = Field(
        default=2, ge=1, le=64, description="DirectRunner: worker processes (1 runs in-process)."
    )
    region: str | None = Field(default=None, description="Dataflow region, e.g. europe-west1.")
    machine_type: str = Field(default="n1-standard-2", description="Dataflow worker machine type.")
    min_workers: int = Field(default=1, ge=1, description="Dataflow workers at start.")
    max_workers: int = Field(default=10, ge=1, description="Dataflow autoscaling ceiling.")
    service_account: str | None = Field(
        default=None, description="Service account e-mail the Dataflow workers run as."
    )
    temp_location: str | None = Field(
        default=None, description="gs:// temp location; default <staging_uri>/dataflow/temp."
    )
    subnetwork: str | None = Field(default=None, description="Dataflow worker subnetwork.")
    no_public_ips: bool = Field(default=False, description="Dataflow workers without public IPs.")

    @model_validator(mode="after")
    def _workers(self) -> DataflowSpec:
        if self.max_workers < self.min_workers:
            raise ValueError("dataflow.max_workers must be at least dataflow.min_workers")
        return self


class Backfill(_Strict):
    """Where the first transactional run starts: all history, the last N days, or a date."""

    all_history: bool = False
    days: int | None = Field(default=None, ge=1)
    since: date | None = None

    @classmethod
    def parse(cls, text: str | int | date | None) -> Backfill | None:
        """`all`, `30d` / `60d` / `90d` / `<N>d`, or an ISO date; None means the default."""
        if text is None or text == "":
            return None
        if isinstance(text, date):
            return cls(since=text)
        if isinstance(text, int):
            return cls(days=text)
        value = text.strip().lower()
        if value in ("all", "all_history", "all-history"):
            return cls(all_history=True)
        if match := re.fullmatch(r"(\d+)\s*d(ays?)?", value):
            return cls(days=int(match.group(1)))
        try:
            return cls(since=date.fromisoformat(value))
        except ValueError:
            raise ValueError(
                f"backfill_start {text!r} is not 'all', '<N>d' (e.g. 30d) or a date YYYY-MM-DD"
            ) from None

    def start(self, now: datetime) -> datetime | None:
        """The earliest cursor value to load on a first run; None means everything."""
        if self.all_history:
            return None
        if self.since is not None:
            return datetime.combine(self.since, datetime.min.time(), tzinfo=now.tzinfo)
        days = self.days or DEFAULT_BACKFILL_DAYS
        return (now - timedelta(days=days)).replace(hour=0, minute=0, second=0, microsecond=0)

    def describe(self) -> str:
        if self.all_history:
            return "all history"
        if self.since is not None:
            return f"since {self.since.isoformat()}"
        return f"last {self.days} days"


_DURATION = re.compile(r"^(\d+(?:\.\d+)?)\s*(s|sec|m|min|h|d)?$")
_UNIT_SECONDS = {None: 1, "s": 1, "sec": 1, "m": 60, "min": 60, "h": 3600, "d": 86400}


def parse_lookback_text(text: str) -> timedelta | Decimal:
    """`'10m'` → 10 minutes; a plain number → that number (seconds for a time cursor, units of
    the cursor for a numeric one: `engine.incremental` decides by the cursor's type)."""
    value = text.strip().lower()
    match = _DURATION.match(value)
    if not match:
        raise ValueError(
            f"lookback {text!r} is not a duration like '90s', '10m', '2h', '1d' or a number"
        )
    number, unit = match.groups()
    if unit is None:
        return Decimal(number)
    return timedelta(seconds=float(number) * _UNIT_SECONDS[unit])


@dataclass(frozen=True)
class RejectedLimit:
    """`max_rejected`: a count of rows, or a share (0..1) of the rows read."""

    count: int | None = None
    share: float | None = None

    def exceeded(self, rejected: int, read: int) -> bool:
        if self.count is not None:
            return rejected > self.count
        assert self.share is not None
        return rejected > 0 and rejected > self.share * max(read, 1)

    def describe(self) -> str:
        if self.count is not None:
            return f"{self.count:,} rows"
        assert self.share is not None
        return f"{self.share * 100:g}% of the rows read"


def parse_max_rejected(value: object, field: str = "max_rejected") -> RejectedLimit:
    """`1000` → at most 1000 rows; `'1%'` or `'0.5%'` → at most that share of the rows read."""
    if isinstance(value, bool):
        raise ValueError(f"{field} is a count (e.g. 1000) or a share (e.g. '1%'), not a boolean")
    if isinstance(value, int):
        if value < 0:
            raise ValueError(f"{field} cannot be negative")
        return RejectedLimit(count=value)
    if isinstance(value, str):
        text = value.strip()
        if re.fullmatch(r"\d+", text):
            return RejectedLimit(count=int(text))
        if match := re.fullmatch(r"(\d+(?:\.\d+)?)\s*%", text):
            share = float(match.group(1)) / 100
            if share > 1:
                raise ValueError(f"{field} {value!r} is more than 100%")
            return RejectedLimit(share=share)
    raise ValueError(
        f"{field} {value!r} is neither a count of rows (e.g. 1000) nor a share like '1%'"
    )


def source_kind(value: object) -> str:
    """`kind` may be left out: a source with a `query` is a query, one with a `glob` or a
    `format` is files, anything else a table."""
    if isinstance(value, dict):
        if value.get("kind"):
            return str(value["kind"])
        if "query" in value:
            return "query"
        return "files" if "glob" in value or "format" in value else "table"
    return str(getattr(value, "kind", "table"))


def _choice_in_forms(schema: dict) -> None:
    """Prefect's UI renders `anyOf` as a choice between its members' forms (titled Table and
    Query) but `oneOf` as a raw JSON box: the schema says anyOf, the tag still picks the member
    (the members cannot both match: each forbids the other's fields)."""
    if "oneOf" in schema:
        schema["anyOf"] = schema.pop("oneOf")
        schema.pop("discriminator", None)


BqTypeName = Annotated[BqType, Field(description="One of the 13 BigQuery types")]


DEFAULT_CLOCK_TOLERANCE_SECONDS = 300.0


def _seconds(value: str | int | float | None, default: float) -> float:
    if value is None:
        return default
    if isinstance(value, str):
        parsed = parse_lookback_text(value)
        return parsed.total_seconds() if isinstance(parsed, timedelta) else float(parsed)
    return float(value)


class JobSpec(_Strict):
    """One job: a source table or query of one connection, into one BigQuery table."""

    name: str = Field(
        description="Unique job name: lower case letters, digits, '-' and '_' (it names the "
        "deployment, the concurrency slot and the load jobs)."
    )
    connection: str = Field(
        min_length=1,
        title="Connection",
        description="Name of an ETL SQL Connection block to read from, as on the Blocks page or "
        "in `etl connection list`, e.g. demo-shop.",
    )
    source: Annotated[
        # Query first: Prefect's UI picks the member whose fields match most of the value's
        # keys, the first on a tie, and a fresh Query is only {kind} (its query has no default).
        Annotated[QuerySource, Tag("query")]
        | Annotated[TableSource, Tag("table")]
        | Annotated[FilesSource, Tag("files")],
        Discriminator(source_kind),
    ] = Field(
        title="Source",
        description="Pick Query to copy the result of one read-only SELECT, or Table to copy a "
        "table or view (schema + table).",
        json_schema_extra=_choice_in_forms,
    )
    columns: list[str] = Field(
        default_factory=list, description="Source columns to load; empty means all of them."
    )
    column_types: dict[str, BqTypeName] = Field(
        default_factory=dict,
        description="Override the proposed BigQuery type of a column, as JSON: "
        '{"price": "NUMERIC", "sold_at": "TIMESTAMP"}.',
    )
    destination: DestinationSpec = Field(
        default_factory=DestinationSpec,
        title="Destination",
        description="The BigQuery destination block, dataset and table.",
    )
    load_type: LoadType = Field(
        default=LoadType.CATALOG,
        title="Load type",
        description="catalog: every run replaces the whole table; transactional: every run "
        "appends the rows past the cursor (needs cursor_column); merge: the table holds the "
        "source's current rows, each run merges the changed rows by key (needs cursor_column "
        "and a key); history: every version of a row is kept with validity columns.",
    )
    cursor_column: str | None = Field(
        default=None,
        description="Column whose growing value marks new rows (transactional loads): a date, "
        "time or number.",
    )
    backfill_start: str | None = Field(
        default=None,
        description="First transactional run: 'all', a number of days such as '30d' (the "
        "default for date/time cursors; numeric ones load all history) or a date YYYY-MM-DD.",
    )
    lookback: str | int | float | None = Field(
        default=None,
        description="Transactional: how far behind the watermark every run re-reads, so rows "
        "committed late with an older cursor value are still loaded (exactly once). A duration "
        "for date/time cursors ('90s', '10m', '2h', '1d', '0'), a number for numeric cursors. "
        "Default: 10m for timestamp/datetime cursors, 0 for date cursors; numeric cursors "
        "need none on PostgreSQL, SQLite and MySQL/MariaDB with the PROCESS privilege (runs "
        "read only up to a value no open transaction can still commit below) and must set it "
        "elsewhere.",
    )
    settle_timeout: str | int | float | None = Field(
        default=None,
        description="Transactional, numeric cursor on PostgreSQL or MySQL/MariaDB (with the "
        "PROCESS privilege): how long a run waits for the transactions open when it starts "
        "to end, so that no id they hold is skipped ('30s', '2m'; a number is seconds). "
        f"Default {DEFAULT_SETTLE_SECONDS:g}s.",
    )
    clock_tolerance: str | int | float | None = Field(
        default=None,
        description="Transactional, merge and history, date or time cursor: how far past the "
        "run's start a cursor may lie and still load ('5m', '1h'; a number is seconds). Rows "
        "beyond it are kept in the __rejected table as 'cursor is in the future' and load in "
        "a later run, once their time has come (the watermark never runs ahead of the clock). "
        "Default 5m.",
    )
    key_columns: list[str] = Field(
        default_factory=list,
        description="Transactional: the source columns that identify a row, fixed when the "
        "table is created. Default: the primary key plus the cursor when the source has one, "
        "otherwise every loaded column. Merge and history: the key rows are merged by "
        "(default: the primary key; document stores: document_id).",
    )
    parallelism: int | None = Field(
        default=None,
        ge=1,
        le=64,
        title="Parallelism",
        description="Standard mode: how many units of the read (ranges of the cursor or of an "
        "integer primary key) are read at once, each on a connection of its own, into the one "
        "load job. Default: the machine's cores, at most 4. 1 reads one stream. Reads under "
        "100,000 estimated rows, and sources that cannot split into ranges, read one stream.",
    )
    processing_mode: ProcessingMode = Field(
        default=ProcessingMode.AUTO,
        title="Processing mode",
        description="standard: the flow's worker reads and loads (in `parallelism` units at "
        "once); dataflow: the extraction runs as an Apache Beam pipeline (the Dataflow subflow); "
        "auto: dataflow when dataflow.runner is 'dataflow', the estimated rows reach "
        "row_threshold and the source can be split, standard otherwise (the local DirectRunner "
        "is never chosen by auto: it is slower than standard mode on one machine).",
    )
    row_threshold: int = Field(
        default=DEFAULT_ROW_THRESHOLD,
        ge=1,
        description="In auto mode with dataflow.runner 'dataflow', estimated rows at or above "
        "this use the Dataflow subflow.",
    )
    dataflow: DataflowSpec = Field(
        default_factory=DataflowSpec,
        title="Dataflow",
        description="Runner, units and workers of the Dataflow subflow.",
    )
    max_rejected: int | str = Field(
        default=DEFAULT_MAX_REJECTED,
        description="Most malformed rows a run may set aside and still load: a count (1000) or "
        "a share of the rows read ('1%'). Past it the run fails and loads nothing. "
        f"Default {DEFAULT_MAX_REJECTED}.",
    )
    deletes: Deletes = Field(
        default=Deletes.NONE,
        title="Deletes",
        description="Merge and history: rows deleted in the source are found by comparing keys. "
        "none: kept; soft: kept with _etl_deleted_at set (undeleted when the key comes back); "
        "hard: removed.",
    )
    delete_check: DeleteCheck = Field(
        default=DeleteCheck.DAILY,
        title="Delete check",
        description="How often the keys are compared (each check reads every key of the "
        "source and the table's key columns): every_run, hourly, daily or weekly.",
    )
    max_deleted: int | str = Field(
        default="50%",
        description="A key comparison that would delete more rows than this (a count, or a share "
        "of the table's rows such as '50%') deletes nothing and fails the run: a source that "
        "answered with too few keys must not empty the table.",
    )
    partition_column: str | None = Field(
        default=None,
        description="Merge: the date/time column the table is partitioned by (default: the "
        "cursor when it is a date or time). A column whose value never changes, such as "
        "created_at, keeps each MERGE to the partitions of the rows it changes.",
    )
    allow_empty_snapshot: bool = Field(
        default=False,
        description="Catalog loads refuse to replace a table with an empty source (a source "
        "emptied by accident would wipe BigQuery); set true when empty is expected.",
    )

    verify: Literal["off", "counts", "full"] = Field(
        default="off",
        title="Verify after load",
        description="After each load, compare the source and the table over the rows this job "
        "is responsible for (`etl verify`): counts (rows per key range: missing, extra and "
        "duplicated rows) or full (also rows whose content differs), published as an artifact; "
        "off: only when asked.",
    )
    freshness: str | None = Field(
        default=None,
        description="How old the table may get before it counts as stale, e.g. '2h' or '1d': "
        "the connection-health deployment checks the last successful load and the newest "
        "cursor value in BigQuery, and the etl-job-stale automation alerts.",
    )

    @field_validator("name")
    @classmethod
    def _job_name(cls, value: str) -> str:
        if not JOB_NAME.match(value):
            raise ValueError(
                "a job name starts with a lower-case letter and has only a-z, 0-9, '-' and '_' "
                "(at most 63 characters)"
            )
        return value

    @field_validator("column_types", mode="before")
    @classmethod
    def _type_names(cls, value: object) -> object:
        if isinstance(value, dict):
            parsed = {}
            for column, type_name in value.items():
                try:
                    parsed[column] = BqType.parse(str(type_name))
                except ValueError:
                    raise ValueError(
                        f"column_types[{column!r}] = {type_name!r} is not a BigQuery type; use "
                        f"one of {', '.join(t.value for t in BqType)}"
                    ) from None
            return parsed
        return value

    @field_validator("backfill_start", mode="before")
    @classmethod
    def _backfill_text(cls, value: object) -> object:
        if isinstance(value, date | int):
            value = value.isoformat() if isinstance(value, date) else f"{value}d"
        if isinstance(value, str):
            Backfill.parse(value)  # raises a clear message when malformed
        return value

    @field_validator("lookback", mode="before")
    @classmethod
    def _lookback_text(cls, value: object) -> object:
        if isinstance(value, str):
            parse_lookback_text(value)  # raises a clear message when malformed
        elif isinstance(value, int | float) and not isinstance(value, bool) and value < 0:
            raise ValueError("lookback cannot be negative")
        return value

    @field_validator("freshness", mode="before")
    @classmethod
    def _freshness_text(cls, value: object) -> object:
        if value is None:
            return None
        if isinstance(value, bool) or not isinstance(value, str | int):
            raise ValueError("freshness is a duration like '90m', '2h' or '1d'")
        text = f"{value}s" if isinstance(value, int) else value
        try:
            parsed = parse_lookback_text(text)
        except ValueError:
            parsed = None
        if not isinstance(parsed, timedelta) or parsed <= timedelta(0):
            raise ValueError("freshness is a duration like '90m', '2h' or '1d'")
        return text

    @property
    def freshness_limit(self) -> timedelta | None:
        if self.freshness is None:
            return None
        parsed = parse_lookback_text(self.freshness)
        assert isinstance(parsed, timedelta)
        return parsed

    @field_validator("settle_timeout", "clock_tolerance", mode="before")
    @classmethod
    def _duration_text(cls, value: object, info: ValidationInfo) -> object:
        if isinstance(value, bool):
            raise ValueError(f"{info.field_name} is a duration like '30s' or a number of seconds")
        if isinstance(value, str) and not isinstance(parse_lookback_text(value), timedelta):
            value = float(value)  # a bare number: seconds
        if isinstance(value, int | float) and value < 0:
            raise ValueError(f"{info.field_name} cannot be negative")
        return value

    @property
    def settle_seconds(self) -> float:
        """`settle_timeout` in seconds (the default when unset)."""
        return _seconds(self.settle_timeout, DEFAULT_SETTLE_SECONDS)

    @property
    def clock_tolerance_delta(self) -> timedelta:
        """`clock_tolerance` (default 5 minutes): the clock rule's margin (engine.clock_rule)."""
        return timedelta(seconds=_seconds(self.clock_tolerance, DEFAULT_CLOCK_TOLERANCE_SECONDS))

    @field_validator("max_rejected", mode="before")
    @classmethod
    def _max_rejected_text(cls, value: object) -> object:
        parse_max_rejected(value)  # raises a clear message when malformed
        return value

    @field_validator("max_deleted", mode="before")
    @classmethod
    def _max_deleted_text(cls, value: object) -> object:
        parse_max_rejected(value, "max_deleted")  # raises a clear message when malformed
        return value

    @property
    def rejected_limit(self) -> RejectedLimit:
        return parse_max_rejected(self.max_rejected)

    @property
    def deleted_limit(self) -> RejectedLimit:
        return parse_max_rejected(self.max_deleted, "max_deleted")

    @model_validator(mode="after")
    def _consistent(self) -> JobSpec:
        self._keyed_consistent()
        if isinstance(self.source, FilesSource):
            self._files_consistent()
            return self
        if self.load_type is LoadType.TRANSACTIONAL and not self.cursor_column:
            raise ValueError(
                "a transactional job needs cursor_column (the date, time or number column that "
                "grows with new rows)"
            )
        if self.load_type.keyed and not self.cursor_column:
            raise ValueError(
                f"a {self.load_type.value} job needs cursor_column (the date, time or number "
                "column that moves forward whenever a row is inserted or updated, e.g. updated_at)"
            )
        if self.load_type is LoadType.CATALOG and self.backfill_start:
            raise ValueError(
                "backfill_start applies to transactional, merge and history jobs only; remove it"
            )
        if isinstance(self.source, QuerySource) and not self.destination.table:
            raise ValueError("a query source needs destination.table (there is no table name)")
        if self.columns and len(set(self.columns)) != len(self.columns):
            raise ValueError("columns lists a column twice")
        if self.load_type is LoadType.CATALOG and (self.lookback is not None or self.key_columns):
            raise ValueError(
                "lookback and key_columns apply to transactional, merge and history jobs only"
            )
        if self.load_type is LoadType.CATALOG and self.settle_timeout is not None:
            raise ValueError(
                "settle_timeout applies to transactional, merge and history jobs only; remove it"
            )
        if self.key_columns and len(set(self.key_columns)) != len(self.key_columns):
            raise ValueError("key_columns lists a column twice")
        if self.columns and (outside := [k for k in self.key_columns if k not in self.columns]):
            raise ValueError(f"key_columns {outside} must be among the selected columns")
        if self.cursor_column and self.columns and self.cursor_column not in self.columns:
            raise ValueError(
                f"cursor_column {self.cursor_column!r} must be one of the selected columns"
            )
        if self.partition_column and self.columns and self.partition_column not in self.columns:
            raise ValueError(
                f"partition_column {self.partition_column!r} must be one of the selected columns"
            )
        return self

    def _keyed_consistent(self) -> None:
        """Fields of merge and history jobs only; a key itself is checked against the source's
        columns (`engine.merge.strategy`), where the primary key is known."""
        # By value, not by which fields were written: a job dumped with its defaults (Prefect
        # stores parameters that way) must validate again.
        used = [
            name
            for name, value in (
                ("deletes", self.deletes is not Deletes.NONE),
                ("delete_check", self.delete_check is not DeleteCheck.DAILY),
                ("max_deleted", self.max_deleted != "50%"),
            )
            if value
        ]
        if used and not self.load_type.keyed:
            raise ValueError(f"{', '.join(used)} apply to merge and history jobs only; remove them")
        if self.partition_column and self.load_type is not LoadType.MERGE:
            raise ValueError(
                "partition_column applies to merge jobs only (history tables are partitioned by "
                "_etl_valid_from); remove it"
            )

    def _files_consistent(self) -> None:
        if not self.destination.table:
            raise ValueError("a files source needs destination.table (there is no table name)")
        if self.load_type.keyed:
            # Rows of files merged by key: the files' own columns say which entity a row is
            # and which version is newer (engine.merge); every run reads every matching file.
            if not self.key_columns or not self.cursor_column:
                raise ValueError(
                    f"a {self.load_type.value} job of a files source needs key_columns (the "
                    "columns that identify a row) and cursor_column (the date, time or number "
                    "column that moves forward when a row changes)"
                )
            return
        cursor_fields = {
            "cursor_column": self.cursor_column,
            "backfill_start": self.backfill_start,
            "lookback": self.lookback,
            "settle_timeout": self.settle_timeout,
            "key_columns": self.key_columns,
        }
        if used := [name for name, value in cursor_fields.items() if value]:
            raise ValueError(
                f"{', '.join(used)} do not apply to a files source: a transactional files job "
                "loads the files that are new or changed (by content checksum); remove "
                "them"
            )

    @property
    def backfill(self) -> Backfill | None:
        return Backfill.parse(self.backfill_start)

    @property
    def destination_table(self) -> str:
        if self.destination.table:
            return self.destination.table
        assert isinstance(self.source, TableSource)  # guaranteed by _consistent
        return "bq_" + sanitize_column_name(self.source.table)

    def describe_source(self) -> str:
        if isinstance(self.source, TableSource):
            prefix = f"{self.source.schema_name}." if self.source.schema_name else ""
            return f"{prefix}{self.source.table}"
        if isinstance(self.source, FilesSource):
            return self.source.describe()
        return "query"
