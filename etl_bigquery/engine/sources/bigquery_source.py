"""BigQuery as a source: tables (of any project the credentials can read) and read-only queries,
streamed as Arrow record batches.

Read paths, fastest first:
- **Storage Read API** (google-cloud-bigquery-storage): one read session per read, Arrow format,
  only the job's columns (`selected_fields`) and the cursor predicate pushed down as the
  session's `row_restriction`; a read as one stream reads the session's single stream response
  by response, so memory holds one response at a time. A read split into units
  (`read_streams`, ReadsInStreams: the Beam path, and standard mode's parallel reads) asks one
  session for N streams; each stream is a unit any reader of the same connection reads by its
  name (`engine.sources.bigquery_streams`).
- **REST** (`tabledata.list` pages) when the Storage API cannot serve: the library is missing, the
  API is not enabled or the login lacks `bigquery.readsessions.create` (403), the server does not
  implement it, or the connection says `use_storage_api: false`. A table read with a cursor bound
  then runs `SELECT ... WHERE cursor >= bound` as a query job and pages its result.

A job's `query:` is checked first (one SELECT, no writes: sqlglot's BigQuery grammar), then
**dry-run**: above the connection's `max_query_bytes` (default 10 GiB) it is refused with the
estimate in the sentence, before it costs anything; otherwise it runs with `maximum_bytes_billed`
set to the same limit (BigQuery itself stops a query the estimate under-counted) and its
destination table (BigQuery's temporary result table) is read by the same paths as a table.
Views, materialized views and external tables, which neither direct path serves, are read the
same way, as `SELECT <columns> FROM <view> WHERE <cursor> >= <bound>`.

Against the local emulator (local-bigquery 0.3.2) the tests exercise the Storage Read API over
its gRPC port (sessions with selected fields and row restrictions, also on a query's result
table) and the REST fallback; the emulator reports 0 bytes for every dry run and ignores
`maximum_bytes_billed`, so the bytes limit is tested through a proxy that sets the estimate
(tests/integration/test_bigquery_source.py says so).
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import pyarrow as pa
from google.api_core import exceptions as gexc
from google.api_core.client_options import ClientOptions
from google.cloud import bigquery

from etl_bigquery.engine.errors import (
    ConnectionFailed,
    EtlError,
    ExtractionError,
    Stage,
    TransientExtractionError,
    ValidationError,
)
from etl_bigquery.engine.jobs.model import QuerySource, TableSource
from etl_bigquery.engine.sources.base import (
    DEFAULT_BATCH_ROWS,
    CursorBound,
    ReadColumn,
    ReadPlan,
    ReadStream,
    SourceColumn,
    SourceReader,
    TableInfo,
)
from etl_bigquery.engine.sources.bigquery_sql import (
    DEFAULT_MAX_QUERY_BYTES,
    TableRef,
    bytes_limit_error,
    checked_query,
    row_restriction,
    select_sql,
    table_ref,
)
from etl_bigquery.engine.sources.bigquery_streams import stream_units
from etl_bigquery.engine.sources.bigquery_types import intervals_as_text, type_text

if TYPE_CHECKING:
    import google.auth.credentials

log = logging.getLogger(__name__)

# Describing, dry-running and previewing a query are quick; far less than this unless BigQuery
# queues the job.
CHECK_TIMEOUT_SECONDS = 60
STORAGE = "storage"
REST = "rest"
# Table types read directly (Storage Read API or tabledata.list); views, materialized views and
# external tables are read through `SELECT ... FROM` them as a query job (dry run and bytes limit
# included), since neither direct path serves them.
_STORED = ("TABLE", "SNAPSHOT", "CLONE")
# Metadata calls (connection tests, discovery, validation) give up after a minute of retries
# rather than the client's default ten: an unreachable endpoint is reported, not waited on.
_METADATA: dict[str, Any] = {
    "retry": bigquery.DEFAULT_RETRY.with_deadline(60),
    "timeout": 30,
}


@dataclass(frozen=True)
class BigQuerySourceSettings:
    """What the reader needs, credentials resolved; built by `blocks.bigquery_source`."""

    project: str
    """Where tables are read from unless a job names `project.dataset`."""
    billing_project: str | None = None
    """Where query jobs and read sessions run (and are billed); default `project`."""
    location: str | None = None
    credentials: google.auth.credentials.Credentials | None = field(default=None, repr=False)
    api_endpoint: str | None = None
    """Only for an emulator (REST), e.g. http://127.0.0.1:9050."""
    storage_api_endpoint: str | None = None
    """Only for an emulator: its Storage API gRPC address, host:port (plain text)."""
    use_storage_api: bool = True
    max_query_bytes: int = DEFAULT_MAX_QUERY_BYTES
    query_timeout_seconds: float = 3600
    batch_rows: int = DEFAULT_BATCH_ROWS

    @property
    def job_project(self) -> str:
        return self.billing_project or self.project


