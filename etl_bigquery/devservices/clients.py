"""Clients of the local emulators, for the demo, the benchmark and the tests (never the product:
the product reaches BigQuery and Cloud Storage through its BigQuery destination block)."""

from __future__ import annotations

import contextlib
from typing import TYPE_CHECKING

from etl_bigquery.devservices.layout import Layout

if TYPE_CHECKING:
    # Module imports, not `from google.cloud import ...`: mypy resolves the google.cloud
    # namespace through the first typed package it meets and then misses the others.
    import google.cloud.bigquery as bigquery
    import google.cloud.storage as storage

PROJECT = "local"


def bigquery_client(layout: Layout) -> bigquery.Client:
    from google.api_core.client_options import ClientOptions
    from google.auth.credentials import AnonymousCredentials
    from google.cloud import bigquery

    return bigquery.Client(
        project=PROJECT,
        credentials=AnonymousCredentials(),
        client_options=ClientOptions(api_endpoint=layout.bigquery_endpoint),
    )


def storage_client(layout: Layout) -> storage.Client:
    from google.api_core.client_options import ClientOptions
    from google.auth.credentials import AnonymousCredentials
    from google.cloud.storage import Client

    return Client(
        project=PROJECT,
        credentials=AnonymousCredentials(),
        client_options=ClientOptions(api_endpoint=layout.gcs_endpoint),
    )


def ensure_bucket(layout: Layout, name: str) -> str:
    """Create a bucket in the GCS emulator unless it exists (Terraform does this in the cloud)."""
    from google.api_core.exceptions import Conflict

    with contextlib.suppress(Conflict):
        storage_client(layout).create_bucket(name)
    return name
