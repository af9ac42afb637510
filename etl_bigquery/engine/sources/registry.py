"""Every source type the engine can read, keyed by the connection's `type`.

A source type's entry names everything the engine needs of it, as `module:name` paths imported
only when used (a driver that is not installed costs nothing until a connection of its type is
opened, and then fails with one sentence):
- `reader`: the reader class (`engine.sources.base.SourceReader`; the abilities it implements are
  the protocols of `engine.sources.abilities`) and `opener`, the function of the same module that
  opens it from `settings`;
- `settings`: the settings class the reader is opened with (built by the connection's block);
- `type_mapper`: source type text → proposed BigQuery type (`engine.schema.typemap.TypeProposal`);
- `query`: the SQL dialect a custom query is checked in (`engine.sources.query_check`), or None
  when the type takes no custom queries;
- declared facts that are no method: `bounded_types`, `inferred_schema`.
Adding a source family is new files (a reader module, its type mapper) and one line here: the
blocks build their type drop-down from this table, the planner takes the type mapping and the
query dialect from it, the contract suite (`tests/contract`) runs on every entry, and the flow
never changes.
"""

from __future__ import annotations

import functools
import importlib
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, cast

from etl_bigquery.engine.errors import ConfigurationError

if TYPE_CHECKING:
    from etl_bigquery.engine.schema.typemap import TypeProposal
    from etl_bigquery.engine.sources.base import SourceReader


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
class QueryDialect:
    """How a custom query of a source type is checked: sqlglot's grammar, and the name in
    messages."""

    sqlglot: str
    name: str


@functools.cache
def _resolve(path: str) -> Any:
    """`module:name`; a module starting with a dot is relative to this package."""
    module_name, _, name = path.partition(":")
    module = importlib.import_module(module_name, package=__package__)
    return getattr(module, name)


@dataclass(frozen=True)
class SourceType:
    key: str
    family: str
    """relational | warehouse | documents | files: the block that holds its connections."""
    reader: str
    """`module:Class` of the reader."""
    settings: str
    """`module:Class` of the settings the reader is opened with."""
    type_mapper: str
    """`module:function` mapping a source type's text to a `TypeProposal`."""
    query: QueryDialect | None = None
    """The dialect custom queries are checked in; None: this type reads no custom queries."""
    dialect: str = ""
    """The name readers of this type report (`SourceReader.dialect`); the key by default. Types
    that share a reader and its type mapping share it (mysql and mariadb: `mysql`)."""
    opener: str = "open_reader"
    """The function of the reader's module that opens a reader from `settings`."""
    bounded_types: bool = True
    """Declared column types bound the values (PostgreSQL numeric(12,2) always fits NUMERIC);
    SQLite's, files' and documents' do not, so their values are checked one by one."""
    inferred_schema: bool = False
    """Column types are guessed from a sample on every run (files, documents): once a table
    exists its types decide, value by value, because the next sample may guess differently."""
    default_port: int | None = None
    needs_host: bool = True

    def __post_init__(self) -> None:
        if not self.dialect:
            object.__setattr__(self, "dialect", self.key)

    def _module_path(self) -> str:
        return self.reader.partition(":")[0]

    def _load(self, path: str) -> Any:
        try:
            return _resolve(path)
        except ImportError as error:
            raise ConfigurationError(
                f"The driver for {self.key} sources is not installed ({error.name}); install "
                "the project's dependencies again."
            ) from None

    def reader_class(self) -> type[SourceReader]:
        return cast("type[SourceReader]", self._load(self.reader))

    def settings_class(self) -> type:
        return cast(type, self._load(self.settings))

    def type_mapping(self) -> Callable[[str], TypeProposal]:
        return cast("Callable[[str], TypeProposal]", self._load(self.type_mapper))

    def propose(self, type_text: str) -> TypeProposal:
        """The proposed BigQuery type of a column of this source type."""
        return self.type_mapping()(type_text)

    def open(self, settings: Any) -> SourceReader:
        expected = self.settings_class()
        if not isinstance(settings, expected):
            raise ConfigurationError(
                f"A {self.key} reader is opened with {expected.__name__}, not "
                f"{type(settings).__name__}."
            )
        opener = self._load(f"{self._module_path()}:{self.opener}")
        return cast("SourceReader", opener(settings))


_SQL = ".registry:ConnectionSettings"
_RELATIONAL = "relational"
_TYPEMAP = "..schema.typemap"
_DIALECT_MAPS = "..schema.typemap_dialects"

