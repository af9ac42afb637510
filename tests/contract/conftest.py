"""One fixture per registered source type, `live_<type>`: a reader opened through the registry
(`SOURCES[type].open(settings)`) on a live source holding the contract's rows (`live.py`).

How each type is reached:
- postgresql, redshift: the machine's PostgreSQL (127.0.0.1:5432, db `test`); redshift is the
  Redshift reader (PostgreSQL's protocol without COPY) against it.
- mysql, mariadb: the machine's MariaDB (127.0.0.1:3306, root); mysql uses the same server.
- sqlite: a database file.
- bigquery: the BigQuery emulator of the `services` session fixture (its Storage Read API too).
- gcs, s3, azure_blob, local: fake-gcs-server (`services`), moto's server, Azurite, a folder.
- redis: the machine's Redis (127.0.0.1:6379, database 11, keys under a prefix of this run).
- dynamodb: moto's server, over DynamoDB's HTTP API.
- firestore: Google's Firestore emulator (Google Cloud CLI, Java 17; the `firestore_emulator`
  session fixture), reached through the connection's endpoint_url.
- mongodb, cassandra: FAKES, because no server of theirs can run on this machine: mongomock is
  handed to the reader through the client factory
  (`engine.sources.nosql.documents.register_client_factory`); mockylla patches the Cassandra
  driver in this process.
In CI (CI=true) a server or emulator that cannot be reached fails the suite (`unavailable`).
Sources are created once per run of the suite (module scope) and dropped afterwards.
"""

from __future__ import annotations

import contextlib
import decimal
import json
import sqlite3
import uuid
from collections.abc import Iterator
from typing import Any

import pytest

from etl_bigquery.engine.jobs.model import FilesSource, TableSource
from etl_bigquery.engine.schema.bqtypes import BqType
from etl_bigquery.engine.sources.registry import SOURCES, ConnectionSettings
from tests.conftest import AZURITE_ACCOUNT, AZURITE_KEY, PG_DSN, unavailable
from tests.contract.live import (
    CURSOR,
    EPOCHS,
    FILES_LAYOUT,
    IDS,
    NAMES,
    STAMPS,
    LiveSource,
)
from tests.integration.conftest_mariadb import MARIA_HOST, MARIA_PORT, maria_admin  # noqa: F401

S = BqType
SQL_TYPES = {"id": S.INT64, "name": S.STRING, CURSOR: S.TIMESTAMP}


def _open(key: str, settings: Any) -> Any:
    return SOURCES[key].open(settings)


# -- PostgreSQL (and Redshift's reader on it) ------------------------------------------------------


@pytest.fixture(scope="module")
def contract_pg_schema(pg_admin) -> Iterator[str]:
    schema = f"etl_contract_{uuid.uuid4().hex[:8]}"
    values = ", ".join(f"({i}, '{NAMES[i]}', '{STAMPS[i].isoformat()}')" for i in IDS)
    columns = "(id bigint PRIMARY KEY, name text, updated_at timestamptz)"
    pg_admin.execute(f'CREATE SCHEMA "{schema}"')
    pg_admin.execute(f'CREATE TABLE "{schema}".items {columns}')
    pg_admin.execute(f'INSERT INTO "{schema}".items VALUES {values}')
    pg_admin.execute(f'CREATE TABLE "{schema}".empty_items {columns}')
    # Year 12000 is a PostgreSQL timestamp, past BigQuery's 9999-12-31.
    pg_admin.execute(f'CREATE TABLE "{schema}".bad_items {columns}')
    pg_admin.execute(
        f"INSERT INTO \"{schema}\".bad_items VALUES (1, 'a', '{STAMPS[1].isoformat()}'), "
        f"(2, 'b', '12000-01-01 00:00:00+00'), (3, 'c', '{STAMPS[3].isoformat()}')"
    )
    yield schema
    pg_admin.execute(f'DROP SCHEMA "{schema}" CASCADE')


def _pg_settings() -> ConnectionSettings:
    import psycopg

    parts = psycopg.conninfo.conninfo_to_dict(PG_DSN)
    return ConnectionSettings(
        host=str(parts.get("host", "127.0.0.1")), port=int(parts.get("port", 5432)),
        database=str(parts.get("dbname", "test")), username=str(parts.get("user", "postgres")),
        password=str(parts["password"]) if parts.get("password") else None,
    )  # fmt: skip