def _message(error: Exception) -> str:
    text = getattr(error, "message", None) or str(error)
    return text.strip().splitlines()[0].rstrip(".") if text.strip() else type(error).__name__


def classify(error: Exception, stage: Stage, what: str) -> EtlError:
    """A Google error → one sentence of the right stage and retry class."""
    import requests

    if isinstance(error, EtlError):
        return error
    transient = (gexc.ServiceUnavailable, gexc.InternalServerError, gexc.BadGateway,
                 gexc.GatewayTimeout, gexc.TooManyRequests, gexc.RetryError, gexc.DeadlineExceeded,
                 ConnectionError, TimeoutError, requests.exceptions.ConnectionError,
                 requests.exceptions.Timeout)  # fmt: skip
    if isinstance(error, transient):
        text = f"BigQuery (source) is unavailable while {what}; it will be retried."
        if stage is Stage.EXTRACTION:
            return TransientExtractionError(text, stage=stage)
        return ConnectionFailed(text, transient=True, stage=stage)
    if isinstance(error, gexc.Unauthorized):
        return ConnectionFailed(
            f"BigQuery authentication failed while {what}; check the connection's credentials.",
            transient=False, stage=stage,
        )  # fmt: skip
    if isinstance(error, gexc.Forbidden | gexc.PermissionDenied):
        if "rateLimitExceeded" in str(error) or "quotaExceeded" in str(error):
            text = f"BigQuery rate limit hit while {what}; it will be retried."
            if stage is Stage.EXTRACTION:
                return TransientExtractionError(text, stage=stage)
            return ConnectionFailed(text, transient=True, stage=stage)
        return ConnectionFailed(
            f"Access denied while {what}: {_message(error)}. Give the service account BigQuery "
            "Data Viewer on the source and Job User / Read Session User on the billing project.",
            transient=False, stage=stage,
        )  # fmt: skip
    text = f"BigQuery refused {what}: {_message(error)}."
    return (
        ExtractionError(text, stage=stage)
        if stage is Stage.EXTRACTION
        else ValidationError(text, stage=stage)
    )


def _storage_unavailable(error: Exception) -> bool:
    """Errors that mean "use REST instead": the API is off, not allowed, or not implemented."""
    if isinstance(error, gexc.MethodNotImplemented):
        return True
    if isinstance(error, gexc.Forbidden | gexc.PermissionDenied):
        text = str(error).lower()
        return "readsessions" in text or "storage api" in text or "has not been used" in text
    return False


