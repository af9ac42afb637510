"""The BigQuery destination as a Prefect block: `ETL BigQuery Destination`."""

from __future__ import annotations

from typing import ClassVar

from google.auth.credentials import AnonymousCredentials
from prefect.blocks.core import Block
from pydantic import Field, field_validator

from etl_bigquery.blocks.gcp_credentials import GcpCredentials
from etl_bigquery.blocks.logos import BIGQUERY_DESTINATION
from etl_bigquery.engine.bigquery.clients import BigQueryClients, BigQuerySettings
from etl_bigquery.engine.jobs.model import DEFAULT_DATASET


class BigQueryDestination(Block):
    """Where jobs load: a BigQuery project, its location, and the bucket files are staged in."""

    _block_type_name: ClassVar[str] = "ETL BigQuery Destination"
    _block_type_slug: ClassVar[str] = "etl-bigquery-destination"
    _description: ClassVar[str] = (
        "A BigQuery project that ETL jobs load into, with the Cloud Storage location used to "
        "stage files for load jobs."
    )
    _logo_url: ClassVar[str] = BIGQUERY_DESTINATION  # type: ignore[assignment]

    project: str = Field(description="Google Cloud project that holds the datasets.")
    location: str = Field(
        default="US",
        min_length=1,
        description="BigQuery location of the datasets, e.g. US, EU or europe-west1 (required: "
        "load jobs are looked up by location, and a job looked up in the wrong one is not found).",
    )
    default_dataset: str = Field(
        default=DEFAULT_DATASET, description="Dataset of jobs that do not name one."
    )
    staging_uri: str = Field(
        description="Where load files are staged: gs://bucket/prefix (file:///path with the "
        "local emulator only)."
    )
    gcp_credentials: GcpCredentials | None = Field(
        default=None,
        description="Service account to use; empty means application default credentials "
        "(the Cloud Run job's service account).",
    )
    api_endpoint: str | None = Field(
        default=None,
        description="Only for a local emulator, e.g. http://127.0.0.1:9050. Without credentials, "
        "an emulator is called anonymously.",
    )
    storage_endpoint: str | None = Field(
        default=None, description="Only for a local Cloud Storage emulator."
    )

    @field_validator("staging_uri")
    @classmethod
    def _staging(cls, value: str) -> str:
        if not (value.startswith("gs://") or value.startswith("file://")):
            raise ValueError("staging_uri must start with gs:// (or file:// for the emulator)")
        return value.rstrip("/")

    def settings(self) -> BigQuerySettings:
        if self.gcp_credentials is not None:
            credentials = self.gcp_credentials.get_credentials_from_service_account()
        elif self.api_endpoint:
            credentials = AnonymousCredentials()
        else:
            credentials = None  # application default credentials
        return BigQuerySettings(
            project=self.project,
            location=self.location,
            staging_uri=self.staging_uri,
            credentials=credentials,
            api_endpoint=self.api_endpoint,
            storage_endpoint=self.storage_endpoint,
            default_dataset=self.default_dataset,
        )

    def clients(self) -> BigQueryClients:
        return BigQueryClients(self.settings())
