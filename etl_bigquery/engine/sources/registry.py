"""Every source type the engine can read, keyed by the connection's `type`.

Adding a source is a line here and a reader module that exposes `open_reader(settings)`: the
blocks build their type drop-down from this table, the planner takes the dialect (type mapping,
query parser) and the capabilities from it, and the flow never changes. Readers are imported only
when a connection of their type is opened, so a driver that is not installed costs nothing until
it is used, and then fails with one sentence.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass, field, replace

from etl_bigquery.engine.errors import ConfigurationError
from etl_bigquery.engine.sources.base import SqlReader


@dataclass(frozen=True)
class Capabilities:
    """What a reader can do; the engine checks these up front instead of falling back quietly."""

    typed_arrow: bool
    """Batches carry typed Arrow columns (not only text)."""
    cursor_pushdown: bool
    """`cursor >= bound` runs in the source, so incremental runs read only the increment."""
    splittable: bool
    """`split(plan, n)` gives independent units (the Dataflow path needs it)."""
    bounded_types: bool
    """Declared column types bound the values (PostgreSQL numeric(12,2) always fits NUMERIC);
    SQLite's do not, so its values are checked one by one."""
    inferred_schema: bool = False
    """Column types are guessed from a sample on every run (files, documents): once a table
    exists its types decide, value by value, because the next sample may guess differently."""


@dataclass(frozen=True)
class ConnectionSettings:
    """What a relational reader needs, secrets resolved; built by the connection block."""

    host: str | None
    port: int | None
    database: str
    username: str | None
    password: str | None = field(default=None, repr=False)
    sslmode: str | None = None
    connect_timeout: int = 10
    query_timeout_seconds: float = 3600


@dataclass(frozen=True)
class SourceType:
    key: str
    family: str
    dialect: str
    """The name type mapping (`engine.schema.typemap`) and the query parser know it by."""
    reader: str
    """`module:function` that opens a reader from `ConnectionSettings`; a module starting with
    a dot is relative to this package (`.postgres:open_reader`)."""
    capabilities: Capabilities
    default_port: int | None = None
    needs_host: bool = True

    def open(self, settings: ConnectionSettings) -> SqlReader:
        module_name, _, function = self.reader.partition(":")
        try:
            module = importlib.import_module(module_name, package=__package__)
        except ImportError as error:
            raise ConfigurationError(
                f"The driver for {self.key} sources is not installed ({error.name}); install "
                "the project's dependencies again."
            ) from None
        opener = getattr(module, function)
        return opener(settings)


_RELATIONAL_TYPED = Capabilities(
    typed_arrow=True, cursor_pushdown=True, splittable=False, bounded_types=True
)

# SQLAlchemy dialects (engine.sources.sqlalchemy_reader): values come as driver Python objects put
# into Arrow by the column's BigQuery type, so not typed Arrow; one streaming statement, no split.
_SQLALCHEMY = Capabilities(
    typed_arrow=False, cursor_pushdown=True, splittable=False, bounded_types=True
)

_FILES = Capabilities(typed_arrow=False, cursor_pushdown=False, splittable=False,
                      bounded_types=False, inferred_schema=True)  # fmt: skip

# NoSQL (engine.sources.nosql): values come as Python objects put into Arrow by the column's
# BigQuery type and checked one by one (a document's field can hold anything); the reader pushes
# `cursor >= bound` into the store where it can (not Redis: the engine filters).
_DOCUMENTS = Capabilities(
    typed_arrow=False,
    cursor_pushdown=True,
    splittable=False,
    bounded_types=False,
    inferred_schema=True,
)

SOURCES: dict[str, SourceType] = {
    source.key: source
    for source in (
        SourceType(
            "postgresql", "relational", "postgresql", ".postgres:open_reader",
            replace(_RELATIONAL_TYPED, splittable=True), default_port=5432,
        ),
        SourceType(
            "mysql", "relational", "mysql", ".mysql:open_reader",
            _RELATIONAL_TYPED, default_port=3306,
        ),
        SourceType(
            "mariadb", "relational", "mysql", ".mysql:open_reader",
            _RELATIONAL_TYPED, default_port=3306,
        ),
        SourceType(
            "redshift", "relational", "redshift", ".redshift:open_reader",
            _RELATIONAL_TYPED, default_port=5439,
        ),
        *(
            SourceType(key, "relational", key, f".sqlalchemy_reader:open_{key}",
                       _SQLALCHEMY, default_port=port, needs_host=True)
            for key, port in (("sqlserver", 1433), ("synapse", 1433), ("oracle", 1521),
                              ("snowflake", None), ("db2", 50000), ("teradata", 1025))
        ),
        # A warehouse, not a database server: its own block (blocks.bigquery_source) builds
        # the reader's settings (project, credentials, bytes limit), so it is no SqlConnection type.
        SourceType(
            "bigquery", "warehouse", "bigquery", ".bigquery_source:open_reader",
            _RELATIONAL_TYPED, needs_host=False,
        ),
        SourceType(
            "sqlite", "relational", "sqlite", ".sqlite:open_reader",
            Capabilities(typed_arrow=False, cursor_pushdown=True, splittable=False,
                         bounded_types=False),
            needs_host=False,
        ),
        # NoSQL: settings are `NoSqlSettings` (engine.sources.nosql.documents), built by
        # blocks.nosql; each key is its own dialect (named in messages), all mapped by the
        # `document` type map.
        *(
            SourceType(key, "documents", key, f".nosql.{module}:open_reader",
                       _DOCUMENTS if pushdown else replace(_DOCUMENTS, cursor_pushdown=False),
                       default_port=port, needs_host=host)
            for key, module, port, host, pushdown in (
                ("firestore", "firestore", None, False, True),
                ("mongodb", "mongodb", 27017, False, True),
                ("dynamodb", "dynamodb", None, False, True),
                ("redis", "redis_source", 6379, True, False),
                ("cassandra", "cassandra", 9042, True, True),
            )
        ),
        # Object stores and local folders (engine.sources.files): one reader for the four, built
        # from the `ETL File Connection` block; values typed by the conformer, row by row.
        *(
            SourceType(key, "files", "files", ".files.reader:open_reader",
                       _FILES, needs_host=False)
            for key in ("gcs", "s3", "azure_blob", "local")
        ),
    )
}  # fmt: skip


def source_type(key: str) -> SourceType:
    try:
        return SOURCES[key]
    except KeyError:
        known = ", ".join(sorted(SOURCES))
        raise ConfigurationError(
            f"Source type '{key}' is not supported; the supported types are {known}."
        ) from None


def by_dialect(dialect: str) -> SourceType:
    for source in SOURCES.values():
        if source.dialect == dialect:
            return source
    raise ConfigurationError(f"No source type reads the {dialect} dialect.")


def register(source: SourceType) -> None:
    """Add a source type (a plug-in, or a test)."""
    SOURCES[source.key] = source
