"""BigQuery as a source, end to end against the local BigQuery emulator (local-bigquery 0.3.2).

The source tables live in another emulator project (`srcproj`) than the destination (`local`):
every job here is a cross-project copy. Reads go through the emulator's Storage Read API (its gRPC
port: read sessions with selected fields and the cursor as row restriction, also on a query's
result table); one test reads the same data through the REST fallback (tabledata.list) and
compares.

Emulator gaps, named where they matter: it reports 0 bytes for every dry run and ignores
`maximum_bytes_billed`, so the bytes-limit test puts a small HTTP proxy in front of its REST port
that sets the dry run's estimate (a fake of that one number; the query, the refusal and the
sentence are the product's); BIGNUMERIC is held as a double (compared to 9 places); BYTES
values are base64-decoded when it loads Parquet, so no BYTES column is copied here; an UPDATE's
rows are counted into num_rows again, so the source is written by one INSERT (real BigQuery has
none of these gaps).
"""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import threading
import uuid
from collections.abc import Iterator
from decimal import Decimal
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from typer.testing import CliRunner

from etl_bigquery.engine.errors import ValidationError
from tests.integration.cli_helpers import etl
from tests.integration.helpers import apply, data_rows, job_spec, run

SOURCE_PROJECT = "srcproj"
T0 = dt.datetime(2026, 11, 1, tzinfo=dt.UTC)


@pytest.fixture(scope="module")
def src_client(services):
    from google.api_core.client_options import ClientOptions
    from google.auth.credentials import AnonymousCredentials
    from google.cloud import bigquery

    client = bigquery.Client(
        project=SOURCE_PROJECT,
        credentials=AnonymousCredentials(),
        client_options=ClientOptions(api_endpoint=services.layout.bigquery_endpoint),
    )
    yield client
    client.close()


def _create_source(src_client) -> str:
    """A dataset of the source project with `orders`: 30 rows of most BigQuery types, three
    rows per minute of `updated_at`."""
    name = f"src_{uuid.uuid4().hex[:10]}"
    src_client.create_dataset(name)
    src_client.query_and_wait(
        f"""
        CREATE TABLE `{SOURCE_PROJECT}.{name}.orders` (
            id INT64 NOT NULL, customer STRING, amount NUMERIC, big BIGNUMERIC, ratio FLOAT64,
            paid BOOL, day DATE, local_time DATETIME, updated_at TIMESTAMP, at_time TIME,
            doc JSON, tags ARRAY<STRING>, address STRUCT<city STRING, zip INT64>,
            place GEOGRAPHY)
        """
    )
    # Row 30 holds the NULLs (set in the INSERT: the emulator counts an UPDATE's rows into
    # the table's num_rows again).
    src_client.query_and_wait(
        f"""
        INSERT INTO `{SOURCE_PROJECT}.{name}.orders`
        SELECT g, IF(g = 30, NULL, CONCAT('c', CAST(MOD(g, 7) AS STRING), ' zażółć 🛒')),
               IF(g = 30, NULL, CAST(g AS NUMERIC) * NUMERIC '1.25'), BIGNUMERIC '12345.625',
               IF(g = 30, NULL, g / 4), MOD(g, 2) = 0, DATE_ADD(DATE '2026-01-01', INTERVAL g DAY),
               DATETIME_ADD(DATETIME '2026-01-01 08:00:00', INTERVAL g MINUTE),
               TIMESTAMP_ADD(TIMESTAMP '{T0:%Y-%m-%d %H:%M:%S}+00', INTERVAL DIV(g, 3) MINUTE),
               TIME '12:34:56', IF(g = 30, NULL, JSON_OBJECT('n', g)),
               ['a', CAST(g AS STRING)],
               IF(g = 30, NULL, STRUCT('Kraków' AS city, g AS zip)), ST_GEOGPOINT(g, 50)
        FROM UNNEST(GENERATE_ARRAY(1, 30)) AS g
        """
    )
    return name


@pytest.fixture(scope="module")
def src_dataset(src_client) -> Iterator[str]:
    """The source of the tests that only read it (created once: each creation takes seconds)."""
    name = _create_source(src_client)
    yield name
    src_client.delete_dataset(name, delete_contents=True, not_found_ok=True)


@pytest.fixture()
def own_src_dataset(src_client) -> Iterator[str]:
    """A source of its own, for a test that adds rows."""
    name = _create_source(src_client)
    yield name
    src_client.delete_dataset(name, delete_contents=True, not_found_ok=True)


_SAVED: list[str] = []


@pytest.fixture(scope="module", autouse=True)
def _delete_blocks() -> Iterator[None]:
    """Source blocks go when the module ends (the hourly health flow tests every block, and one
    here points at a proxy that is gone by then)."""
    yield
    from etl_bigquery.blocks import BigQuerySource

    for name in _SAVED:
        with contextlib.suppress(Exception):  # the discovery test deletes its own
            BigQuerySource.delete(name)


