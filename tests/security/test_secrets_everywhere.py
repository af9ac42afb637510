"""A secret given to a connection never appears anywhere a run writes, after succeeding and
failing runs of each source family, through the `etl` command as a user runs it:

- relational: MariaDB (a login of its own with a password; the machine's server),
- files: S3 on moto's server (the secret access key),
- NoSQL: Redis (the machine's server; password of its `default` user, which has none, so any
  password opens it; the failing run points the same connection at a closed port).

Searched afterwards for the secret (and the wrong one tried): stdout and stderr of every command,
the Prefect logs, artifacts, flow-run parameters and state messages of every run (read through
the API), and every file of the services' state folder (`.etl`: logs, ports, emulator data) and of
the project folder the commands ran in. PostgreSQL's password and Secret Manager references are
covered the same way by tests/integration/test_secrets.py and test_secret_manager.py.
"""

from __future__ import annotations

import json
import uuid
from pathlib import Path

from tests.integration.cli_helpers import etl
from tests.integration.conftest_mariadb import *  # noqa: F403 - the MariaDB fixtures
from tests.integration.test_secrets import _everything_prefect_recorded


def _files_holding(folder: Path, needles: list[str]) -> list[str]:
    found = []
    for path in folder.rglob("*"):
        if not path.is_file() or path.stat().st_size > 50_000_000:
            continue
        data = path.read_bytes()
        if any(n.encode() in data for n in needles):
            found.append(str(path))
    return found


class Session:
    """Runs `etl` commands with the secret in the environment and keeps what they printed."""

    def __init__(self, folder: Path, services) -> None:
        self.folder = folder
        self.services = services
        self.outputs: list[str] = []
        self.flow_runs: list[str] = []

    def etl(self, *args: str, env: dict[str, str]):
        result = etl(*args, env=env, cwd=self.folder)
        self.outputs.append(result.stdout + result.stderr)
        if args[0] == "run" and result.stdout.strip().startswith("{"):
            self.flow_runs.append(json.loads(result.stdout)["flow_run_id"])
        return result

    def assert_nowhere(self, *secrets: str) -> None:
        recorded = _everything_prefect_recorded(self.flow_runs)
        for secret in secrets:
            for text in [*self.outputs, recorded]:
                assert secret not in text
        holding = _files_holding(self.services.layout.state_dir, list(secrets))
        holding += _files_holding(self.folder, list(secrets))
        assert not holding, holding


def _write(folder: Path, name: str, text: str) -> str:
    (folder / name).write_text(text)
    return str(folder / name)


def _job(folder: Path, connection: str, source: str, destination: str, dataset: str,
         extra: str = "") -> str:  # fmt: skip
    return _write(folder, f"job-{uuid.uuid4().hex[:6]}.yaml", (
        f"name: sec-{uuid.uuid4().hex[:8]}\nconnection: {connection}\nsource:\n{source}"
        f"destination:\n  block: {destination}\n  dataset: {dataset}\n"
        f"  table: t_{uuid.uuid4().hex[:8]}\n{extra}"
    ))  # fmt: skip


def _apply_and_run(session: Session, connection_file: str, name: str, job: str, env: dict) -> None:
    assert session.etl("connection", "apply", connection_file, env=env).returncode == 0
    tested = session.etl("connection", "test", name, env=env)
    assert tested.returncode == 0, tested.stdout + tested.stderr
    session.etl("connection", "list", env=env)
    from etl_bigquery.service.job_files import load_job_file
    from tests.integration.helpers import apply

    apply(load_job_file(job))  # `etl job apply` without writing a deployment
    good = session.etl("run", job, "--json", env=env)
    assert good.returncode == 0, good.stdout[-2000:] + good.stderr[-2000:]


def test_a_mariadb_password_appears_nowhere(
    services, maria_admin, maria_db, destination, dataset, tmp_path
):
    from tests.integration.conftest_mariadb import maria_sql

    maria_sql(maria_admin, maria_db.database, "CREATE TABLE t (id int PRIMARY KEY, v text)",
              "INSERT INTO t VALUES (1, 'a'), (2, 'b')")  # fmt: skip
    session = Session(tmp_path, services)
    name = f"sec-maria-{uuid.uuid4().hex[:6]}"
    connection = _write(tmp_path, "maria.yaml", (
        f"kind: sql\nname: {name}\ntype: mariadb\nhost: {maria_db.host}\nport: {maria_db.port}\n"
        f"database: {maria_db.database}\nusername: {maria_db.user}\npassword: ${{SEC_PW}}\n"
    ))  # fmt: skip
    job = _job(tmp_path, name, "  table: t\n", destination, dataset)
    _apply_and_run(session, connection, name, job, {"SEC_PW": maria_db.password})
    missing = _job(tmp_path, name, "  table: missing\n", destination, dataset)
    assert session.etl("run", missing, "--json", env={"SEC_PW": maria_db.password}).returncode
    # A wrong password: the failure it causes must not carry it either.
    wrong = "Wrong-" + maria_db.password
    assert session.etl("connection", "apply", connection, env={"SEC_PW": wrong}).returncode == 1
    untested = session.etl("connection", "apply", connection, "--save-untested",
                           env={"SEC_PW": wrong})  # fmt: skip
    assert untested.returncode == 0, untested.stderr
    failed = session.etl("run", job, "--json", env={"SEC_PW": wrong})
    assert json.loads(failed.stdout)["error"] == "Authentication failed. Check username/password."
    assert session.etl("connection", "test", name, env={"SEC_PW": wrong}).returncode == 1
    session.assert_nowhere(maria_db.password, wrong)


