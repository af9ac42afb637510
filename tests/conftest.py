"""Fixtures: the real local services, started once per test session.

PostgreSQL is the machine's own server; the BigQuery and GCS emulators and a Prefect server are
started by `localservices` on free ports in a temporary folder, so a developer's `make demo`
services are never touched. In CI (CI=true) a missing service fails the tests; on a laptop
without PostgreSQL they skip with the reason.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import tempfile
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import psycopg
import pytest

from etl_bigquery.devservices import Services
from etl_bigquery.devservices.clients import bigquery_client, ensure_bucket
from etl_bigquery.devservices.layout import Layout, Ports

IN_CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")
# Tests without the session's services start a temporary Prefect server; on a loaded 2-core
# machine its default 20 s start-up limit expires (the Makefile sets the same for `make test`).
os.environ.setdefault("PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS", "180")
PG_DSN = os.environ.get("ETL_TEST_PG_DSN", "postgresql://postgres@127.0.0.1:5432/test")


def unavailable(reason: str) -> None:
    """Fail in CI, skip elsewhere: CI must never pass by skipping what it cannot reach."""
    if IN_CI:
        pytest.fail(f"{reason} (required in CI)")
    pytest.skip(reason)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture(scope="session")
def services(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Services]:
    """Emulators and a Prefect server for this session; the Prefect client points at it."""
    from prefect.settings import (
        PREFECT_API_URL,
        PREFECT_SERVER_ANALYTICS_ENABLED,
        temporary_settings,
    )

    state = tmp_path_factory.mktemp("services")
    ports = Ports(
        prefect=free_port(), bigquery=free_port(), bigquery_grpc=free_port(), gcs=free_port(),
        firestore=free_port(),
    )  # fmt: skip
    running = Services(Layout(state_dir=state, ports=ports))
    try:
        running.up(echo=lambda _line: None)
    except Exception as error:  # the message says which service and where its log is
        running.down(echo=lambda _line: None)
        unavailable(f"local services could not start: {error}")
    os.environ["PREFECT_API_URL"] = running.layout.prefect_api_url
    with temporary_settings(
        updates={
            PREFECT_API_URL: running.layout.prefect_api_url,
            PREFECT_SERVER_ANALYTICS_ENABLED: False,
        }
    ):
        # The command a user runs to make the block types appear in the Prefect UI.
        registered = subprocess.run(
            [str(Path(sys.executable).parent / "prefect"), "block", "register",
         "-m", "etl_bigquery.blocks"],
            capture_output=True, text=True, timeout=300, check=False,
        )  # fmt: skip
        assert registered.returncode == 0, registered.stdout + registered.stderr
        yield running
        # Send the last buffered logs while the server is still up.
        from prefect.logging.handlers import APILogHandler

        APILogHandler().flush()
    running.down(echo=lambda _line: None)


@pytest.fixture(scope="session")
def firestore_emulator(services: Services) -> str:
    """Google's Firestore emulator (Google Cloud CLI, Java 17), started as `etl services up
    --only firestore` starts it, among this session's services (stopped with them); returns its
    host:port, a Firestore connection's endpoint_url."""
    from etl_bigquery.devservices import ServicesError

    try:
        services.up(only=["firestore"], echo=lambda _line: None)
    except ServicesError as error:  # no Java, no emulator: says what to install
        unavailable(f"the Firestore emulator could not start: {error}")
    return services.layout.firestore_endpoint


@pytest.fixture()
def firestore_project(firestore_emulator: str) -> Iterator[str]:
    """A project of its own in the emulator (projects are isolated from each other); its
    documents are deleted afterwards (the emulator's reset endpoint)."""
    import contextlib
    import urllib.request

    project = f"demo-{uuid.uuid4().hex[:10]}"
    yield project
    reset = urllib.request.Request(
        f"http://{firestore_emulator}/emulator/v1/projects/{project}/databases/(default)/documents",
        method="DELETE",
    )
    with contextlib.suppress(OSError):
        urllib.request.urlopen(reset, timeout=10).close()


@pytest.fixture(scope="session")
def moto_server() -> Iterator[str]:
    """moto's server (S3 and DynamoDB over their HTTP APIs) on a free port; returns its URL."""
    try:
        from moto.server import ThreadedMotoServer
    except ImportError as error:
        unavailable(f"moto[server] is not installed: {error}")
    port = free_port()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    yield f"http://127.0.0.1:{port}"
    server.stop()


AZURITE = Path(__file__).resolve().parents[1] / ".tools/azurite/node_modules/.bin/azurite-blob"
# Azurite's documented development account (public, the same in every installation).
AZURITE_ACCOUNT = "devstoreaccount1"
AZURITE_KEY = (
    "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw=="
)


@pytest.fixture(scope="session")
def azurite() -> Iterator[str]:
    """Azurite's Blob service (installed into .tools/azurite by `make test`); returns its URL."""
    import time
    import urllib.error
    import urllib.request

    if not AZURITE.exists():
        unavailable(f"Azurite is not installed at {AZURITE} (make test installs it with npm)")
    port = free_port()
    location = tempfile.mkdtemp(prefix="etl-azurite-")
    process = subprocess.Popen(
        [str(AZURITE), "--blobHost", "127.0.0.1", "--blobPort", str(port), "--location",
         location, "--skipApiVersionCheck", "--silent"],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    endpoint = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 30
    while True:
        try:
            urllib.request.urlopen(f"{endpoint}/{AZURITE_ACCOUNT}?comp=list", timeout=1).close()
            break
        except urllib.error.HTTPError:
            break  # answering (403 without a signature): it is up
        except OSError:
            if time.monotonic() > deadline or process.poll() is not None:
                process.kill()
                unavailable("Azurite did not start")
            time.sleep(0.2)
    yield endpoint
    process.terminate()
    process.wait(timeout=10)
    shutil.rmtree(location, ignore_errors=True)


@pytest.fixture(scope="session")
def pg_admin() -> Iterator[psycopg.Connection]:
    try:
        conn = psycopg.connect(PG_DSN, autocommit=True, connect_timeout=5)
    except psycopg.OperationalError as error:
        unavailable(f"PostgreSQL is not reachable at {PG_DSN}: {error}")
    yield conn
    conn.close()


@pytest.fixture()
def pg_schema(pg_admin: psycopg.Connection) -> Iterator[str]:
    """A fresh schema per test, dropped afterwards."""
    name = f"etl_test_{uuid.uuid4().hex[:10]}"
    pg_admin.execute(f'CREATE SCHEMA "{name}"')
    yield name
    pg_admin.execute(f'DROP SCHEMA "{name}" CASCADE')


@pytest.fixture(scope="session")
def bq(services: Services):
    client = bigquery_client(services.layout)
    yield client
    client.close()


@pytest.fixture(scope="session")
def staging_bucket(services: Services) -> str:
    return ensure_bucket(services.layout, "etl-test-staging")


@pytest.fixture()
def dataset(bq) -> Iterator[str]:
    """A fresh BigQuery dataset per test."""
    name = f"ds_{uuid.uuid4().hex[:10]}"
    yield name
    bq.delete_dataset(f"local.{name}", delete_contents=True, not_found_ok=True)


@pytest.fixture()
def destination(services: Services, staging_bucket: str) -> str:
    """A BigQuery destination block named for this test; returns its name."""
    from etl_bigquery.blocks import BigQueryDestination

    name = f"bq-{uuid.uuid4().hex[:8]}"
    BigQueryDestination(
        project="local",
        location="US",
        staging_uri=f"gs://{staging_bucket}/loads",
        api_endpoint=services.layout.bigquery_endpoint,
        storage_endpoint=services.layout.gcs_endpoint,
    ).save(name, overwrite=True)
    return name


@pytest.fixture()
def pg_connection(services: Services, pg_schema: str) -> str:
    """A PostgreSQL connection block to the machine's server; returns its name."""
    from etl_bigquery.blocks import SqlConnection

    name = f"pg-{uuid.uuid4().hex[:8]}"
    SqlConnection(
        type="postgresql", host="127.0.0.1", port=5432, database="test", username="postgres"
    ).save(name, overwrite=True)
    return name


PG_BIN = Path("/usr/lib/postgresql")
AUTH_PASSWORD = "Pw-9f3c-Unique-Secret!"  # a value no log would contain by chance


@dataclass(frozen=True)
class PasswordServer:
    """A private PostgreSQL server that checks passwords (the machine's trusts everyone)."""

    port: int
    user: str
    password: str
    database: str = "postgres"
    ssl_only_database: str = "ssl_only"


def _as_postgres(command: list[str]) -> list[str]:
    # initdb refuses to run as root; run the server as the postgres system user then.
    return ["runuser", "-u", "postgres", "--", *command] if os.geteuid() == 0 else command


@pytest.fixture(scope="session")
def pg_password_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[PasswordServer]:
    versions = sorted(PG_BIN.glob("*/bin/initdb"))
    if not versions:
        unavailable("PostgreSQL server binaries (initdb) are not installed")
    bin_dir = versions[-1].parent
    root = Path(tempfile.mkdtemp(prefix="etl-pgauth-"))
    (root / "pw").write_text(AUTH_PASSWORD + "\n")
    if os.geteuid() == 0:
        shutil.chown(root, "postgres")
        shutil.chown(root / "pw", "postgres")
    data = root / "data"
    port = free_port()
    subprocess.run(
        _as_postgres([str(bin_dir / "initdb"), "-D", str(data), "-U", "postgres",
                      "--auth=scram-sha-256", f"--pwfile={root / 'pw'}"]),
        check=True, capture_output=True,
    )  # fmt: skip
    # Only SSL may reach the ssl_only database, and this server has no SSL: a real refusal.
    hba = data / "pg_hba.conf"
    hba.write_text(
        "hostssl ssl_only all 127.0.0.1/32 scram-sha-256\n"
        "host    postgres all 127.0.0.1/32 scram-sha-256\n"
        "local   all      all              scram-sha-256\n"
    )
    subprocess.run(
        _as_postgres([str(bin_dir / "pg_ctl"), "-D", str(data), "-l", str(root / "log"), "-w",
                      "-o", f"-p {port} -k {root} -c listen_addresses=127.0.0.1 -c ssl=off",
                      "start"]),
        check=True, capture_output=True,
    )  # fmt: skip
    server = PasswordServer(port=port, user="postgres", password=AUTH_PASSWORD)
    with psycopg.connect(
        host="127.0.0.1", port=port, user="postgres", password=AUTH_PASSWORD, dbname="postgres",
        autocommit=True,
    ) as conn:  # fmt: skip
        conn.execute("CREATE DATABASE ssl_only")
        conn.execute("CREATE TABLE IF NOT EXISTS public.accounts (id int PRIMARY KEY, name text)")
        conn.execute("INSERT INTO public.accounts VALUES (1, 'a'), (2, 'b') ON CONFLICT DO NOTHING")
        # Logins of their own for the secrets and Secret Manager tests: connections are unique
        # per (type, host, port, database, username).
        for role in ("secret_reader", "sm_reader"):
            conn.execute(f"CREATE ROLE {role} LOGIN PASSWORD '{AUTH_PASSWORD}'")
            conn.execute(f"GRANT SELECT ON public.accounts TO {role}")
    yield server
    subprocess.run(
        _as_postgres([str(bin_dir / "pg_ctl"), "-D", str(data), "-m", "immediate", "stop"]),
        check=False, capture_output=True,
    )  # fmt: skip
    shutil.rmtree(root, ignore_errors=True)


@pytest.fixture(scope="session")
def repo_root() -> Path:
    return Path(__file__).resolve().parent.parent


@pytest.fixture(scope="session")
def secret_manager() -> Iterator[str]:
    """A Secret Manager emulator (drongo, REST) for this session; returns its endpoint.

    No emulator of Google's own exists here; drongo implements the Secret Manager REST API that
    the official client speaks with transport="rest".
    """
    import time
    import urllib.request

    from etl_bigquery.blocks.secrets import ENDPOINT_VARIABLE

    port = free_port()
    endpoint = f"http://127.0.0.1:{port}"
    drongo = str(Path(sys.executable).parent / "drongo")
    server = subprocess.Popen(
        [drongo, "server", "--host", "127.0.0.1", "--port", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 30
    while True:
        try:
            urllib.request.urlopen(f"{endpoint}/drongo/health", timeout=1).close()
            break
        except OSError:
            if time.monotonic() > deadline or server.poll() is not None:
                server.kill()
                unavailable("the Secret Manager emulator (drongo) did not start")
            time.sleep(0.2)
    os.environ[ENDPOINT_VARIABLE] = endpoint
    yield endpoint
    os.environ.pop(ENDPOINT_VARIABLE, None)
    server.terminate()
    server.wait(timeout=10)


# `make test` runs on three workers, one test file at a time each (`--dist loadfile`), handing out
# files in collection order. The longest files go first, so the run does not end with one worker
# busy on a long file while the other idles (longest-first scheduling). Minutes measured on this
# machine; order only, never asserted.
_LONGEST_FIRST = (
    "tests/packaging/test_installed_wheel.py",
    "tests/deployments/test_job_lifecycle.py",
    "tests/integration/test_dataflow_subflow.py",
    "tests/integration/test_secrets.py",
    "tests/deployments/test_console.py",
    "tests/integration/test_files_stores.py",
    "tests/integration/test_files_versions.py",
    "tests/integration/test_nosql_sources.py",
    "tests/integration/test_exactly_once.py",
    "tests/integration/test_merge_postgres.py",
    "tests/integration/test_exactly_once_merge.py",
    "tests/deployments/test_stuck_and_overlap.py",
    "tests/deployments/test_alerts.py",
    "tests/deployments/test_prefect_ui.py",
    "tests/integration/test_cli.py",
    "tests/integration/test_bigquery_source.py",
    "tests/integration/test_files_local.py",
    "tests/security/test_file_paths.py",
    "tests/integration/test_bad_input.py",
    "tests/integration/test_query_sources.py",
    "tests/deployments/test_scheduled_jobs.py",
    "tests/integration/test_deployments.py",
    "tests/integration/test_mariadb_end_to_end.py",
)


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    rank = {path: index for index, path in enumerate(_LONGEST_FIRST)}
    root = Path(__file__).parent.parent

    def position(item: pytest.Item) -> int:
        relative = Path(str(item.path)).relative_to(root).as_posix()
        return rank.get(relative, len(rank))

    items.sort(key=position)  # stable: the order within a file and among the rest is kept


@pytest.fixture(scope="module")
def dynamodb_endpoint() -> Iterator[str]:
    """moto's DynamoDB server on a free port (live HTTP, through boto3 like real DynamoDB)."""
    try:
        from moto.server import ThreadedMotoServer
    except ImportError as error:
        unavailable(f"moto[server] is not installed: {error}")
    port = free_port()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    yield f"http://127.0.0.1:{port}"
    server.stop()
