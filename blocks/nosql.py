"""NoSQL sources as one Prefect block type: `ETL NoSQL Connection`.

One block per store (a MongoDB database, a Firestore project, DynamoDB in a region, a Redis
server, a Cassandra cluster), reused by many jobs; editable in the Prefect UI or with
`etl connection apply` (`kind: nosql`). Secrets (password, connection string, AWS secret key)
are Prefect secret fields or Google Secret Manager references, as for SQL connections. Firestore
uses a prefect-gcp `GcpCredentials` block named in `gcp_credentials_block` (else Application
Default Credentials); DynamoDB an access key pair, or a prefect-aws `AwsCredentials` block where
prefect-aws is installed (else the AWS default credential chain).
"""

from __future__ import annotations

import importlib.util
from enum import StrEnum
from typing import Any, ClassVar

from prefect.blocks.core import Block
from pydantic import Field, SecretStr, model_validator

from etl_bigquery.blocks.logos import NOSQL_CONNECTION
from etl_bigquery.blocks.secrets import resolve_secret
from etl_bigquery.engine.errors import ConfigurationError
from etl_bigquery.engine.sources.base import SourceReader
from etl_bigquery.engine.sources.nosql.documents import DEFAULT_SAMPLE_SIZE, NoSqlSettings
from etl_bigquery.engine.sources.registry import SOURCES, SourceType, source_type

# The drop-down is the registry's `documents` family: a new store is a registry line and a
# reader module.
NoSqlType = StrEnum(  # type: ignore[misc]
    "NoSqlType",
    {key.upper(): key for key, source in SOURCES.items() if source.family == "documents"},
)

SECRET_FIELDS = ("password", "connection_string", "aws_secret_access_key")


