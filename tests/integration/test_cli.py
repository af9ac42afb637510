"""The `etl` command, run as a user runs it."""

from __future__ import annotations

import json
import uuid

import pytest

from tests.integration.cli_helpers import etl

REPORT_KEYS = {
    "status", "state_name", "error_type", "rows_extracted", "rows_loaded", "bytes_processed",
    "destination", "watermark_before", "watermark_after", "stages", "flow_run_id",
}  # fmt: skip


@pytest.fixture()
def files(tmp_path, pg_admin, pg_schema, destination, dataset):
    pg_admin.execute(
        f"""CREATE TABLE "{pg_schema}".events (id int, kind text, at timestamp NOT NULL);
            INSERT INTO "{pg_schema}".events
            SELECT g, 'k' || g % 3, timestamp '2026-11-20' + g * interval '1 minute'
            FROM generate_series(1, 30) g"""
    )
    # A login of its own: two connections with the same (type, host, port, database, user)
    # are refused, and other tests connect as postgres.
    role = f"cli_{uuid.uuid4().hex[:8]}"
    pg_admin.execute(f'CREATE ROLE {role} LOGIN; GRANT USAGE ON SCHEMA "{pg_schema}" TO {role};'
                     f'GRANT SELECT ON ALL TABLES IN SCHEMA "{pg_schema}" TO {role}')  # fmt: skip
    name = role.replace("_", "-")
    connections = tmp_path / "connections.yaml"
    connections.write_text(
        f"kind: sql\nname: {name}\ntype: postgresql\nhost: 127.0.0.1\ndatabase: test\n"
        f"username: {role}\n"
    )
    job = tmp_path / "events.yaml"
    job.write_text(
        f"name: events-{uuid.uuid4().hex[:6]}\nconnection: {name}\n"
        f"source:\n  schema: {pg_schema}\n  table: events\n"
        f"destination:\n  block: {destination}\n  dataset: {dataset}\n"
        "load_type: transactional\ncursor_column: at\nbackfill_start: all\n"
    )
    yield {"connection": name, "connections": connections, "job": job}
    pg_admin.execute(f"DROP OWNED BY {role}; DROP ROLE {role}")


def test_apply_test_list_job_apply_and_run_as_json(files, services):
    applied = etl("connection", "apply", str(files["connections"]))
    assert applied.returncode == 0, applied.stderr
    assert f"created sql connection '{files['connection']}'" in applied.stdout

    tested = etl("connection", "test", files["connection"])
    assert tested.returncode == 0, tested.stderr
    assert tested.stdout.startswith("success: Connection successful. Found ")
    assert "events" in tested.stdout

    listed = etl("connection", "list")
    line = next(row for row in listed.stdout.splitlines() if row.startswith(files["connection"]))
    assert "postgresql" in line and "success" in line

    job_applied = etl("job", "apply", str(files["job"]))
    assert job_applied.returncode == 0, job_applied.stderr
    assert "TIMESTAMP" in job_applied.stdout and "created" in job_applied.stdout

    ran = etl("run", str(files["job"]), "--json")
    assert ran.returncode == 0, ran.stderr[-3000:]
    report = json.loads(ran.stdout)  # stdout holds the JSON object and nothing else
    assert set(report) >= REPORT_KEYS
    assert report["status"] == "completed" and report["error_type"] is None
    assert report["rows_extracted"] == report["rows_loaded"] == 30
    assert report["watermark_after"].startswith("2026-11-20T00:30:00")
    assert set(report["stages"]) == {"init", "validate", "extract", "load"}
    for stage in report["stages"].values():
        assert stage["start"] <= stage["end"] and stage["seconds"] >= 0


def test_a_failed_run_exits_non_zero_with_its_error_in_json(files, services):
    etl("connection", "apply", str(files["connections"]))
    # Not applied: the destination table is missing, a validation failure.
    ran = etl("run", str(files["job"]), "--json")
    assert ran.returncode == 1
    report = json.loads(ran.stdout)
    assert report["status"] == "failed" and report["error_type"] == "validation", report
    assert "does not exist; create the job first" in report["error"]


def test_a_second_connection_to_the_same_database_and_user_is_refused(files, services, tmp_path):
    etl("connection", "apply", str(files["connections"]))
    twin = tmp_path / "twin.yaml"
    twin.write_text(
        files["connections"].read_text().replace(files["connection"], "twin-" + files["connection"])
    )
    refused = etl("connection", "apply", str(twin))
    assert refused.returncode == 2
    assert f"already exists as '{files['connection']}'" in refused.stderr


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("name: x\n", "connection is required"),
        ("name: x\nconnection: c\nsource: {table: t}\nload_type: transactional\n", "cursor_column"),
        ("name: [\n", "not valid YAML"),
    ],
)
def test_bad_job_files_get_one_sentence_and_exit_2(tmp_path, services, content, message):
    job = tmp_path / "bad.yaml"
    job.write_text(content)
    result = etl("run", str(job))
    assert result.returncode == 2
    assert message in result.stderr
    assert "Traceback" not in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1


def test_services_status_reports_the_running_services(services):
    result = etl("services", "status", env={"ETL_STATE_DIR": str(services.layout.state_dir)})
    assert result.returncode == 0, result.stdout
    for name in ("gcs", "bigquery", "prefect"):
        assert any(
            line.startswith(name) and "healthy" in line for line in result.stdout.splitlines()
        )


def test_services_up_is_idempotent(services):
    result = etl("services", "up", env={"ETL_STATE_DIR": str(services.layout.state_dir)})
    assert result.returncode == 0, result.stderr
    assert result.stdout.count("already running") == 3


def test_services_bucket_creates_a_staging_bucket_in_the_emulator(services):
    from etl_bigquery.devservices.clients import storage_client

    name = f"etl-cli-{uuid.uuid4().hex[:8]}"
    state = {"ETL_STATE_DIR": str(services.layout.state_dir)}
    for _ in range(2):  # idempotent
        result = etl("services", "bucket", f"gs://{name}/", env=state)
        assert result.returncode == 0, result.stderr
    assert storage_client(services.layout).bucket(name).exists()
    result = etl("services", "bucket", "Not_A Bucket!", env=state)
    assert result.returncode == 1
    assert "is not a bucket name" in result.stderr and "Traceback" not in result.stderr


def test_a_prefect_api_that_does_not_answer_is_one_sentence():
    import socket

    with socket.socket() as closed:  # a port nothing listens on
        closed.bind(("127.0.0.1", 0))
        url = f"http://127.0.0.1:{closed.getsockname()[1]}/api"
    result = etl("connection", "list", env={"PREFECT_API_URL": url})
    assert result.returncode == 1
    assert result.stderr.strip() == (
        f"Error: The Prefect API at {url} does not answer; start the local services with "
        "`etl services up`, or set PREFECT_API_URL to your Prefect server."
    )


def test_services_up_says_which_port_is_taken(tmp_path):
    import socket

    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen(1)
        port = busy.getsockname()[1]
        result = etl("services", "up", "--only", "gcs", "--gcs-port", str(port),
                     env={"ETL_STATE_DIR": str(tmp_path)})  # fmt: skip
    assert result.returncode == 1
    assert f"port {port} is taken" in result.stderr