def _pg_live(key: str, schema: str) -> Iterator[LiveSource]:
    with _open(key, _pg_settings()) as reader:
        yield LiveSource(
            reader, TableSource(schema=schema, table="items"), SQL_TYPES,
            TableSource(schema=schema, table="empty_items"), cursor_values=STAMPS,
            bad=TableSource(schema=schema, table="bad_items"), schema=schema,
        )  # fmt: skip


@pytest.fixture(scope="module")
def live_postgresql(contract_pg_schema: str) -> Iterator[LiveSource]:
    yield from _pg_live("postgresql", contract_pg_schema)


@pytest.fixture(scope="module")
def live_redshift(contract_pg_schema: str) -> Iterator[LiveSource]:
    yield from _pg_live("redshift", contract_pg_schema)


# -- MariaDB (mysql and mariadb) -------------------------------------------------------------------


@pytest.fixture(scope="module")
def contract_maria_db(maria_admin) -> Iterator[str]:  # noqa: F811
    database = f"etl_contract_{uuid.uuid4().hex[:8]}"
    stamp = {i: STAMPS[i].strftime("%Y-%m-%d %H:%M:%S") for i in IDS}
    columns = "id bigint PRIMARY KEY, name varchar(20), updated_at timestamp(6) NULL"
    with maria_admin.cursor() as cursor:
        cursor.execute(f"CREATE DATABASE `{database}` CHARACTER SET utf8mb4")
        cursor.execute(f"USE `{database}`")
        cursor.execute("SET SESSION time_zone = '+00:00'")
        cursor.execute(f"CREATE TABLE items ({columns})")
        cursor.execute(
            "INSERT INTO items VALUES "
            + ", ".join(f"({i}, '{NAMES[i]}', '{stamp[i]}')" for i in IDS)
        )
        cursor.execute(f"CREATE TABLE empty_items ({columns})")
        # MySQL's TIME runs to 838:59:59; BigQuery's TIME stops at 23:59:59.
        cursor.execute(f"CREATE TABLE bad_items ({columns}, took time)")
        cursor.execute(
            "INSERT INTO bad_items VALUES "
            + ", ".join(
                f"({i}, '{NAMES[i]}', '{stamp[i]}', '{'100:00:00' if i == 2 else '01:00:00'}')"
                for i in IDS
            )
        )
        cursor.execute("SET SESSION time_zone = DEFAULT")
    yield database
    with maria_admin.cursor() as cursor:
        cursor.execute(f"DROP DATABASE IF EXISTS `{database}`")


def _maria_live(key: str, database: str) -> Iterator[LiveSource]:
    settings = ConnectionSettings(MARIA_HOST, MARIA_PORT, database, "root", None)
    with _open(key, settings) as reader:
        yield LiveSource(
            reader, TableSource(table="items"), SQL_TYPES, TableSource(table="empty_items"),
            cursor_values=STAMPS, bad=TableSource(table="bad_items"), schema=database,
        )  # fmt: skip


@pytest.fixture(scope="module")
def live_mysql(contract_maria_db: str) -> Iterator[LiveSource]:
    yield from _maria_live("mysql", contract_maria_db)


@pytest.fixture(scope="module")
def live_mariadb(contract_maria_db: str) -> Iterator[LiveSource]:
    yield from _maria_live("mariadb", contract_maria_db)


# -- SQLite ----------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def live_sqlite(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveSource]:
    path = tmp_path_factory.mktemp("contract") / "contract.sqlite"
    stamp = {i: STAMPS[i].strftime("%Y-%m-%d %H:%M:%S") for i in IDS}
    with contextlib.closing(sqlite3.connect(path)) as conn, conn:
        for table in ("items", "empty_items", "bad_items"):
            conn.execute(f"CREATE TABLE {table} (id INTEGER, name TEXT, updated_at TIMESTAMP)")
        rows = [(i, NAMES[i], stamp[i]) for i in IDS]
        conn.executemany("INSERT INTO items VALUES (?, ?, ?)", rows)
        # SQLite keeps any value in any column: text in a TIMESTAMP column.
        bad = [(i, NAMES[i], "soon" if i == 2 else stamp[i]) for i in IDS]
        conn.executemany("INSERT INTO bad_items VALUES (?, ?, ?)", bad)
    with _open("sqlite", ConnectionSettings(None, None, str(path), None)) as reader:
        yield LiveSource(
            reader, TableSource(table="items"), SQL_TYPES, TableSource(table="empty_items"),
            cursor_values=STAMPS, bad=TableSource(table="bad_items"), schema="main",
        )  # fmt: skip


# -- BigQuery (the emulator) -----------------------------------------------------------------------


