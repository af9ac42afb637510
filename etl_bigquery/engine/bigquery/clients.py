"""BigQuery and Cloud Storage clients from plain settings (the BigQuery block builds these)."""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property

import google.auth.credentials
from google.api_core import exceptions as gexc
from google.api_core.client_options import ClientOptions
from google.cloud import bigquery, storage

from etl_bigquery.engine.errors import (
    ConnectionFailed,
    EtlError,
    LoadError,
    Stage,
    TransientLoadError,
)


@dataclass(frozen=True)
class BigQuerySettings:
    project: str
    location: str | None
    staging_uri: str
    """`gs://bucket/prefix` in the cloud; `file:///folder` is accepted by the emulator only."""
    credentials: google.auth.credentials.Credentials | None = None
    """None means application default credentials."""
    api_endpoint: str | None = None
    """Only for an emulator, e.g. http://127.0.0.1:9050."""
    storage_endpoint: str | None = None
    """Only for a GCS emulator, e.g. http://127.0.0.1:4443."""
    default_dataset: str = "raw_data"


class BigQueryClients:
    """Lazily built clients sharing one set of credentials."""

    def __init__(self, settings: BigQuerySettings) -> None:
        self.settings = settings

    @cached_property
    def bigquery(self) -> bigquery.Client:
        options = (
            ClientOptions(api_endpoint=self.settings.api_endpoint)
            if self.settings.api_endpoint
            else None
        )
        return bigquery.Client(
            project=self.settings.project,
            credentials=self.settings.credentials,
            location=self.settings.location,
            client_options=options,
        )

    @cached_property
    def storage(self) -> storage.Client:
        options = (
            ClientOptions(api_endpoint=self.settings.storage_endpoint)
            if self.settings.storage_endpoint
            else None
        )
        return storage.Client(
            project=self.settings.project,
            credentials=self.settings.credentials,
            client_options=options,
        )

    def close(self) -> None:
        for name in ("bigquery", "storage"):
            client = self.__dict__.pop(name, None)
            if client is not None:
                client.close()


_TRANSIENT = (
    gexc.ServiceUnavailable,
    gexc.InternalServerError,
    gexc.BadGateway,
    gexc.GatewayTimeout,
    gexc.TooManyRequests,
    gexc.RetryError,
    ConnectionError,
    TimeoutError,
)


def _reason(error: gexc.GoogleAPICallError) -> str:
    errors = getattr(error, "errors", None) or []
    return str(errors[0].get("reason", "")) if errors and isinstance(errors[0], dict) else ""


def classify_google_error(error: Exception, stage: Stage, what: str) -> EtlError:
    """A Google API error → an `EtlError` of the right stage and retry class. `what` says what we
    were doing, e.g. "creating table raw_data.orders"."""
    import requests

    if isinstance(error, EtlError):
        return error
    if isinstance(
        error, (*_TRANSIENT, requests.exceptions.ConnectionError, requests.exceptions.Timeout)
    ):
        return TransientLoadError(
            f"BigQuery is unavailable while {what}; it will be retried.", stage=stage
        )
    if isinstance(error, gexc.Forbidden):
        if _reason(error) in ("rateLimitExceeded", "quotaExceeded"):
            return TransientLoadError(f"BigQuery rate limit hit while {what}.", stage=stage)
        return ConnectionFailed(
            f"Access denied while {what}. Check the service account's BigQuery roles.",
            transient=False,
            stage=stage,
        )
    if isinstance(error, gexc.Unauthorized):
        return ConnectionFailed(
            f"BigQuery authentication failed while {what}. Check the credentials.",
            transient=False,
            stage=stage,
        )
    message = getattr(error, "message", None) or str(error)
    return LoadError(f"BigQuery refused {what}: {message.splitlines()[0]}", stage=stage)
