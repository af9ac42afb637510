"""Fixtures of the fault suite (the session's services, PostgreSQL and BigQuery come from
tests/conftest.py).

`big_table` is generated once per session with one INSERT ... SELECT generate_series:
FAULTS_ROWS rows (default 1,000,000), 1000 rows per cursor value, with NaN/±Infinity doubles and
JSON scalars among them. Scenarios that add rows work on a copy of it.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import psycopg
import pytest

from tests.conftest import PG_DSN
from tests.faults.bq_proxy import FaultProxy
from tests.faults.harness import FaultJob, SourceTable

BIG_ROWS = int(os.environ.get("FAULTS_ROWS", "1000000"))
BIG_ROWS_PER_VALUE = 1000


@pytest.fixture(scope="session")
def pg_dsn() -> str:
    return PG_DSN


@pytest.fixture(scope="session")
def faults_connection(services) -> str:
    """A PostgreSQL connection block for the whole session."""
    from etl_bigquery.blocks import SqlConnection

    name = f"pg-faults-{uuid.uuid4().hex[:8]}"
    SqlConnection(
        type="postgresql", host="127.0.0.1", port=5432, database="test", username="postgres"
    ).save(name, overwrite=True)
    return name


@pytest.fixture(scope="session")
def faults_schema(pg_admin: psycopg.Connection) -> Iterator[str]:
    name = f"etl_faults_{uuid.uuid4().hex[:8]}"
    pg_admin.execute(f'CREATE SCHEMA "{name}"')
    yield name
    pg_admin.execute(f'DROP SCHEMA "{name}" CASCADE')


@pytest.fixture(scope="session")
def big_table(faults_schema: str) -> SourceTable:
    """≥ 1M rows, ~1000 per cursor value, every column type of the suite; read-only."""
    return SourceTable(
        PG_DSN, faults_schema, "big", per_value=BIG_ROWS_PER_VALUE, specials=True
    ).create(BIG_ROWS)


@pytest.fixture()
def big_copy(big_table: SourceTable) -> Iterator[SourceTable]:
    """A copy of the big table that a scenario may add rows to."""
    table = SourceTable(
        PG_DSN, big_table.schema, f"big_{uuid.uuid4().hex[:8]}", per_value=BIG_ROWS_PER_VALUE,
        specials=True,
    ).copy_of(big_table)  # fmt: skip
    yield table
    with psycopg.connect(PG_DSN, autocommit=True) as conn:
        conn.execute(f"DROP TABLE IF EXISTS {table.qualified}")


@pytest.fixture()
def small_table(pg_schema: str) -> Callable[..., SourceTable]:
    """A small table in this test's schema: `small_table(rows, per_value=10, rejects=False)`."""

    def make(
        rows: int = 200, per_value: int = 10, name: str = "events", rejects: bool = False
    ) -> SourceTable:
        return SourceTable(PG_DSN, pg_schema, name, per_value=per_value, rejects=rejects).create(
            rows
        )

    return make


@pytest.fixture()
def make_job(
    faults_connection: str, destination: str, dataset: str, tmp_path: Path
) -> Callable[..., FaultJob]:
    """`make_job(source, block=None, dataset=None, table="events")`: write the job file and
    `etl job apply` it."""

    def make(
        source: SourceTable,
        *,
        block: str | None = None,
        dataset_name: str | None = None,
        table: str = "events",
        apply: bool = True,
    ) -> FaultJob:
        job = FaultJob(
            source=source, connection=faults_connection, block=block or destination,
            dataset=dataset_name or dataset, folder=tmp_path / "jobs", table=table,
            column_types={"doc": "JSON"} if source.rejects else {},
        )  # fmt: skip
        if apply:
            applied = job.apply()
            assert applied.returncode == 0, applied.stdout + applied.stderr
        else:
            job.write()
        return job

    return make


@pytest.fixture()
def bq_proxy(services) -> Iterator[FaultProxy]:
    """The fault proxy in front of this session's BigQuery emulator."""
    proxy = FaultProxy(services.layout.bigquery_endpoint).start()
    yield proxy
    proxy.stop()


@pytest.fixture()
def proxied_destination(services, staging_bucket: str, bq_proxy: FaultProxy) -> str:
    """A BigQuery destination block that reaches the emulator through `bq_proxy`."""
    from etl_bigquery.blocks import BigQueryDestination

    name = f"bq-proxy-{uuid.uuid4().hex[:8]}"
    BigQueryDestination(
        project="local",
        location="US",
        staging_uri=f"gs://{staging_bucket}/loads",
        api_endpoint=bq_proxy.url,
        storage_endpoint=services.layout.gcs_endpoint,
    ).save(name, overwrite=True)
    return name
