"""Passwords kept in Google Secret Manager, read at run time (against the drongo emulator)."""

from __future__ import annotations

import uuid

import pytest

from etl_bigquery.blocks import SqlConnection
from tests.integration.helpers import apply, data_rows, job_spec, run


def _client(endpoint: str):
    from google.auth.credentials import AnonymousCredentials
    from google.cloud import secretmanager

    return secretmanager.SecretManagerServiceClient(
        credentials=AnonymousCredentials(),
        transport="rest",
        client_options={"api_endpoint": endpoint},
    )


def _secret(endpoint: str, value: str) -> str:
    client = _client(endpoint)
    secret_id = f"pg-{uuid.uuid4().hex[:8]}"
    client.create_secret(
        request={"parent": "projects/acme", "secret_id": secret_id,
                 "secret": {"replication": {"automatic": {}}}}
    )  # fmt: skip
    client.add_secret_version(
        parent=f"projects/acme/secrets/{secret_id}", payload={"data": value.encode()}
    )
    return f"projects/acme/secrets/{secret_id}"


def test_a_password_from_secret_manager_opens_the_connection(
    secret_manager, pg_password_server, destination, dataset, bq
):
    name = f"sm-{uuid.uuid4().hex[:8]}"
    reference = _secret(secret_manager, pg_password_server.password)
    SqlConnection(
        type="postgresql", host="127.0.0.1", port=pg_password_server.port, database="postgres",
        username="sm_reader", password_secret=reference,
    ).save(name, overwrite=True)  # fmt: skip
    job = job_spec(name, destination, dataset, source={"table": "accounts"})
    apply(job)
    report = run(job)
    assert report["status"] == "completed", report
    assert [r["id"] for r in data_rows(bq, dataset, "bq_accounts")] == [1, 2]


def test_a_missing_secret_fails_at_init_naming_the_secret(
    secret_manager, pg_password_server, destination, dataset
):
    name = f"sm-{uuid.uuid4().hex[:8]}"
    SqlConnection(
        type="postgresql", host="127.0.0.1", port=pg_password_server.port, database="postgres",
        username="sm_reader", password_secret="projects/acme/secrets/nope",
    ).save(name, overwrite=True)  # fmt: skip
    report = run(job_spec(name, destination, dataset, source={"table": "accounts"}))
    assert report["status"] == "failed" and report["error_type"] == "init"
    assert (
        report["error"]
        == "Secret projects/acme/secrets/nope/versions/latest does not exist; check the reference."
    )


def test_a_password_and_a_secret_reference_together_are_refused():
    with pytest.raises(ValueError, match="either password or password_secret"):
        SqlConnection(
            type="postgresql", host="h", database="d", password="x",
            password_secret="projects/p/secrets/s",
        )  # fmt: skip
