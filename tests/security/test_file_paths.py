"""A file connection never reads outside its folder, bucket or container (issue 19, item 1).

Before: `etl connection files NAME --prefix ../../../etc/` listed the machine's password file,
and a job (a flow parameter anyone allowed to start a run can set) loaded another folder's CSV.
Every escape below — relative (`..`), absolute, symbolic links leaving a local folder, percent-
encoded (`%2e%2e`, `%252e%252e`), backslashes, and an object key with a `..` segment (which
Arrow's S3 client resolves to another object) — is refused with one sentence, through the
command line (`etl connection files|detect`, `etl job apply`, `etl run`), the service functions
the console calls, and the flow's own parameter validation; nothing outside is listed, shown
or loaded. Local folders and moto's S3 server (the real S3 protocol).
"""

from __future__ import annotations

import os
import uuid
from pathlib import Path

import pytest

from tests.integration.files_helpers import etl, job_file

SECRET = "TOPSECRET-7f3a"
ESCAPES = [
    "../outside/",
    "../../../etc/",
    "/etc/",
    "%2e%2e/outside/",
    "%2E%2E/outside/",
    "%252e%252e/outside/",
    "..%2foutside/",
    "sub\\..\\..\\outside\\",
    "sub/./../../outside/",
]


@pytest.fixture()
def tree(tmp_path: Path) -> Path:
    """`drop/` (the connection's folder) beside `outside/` (another folder with a secret)."""
    (tmp_path / "drop" / "sub").mkdir(parents=True)
    (tmp_path / "drop" / "ok.csv").write_text("id,v\n1,ok\n")
    (tmp_path / "outside").mkdir()
    (tmp_path / "outside" / "secret.csv").write_text(f"id,v\n1,{SECRET}\n")
    return tmp_path


@pytest.fixture()
def local(services, tree: Path) -> str:
    from etl_bigquery.blocks.files import FileConnection

    name = f"paths-{uuid.uuid4().hex[:8]}"
    FileConnection(type="local", bucket=str(tree / "drop")).save(name, overwrite=True)
    return name


def _refused(outcome, *words: str) -> str:
    """One sentence on stderr, a non-zero exit, nothing from outside."""
    assert outcome.code != 0, outcome.text
    message = outcome.stderr.strip()
    assert len(message.splitlines()) == 1 and "Traceback" not in outcome.text, outcome.text
    for word in words:
        assert word in message, message
    for leaked in (SECRET, "secret.csv", "root:", "passwd"):
        assert leaked not in outcome.stdout, outcome.stdout
    return message


@pytest.mark.parametrize("prefix", ESCAPES)
def test_etl_connection_files_refuses_a_prefix_leaving_the_folder(local, prefix):
    listed = etl("connection", "files", local, "--prefix", prefix, "--json")
    _refused(listed, "a job reads only under its connection's folder or bucket")


@pytest.mark.parametrize("glob", ["../outside/*.csv", "**/../../outside/*", "/etc/*", "%2e%2e/*"])
def test_etl_connection_files_refuses_a_glob_leaving_the_folder(local, glob):
    _refused(etl("connection", "files", local, "--glob", glob), "Glob")


@pytest.mark.parametrize(
    "name", ["../outside/secret.csv", "/etc/passwd", "%2e%2e/outside/secret.csv"]
)
def test_etl_connection_detect_refuses_a_file_outside_the_folder(local, name):
    _refused(etl("connection", "detect", local, name), "File")


def test_symbolic_links_leaving_the_folder_are_refused_and_links_inside_are_read(
    local, tree, bq, dataset, destination
):
    drop = tree / "drop"
    os.symlink(drop / "ok.csv", drop / "alias.csv")  # a link inside the folder: fine
    listed = etl("connection", "files", local, "--glob", "*.csv", "--json")
    assert listed.code == 0 and "alias.csv" in listed.stdout, listed.text

    os.symlink(tree / "outside" / "secret.csv", drop / "link.csv")
    os.symlink(tree / "outside", drop / "linked")
    message = _refused(etl("connection", "files", local), "'link.csv'", "symbolic link")
    assert "outside the connection's folder" in message
    _refused(etl("connection", "files", local, "--glob", "linked/*.csv"), "'linked'")
    _refused(etl("connection", "files", local, "--prefix", "linked/"), "'linked'")
    _refused(etl("connection", "detect", local, "link.csv"), "'link.csv'")
    _refused(etl("connection", "detect", local, "linked/secret.csv"), "'linked'")
    # A glob that cannot reach the links lists as before.
    only = etl("connection", "files", local, "--glob", "ok.csv", "--json")
    assert only.code == 0 and "ok.csv" in only.stdout, only.text

    # A job whose glob matches a link is refused at apply; one that does not runs, and a link
    # that appears later stops the run before anything is loaded.
    refused = etl("job", "apply", str(job_file(tree, local, destination, dataset, "l", {
        "glob": "*.csv", "format": "csv"})))  # fmt: skip
    _refused(refused, "'link.csv'")
    job = job_file(tree, local, destination, dataset, "okonly", {"glob": "ok*.csv",
                   "format": "csv"})  # fmt: skip
    assert etl("job", "apply", str(job)).code == 0
    assert etl("run", str(job), "--json").report["rows_loaded"] == 1
    os.symlink(tree / "outside" / "secret.csv", drop / "ok2.csv")
    ran = etl("run", str(job), "--json")
    report = ran.report
    assert ran.code != 0 and report["error_type"] == "validation", report
    assert "'ok2.csv'" in report["error"] and "symbolic link" in report["error"], report
    values = [r["v"] for r in bq.query_and_wait(f"SELECT v FROM `local.{dataset}.okonly`")]
    assert values == ["ok"], values  # the secret never reached BigQuery