SOURCES: dict[str, SourceType] = {
    source.key: source
    for source in (
        SourceType("postgresql", _RELATIONAL, ".postgres:PostgresReader", _SQL,
                   f"{_TYPEMAP}:propose_postgres", QueryDialect("postgres", "PostgreSQL"),
                   default_port=5432),
        SourceType("mysql", _RELATIONAL, ".mysql:MySqlReader", _SQL,
                   f"{_TYPEMAP}:propose_mysql", QueryDialect("mysql", "MySQL"),
                   default_port=3306),
        SourceType("mariadb", _RELATIONAL, ".mysql:MySqlReader", _SQL,
                   f"{_TYPEMAP}:propose_mysql", QueryDialect("mysql", "MySQL"), dialect="mysql",
                   default_port=3306),
        # PostgreSQL's reader without COPY and without split (engine.sources.redshift).
        SourceType("redshift", _RELATIONAL, ".redshift:RedshiftReader", _SQL,
                   f"{_DIALECT_MAPS}:propose_redshift", QueryDialect("redshift", "Redshift"),
                   default_port=5439),
        # SQLAlchemy dialects (engine.sources.sqlalchemy_reader): one reader class, an opener
        # per dialect. Db2: sqlglot has no Db2 grammar, so Db2 sources refuse custom queries.
        *(
            SourceType(key, _RELATIONAL, ".sqlalchemy_reader:SqlAlchemyReader", _SQL,
                       f"{_DIALECT_MAPS}:propose_{mapper}",
                       QueryDialect(grammar, name) if grammar else None,
                       opener=f"open_{key}", default_port=port)
            for key, port, mapper, grammar, name in (
                ("sqlserver", 1433, "sqlserver", "tsql", "SQL Server"),
                ("synapse", 1433, "sqlserver", "tsql", "Azure Synapse"),
                ("oracle", 1521, "oracle", "oracle", "Oracle"),
                ("snowflake", None, "snowflake", "snowflake", "Snowflake"),
                ("db2", 50000, "db2", None, "Db2"),
                ("teradata", 1025, "teradata", "teradata", "Teradata"),
            )
        ),
        # A warehouse, not a database server: its own block (blocks.bigquery_source) builds
        # the reader's settings (project, credentials, bytes limit), so it is no SqlConnection type.
        SourceType("bigquery", "warehouse", ".bigquery_source:BigQuerySourceReader",
                   ".bigquery_source:BigQuerySourceSettings",
                   "..schema.typemap_bigquery:propose_bigquery",
                   QueryDialect("bigquery", "BigQuery"), needs_host=False),
        # SQLite keeps whatever a column is declared as, and any value in it.
        SourceType("sqlite", _RELATIONAL, ".sqlite:SqliteReader", _SQL,
                   f"{_TYPEMAP}:propose_sqlite", QueryDialect("sqlite", "SQLite"),
                   bounded_types=False, needs_host=False),
        # NoSQL: settings are `NoSqlSettings`, built by blocks.nosql; each key is its own dialect
        # (named in messages), all mapped by the document type map.
        *(
            SourceType(key, "documents", f".nosql.{module}:{reader}",
                       ".nosql.documents:NoSqlSettings",
                       "..schema.typemap_document:propose_document", bounded_types=False,
                       inferred_schema=True, default_port=port, needs_host=host)
            for key, module, reader, port, host in (
                ("firestore", "firestore", "FirestoreReader", None, False),
                ("mongodb", "mongodb", "MongoReader", 27017, False),
                ("dynamodb", "dynamodb", "DynamoReader", None, False),
                ("redis", "redis_source", "RedisReader", 6379, True),
                ("cassandra", "cassandra", "CassandraReader", 9042, True),
            )
        ),
        # Object stores and local folders (engine.sources.files): one reader for the four, built
        # from the `ETL File Connection` block; values typed by the conformer, row by row.
        *(
            SourceType(key, "files", ".files.reader:FileReader", ".files.store:StoreSettings",
                       "..schema.typemap_files:propose_files", dialect="files",
                       bounded_types=False, inferred_schema=True, needs_host=False)
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
    """The (first) source type whose readers report `dialect`; a source type's key is taken
    too (`mariadb`)."""
    for source in SOURCES.values():
        if source.dialect == dialect:
            return source
    if dialect in SOURCES:
        return SOURCES[dialect]
    raise ConfigurationError(f"No source type reads the {dialect} dialect.")


def register(source: SourceType) -> None:
    """Add a source type (a plug-in, or a test)."""
    SOURCES[source.key] = source
