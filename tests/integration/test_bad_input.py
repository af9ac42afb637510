"""Bad input ends with one clear sentence, the right error type, and nothing in BigQuery."""

from __future__ import annotations

import socket
import threading
import uuid
from decimal import Decimal

import pytest

from etl_bigquery.blocks import SqlConnection
from etl_bigquery.engine.sources import connection_errors
from tests.integration.helpers import apply, data_rows, job_spec, run, task_attempts


@pytest.fixture()
def fast_retries(monkeypatch):
    """The flow's real tasks with the same retry count and condition but no waiting between
    attempts, so a test of a transient failure does not sleep 35 s."""
    from etl_bigquery.flows import etl_job as module

    for name in ("init", "validate", "extract", "load"):
        monkeypatch.setattr(module, name, getattr(module, name).with_options(retry_delay_seconds=0))


def _connection(**fields) -> str:
    name = f"bad-{uuid.uuid4().hex[:8]}"
    SqlConnection(type="postgresql", **fields).save(name, overwrite=True)
    return name


def _failed(report: dict, error_type: str, text: str) -> None:
    assert report["status"] == "failed", report
    assert report["state_name"] == "Failed"
    assert report["error_type"] == error_type, report
    assert text in report["error"], report["error"]


def _flow_run_tags(flow_run_id: str) -> list[str]:
    from prefect.client.orchestration import get_client

    with get_client(sync_client=True) as client:
        return client.read_flow_run(uuid.UUID(flow_run_id)).tags


@pytest.fixture()
def orders(pg_admin, pg_schema):
    pg_admin.execute(
        f"""CREATE TABLE "{pg_schema}".orders
                (id int PRIMARY KEY, note text, updated_at timestamptz);
            INSERT INTO "{pg_schema}".orders VALUES (1, 'a', now()), (2, 'b', now())"""
    )
    return {"schema": pg_schema, "table": "orders"}


def test_unknown_connection_name(services, destination, dataset, bq):
    report = run(job_spec("no-such-connection", destination, dataset, source={"table": "t"}))
    _failed(report, "init", "Connection 'no-such-connection' does not exist")
    assert "etl-error:init" in _flow_run_tags(report["flow_run_id"])


def test_wrong_password_fails_at_init_without_retrying(
    pg_password_server, destination, dataset, fast_retries
):
    name = _connection(
        host="127.0.0.1", port=pg_password_server.port, database="postgres",
        username="postgres", password="not-the-password",
    )  # fmt: skip
    report = run(job_spec(name, destination, dataset, source={"table": "accounts"}))
    _failed(report, "init", connection_errors.AUTH)
    assert task_attempts(report["flow_run_id"], "init") == 1


def test_refused_port_is_retried_three_times_then_fails(
    services, destination, dataset, fast_retries
):
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]  # bound, not listening: connections are refused
        name = _connection(host="127.0.0.1", port=port, database="test", username="postgres")
        report = run(job_spec(name, destination, dataset, source={"table": "t"}))
    _failed(report, "init", connection_errors.REFUSED)
    assert task_attempts(report["flow_run_id"], "init") == 4


def test_unreachable_host_times_out(services, destination, dataset, fast_retries):
    # A listener that never answers, like a host behind a dropping firewall.
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(16)
    accepted: list[socket.socket] = []
    thread = threading.Thread(target=lambda: accepted.append(server.accept()[0]), daemon=True)
    thread.start()
    try:
        name = _connection(
            host="127.0.0.1", port=server.getsockname()[1], database="test", username="postgres",
            connect_timeout=2,
        )  # fmt: skip
        report = run(job_spec(name, destination, dataset, source={"table": "t"}))
    finally:
        server.close()
    _failed(report, "init", connection_errors.TIMEOUT)


def test_unknown_database(services, destination, dataset):
    name = _connection(host="127.0.0.1", port=5432, database="no_such_db", username="postgres")
    report = run(job_spec(name, destination, dataset, source={"table": "t"}))
    _failed(report, "init", "Database 'no_such_db' does not exist.")


def test_ssl_required(pg_password_server, destination, dataset):
    name = _connection(
        host="127.0.0.1", port=pg_password_server.port, database="ssl_only",
        username="postgres", password=pg_password_server.password,
    )  # fmt: skip
    report = run(job_spec(name, destination, dataset, source={"table": "t"}))
    _failed(report, "init", connection_errors.SSL)


