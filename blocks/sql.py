"""Relational sources as one Prefect block type: `ETL SQL Connection`.

One block per database connection, created once and reused by many jobs; editable in the Prefect
UI (Blocks page) or with `etl connection apply`. The password is a Prefect secret field (stored
encrypted by Prefect, shown as ******** in the UI) or a Google Secret Manager reference.
"""

from __future__ import annotations

from enum import StrEnum
from typing import ClassVar

from prefect.blocks.core import Block
from pydantic import Field, SecretStr, model_validator

from etl_bigquery.blocks.logos import SQL_CONNECTION
from etl_bigquery.blocks.secrets import resolve_secret
from etl_bigquery.engine.sources.base import SourceReader
from etl_bigquery.engine.sources.registry import (
    SOURCES,
    ConnectionSettings,
    SourceType,
    source_type,
)

# The drop-down of engines is the engine's registry of relational sources: a new source type is
# a registry line and a reader module, never an edit here.
SqlType = StrEnum(  # type: ignore[misc]
    "SqlType",
    {key.upper(): key for key, source in SOURCES.items() if source.family == "relational"},
)


class SqlConnection(Block):
    """A relational database that ETL jobs read from (read-only)."""

    _block_type_name: ClassVar[str] = "ETL SQL Connection"
    _block_type_slug: ClassVar[str] = "etl-sql-connection"
    _description: ClassVar[str] = (
        "A relational database read by ETL jobs. Tests and runs never change it."
    )
    _logo_url: ClassVar[str] = SQL_CONNECTION  # type: ignore[assignment]

    type: SqlType = Field(description="Database engine.")
    host: str | None = Field(default=None, description="Host name or IP (not used for sqlite).")
    port: int | None = Field(
        default=None, description="TCP port; empty means the engine's default (PostgreSQL 5432)."
    )
    database: str = Field(description="Database name; for sqlite, the path of the database file.")
    username: str | None = Field(default=None)
    password: SecretStr | None = Field(
        default=None, description="Stored encrypted by Prefect. Leave empty to use password_secret."
    )
    password_secret: str | None = Field(
        default=None,
        description="Google Secret Manager reference instead of password: "
        "projects/<project>/secrets/<name>[/versions/<version>].",
    )
    sslmode: str | None = Field(
        default=None, description="PostgreSQL sslmode (disable, require, verify-full...)."
    )
    connect_timeout: int = Field(default=10, ge=1, le=300, description="Seconds.")
    query_timeout_seconds: int = Field(
        default=3600,
        ge=1,
        description="Longest a job's custom query may run (PostgreSQL statement_timeout); its "
        "checks during validation stop after at most 60 s. Table reads have no limit.",
    )

    @model_validator(mode="after")
    def _fields_for_type(self) -> SqlConnection:
        if self.source.needs_host and not self.host:
            raise ValueError(f"a {self.type.value} connection needs a host")
        if self.password is not None and self.password_secret:
            raise ValueError("set either password or password_secret, not both")
        return self

    @property
    def effective_port(self) -> int | None:
        return self.port or self.source.default_port

    @property
    def source(self) -> SourceType:
        return source_type(self.type.value)

    def identity(self) -> tuple[str, str, int | None, str, str]:
        """What makes two connections the same database and login (duplicates are refused)."""
        return (
            self.type.value,
            (self.host or "").lower(),
            self.effective_port,
            self.database,
            self.username or "",
        )

    def describe(self) -> str:
        if not self.source.needs_host:
            return f"{self.type.value}:{self.database}"
        user = f"{self.username}@" if self.username else ""
        return f"{self.type.value}://{user}{self.host}:{self.effective_port}/{self.database}"

    def open_reader(self) -> SourceReader:
        """A Prefect-free reader with secrets resolved, connected and read-only."""
        return self.source.open(self.connection_settings())

    def connection_settings(self, *, resolve: bool = True) -> ConnectionSettings:
        """The reader's settings; `resolve=False` leaves the password out (Dataflow workers read
        it from Secret Manager themselves, `password_secret`)."""
        password = (
            resolve_secret(self.password, self.password_secret, "password") if resolve else None
        )
        return ConnectionSettings(
            host=self.host,
            port=self.effective_port,
            database=self.database,
            username=self.username,
            password=password,
            sslmode=self.sslmode,
            connect_timeout=self.connect_timeout,
            query_timeout_seconds=self.query_timeout_seconds,
        )
