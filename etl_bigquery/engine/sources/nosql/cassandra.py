"""Cassandra (and ScyllaDB): a table is a table; `schema` is the keyspace (default: the
connection's `database`).

Cassandra declares its columns, so the schema comes from `system_schema.columns` (CQL types,
partition and clustering keys as the primary key), not from a sample, and there is no
`document_id`: the table's own key columns identify a row. The driver (scylla-driver, the
maintained fork of DataStax's `cassandra-driver`, same API) pages through `SELECT` results
(`fetch_size` rows a page). An incremental run adds `WHERE cursor >= ? ALLOW FILTERING` when the
cursor column is a timestamp, date or number: Cassandra then still scans every partition (it
filters on the coordinator), so the saving is in what crosses the network, not in what the
cluster reads. Collections (map, set, list, tuple, UDT) become JSON.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from typing import Any

from etl_bigquery.engine.errors import ConfigurationError, ConnectionFailed, Stage, ValidationError
from etl_bigquery.engine.jobs.model import TableSource
from etl_bigquery.engine.sources import connection_errors
from etl_bigquery.engine.sources.base import CursorBound, SourceColumn, TableInfo
from etl_bigquery.engine.sources.nosql.documents import (
    DocumentReader,
    NoSqlSettings,
    StoreFiltersCursor,
    bound_value,
)

_SYSTEM_KEYSPACES = {"system", "system_schema", "system_auth", "system_distributed",
                     "system_traces", "system_views", "system_virtual_schema",
                     "system_distributed_everywhere"}  # fmt: skip
_PLAIN_NAME = re.compile(r"^[a-z_][a-z0-9_]*$")
_KEY_ORDER = {"partition_key": 0, "clustering": 1, "static": 2, "regular": 3}


def quote(name: str) -> str:
    """CQL identifiers: plain lower-case names as they are, others in double quotes."""
    if _PLAIN_NAME.match(name):
        return name
    return '"' + name.replace('"', '""') + '"'


def _classify(error: Exception, stage: Stage = Stage.INIT) -> Exception:
    name = type(error).__name__
    text = str(error)
    if name == "NoHostAvailable":
        lowered = text.lower()
        if "authentication" in lowered or "bad credentials" in lowered:
            return ConnectionFailed(connection_errors.AUTH, transient=False, stage=stage)
        if "timed out" in lowered or "timeout" in lowered:
            return ConnectionFailed(connection_errors.TIMEOUT, transient=True, stage=stage)
        return ConnectionFailed(connection_errors.REFUSED, transient=True, stage=stage)
    if name in ("AuthenticationFailed",):
        return ConnectionFailed(connection_errors.AUTH, transient=False, stage=stage)
    if name == "Unauthorized":
        return ConnectionFailed(connection_errors.ACCESS, transient=False, stage=stage)
    if name in ("OperationTimedOut", "ReadTimeout", "Unavailable", "ReadFailure"):
        return ConnectionFailed(
            f"Cassandra did not answer in time ({name}); the run is retried.",
            transient=True, stage=stage,
        )  # fmt: skip
    if name in ("InvalidRequest", "SyntaxException"):
        return ValidationError(f"Cassandra refused the query: {text.splitlines()[0]}.")
    return error


def _row(row: Any) -> dict[str, Any]:
    if isinstance(row, Mapping):  # the session's dict_factory
        return dict(row)
    as_dict = getattr(row, "_asdict", None) or row.as_dict  # a named tuple, or mockylla's Row
    return dict(as_dict())


class CassandraReader(StoreFiltersCursor, DocumentReader):
    key = "cassandra"
    has_document_id = False

    def __init__(self, settings: NoSqlSettings) -> None:
        super().__init__(settings)
        from cassandra.auth import PlainTextAuthProvider
        from cassandra.cluster import Cluster
        from cassandra.query import dict_factory

        if not settings.host:
            raise ConfigurationError("A cassandra connection needs a host (contact points).")
        auth = (
            PlainTextAuthProvider(settings.username, settings.password or "")
            if settings.username
            else None
        )
        self._cluster = Cluster(
            [h.strip() for h in settings.host.split(",") if h.strip()],
            port=settings.port or 9042,
            auth_provider=auth,
            connect_timeout=settings.connect_timeout,
            ssl_context=_ssl_context() if settings.tls else None,
        )
        try:
            self._session = self._cluster.connect()
        except Exception as error:
            self._cluster.shutdown()
            raise _classify(error) from None
        self._session.row_factory = dict_factory
        self._session.default_timeout = max(settings.connect_timeout, 60)
        self._keyspace = settings.database or None

    def _execute(
        self, query: str, parameters: tuple[Any, ...] | None = None,
        stage: Stage = Stage.VALIDATION, fetch_size: int | None = None,
    ) -> Iterator[dict[str, Any]]:  # fmt: skip
        from cassandra.query import SimpleStatement

        statement = SimpleStatement(query, fetch_size=fetch_size or self.settings.batch_rows)
        try:
            for row in self._session.execute(statement, parameters):
                yield _row(row)
        except Exception as error:
            raise _classify(error, stage) from None

    def _ks(self, namespace: str | None) -> str:
        keyspace = namespace or self._keyspace
        if not keyspace:
            raise ValidationError(
                "Which keyspace? Set source.schema, or database on the cassandra connection."
            )
        return keyspace

    def ping(self) -> None:
        list(self._execute("SELECT keyspace_name FROM system_schema.keyspaces LIMIT 1",
                           stage=Stage.INIT))  # fmt: skip

    def _namespaces(self) -> list[str]:
        rows = self._execute("SELECT keyspace_name FROM system_schema.keyspaces")
        return sorted({r["keyspace_name"] for r in rows} - _SYSTEM_KEYSPACES)

    def _table_names(self, keyspace: str) -> list[str]:
        rows = self._execute(
            "SELECT table_name FROM system_schema.tables WHERE keyspace_name = %s", (keyspace,)
        )
        return sorted(r["table_name"] for r in rows)

    def _collections(self, namespace: str | None) -> list[TableInfo]:
        keyspaces = [namespace] if namespace else (
            [self._keyspace] if self._keyspace else self._namespaces()
        )  # fmt: skip
        # Counting a Cassandra table reads every partition: no counts in discovery.
        return [TableInfo(ks, name, None) for ks in keyspaces for name in self._table_names(ks)]

    def _exists(self, source: TableSource) -> bool:
        return source.table in self._table_names(self._ks(source.schema_name))

    def describe(self, source: Any) -> list[SourceColumn]:
        table = self._require(source)
        rows = list(self._execute(
            "SELECT column_name, type, kind FROM system_schema.columns "
            "WHERE keyspace_name = %s AND table_name = %s",
            (self._ks(table.schema_name), table.table),
        ))  # fmt: skip
        # Cassandra's own `SELECT *` order: partition key, clustering, then the rest by name.
        rows.sort(key=lambda r: (_KEY_ORDER.get(str(r.get("kind")), 3), r["column_name"]))
        return [
            SourceColumn(
                r["column_name"], str(r["type"]),
                nullable=r.get("kind") not in ("partition_key", "clustering"),
                primary_key=r.get("kind") in ("partition_key", "clustering"),
            )
            for r in rows
        ]  # fmt: skip

    def _documents(
        self, source: TableSource, bound: CursorBound | None, limit: int | None
    ) -> Iterator[tuple[Any, Mapping[str, Any]]]:
        query = f"SELECT * FROM {quote(self._ks(source.schema_name))}.{quote(source.table)}"
        parameters: tuple[Any, ...] | None = None
        if bound is not None:
            value = bound_value(bound)
            if hasattr(value, "tzinfo") and value.tzinfo is not None:
                value = value.replace(tzinfo=None)  # the driver's timestamps are naive UTC
            query += f" WHERE {quote(bound.column.name)} >= %s"
            parameters = (value,)
        if limit is not None:
            query += f" LIMIT {int(limit)}"
        if bound is not None:  # CQL: LIMIT comes before ALLOW FILTERING
            query += " ALLOW FILTERING"
        stage = Stage.VALIDATION if limit is not None else Stage.EXTRACTION
        for row in self._execute(query, parameters, stage):
            yield None, row

    def close(self) -> None:
        cluster = getattr(self, "_cluster", None)
        if cluster is not None:
            cluster.shutdown()
            self._cluster = None


def _ssl_context() -> Any:
    import ssl

    return ssl.create_default_context()


def open_reader(settings: NoSqlSettings) -> CassandraReader:
    return CassandraReader(settings)