@pytest.fixture(scope="module")
def live_bigquery(services) -> Iterator[LiveSource]:
    from google.api_core.client_options import ClientOptions
    from google.auth.credentials import AnonymousCredentials
    from google.cloud import bigquery

    from etl_bigquery.engine.sources.bigquery_source import BigQuerySourceSettings

    project, dataset = "srcproj", f"contract_{uuid.uuid4().hex[:8]}"
    client = bigquery.Client(
        project=project,
        credentials=AnonymousCredentials(),
        client_options=ClientOptions(api_endpoint=services.layout.bigquery_endpoint),
    )
    client.create_dataset(dataset)
    rows = ", ".join(
        f"STRUCT({i} AS id, '{NAMES[i]}' AS name, TIMESTAMP '{STAMPS[i].isoformat()}' AS {CURSOR})"
        for i in IDS
    )
    client.query_and_wait(f"CREATE TABLE `{dataset}.items` AS SELECT * FROM UNNEST([{rows}])")
    client.query_and_wait(
        f"CREATE TABLE `{dataset}.empty_items` (id INT64, name STRING, {CURSOR} TIMESTAMP)"
    )
    settings = BigQuerySourceSettings(
        project=project,
        credentials=AnonymousCredentials(),
        api_endpoint=services.layout.bigquery_endpoint,
        storage_api_endpoint=f"127.0.0.1:{services.layout.ports.bigquery_grpc}",
    )
    with _open("bigquery", settings) as reader:
        yield LiveSource(
            reader, TableSource(schema=dataset, table="items"), SQL_TYPES,
            TableSource(schema=dataset, table="empty_items"), cursor_values=STAMPS,
            no_bad_value="every BigQuery value fits its own BigQuery type", schema=dataset,
        )  # fmt: skip
    client.delete_dataset(dataset, delete_contents=True, not_found_ok=True)
    client.close()


# -- files: a folder and the object-store emulators ------------------------------------------------

FILE_TYPES = {"id": S.INT64, "name": S.STRING, CURSOR: S.TIMESTAMP}


def _files_live(key: str, settings: Any, write: Any) -> Iterator[LiveSource]:
    from etl_bigquery.engine.jobs.model import FileFormat

    for path, data in FILES_LAYOUT.items():
        write(path, data)

    def files(folder: str, fmt: FileFormat) -> FilesSource:
        return FilesSource(prefix=f"contract/{folder}/", glob="*", format=fmt)

    with _open(key, settings) as reader:
        yield LiveSource(
            reader, files("items", FileFormat.PARQUET), FILE_TYPES,
            files("empty", FileFormat.PARQUET), bad=files("bad", FileFormat.CSV),
        )  # fmt: skip


def _store_writer(settings: Any) -> Any:
    from etl_bigquery.engine.sources.files.store import FileStore

    store = FileStore(settings)

    def write(path: str, data: bytes) -> None:
        with store.fs.open_output_stream(f"{settings.bucket}/{path}", compression=None) as out:
            out.write(data)

    return store, write


@pytest.fixture(scope="module")
def live_local(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveSource]:
    from etl_bigquery.engine.sources.files.store import StoreSettings

    folder = tmp_path_factory.mktemp("contract-files")

    def write(path: str, data: bytes) -> None:
        (folder / path).parent.mkdir(parents=True, exist_ok=True)
        (folder / path).write_bytes(data)

    yield from _files_live("local", StoreSettings(type="local", bucket=str(folder)), write)


@pytest.fixture(scope="module")
def live_gcs(services) -> Iterator[LiveSource]:
    from etl_bigquery.devservices.clients import ensure_bucket
    from etl_bigquery.engine.sources.files.store import StoreSettings

    bucket = ensure_bucket(services.layout, f"etl-contract-{uuid.uuid4().hex[:8]}")
    settings = StoreSettings(
        type="gcs", bucket=bucket, endpoint=services.layout.gcs_endpoint, anonymous=True
    )
    yield from _files_live("gcs", settings, _store_writer(settings)[1])


@pytest.fixture(scope="module")
def live_s3(moto_server: str) -> Iterator[LiveSource]:
    import boto3

    from etl_bigquery.engine.sources.files.store import StoreSettings

    bucket = f"etl-contract-{uuid.uuid4().hex[:8]}"
    keys = {"aws_access_key_id": "testing", "aws_secret_access_key": "testing-secret"}
    boto3.client("s3", endpoint_url=moto_server, region_name="us-east-1", **keys).create_bucket(
        Bucket=bucket
    )
    settings = StoreSettings(
        type="s3", bucket=bucket, endpoint=moto_server, region="us-east-1",
        access_key_id="testing", secret_access_key="testing-secret",
    )  # fmt: skip
    yield from _files_live("s3", settings, _store_writer(settings)[1])


