"""BigQuery as a source, as a Prefect block: `ETL BigQuery Source`.

A BigQuery project that jobs read tables (of it or, as `project.dataset`, of any project the
credentials can read) or read-only queries from. A block of its own, not an `ETL SQL Connection`
type: a warehouse has no host, port or password but credentials, a billing project and a bytes
limit per query.

    kind: bigquery
    name: analytics
    project: analytics-prod
    location: EU
    # gcp_credentials_block: my-service-account   # a prefect-gcp GcpCredentials block; ADC if empty
    max_query_bytes: 10737418240                   # 10 GiB (default): larger queries are refused
"""

from __future__ import annotations

from enum import StrEnum
from typing import TYPE_CHECKING, ClassVar

from google.auth.credentials import AnonymousCredentials
from prefect.blocks.core import Block
from pydantic import Field

from etl_bigquery.blocks.gcp_credentials import GcpCredentials
from etl_bigquery.blocks.logos import BIGQUERY_DESTINATION
from etl_bigquery.engine.sources.base import SourceReader
from etl_bigquery.engine.sources.bigquery_sql import DEFAULT_MAX_QUERY_BYTES
from etl_bigquery.engine.sources.registry import SourceType, source_type

if TYPE_CHECKING:
    from etl_bigquery.engine.sources.bigquery_source import BigQuerySourceSettings


class BigQuerySourceType(StrEnum):
    """One value: discovery and the job planner read `connection.type` of every family."""

    BIGQUERY = "bigquery"


class BigQuerySource(Block):
    """A BigQuery project that ETL jobs read from (read-only)."""

    _block_type_name: ClassVar[str] = "ETL BigQuery Source"
    _block_type_slug: ClassVar[str] = "etl-bigquery-source"
    _description: ClassVar[str] = (
        "BigQuery tables or read-only queries read by ETL jobs (also from another project than "
        "the destination's), through the Storage Read API. Queries are dry-run first and refused "
        "above max_query_bytes."
    )
    _logo_url: ClassVar[str] = BIGQUERY_DESTINATION  # type: ignore[assignment]

    type: BigQuerySourceType = Field(
        default=BigQuerySourceType.BIGQUERY, description="Always bigquery."
    )
    project: str = Field(
        description="Project whose datasets jobs read (a job's schema may also be "
        "other-project.dataset)."
    )
    billing_project: str | None = Field(
        default=None,
        description="Project that runs (and pays for) query jobs and read sessions; empty means "
        "project.",
    )
    location: str | None = Field(
        default=None, description="Location of the source datasets, e.g. US or EU."
    )
    gcp_credentials: GcpCredentials | None = Field(
        default=None,
        description="Service account to use; empty means application default credentials.",
    )
    max_query_bytes: int = Field(
        default=DEFAULT_MAX_QUERY_BYTES,
        ge=1,
        description="A job's query whose dry run estimates more bytes than this is refused "
        "(default 10 GiB = 10737418240); also set as the query's maximum bytes billed.",
    )
    query_timeout_seconds: int = Field(
        default=3600, ge=1, description="Longest a job's query may run."
    )
    use_storage_api: bool = Field(
        default=True,
        description="Read through the BigQuery Storage Read API (falls back to REST when the "
        "API is unavailable); false always reads through REST.",
    )
    api_endpoint: str | None = Field(
        default=None,
        description="Only for a local emulator, e.g. http://127.0.0.1:9050. Without credentials, "
        "an emulator is called anonymously.",
    )
    storage_api_endpoint: str | None = Field(
        default=None,
        description="Only for a local emulator: its Storage API gRPC address, e.g. "
        "127.0.0.1:9060; without it an emulator is read through REST.",
    )

    @property
    def source(self) -> SourceType:
        return source_type(self.type.value)

    def identity(self) -> tuple[str, ...]:
        return (self.type.value, self.project, self.billing_project or self.project)

    def describe(self) -> str:
        return f"bigquery://{self.project}"

    def open_reader(self) -> SourceReader:
        """A Prefect-free reader with credentials resolved."""
        return self.source.open(self.reader_settings())

    def reader_settings(self, *, own_identity: bool = False) -> BigQuerySourceSettings:
        """The reader's settings, credentials resolved; `own_identity`: none at all, for
        Dataflow workers, which read with their own service account."""
        from etl_bigquery.engine.sources.bigquery_source import BigQuerySourceSettings

        if own_identity:
            credentials = None
        elif self.gcp_credentials is not None:
            credentials = self.gcp_credentials.get_credentials_from_service_account()
        elif self.api_endpoint:
            credentials = AnonymousCredentials()
        else:
            credentials = None  # application default credentials
        return BigQuerySourceSettings(
            project=self.project,
            billing_project=self.billing_project,
            location=self.location,
            credentials=credentials,
            api_endpoint=self.api_endpoint,
            storage_api_endpoint=self.storage_api_endpoint,
            use_storage_api=self.use_storage_api,
            max_query_bytes=self.max_query_bytes,
            query_timeout_seconds=self.query_timeout_seconds,
        )