def test_an_s3_secret_key_appears_nowhere(services, moto_server, destination, dataset, tmp_path):
    import boto3

    secret = f"S3-{uuid.uuid4().hex}-Secret"
    bucket = f"sec-{uuid.uuid4().hex[:10]}"
    s3 = boto3.client("s3", endpoint_url=moto_server, region_name="us-east-1",
                      aws_access_key_id="testing", aws_secret_access_key=secret)  # fmt: skip
    s3.create_bucket(Bucket=bucket)
    s3.put_object(Bucket=bucket, Key="drop/a.csv", Body=b"id,v\n1,a\n2,b\n")
    session = Session(tmp_path, services)
    name = f"sec-s3-{uuid.uuid4().hex[:6]}"
    connection = _write(tmp_path, "s3.yaml", (
        f"kind: files\nname: {name}\ntype: s3\nbucket: {bucket}\nprefix: drop\n"
        f"endpoint: {moto_server}\nregion: us-east-1\naccess_key_id: testing\n"
        "secret_access_key: ${SEC_S3}\n"
    ))  # fmt: skip
    job = _job(tmp_path, name, "  prefix: ''\n  glob: '*.csv'\n  format: csv\n", destination,
               dataset)  # fmt: skip
    _apply_and_run(session, connection, name, job, {"SEC_S3": secret})
    # A file that is not what the job says it is: a failing run with the key in use.
    s3.put_object(Bucket=bucket, Key="drop/b.parquet", Body=b"not parquet")
    broken = _job(tmp_path, name, "  prefix: ''\n  glob: '*.parquet'\n  format: parquet\n",
                  destination, dataset)  # fmt: skip
    assert session.etl("run", broken, "--json", env={"SEC_S3": secret}).returncode
    session.assert_nowhere(secret)


def test_a_redis_password_appears_nowhere(services, destination, dataset, tmp_path):
    import redis

    from tests.conftest import unavailable

    client = redis.Redis(host="127.0.0.1", port=6379, db=12, socket_connect_timeout=3)
    try:
        client.ping()
    except redis.exceptions.ConnectionError as error:
        unavailable(f"Redis is not reachable at 127.0.0.1:6379: {error}")
    prefix = f"sec{uuid.uuid4().hex[:8]}"
    client.hset(f"{prefix}:1", mapping={"name": "a", "visits": "1"})
    client.hset(f"{prefix}:2", mapping={"name": "b", "visits": "2"})
    secret = f"Redis-{uuid.uuid4().hex}-Pw"
    session = Session(tmp_path, services)
    name = f"sec-redis-{uuid.uuid4().hex[:6]}"
    connection = _write(tmp_path, "redis.yaml", (
        f"kind: nosql\nname: {name}\ntype: redis\nhost: 127.0.0.1\ndatabase: '12'\n"
        "username: default\npassword: ${SEC_REDIS}\n"
    ))  # fmt: skip
    try:
        job = _job(tmp_path, name, f"  table: {prefix}\n", destination, dataset)
        _apply_and_run(session, connection, name, job, {"SEC_REDIS": secret})
        # The same connection pointed at a port nothing listens on: a failing run and test with
        # the password in use (the error must not carry it).
        from tests.conftest import free_port

        refused = _write(tmp_path, "redis-refused.yaml", (
            f"kind: nosql\nname: {name}\ntype: redis\nhost: 127.0.0.1\nport: {free_port()}\n"
            "database: '12'\nusername: default\npassword: ${SEC_REDIS}\n"
        ))  # fmt: skip
        env = {"SEC_REDIS": secret}
        assert session.etl("connection", "apply", refused, env=env).returncode == 1
        untested = session.etl("connection", "apply", refused, "--save-untested", env=env)
        assert untested.returncode == 0, untested.stderr
        assert session.etl("run", job, "--json", env=env).returncode
        assert session.etl("connection", "test", name, env=env).returncode
    finally:
        client.delete(f"{prefix}:1", f"{prefix}:2")
        client.close()
    session.assert_nowhere(secret)