@pytest.fixture(scope="module")
def live_azure_blob(azurite: str) -> Iterator[LiveSource]:
    from etl_bigquery.engine.sources.files.store import StoreSettings

    container = f"etl-contract-{uuid.uuid4().hex[:8]}"
    settings = StoreSettings(
        type="azure_blob", bucket=container, endpoint=azurite, account_name=AZURITE_ACCOUNT,
        account_key=AZURITE_KEY,
    )  # fmt: skip
    store, write = _store_writer(settings)
    store.fs.create_dir(container)
    yield from _files_live("azure_blob", settings, write)


# -- document stores -------------------------------------------------------------------------------

DOC_TYPES = {"id": S.INT64, "name": S.STRING, CURSOR: S.TIMESTAMP}
NUMBER_DOC_TYPES = {"id": S.INT64, "name": S.STRING, CURSOR: S.INT64}


def _documents(cursor: dict[int, Any], bad: bool = False) -> list[dict[str, Any]]:
    """The contract rows as documents; `bad`: row 2's cursor is text."""
    return [
        {"id": i, "name": NAMES[i], CURSOR: "soon" if bad and i == 2 else cursor[i]} for i in IDS
    ]


@pytest.fixture(scope="module")
def live_redis() -> Iterator[LiveSource]:
    import redis

    from etl_bigquery.engine.sources.nosql.documents import NoSqlSettings

    client = redis.Redis(host="127.0.0.1", port=6379, db=11, socket_connect_timeout=3)
    try:
        client.ping()
    except redis.exceptions.ConnectionError as error:
        unavailable(f"Redis is not reachable at 127.0.0.1:6379: {error}")
    prefix = f"etlc{uuid.uuid4().hex[:8]}"
    for document in _documents(EPOCHS):
        client.set(f"{prefix}items:{document['id']}", json.dumps(document))
    for document in _documents(EPOCHS, bad=True):
        client.set(f"{prefix}bad:{document['id']}", json.dumps(document))
    settings = NoSqlSettings(type="redis", host="127.0.0.1", port=6379, database="11")
    try:
        with _open("redis", settings) as reader:
            yield LiveSource(
                reader, TableSource(table=f"{prefix}items"), NUMBER_DOC_TYPES,
                TableSource(table=f"{prefix}empty"), cursor_values=EPOCHS,
                empty_is_missing=True, bad=TableSource(table=f"{prefix}bad"),
                bad_read_as={CURSOR: S.INT64}, schema="db11", table=f"{prefix}items",
            )  # fmt: skip
    finally:
        keys = list(client.scan_iter(match=f"{prefix}*"))
        if keys:
            client.delete(*keys)
        client.close()


@pytest.fixture(scope="module")
def live_dynamodb(moto_server: str) -> Iterator[LiveSource]:
    import boto3

    from etl_bigquery.engine.sources.nosql.documents import NoSqlSettings

    keys = {"aws_access_key_id": "testing", "aws_secret_access_key": "testing"}
    resource = boto3.resource("dynamodb", region_name="eu-west-1", endpoint_url=moto_server, **keys)
    suffix = uuid.uuid4().hex[:8]
    names = {kind: f"contract_{kind}_{suffix}" for kind in ("items", "empty", "bad")}
    for name in names.values():
        resource.create_table(
            TableName=name,
            KeySchema=[{"AttributeName": "id", "KeyType": "HASH"}],
            AttributeDefinitions=[{"AttributeName": "id", "AttributeType": "N"}],
            BillingMode="PAY_PER_REQUEST",
        ).wait_until_exists()
    for kind, bad in (("items", False), ("bad", True)):
        table = resource.Table(names[kind])
        for document in _documents(EPOCHS, bad=bad):
            table.put_item(Item={k: decimal.Decimal(v) if isinstance(v, int) else v
                                 for k, v in document.items()})  # fmt: skip
    settings = NoSqlSettings(
        type="dynamodb", region="eu-west-1", endpoint_url=moto_server,
        aws_access_key_id="testing", aws_secret_access_key="testing",
    )  # fmt: skip
    with _open("dynamodb", settings) as reader:
        yield LiveSource(
            reader, TableSource(table=names["items"]), NUMBER_DOC_TYPES,
            TableSource(table=names["empty"]), cursor_values=EPOCHS,
            bad=TableSource(table=names["bad"]), bad_read_as={CURSOR: S.INT64},
            table=names["items"],
        )  # fmt: skip