def test_missing_table(pg_connection, pg_schema, destination, dataset, bq):
    job = job_spec(
        pg_connection, destination, dataset, source={"schema": pg_schema, "table": "nope"}
    )
    report = run(job)
    _failed(report, "validation", f"Table '{pg_schema}.nope' does not exist")
    assert not _dataset_exists(bq, dataset)  # a failed run creates nothing in BigQuery


def _dataset_exists(bq, dataset: str) -> bool:
    from google.api_core.exceptions import NotFound

    try:
        bq.get_dataset(f"local.{dataset}")
        return True
    except NotFound:
        return False


def test_job_apply_of_a_bad_job_leaves_nothing_behind(
    pg_connection, orders, destination, dataset, bq
):
    from etl_bigquery.engine.errors import ValidationError

    job = job_spec(pg_connection, destination, dataset, source=orders, columns=["id", "nope"])
    with pytest.raises(ValidationError, match="'nope' do not exist"):
        apply(job)
    assert not _dataset_exists(bq, dataset)


def test_missing_column(pg_connection, orders, destination, dataset):
    job = job_spec(pg_connection, destination, dataset, source=orders, columns=["id", "nope"])
    report = run(job)
    _failed(report, "validation", "Column(s) 'nope' do not exist")


def test_cursor_that_is_not_a_date_time_or_number(pg_connection, orders, destination, dataset):
    job = job_spec(
        pg_connection, destination, dataset, source=orders,
        load_type="transactional", cursor_column="note",
    )  # fmt: skip
    report = run(job)
    _failed(report, "validation", "a cursor must be a date, time or number")


def test_empty_source_never_replaces_a_catalog_table(
    pg_admin, pg_connection, orders, destination, dataset, bq
):
    job = job_spec(pg_connection, destination, dataset, source=orders)
    apply(job)
    assert run(job)["rows_loaded"] == 2
    pg_admin.execute(f'DELETE FROM "{orders["schema"]}".orders')
    report = run(job)
    _failed(report, "extraction", "returned no rows")
    assert len(data_rows(bq, dataset, "bq_orders")) == 2


def test_incompatible_destination_is_refused_before_anything_loads(
    pg_connection, orders, destination, dataset, bq
):
    from google.cloud import bigquery

    bq.create_dataset(f"local.{dataset}")
    bq.create_table(
        bigquery.Table(
            f"local.{dataset}.bq_orders",
            schema=[bigquery.SchemaField("id", "BOOL"), bigquery.SchemaField("note", "STRING")],
        )
    )
    report = run(job_spec(pg_connection, destination, dataset, source=orders))
    _failed(report, "validation", "column id is BOOL in BigQuery but the source gives INT64")
    assert data_rows(bq, dataset, "bq_orders") == []


def test_a_table_without_select_privilege(
    pg_admin, pg_schema, pg_connection, orders, destination, dataset
):
    role = f"noaccess_{uuid.uuid4().hex[:6]}"
    pg_admin.execute(f"CREATE ROLE {role} LOGIN")
    pg_admin.execute(f'GRANT USAGE ON SCHEMA "{pg_schema}" TO {role}')
    try:
        job = job_spec(pg_connection, destination, dataset, source=orders)
        apply(job)
        name = _connection(host="127.0.0.1", port=5432, database="test", username=role)
        report = run(job.model_copy(update={"connection": name}))
        _failed(report, "validation", connection_errors.ACCESS)
    finally:
        pg_admin.execute(f'REVOKE ALL ON SCHEMA "{pg_schema}" FROM {role}')
        pg_admin.execute(f"DROP ROLE {role}")


def test_identifiers_with_quotes_and_spaces_load_correctly(
    pg_admin, pg_schema, pg_connection, destination, dataset, bq
):
    pg_admin.execute(
        f'''CREATE TABLE "{pg_schema}"."Order ""Lines"" 2026" (
                "Line ID" int, "Unit Price (€)" numeric(8,2), "a""quote" text, "select" text);
            INSERT INTO "{pg_schema}"."Order ""Lines"" 2026" VALUES (1, 9.99, 'x', 'kw')'''
    )
    job = job_spec(
        pg_connection, destination, dataset,
        source={"schema": pg_schema, "table": 'Order "Lines" 2026'},
        table="order_lines",
    )  # fmt: skip
    apply(job)
    report = run(job)
    assert report["status"] == "completed", report
    rows = data_rows(bq, dataset, "order_lines", order_by="line_id")
    assert rows == [
        {"line_id": 1, "unit_price____": Decimal("9.99"), "a_quote": "x", "select": "kw"}
    ]
