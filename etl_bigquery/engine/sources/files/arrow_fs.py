"""The `pyarrow.fs` filesystem of a connection: Arrow's own GCS, S3 and Azure clients (and the
local file system), which read objects as streams, a block at a time."""

from __future__ import annotations

import datetime as dt
from typing import TYPE_CHECKING, Any

import pyarrow.fs as pafs

from etl_bigquery.engine.errors import ConnectionFailed

if TYPE_CHECKING:
    from etl_bigquery.engine.sources.files.store import StoreSettings

READ_ONLY_SCOPE = "https://www.googleapis.com/auth/devstorage.read_only"


def arrow_filesystem(s: StoreSettings) -> pafs.FileSystem:
    """The `pyarrow.fs` filesystem that reads the store's objects as streams."""
    if s.type == "local":
        return pafs.LocalFileSystem()
    if s.type == "s3":
        kwargs: dict[str, Any] = {
            "region": s.region or "us-east-1",
            "connect_timeout": s.timeout_seconds,
            "request_timeout": max(s.timeout_seconds, 60),
        }
        if s.anonymous:
            kwargs["anonymous"] = True
        elif s.access_key_id:
            kwargs["access_key"] = s.access_key_id
            kwargs["secret_key"] = s.secret_access_key
        if s.endpoint:
            scheme, _, host = s.endpoint.partition("://")
            kwargs["endpoint_override"] = host.rstrip("/")
            kwargs["scheme"] = scheme
        return pafs.S3FileSystem(**kwargs)
    if s.type == "gcs":
        kwargs = {"retry_time_limit": dt.timedelta(seconds=max(s.timeout_seconds, 10))}
        if s.endpoint:
            scheme, _, host = s.endpoint.partition("://")
            kwargs["endpoint_override"] = host.rstrip("/")
            kwargs["scheme"] = scheme
        if s.anonymous:
            kwargs["anonymous"] = True
        elif s.service_account_info:
            token, expiry = _gcs_token(s.service_account_info)
            kwargs["access_token"] = token
            kwargs["credential_token_expiration"] = expiry
        return pafs.GcsFileSystem(**kwargs)
    kwargs = {"account_name": s.account_name}
    if s.account_key:
        kwargs["account_key"] = s.account_key
    elif s.sas_token:
        kwargs["sas_token"] = s.sas_token.lstrip("?")
    if s.endpoint:
        scheme, _, host = s.endpoint.partition("://")
        host = host.rstrip("/")
        kwargs.update(
            blob_storage_authority=host,
            blob_storage_scheme=scheme,
            dfs_storage_authority=host,
            dfs_storage_scheme=scheme,
        )
    return pafs.AzureFileSystem(**kwargs)


def _gcs_token(info: dict[str, Any]) -> tuple[str, dt.datetime]:
    """A read-only access token for Arrow's GCS client from a service-account key."""
    from google.auth.transport.requests import Request
    from google.oauth2 import service_account

    credentials = service_account.Credentials.from_service_account_info(
        info, scopes=[READ_ONLY_SCOPE]
    )
    try:
        credentials.refresh(Request())
    except Exception:
        raise ConnectionFailed(
            "Authentication failed. Check the service account key.", transient=False
        ) from None
    expiry = credentials.expiry or dt.datetime.now(dt.UTC) + dt.timedelta(minutes=50)
    if expiry.tzinfo is None:
        expiry = expiry.replace(tzinfo=dt.UTC)
    return str(credentials.token), expiry