def _source_block(services, **fields):
    from etl_bigquery.blocks import BigQuerySource

    settings = {
        "project": SOURCE_PROJECT,
        "billing_project": "local",
        "location": "US",
        "api_endpoint": services.layout.bigquery_endpoint,
        "storage_api_endpoint": f"127.0.0.1:{services.layout.ports.bigquery_grpc}",
    } | fields
    name = f"bqsrc-{uuid.uuid4().hex[:8]}"
    BigQuerySource(**settings).save(name, overwrite=True)
    _SAVED.append(name)
    return name


@pytest.fixture()
def bq_source(services) -> str:
    return _source_block(services)


def _expected(row_id: int) -> dict:
    last = row_id == 30
    return {
        "id": row_id,
        "customer": None if last else f"c{row_id % 7} zażółć 🛒",
        "amount": None if last else Decimal(row_id) * Decimal("1.25"),
        "big": Decimal("12345.625"),
        "ratio": None if last else row_id / 4,
        "paid": row_id % 2 == 0,
        "day": dt.date(2026, 1, 1) + dt.timedelta(days=row_id),
        "local_time": dt.datetime(2026, 1, 1, 8) + dt.timedelta(minutes=row_id),
        "updated_at": T0 + dt.timedelta(minutes=row_id // 3),
        "at_time": dt.time(12, 34, 56),
        "doc": None if last else {"n": row_id},
        "tags": ["a", str(row_id)],
        "address": None if last else {"city": "Kraków", "zip": row_id},
        "place": f"POINT({row_id} 50)",
    }


def test_a_catalog_job_copies_a_table_of_another_project_value_by_value(
    bq_source, src_dataset, destination, dataset, bq
):
    job = job_spec(bq_source, destination, dataset,
                   source={"schema": src_dataset, "table": "orders"})  # fmt: skip
    applied = apply(job)
    assert applied.table_created
    types = {p.name: p.bq_type.value for p in applied.plans}
    assert types == {
        "id": "INT64", "customer": "STRING", "amount": "NUMERIC", "big": "BIGNUMERIC",
        "ratio": "FLOAT64", "paid": "BOOL", "day": "DATE", "local_time": "DATETIME",
        "updated_at": "TIMESTAMP", "at_time": "TIME", "doc": "JSON", "tags": "JSON",
        "address": "JSON", "place": "GEOGRAPHY",
    }  # fmt: skip

    report = run(job)
    assert report["status"] == "completed", report
    assert report["rows_extracted"] == report["rows_loaded"] == 30
    rows = data_rows(bq, dataset, "bq_orders")
    # BIGNUMERIC: the emulator keeps it as a DuckDB DOUBLE, so only ~16 digits survive there.
    assert all(abs(row.pop("big") - Decimal("12345.625")) < Decimal("1e-9") for row in rows)
    assert rows == [{k: v for k, v in _expected(i).items() if k != "big"} for i in range(1, 31)]


def test_a_transactional_job_with_a_timestamp_cursor_loads_only_new_rows(
    bq_source, own_src_dataset, src_client, destination, dataset, bq
):
    src_dataset = own_src_dataset
    job = job_spec(
        bq_source, destination, dataset, source={"schema": src_dataset, "table": "orders"},
        columns=["id", "customer", "updated_at"], load_type="transactional",
        cursor_column="updated_at", backfill_start="all", lookback="0",
    )  # fmt: skip
    apply(job)
    first = run(job)
    assert first["status"] == "completed", first
    assert first["rows_loaded"] == 30
    # Rows stamped with the last loaded timestamp and one later arrive once each; the old rows
    # below the watermark are not read again (the bound is pushed into the read session).
    src_client.query_and_wait(
        f"""
        INSERT INTO `{SOURCE_PROJECT}.{src_dataset}.orders` (id, customer, updated_at) VALUES
          (31, 'late', TIMESTAMP '2026-11-01 00:10:00+00'),
          (32, 'late', TIMESTAMP '2026-11-01 00:10:00+00'),
          (33, 'new', TIMESTAMP '2026-11-01 01:00:00+00')
        """
    )
    second = run(job)
    assert second["status"] == "completed", second
    assert second["rows_loaded"] == 3
    assert second["rows_read"] < 10  # from the watermark on, not the whole table
    assert [r["id"] for r in data_rows(bq, dataset, "bq_orders")] == list(range(1, 34))
    third = run(job)
    assert third["rows_loaded"] == 0


def test_a_query_job_is_dry_run_then_read_from_its_result_table(
    bq_source, src_dataset, destination, dataset, bq
):
    query = (
        f"SELECT id, customer, amount * 2 AS doubled, ARRAY_LENGTH(tags) AS n_tags\n"
        f"FROM `{SOURCE_PROJECT}.{src_dataset}.orders`  -- paid orders only\n"
        "WHERE paid;"
    )
    job = job_spec(bq_source, destination, dataset, table="paid", source={"query": query})
    apply(job)
    report = run(job)
    assert report["status"] == "completed", report
    rows = data_rows(bq, dataset, "paid")
    assert [r["id"] for r in rows] == list(range(2, 31, 2))
    assert rows[0] == {"id": 2, "customer": "c2 zażółć 🛒", "doubled": Decimal("5"), "n_tags": 2}


class _DryRunEstimate(BaseHTTPRequestHandler):
    """Forwards every request to the emulator and sets `totalBytesProcessed` on dry runs (the
    emulator always says 0)."""

    target = ""
    estimate = 0

    def _forward(self) -> None:
        import requests

        body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        headers = {k: v for k, v in self.headers.items()
                   if k.lower() not in ("host", "accept-encoding", "content-length")}  # fmt: skip
        answer = requests.request(
            self.command, self.target + self.path, data=body, headers=headers, timeout=60
        )
        content = answer.content
        dry_run = (
            self.command == "POST"
            and body.startswith(b"{")
            and (json.loads(body).get("configuration", {}).get("dryRun") is True)
        )
        if dry_run and answer.ok:
            job = answer.json()
            stats = job.setdefault("statistics", {})
            stats["totalBytesProcessed"] = str(self.estimate)
            stats.setdefault("query", {})["totalBytesProcessed"] = str(self.estimate)
            content = json.dumps(job).encode()
        self.send_response(answer.status_code)
        for key, value in answer.headers.items():
            if key.lower() not in ("content-length", "content-encoding", "transfer-encoding",
                                   "connection"):  # fmt: skip
                self.send_header(key, value)
        self.send_header("Content-Length", str(len(content)))
        self.end_headers()
        self.wfile.write(content)

    do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = _forward

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture()
def estimating_proxy(services) -> Iterator[str]:
    handler = type("Handler", (_DryRunEstimate,), {
        "target": services.layout.bigquery_endpoint, "estimate": 5 * 1024**3,
    })  # fmt: skip
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


def test_a_query_above_the_bytes_limit_is_refused_with_the_estimate(
    services, estimating_proxy, src_dataset, destination, dataset, bq
):
    limited = _source_block(services, api_endpoint=estimating_proxy, max_query_bytes=1_000_000)
    query = f"SELECT * FROM `{SOURCE_PROJECT}.{src_dataset}.orders`"
    job = job_spec(limited, destination, dataset, table="costly", source={"query": query})
    with pytest.raises(ValidationError) as refused:
        apply(job)
    message = refused.value.message
    assert "about 5.0 GiB (5,368,709,120 bytes" in message
    assert "limit of 976.6 KiB (1,000,000 bytes)" in message
    assert "raise max_query_bytes" in message
    report = run(job)
    assert report["status"] == "failed" and report["error_type"] == "validation", report
    assert "5,368,709,120 bytes" in report["error"]
    # The same query and estimate under the default limit (10 GiB) passes validation.
    allowed = job_spec(_source_block(services, api_endpoint=estimating_proxy), destination,
                       dataset, table="costly", source={"query": query})  # fmt: skip
    assert apply(allowed).table_created


def test_queries_that_write_are_refused_and_change_nothing(
    bq_source, src_dataset, src_client, destination, dataset
):
    refused = {
        "DELETE FROM `{p}.{d}.orders` WHERE true": "DELETE statement",
        "SELECT 1; DROP TABLE `{p}.{d}.orders`": "several statements",
        "CREATE TABLE `{p}.{d}.copy` AS SELECT * FROM `{p}.{d}.orders`": "CREATE statement",
        "WITH x AS (SELECT 1) INSERT INTO `{p}.{d}.orders` (id) SELECT 1": "INSERT statement",
    }
    jobs = []
    for query, words in refused.items():
        text = query.format(p=SOURCE_PROJECT, d=src_dataset)
        job = job_spec(bq_source, destination, dataset, table="never", source={"query": text})
        with pytest.raises(ValidationError, match=words):
            apply(job)
        jobs.append(job)
    report = run(jobs[0])  # and the flow refuses it the same way
    assert report["status"] == "failed" and report["error_type"] == "validation", report
    assert "DELETE statement" in report["error"]
    assert [t.table_id for t in src_client.list_tables(src_dataset)] == ["orders"]
    assert src_client.get_table(f"{src_dataset}.orders").num_rows == 30


def test_the_storage_read_api_and_the_rest_fallback_read_the_same_rows(
    services, bq_source, own_src_dataset, src_client
):
    """What each path really did against the emulator: `read_path` is set by the reader. A view
    is read through a query job (neither direct path serves views) whose result table is read."""
    from etl_bigquery.blocks.registry import load_connection
    from etl_bigquery.engine.jobs.model import QuerySource, TableSource
    from etl_bigquery.engine.schema.bqtypes import BqType
    from etl_bigquery.engine.sources.base import CursorBound, ReadColumn, ReadPlan

    src = f"{SOURCE_PROJECT}.{own_src_dataset}"
    src_client.query_and_wait(
        f"CREATE VIEW `{src}.paid` AS SELECT * FROM `{src}.orders` WHERE paid"
    )
    columns = [ReadColumn("id", "INT64", BqType.INT64),
               ReadColumn("updated_at", "TIMESTAMP", BqType.TIMESTAMP)]  # fmt: skip
    bound = CursorBound(columns[1], T0 + dt.timedelta(minutes=9))
    sources = {
        "table": TableSource(schema=own_src_dataset, table="orders"),
        "view": TableSource(schema=f"{SOURCE_PROJECT}.{own_src_dataset}", table="paid"),
        "query": QuerySource(query=f"SELECT id, updated_at FROM `{src}.orders`"),
    }
    results = {}
    for name in (bq_source, _source_block(services, use_storage_api=False)):
        with load_connection(name).open_reader() as reader:
            for label, source in sources.items():
                plan = ReadPlan(source, columns, bound)
                reader.check_readable(plan)
                rows = sorted(r["id"] for b in reader.read(plan) for r in b.to_pylist())
                results[(reader.read_path, label)] = rows
            missing = ReadPlan(TableSource(schema=own_src_dataset, table="gone"), columns)
            with pytest.raises(ValidationError, match=f"Table '{src}.gone' does not exist"):
                reader.check_readable(missing)
    every, paid = list(range(27, 31)), [28, 30]
    assert results == {
        ("storage", "table"): every, ("storage", "view"): paid, ("storage", "query"): every,
        ("rest", "table"): every, ("rest", "view"): paid, ("rest", "query"): every,
    }  # fmt: skip


def _cli(*args: str, code: int = 0) -> str:
    from etl_bigquery.cli.main import app

    result = CliRunner().invoke(app, ["connection", *args])
    assert result.exit_code == code, result.output
    return result.output


def test_discovery_commands_on_a_bigquery_source(services, src_dataset, tmp_path):
    name = f"bqsrc-{uuid.uuid4().hex[:8]}"
    _SAVED.append(name)
    (tmp_path / "conn.yaml").write_text(
        f"kind: bigquery\nname: {name}\nproject: {SOURCE_PROJECT}\nbilling_project: local\n"
        f"location: US\napi_endpoint: {services.layout.bigquery_endpoint}\n"
        f"storage_api_endpoint: 127.0.0.1:{services.layout.ports.bigquery_grpc}\n"
    )
    applied = etl("connection", "apply", str(tmp_path / "conn.yaml"))  # the installed command
    assert applied.returncode == 0, applied.stdout + applied.stderr
    assert f"created bigquery connection '{name}'" in applied.stdout

    assert src_dataset in json.loads(_cli("schemas", name, "--json"))
    tables = json.loads(_cli("tables", name, "--schema", src_dataset, "--json"))
    assert tables == [{"schema": src_dataset, "name": "orders", "row_count": 30,
                       "estimated": False}]  # fmt: skip
    columns = {c["name"]: c for c in json.loads(_cli("columns", name, "orders", "-s",
                                                      src_dataset, "--json"))}  # fmt: skip
    assert columns["id"]["source_type"] == "INT64" and not columns["id"]["nullable"]
    assert columns["tags"]["source_type"] == "ARRAY<STRING>"
    assert columns["tags"]["bq_type"] == "JSON" and columns["tags"]["warnings"]
    assert columns["address"]["source_type"] == "STRUCT<city STRING, zip INT64>"
    assert columns["updated_at"]["bq_type"] == "TIMESTAMP"
    assert columns["customer"]["bq_type"] == "STRING"  # sampled: text, not another type
    preview = json.loads(_cli("preview", name, "orders", "-s", src_dataset, "--json"))
    assert len(preview["rows"]) == 10 and preview["columns"][0] == "id"
    assert "orders" in _cli("tables", name, "--schema", src_dataset)
    assert "Connection successful. Found" in _cli("test", name)

    missing = _cli("tables", name, "--schema", "nope", code=1)
    assert "Schema 'nope' does not exist" in missing
    listed = [line.split() for line in _cli("list").splitlines()]
    assert [name, "bigquery-source", "bigquery", SOURCE_PROJECT, "success"] in [
        row[:5] for row in listed
    ]
    assert f"deleted connection '{name}'" in _cli("delete", name)