@pytest.mark.parametrize(
    ("field", "value"),
    [("prefix", "../outside/"), ("prefix", "/etc/"), ("prefix", "%2e%2e/"),
     ("prefix", "a\\b/"), ("glob", "../outside/*.csv"), ("glob", "**/%252e%252e/*")],
)  # fmt: skip
def test_etl_job_apply_refuses_a_path_leaving_the_connection(
    local, tree, bq, dataset, destination, field, value
):
    source = {"glob": "*.csv", "format": "csv", field: value}
    applied = etl("job", "apply", str(job_file(tree, local, destination, dataset, "x", source)))
    message = _refused(applied, f"source.files.{field}")
    assert applied.code == 2, applied.text  # bad input, before any connection is opened
    assert "relative to it" in message
    from google.api_core.exceptions import NotFound

    with pytest.raises(NotFound):  # nothing was created
        bq.get_table(f"local.{dataset}.x")


def test_the_service_functions_the_console_calls_and_the_flow_refuse_escapes(local, tree):
    from etl_bigquery.blocks import health
    from etl_bigquery.blocks.registry import load_connection
    from etl_bigquery.engine.errors import EtlError
    from etl_bigquery.flows.etl_job import etl_job
    from etl_bigquery.service import file_discovery
    from etl_bigquery.service.job_files import parse_job_definition

    with pytest.raises(EtlError, match=r"has a '\.\.' segment"):
        file_discovery.list_files(local, prefix="../outside/")
    with pytest.raises(EtlError, match="percent-encoding"):
        file_discovery.list_files(local, prefix="%2e%2e/outside/")
    with pytest.raises(EtlError, match="is absolute"):
        file_discovery.detect_file(local, "/etc/passwd")
    data = {
        "name": "esc",
        "connection": local,
        "destination": {"table": "t"},
        "source": {"kind": "files", "prefix": "../outside/", "glob": "*", "format": "csv"},
    }
    with pytest.raises(EtlError, match=r"source\.files\.prefix '\.\./outside/' has a '\.\.'"):
        parse_job_definition(data, "the job form")  # what the console's forms parse
    # A custom run from the Prefect UI sends the job as a parameter: Prefect validates it
    # against the model before the flow starts.
    with pytest.raises(Exception, match=r"has a '\.\.' segment"):
        etl_job(job=data)

    os.symlink(tree / "outside", tree / "drop" / "linked")
    outcome = health.check_connection(load_connection(local))  # `etl connection test`, console
    assert outcome.status == "failed" and "'linked'" in outcome.message, outcome
    assert SECRET not in str(outcome) and "secret.csv" not in str(outcome)


@pytest.fixture()
def s3(services, moto_server):
    import boto3

    from etl_bigquery.blocks.files import FileConnection

    client = boto3.client(
        "s3", endpoint_url=moto_server, region_name="us-east-1", aws_access_key_id="testing",
        aws_secret_access_key="testing-secret",
    )  # fmt: skip
    bucket = f"etl-paths-{uuid.uuid4().hex[:8]}"
    client.create_bucket(Bucket=bucket)
    client.put_object(Bucket=bucket, Key="drop/ok.csv", Body=b"id,v\n1,ok\n")
    client.put_object(Bucket=bucket, Key="secret/pw.csv", Body=f"id,v\n1,{SECRET}\n".encode())
    block = FileConnection(
        type="s3", bucket=bucket, prefix="drop", endpoint=moto_server, region="us-east-1",
        access_key_id="testing", secret_access_key="testing-secret",
    )  # fmt: skip
    name = f"paths-s3-{uuid.uuid4().hex[:8]}"
    block.save(name, overwrite=True)
    return name, block, client, bucket


@pytest.mark.parametrize("prefix", ["../secret/", "%2e%2e/secret/", "/secret/", "..%5csecret/"])
def test_an_s3_connection_lists_nothing_outside_its_prefix(s3, prefix):
    name, *_ = s3
    _refused(etl("connection", "files", name, "--prefix", prefix), "Prefix")


def test_an_s3_key_with_a_dot_dot_segment_is_refused_not_read_as_another_object(
    s3, tmp_path, destination, dataset, bq
):
    name, block, client, bucket = s3
    job = job_file(tmp_path, name, destination, dataset, "s3paths", {"glob": "**/*.csv",
                   "format": "csv"})  # fmt: skip
    assert etl("job", "apply", str(job)).code == 0
    assert etl("run", str(job), "--json").report["rows_loaded"] == 1

    # S3 keeps this key as written; Arrow's client (which reads every store) resolves it to
    # secret/pw.csv, outside the connection's prefix: the reason such keys are refused.
    client.put_object(Bucket=bucket, Key="drop/../secret/pw.csv", Body=b"id,v\n2,planted\n")
    with block.open_reader().store.fs.open_input_stream(f"{bucket}/drop/../secret/pw.csv") as f:
        assert SECRET.encode() in f.read()

    _refused(etl("connection", "files", name), "'..' segment")
    ran = etl("run", str(job), "--json")
    assert ran.code != 0 and ran.report["error_type"] == "validation", ran.report
    assert "drop/../secret/pw.csv" in ran.report["error"], ran.report
    values = [r["v"] for r in bq.query_and_wait(f"SELECT v FROM `local.{dataset}.s3paths`")]
    assert values == ["ok"], values