class BigQuerySourceReader(SourceReader):
    """BigQuery tables, views and queries. Abilities: PushesDownCursor, TypedArrowOutput,
    SamplesColumns, TableCatalog, ReadsInStreams, EstimatesRead."""

    dialect = "bigquery"

    def __init__(self, settings: BigQuerySourceSettings) -> None:
        self.settings = settings
        self.read_path: str | None = None
        """The path of the last read (`storage` or `rest`): logged, and asserted by the tests."""
        self._client: bigquery.Client | None = None
        self._read_client: Any = None
        self._storage_off = not settings.use_storage_api or bool(
            settings.api_endpoint and not settings.storage_api_endpoint
        )  # an emulator without a gRPC address: never send its reads to Google's servers

    # -- clients ------------------------------------------------------------------------------

    @property
    def client(self) -> bigquery.Client:
        if self._client is None:
            options = (
                ClientOptions(api_endpoint=self.settings.api_endpoint)
                if self.settings.api_endpoint
                else None
            )
            self._client = bigquery.Client(
                project=self.settings.job_project,
                credentials=self.settings.credentials,
                location=self.settings.location,
                client_options=options,
            )
        return self._client

    def _storage_client(self) -> Any:
        """The Storage Read API client, or None when it cannot be used (REST then)."""
        if self._storage_off:
            return None
        if self._read_client is None:
            try:
                from google.cloud.bigquery_storage_v1 import BigQueryReadClient
                from google.cloud.bigquery_storage_v1.services.big_query_read.transports import (
                    BigQueryReadGrpcTransport,
                )
            except ImportError:
                self._fall_back("google-cloud-bigquery-storage is not installed")
                return None
            endpoint = self.settings.storage_api_endpoint
            if endpoint:  # an emulator speaks plain-text gRPC
                import grpc
                from google.auth.credentials import AnonymousCredentials

                # No message size limit, as Google's own channel has: a response is one Arrow
                # batch, and the emulator's batches of a large table pass gRPC's 4 MB default.
                unlimited = [
                    ("grpc.max_send_message_length", -1),
                    ("grpc.max_receive_message_length", -1),
                ]
                transport = BigQueryReadGrpcTransport(
                    channel=grpc.insecure_channel(endpoint, options=unlimited),
                    credentials=AnonymousCredentials(),
                )
                self._read_client = BigQueryReadClient(transport=transport)
            else:
                self._read_client = BigQueryReadClient(credentials=self.settings.credentials)
        return self._read_client

    def _fall_back(self, reason: str) -> None:
        if not self._storage_off:
            log.warning("BigQuery Storage Read API unavailable (%s); reading through REST.", reason)
        self._storage_off = True

    # -- metadata -----------------------------------------------------------------------------

    def _ref(self, source: TableSource) -> TableRef:
        return table_ref(source, self.settings.project)

    def _table(self, ref: TableRef, stage: Stage = Stage.VALIDATION) -> bigquery.Table:
        try:
            return self.client.get_table(ref.api_id, **_METADATA)
        except gexc.NotFound:
            raise ValidationError(
                f"Table '{ref}' does not exist (or the credentials cannot see it); check the "
                "source's schema (dataset or project.dataset) and table.",
                stage=stage,
            ) from None
        except Exception as error:
            raise classify(error, stage, f"reading table {ref}") from None

    def ping(self) -> None:
        try:
            list(self.client.list_datasets(self.settings.project, max_results=1, **_METADATA))
        except Exception as error:
            raise classify(
                error, Stage.INIT, f"listing datasets of {self.settings.project}"
            ) from None

    def list_schemas(self) -> list[str]:
        try:
            datasets = self.client.list_datasets(self.settings.project, **_METADATA)
            return sorted(d.dataset_id for d in datasets)
        except Exception as error:
            raise classify(error, Stage.VALIDATION, "listing datasets") from None

    def list_tables(self, schema: str | None = None) -> list[TableInfo]:
        """Row counts from each table's metadata (exact, free); views have none."""
        datasets = [schema] if schema else self.list_schemas()
        found = []
        for dataset in datasets:
            project, _, name = dataset.rpartition(".")
            try:
                listed = self.client.list_tables(
                    f"{project or self.settings.project}.{name}", **_METADATA
                )
                for item in listed:
                    rows = None
                    if item.table_type in ("TABLE", "MATERIALIZED_VIEW", "SNAPSHOT"):
                        rows = self.client.get_table(item.reference, **_METADATA).num_rows
                    found.append(TableInfo(dataset, item.table_id, rows))
            except gexc.NotFound:
                raise ValidationError(f"Dataset '{dataset}' does not exist.") from None
            except Exception as error:
                raise classify(error, Stage.VALIDATION, f"listing tables of {dataset}") from None
        return sorted(found, key=lambda t: (t.schema, t.name))

    def describe(self, source: TableSource | QuerySource) -> list[SourceColumn]:
        if isinstance(source, QuerySource):
            return [SourceColumn(f.name, type_text(f), f.mode != "REQUIRED")
                    for f in self._dry_run(checked_query(source)).schema or []]  # fmt: skip
        table = self._table(self._ref(source))
        constraints = table.table_constraints
        primary = set(
            constraints.primary_key.columns
            if constraints is not None and constraints.primary_key is not None
            else []
        )
        return [
            SourceColumn(f.name, type_text(f), (f.mode or "NULLABLE") != "REQUIRED",
                         f.name in primary)
            for f in table.schema
        ]  # fmt: skip

    def estimate_rows(self, source: TableSource | QuerySource) -> int | None:
        if isinstance(source, QuerySource):
            return None  # a dry run estimates bytes, not rows
        return self._table(self._ref(source)).num_rows

    def estimate_read(self, plan: ReadPlan) -> int | None:
        """A bounded table read (an incremental run): the estimate of a read session with the
        cursor predicate (free: nothing is read), else the table's row count. BigQuery bases it
        on the table's metadata and may not apply the predicate (the emulator counts exactly):
        then it is the table's size, as without this ability."""
        if isinstance(plan.source, QuerySource):
            return None
        table = self._table(self._ref(plan.source))
        if plan.lower_bound is None or table.table_type not in _STORED:
            return table.num_rows
        if self._storage_client() is None:
            return table.num_rows
        restriction = row_restriction(plan.lower_bound)
        try:
            session = self._session(self._ref(plan.source), plan.columns, restriction,
                                    Stage.VALIDATION)  # fmt: skip
        except _StorageUnavailable:
            return table.num_rows
        if not session.streams:
            return 0
        return int(session.estimated_row_count or 0) or table.num_rows

    # -- queries ------------------------------------------------------------------------------

    def _dry_run(self, sql: str, stage: Stage = Stage.VALIDATION) -> bigquery.QueryJob:
        """Dry-run `sql` and refuse it when its estimate exceeds the connection's limit."""
        config = bigquery.QueryJobConfig(dry_run=True, use_query_cache=False)
        try:
            job = self.client.query(sql, job_config=config, project=self.settings.job_project)
        except Exception as error:
            raise classify(error, stage, "the query (dry run)") from None
        estimate = int(job.total_bytes_processed or 0)
        refused = bytes_limit_error(estimate, self.settings.max_query_bytes)
        if refused is not None:
            refused.stage = stage
            raise refused
        log.info("BigQuery dry run: the query would process %s bytes.", f"{estimate:,}")
        return job

    def _run_query(self, sql: str, stage: Stage, timeout: float) -> bigquery.QueryJob:
        """Dry run, then run; returns the finished job (its destination holds the rows)."""
        self._dry_run(sql, stage)
        config = bigquery.QueryJobConfig(
            maximum_bytes_billed=self.settings.max_query_bytes,
            job_timeout_ms=int(timeout * 1000),
        )
        try:
            job = self.client.query(sql, job_config=config, project=self.settings.job_project)
            job.result(timeout=timeout, max_results=0)
        except Exception as error:
            if "bytesBilledLimitExceeded" in str(error) or "bytes billed" in str(error).lower():
                limit = f"{self.settings.max_query_bytes:,}"
                raise ValidationError(
                    f"BigQuery stopped the query at this connection's limit of {limit} bytes "
                    "billed; make the query read less or raise max_query_bytes on the BigQuery "
                    "source connection.",
                    stage=stage,
                ) from None
            raise classify(error, stage, "the query") from None
        return job

    # -- reading ------------------------------------------------------------------------------

    def check_readable(self, plan: ReadPlan) -> None:
        """Tables: the table exists and a read session (with the cursor predicate) can be
        opened; queries: the dry run passes, within the bytes limit."""
        if isinstance(plan.source, QuerySource):
            self._dry_run(select_sql(plan.source, plan.columns, plan.lower_bound,
                                     self.settings.project))  # fmt: skip
            return
        ref = self._ref(plan.source)
        table = self._table(ref)
        if table.table_type not in _STORED:  # read through a query, within the bytes limit
            self._dry_run(select_sql(plan.source, plan.columns, plan.lower_bound,
                                     self.settings.project))  # fmt: skip
            return
        if self._storage_client() is not None:
            try:
                self._session(
                    ref, plan.columns, row_restriction(plan.lower_bound), Stage.VALIDATION
                )
                return
            except _StorageUnavailable:
                pass
        if plan.lower_bound is not None:  # REST reads with a bound run this query
            self._dry_run(select_sql(plan.source, plan.columns, plan.lower_bound,
                                     self.settings.project))  # fmt: skip
        else:
            self._check_fields(table, plan.columns)

    def applies_bound(self, bound: CursorBound) -> bool:
        return True  # a read session's row restriction, or the SELECT's WHERE

    def arrow_schema(self, plan: ReadPlan) -> pa.Schema:
        """The schema of the read's batches, from the path the read takes: the read session's
        Arrow schema, or the REST conversion of the table's fields (a query or view is run with
        LIMIT 0 and its result table asked)."""
        names = [c.name for c in plan.columns]
        if isinstance(plan.source, QuerySource) or (
            self._table(self._ref(plan.source)).table_type not in _STORED
        ):
            sql = select_sql(plan.source, plan.columns, plan.lower_bound, self.settings.project,
                             limit=0)  # fmt: skip
            ref = _destination(self._run_query(sql, Stage.VALIDATION, CHECK_TIMEOUT_SECONDS))
        else:
            ref = self._ref(plan.source)
        if self._storage_client() is not None:
            try:
                session = self._session(ref, plan.columns, "", Stage.VALIDATION)
                schema = pa.ipc.read_schema(pa.py_buffer(session.arrow_schema.serialized_schema))
                return _as_read(schema, names)
            except _StorageUnavailable:
                pass
        table = self._table(ref)
        fields = self._check_fields(table, names)
        try:
            rows = self.client.list_rows(table, selected_fields=fields, max_results=0)
            return _as_read(rows.to_arrow(create_bqstorage_client=False).schema, names)
        except Exception as error:
            raise classify(error, Stage.VALIDATION, f"reading the fields of {table}") from None

    def read(self, plan: ReadPlan) -> Iterator[pa.RecordBatch]:
        names = [c.name for c in plan.columns]
        if isinstance(plan.unit, ReadStream):  # a unit of `read_streams`: its session says all
            self.read_path = STORAGE
            yield from self._read_stream(plan.unit.stream, plan.unit.schema, names)
            return
        is_view = isinstance(plan.source, TableSource) and (
            self._table(self._ref(plan.source), Stage.EXTRACTION).table_type not in _STORED
        )
        if isinstance(plan.source, QuerySource) or is_view:
            sql = select_sql(plan.source, plan.columns, plan.lower_bound, self.settings.project)
            job = self._run_query(sql, Stage.EXTRACTION, self.settings.query_timeout_seconds)
            ref = _destination(job)
            yield from self._read_table(ref, plan.columns, "", names)
            return
        ref = self._ref(plan.source)
        restriction = row_restriction(plan.lower_bound)
        yield from self._read_table(ref, plan.columns, restriction, names, plan)

    def read_streams(self, plan: ReadPlan, streams: int) -> list[ReadPlan]:
        """One read session of up to `streams` streams, a unit each (ReadsInStreams). A query,
        or a view, runs here once; its result table is what the streams read. [plan] when the
        Storage Read API cannot serve (REST reads one stream) or one unit is asked."""
        if streams <= 1 or self._storage_client() is None:
            return [plan]
        if isinstance(plan.source, QuerySource) or (
            self._table(self._ref(plan.source), Stage.EXTRACTION).table_type not in _STORED
        ):
            sql = select_sql(plan.source, plan.columns, plan.lower_bound, self.settings.project)
            job = self._run_query(sql, Stage.EXTRACTION, self.settings.query_timeout_seconds)
            ref, restriction = _destination(job), ""
        else:
            ref, restriction = self._ref(plan.source), row_restriction(plan.lower_bound)
        try:
            session = self._session(ref, plan.columns, restriction, Stage.EXTRACTION, streams)
        except _StorageUnavailable:
            return [plan]
        return stream_units(plan, session)

    def _read_table(
        self,
        ref: TableRef,
        columns: list[ReadColumn],
        restriction: str,
        names: list[str],
        plan: ReadPlan | None = None,
    ) -> Iterator[pa.RecordBatch]:
        if self._storage_client() is not None:
            try:
                session = self._session(ref, columns, restriction, Stage.EXTRACTION)
            except _StorageUnavailable:
                session = None
            if session is not None:
                self.read_path = STORAGE
                log.info("Reading %s through the BigQuery Storage Read API.", ref)
                yield from self._read_session(session, names)
                return
        self.read_path = REST
        log.info("Reading %s through the BigQuery REST API (tabledata.list).", ref)
        if restriction and plan is not None:
            # tabledata.list cannot filter: run the filtered SELECT and page its result table.
            sql = select_sql(plan.source, columns, plan.lower_bound, self.settings.project)
            job = self._run_query(sql, Stage.EXTRACTION, self.settings.query_timeout_seconds)
            ref = _destination(job)
        yield from self._read_rest(ref, names)

    def _session(
        self,
        ref: TableRef,
        columns: list[ReadColumn],
        restriction: str,
        stage: Stage,
        streams: int = 1,
    ) -> Any:
        from google.cloud.bigquery_storage_v1 import types

        options = types.ReadSession.TableReadOptions(
            selected_fields=[c.name for c in columns], row_restriction=restriction
        )
        request = types.ReadSession(
            table=ref.path, data_format=types.DataFormat.ARROW, read_options=options
        )
        try:
            return self._storage_client().create_read_session(
                parent=f"projects/{self.settings.job_project}",
                read_session=request,
                max_stream_count=streams,
            )
        except Exception as error:
            if _storage_unavailable(error):
                self._fall_back(_message(error))
                raise _StorageUnavailable from None
            if isinstance(error, gexc.NotFound):
                raise ValidationError(
                    f"Table '{ref}' does not exist (or the credentials cannot see it); check "
                    "the source's schema (dataset or project.dataset) and table.",
                    stage=stage,
                ) from None
            raise classify(error, stage, f"opening a read session on {ref}") from None

    def _read_session(self, session: Any, names: list[str]) -> Iterator[pa.RecordBatch]:
        if not session.streams:
            return  # no rows
        # Each response holds one serialized Arrow record batch; decoding it here (rather than
        # through the library's deprecated `to_arrow`) keeps one response in memory at a time.
        # The stream object resumes at its offset after a transient error by itself.
        yield from self._read_stream(
            session.streams[0].name, session.arrow_schema.serialized_schema, names
        )

    def _read_stream(
        self, stream_name: str, serialized_schema: bytes, names: list[str]
    ) -> Iterator[pa.RecordBatch]:
        schema = pa.ipc.read_schema(pa.py_buffer(serialized_schema))
        stream = self._storage_client().read_rows(stream_name)
        try:
            for response in stream:
                if not response.row_count:
                    continue
                batch = pa.ipc.read_record_batch(
                    pa.py_buffer(response.arrow_record_batch.serialized_record_batch), schema
                )
                yield intervals_as_text(batch.select(names))
        except Exception as error:
            raise classify(error, Stage.EXTRACTION, "reading rows (Storage Read API)") from None

    def _read_rest(self, ref: TableRef, names: list[str]) -> Iterator[pa.RecordBatch]:
        table = self._table(ref, Stage.EXTRACTION)
        fields = self._check_fields(table, names)
        try:
            rows = self.client.list_rows(
                table, selected_fields=fields, page_size=self.settings.batch_rows
            )
            for batch in rows.to_arrow_iterable(bqstorage_client=None):
                if batch.num_rows:
                    yield batch.select(names)
        except Exception as error:
            raise classify(error, Stage.EXTRACTION, "reading rows (REST)") from None

    @staticmethod
    def _check_fields(table: bigquery.Table, columns: list[ReadColumn] | list[str]) -> list[Any]:
        by_name = {f.name.lower(): f for f in table.schema}
        fields = []
        for column in columns:
            name = column if isinstance(column, str) else column.name
            if name.lower() not in by_name:
                raise ValidationError(f"Column '{name}' does not exist in table '{table}'.")
            fields.append(by_name[name.lower()])
        return fields

    # -- discovery ----------------------------------------------------------------------------

    def preview(self, source: TableSource | QuerySource, limit: int = 10) -> pa.Table:
        """A table's first rows through tabledata.list (free); a query is dry-run, then run
        with LIMIT."""
        if isinstance(source, QuerySource):
            sql = select_sql(source, None, None, self.settings.project, limit=limit)
            job = self._run_query(sql, Stage.VALIDATION, CHECK_TIMEOUT_SECONDS)
            try:
                return self.client.list_rows(job.destination).to_arrow(
                    create_bqstorage_client=False
                )
            except Exception as error:
                raise classify(error, Stage.VALIDATION, "reading the query's rows") from None
        return self.sample_columns(source, None, limit)

    def sample_columns(
        self, source: TableSource, columns: list[str] | None, limit: int
    ) -> pa.Table:
        """The first `limit` rows of `columns` (None: all), read through tabledata.list: free,
        no query job (type detection samples text columns this way)."""
        table = self._table(self._ref(source))
        fields = self._check_fields(table, columns) if columns else None
        try:
            rows = self.client.list_rows(table, selected_fields=fields, max_results=limit)
            return rows.to_arrow(create_bqstorage_client=False)
        except Exception as error:
            raise classify(error, Stage.VALIDATION, f"reading rows of {table}") from None

    def close(self) -> None:
        if self._client is not None:
            self._client.close()
            self._client = None
        if self._read_client is not None:
            channel = getattr(self._read_client._transport, "grpc_channel", None)
            if channel is not None:
                channel.close()
            self._read_client = None


def _as_read(schema: pa.Schema, names: list[str]) -> pa.Schema:
    """`schema` as the read yields it: the planned columns in order, intervals as text."""
    empty = pa.RecordBatch.from_pylist([], schema=schema).select(names)
    return intervals_as_text(empty).schema


class _StorageUnavailable(Exception):
    """The Storage Read API cannot serve this connection; the reader has switched to REST."""


def _destination(job: bigquery.QueryJob) -> TableRef:
    dest = job.destination
    return TableRef(dest.project, dest.dataset_id, dest.table_id)


def open_reader(settings: BigQuerySourceSettings) -> BigQuerySourceReader:
    """The registry's entry point (`engine.sources.registry`)."""
    return BigQuerySourceReader(settings)