@contextlib.contextmanager
def _fake_client(key: str, client: Any) -> Iterator[None]:
    """Hand the reader an in-process fake through the one injection point; the reader keeps the
    client it was opened with."""
    from etl_bigquery.engine.sources.nosql.documents import register_client_factory

    register_client_factory(key, lambda _settings: client)
    try:
        yield
    finally:
        register_client_factory(key, None)


@pytest.fixture(scope="module")
def live_mongodb() -> Iterator[LiveSource]:
    """FAKE: mongomock (no MongoDB server can run here)."""
    import mongomock

    from etl_bigquery.engine.sources.nosql.documents import NoSqlSettings

    client = mongomock.MongoClient(tz_aware=True)
    shop = client["shop"]
    shop["items"].insert_many(_documents(STAMPS))
    shop.create_collection("empty_items")
    shop["bad_items"].insert_many(_documents(STAMPS, bad=True))
    with _fake_client("mongodb", client):
        reader = _open("mongodb", NoSqlSettings(type="mongodb", database="shop"))
    with reader:
        yield LiveSource(
            reader, TableSource(schema="shop", table="items"), DOC_TYPES,
            TableSource(schema="shop", table="empty_items"), cursor_values=STAMPS,
            bad=TableSource(schema="shop", table="bad_items"),
            bad_read_as={CURSOR: S.TIMESTAMP}, schema="shop",
        )  # fmt: skip


@pytest.fixture(scope="module")
def live_firestore(firestore_emulator: str) -> Iterator[LiveSource]:
    """Google's Firestore emulator (the `firestore_emulator` session fixture), in a project of
    this module's own; the reader reaches it through the connection's endpoint_url."""
    import urllib.request

    from google.cloud import firestore

    from etl_bigquery.engine.sources.nosql.documents import NoSqlSettings

    project = f"demo-contract-{uuid.uuid4().hex[:8]}"
    with pytest.MonkeyPatch.context() as patch:  # the library's own way, for this client only
        patch.setenv("FIRESTORE_EMULATOR_HOST", firestore_emulator)
        client = firestore.Client(project=project)
    for collection, bad in (("items", False), ("bad_items", True)):
        for document in _documents(STAMPS, bad=bad):
            client.collection(collection).document(f"doc-{document['id']}").set(document)
    client.close()
    settings = NoSqlSettings(type="firestore", project=project, endpoint_url=firestore_emulator)
    with _open("firestore", settings) as reader:
        yield LiveSource(
            reader, TableSource(table="items"), DOC_TYPES, TableSource(table="empty_items"),
            cursor_values=STAMPS, empty_is_missing=True, bad=TableSource(table="bad_items"),
            bad_read_as={CURSOR: S.TIMESTAMP},
        )  # fmt: skip
    reset = urllib.request.Request(
        f"http://{firestore_emulator}/emulator/v1/projects/{project}/databases/(default)/documents",
        method="DELETE",
    )
    with contextlib.suppress(OSError):
        urllib.request.urlopen(reset, timeout=10).close()


@pytest.fixture(scope="module")
def live_cassandra() -> Iterator[LiveSource]:
    """FAKE: mockylla patches the Cassandra driver in this process (no Cassandra runs here)."""
    from mockylla import MockScyllaDB

    from etl_bigquery.engine.sources.nosql.documents import NoSqlSettings

    with MockScyllaDB():
        from cassandra.cluster import Cluster

        session = Cluster(["127.0.0.1"]).connect()
        session.execute(
            "CREATE KEYSPACE shop WITH REPLICATION = "
            "{'class': 'SimpleStrategy', 'replication_factor': 1}"
        )
        for table in ("items", "empty_items"):
            session.execute(
                f"CREATE TABLE shop.{table} (id int PRIMARY KEY, name text, updated_at timestamp)"
            )
        for i in IDS:
            session.execute(
                "INSERT INTO shop.items (id, name, updated_at) VALUES (%s, %s, %s)",
                (i, NAMES[i], STAMPS[i].replace(tzinfo=None)),  # the driver's: naive UTC
            )
        settings = NoSqlSettings(type="cassandra", host="127.0.0.1", database="shop")
        with _open("cassandra", settings) as reader:
            yield LiveSource(
                reader, TableSource(schema="shop", table="items"), DOC_TYPES,
                TableSource(schema="shop", table="empty_items"), cursor_values=STAMPS,
                no_bad_value="CQL columns are typed: every value fits its column's type",
                schema="shop",
            )  # fmt: skip