class NoSqlConnection(Block):
    """A NoSQL store that ETL jobs read from (read-only)."""

    _block_type_name: ClassVar[str] = "ETL NoSQL Connection"
    _block_type_slug: ClassVar[str] = "etl-nosql-connection"
    _description: ClassVar[str] = (
        "A NoSQL store (Firestore, MongoDB, DynamoDB, Redis, Cassandra) read by ETL jobs. A "
        "collection, table or key prefix is a job's source table. Tests and runs never change it."
    )
    _logo_url: ClassVar[str] = NOSQL_CONNECTION  # type: ignore[assignment]

    type: NoSqlType = Field(description="The store.")
    host: str | None = Field(
        default=None,
        description="MongoDB, Redis: host name; Cassandra: contact points, comma-separated.",
    )
    port: int | None = Field(
        default=None, description="Empty: the store's default (27017, 6379, 9042)."
    )
    database: str | None = Field(
        default=None,
        description="MongoDB: database; Redis: db number (0); Cassandra: keyspace; Firestore: "
        "database id ((default)). A job's source.schema overrides it.",
    )
    username: str | None = Field(default=None)
    password: SecretStr | None = Field(
        default=None, description="Stored encrypted by Prefect. Or use password_secret."
    )
    password_secret: str | None = Field(
        default=None, description="Secret Manager reference: projects/<p>/secrets/<name>."
    )
    connection_string: SecretStr | None = Field(
        default=None,
        description="MongoDB only, instead of host/port/username/password: mongodb://... or "
        "mongodb+srv://... (stored encrypted; it may hold a password).",
    )
    connection_string_secret: str | None = Field(
        default=None, description="Secret Manager reference holding the connection string."
    )
    tls: bool = Field(default=False, description="MongoDB, Redis, Cassandra: connect with TLS.")
    project: str | None = Field(default=None, description="Firestore: Google Cloud project.")
    gcp_credentials_block: str | None = Field(
        default=None,
        description="Firestore: name of a prefect-gcp GcpCredentials block; empty: Application "
        "Default Credentials.",
    )
    region: str | None = Field(default=None, description="DynamoDB: AWS region, e.g. eu-west-1.")
    endpoint_url: str | None = Field(
        default=None,
        description="DynamoDB: another endpoint (DynamoDB Local, a test server); Firestore: "
        "Google's Firestore emulator, host:port (plain gRPC, no credentials).",
    )
    aws_access_key_id: str | None = Field(default=None, description="DynamoDB: access key id.")
    aws_secret_access_key: SecretStr | None = Field(
        default=None, description="DynamoDB: secret access key (stored encrypted)."
    )
    aws_secret_access_key_secret: str | None = Field(
        default=None, description="Secret Manager reference holding the AWS secret access key."
    )
    aws_credentials_block: str | None = Field(
        default=None,
        description="DynamoDB: name of a prefect-aws AwsCredentials block (needs prefect-aws).",
    )
    connect_timeout: int = Field(default=10, ge=1, le=300, description="Seconds.")
    sample_size: int = Field(
        default=DEFAULT_SAMPLE_SIZE,
        ge=1,
        le=100_000,
        description="How many documents the schema is read from (the union of their fields).",
    )

    @model_validator(mode="after")
    def _fields_for_type(self) -> NoSqlConnection:
        kind = self.type.value
        pairs = (("password", self.password, self.password_secret),
                 ("connection_string", self.connection_string, self.connection_string_secret),
                 ("aws_secret_access_key", self.aws_secret_access_key,
                  self.aws_secret_access_key_secret))  # fmt: skip
        for name, value, reference in pairs:
            if value is not None and reference:
                raise ValueError(f"set either {name} or {name}_secret, not both")
        has_uri = self.connection_string is not None or bool(self.connection_string_secret)
        if has_uri and kind != "mongodb":
            raise ValueError("connection_string is for mongodb connections only")
        if kind == "mongodb" and not (self.host or has_uri):
            raise ValueError("a mongodb connection needs a host or a connection_string")
        if kind in ("redis", "cassandra") and not self.host:
            raise ValueError(f"a {kind} connection needs a host")
        if kind == "firestore" and not self.project:
            raise ValueError("a firestore connection needs a project")
        if kind == "firestore" and (self.endpoint_url or "").startswith("https://"):
            raise ValueError(
                "a firestore endpoint_url is the emulator's host:port (no TLS); leave it empty "
                "for Google's Firestore"
            )
        if kind == "dynamodb" and not self.region:
            raise ValueError("a dynamodb connection needs a region (e.g. eu-west-1)")
        return self

    @property
    def source(self) -> SourceType:
        return source_type(self.type.value)

    @property
    def effective_port(self) -> int | None:
        return self.port or self.source.default_port

    def _place(self) -> str:
        kind = self.type.value
        if kind == "firestore":
            place = f"{self.project}/{self.database or '(default)'}"
            return place + (f"@{self.endpoint_url}" if self.endpoint_url else "")
        if kind == "dynamodb":
            return f"{self.region}" + (f"@{self.endpoint_url}" if self.endpoint_url else "")
        if kind == "mongodb" and not self.host:
            return "(connection string)"
        return f"{self.host}:{self.effective_port}"

    def identity(self) -> tuple[str, str, int | None, str, str]:
        """What makes two connections the same store and login (duplicates are refused)."""
        return (
            self.type.value,
            self._place().lower(),
            self.effective_port,
            self.database or "",
            self.username or self.aws_access_key_id or "",
        )

    def describe(self) -> str:
        kind = self.type.value
        if kind in ("firestore", "dynamodb"):
            return f"{kind}:{self._place()}"
        user = f"{self.username}@" if self.username else ""
        return f"{kind}://{user}{self._place()}/{self.database or ''}"

    def _google_credentials(self) -> Any:
        if not self.gcp_credentials_block:
            return None
        from etl_bigquery.blocks.gcp_credentials import GcpCredentials
        from etl_bigquery.blocks.registry import load_block

        block = load_block(GcpCredentials, self.gcp_credentials_block)
        if block is None:
            raise ConfigurationError(
                f"GcpCredentials block '{self.gcp_credentials_block}' does not exist; create it "
                "or clear gcp_credentials_block."
            )
        return block.get_credentials_from_service_account()  # type: ignore[attr-defined]

    def _aws_keys(self) -> tuple[str | None, str | None]:
        if not self.aws_credentials_block:
            secret = resolve_secret(
                self.aws_secret_access_key, self.aws_secret_access_key_secret,
                "aws_secret_access_key",
            )  # fmt: skip
            return self.aws_access_key_id, secret
        if importlib.util.find_spec("prefect_aws") is None:
            raise ConfigurationError(
                "aws_credentials_block needs prefect-aws, which is not installed; set "
                "aws_access_key_id and aws_secret_access_key instead."
            )
        from prefect_aws import AwsCredentials

        from etl_bigquery.blocks.registry import load_block

        block = load_block(AwsCredentials, self.aws_credentials_block)
        if block is None:
            raise ConfigurationError(
                f"AwsCredentials block '{self.aws_credentials_block}' does not exist."
            )
        secret = block.aws_secret_access_key  # type: ignore[attr-defined]
        return block.aws_access_key_id, secret.get_secret_value() if secret else None  # type: ignore[attr-defined]

    def settings(self) -> NoSqlSettings:
        """The reader's settings, secrets resolved (never logged: the fields hide in reprs)."""
        kind = self.type.value
        access_key, secret_key = self._aws_keys() if kind == "dynamodb" else (None, None)
        return NoSqlSettings(
            type=kind,
            host=self.host,
            port=self.effective_port,
            database=self.database,
            username=self.username,
            password=resolve_secret(self.password, self.password_secret, "password"),
            connection_string=resolve_secret(
                self.connection_string, self.connection_string_secret, "connection_string"
            ),
            tls=self.tls,
            project=self.project,
            credentials=self._google_credentials() if kind == "firestore" else None,
            region=self.region,
            endpoint_url=self.endpoint_url,
            aws_access_key_id=access_key,
            aws_secret_access_key=secret_key,
            connect_timeout=self.connect_timeout,
            sample_size=self.sample_size,
        )

    def open_reader(self) -> SourceReader:
        """A Prefect-free reader with secrets resolved, connected and read-only."""
        return self.source.open(self.settings())
