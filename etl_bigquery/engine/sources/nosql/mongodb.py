"""MongoDB: a collection is a table; `schema` is the database (default: the connection's).

Read with pymongo: `find()` streams the collection in server batches; an incremental run adds
`{cursor: {"$gte": bound}}` when the cursor field holds dates or numbers (and reads the documents
whose cursor holds another kind, which the engine loads or rejects). `_id` becomes
`document_id` (an ObjectId as its hex text); Decimal128 values are decimals, datetimes are UTC
(the client is tz-aware), embedded documents and arrays are JSON.
"""

from __future__ import annotations

import datetime as dt
import decimal
from collections.abc import Iterator, Mapping
from typing import Any

from etl_bigquery.engine.errors import ConfigurationError, ConnectionFailed, Stage, ValidationError
from etl_bigquery.engine.jobs.model import TableSource
from etl_bigquery.engine.sources import connection_errors
from etl_bigquery.engine.sources.base import CursorBound, TableInfo
from etl_bigquery.engine.sources.nosql.documents import (
    DocumentReader,
    NoSqlSettings,
    SchemaFromSample,
    StoreFiltersCursor,
    bound_value,
    client_factory,
)

_SYSTEM_DATABASES = {"admin", "config", "local"}
_SERVER_BATCH = 1000


def _classify(error: Exception, stage: Stage = Stage.INIT) -> Exception:
    from pymongo import errors

    if isinstance(error, errors.OperationFailure):
        if error.code in (18, 11):  # AuthenticationFailed, UserNotFound
            return ConnectionFailed(connection_errors.AUTH, transient=False, stage=stage)
        if error.code in (13, 8000):  # Unauthorized (and Atlas' variant)
            return ConnectionFailed(connection_errors.ACCESS, transient=False, stage=stage)
        message = str(getattr(error, "details", {}).get("errmsg") or "refused").rstrip(".")
        cls = ValidationError if stage is not Stage.EXTRACTION else ConnectionFailed
        if cls is ConnectionFailed:
            return ConnectionFailed(f"MongoDB refused the read: {message}.", transient=False,
                                    stage=stage)  # fmt: skip
        return ValidationError(f"MongoDB refused the read: {message}.")
    if isinstance(error, errors.ConfigurationError | errors.InvalidURI):
        return ConfigurationError(
            "The MongoDB connection string or settings are not valid; check them "
            "(mongodb://host:port/database or mongodb+srv://...)."
        )
    if isinstance(error, errors.ServerSelectionTimeoutError):
        text = str(error).lower()
        if "refused" in text:
            return ConnectionFailed(connection_errors.REFUSED, transient=True, stage=stage)
        return connection_errors.connection_error(text, stage=stage)
    if isinstance(error, errors.PyMongoError):
        return connection_errors.connection_error(str(error), stage=stage)
    return error


def _client(settings: NoSqlSettings) -> Any:
    factory = client_factory("mongodb")
    if factory is not None:
        return factory(settings)
    import pymongo

    timeout_ms = settings.connect_timeout * 1000
    options: dict[str, Any] = {
        "tz_aware": True,
        "serverSelectionTimeoutMS": timeout_ms,
        "connectTimeoutMS": timeout_ms,
        "appname": "etl-bigquery",
    }
    if settings.connection_string:
        return pymongo.MongoClient(settings.connection_string, **options)
    if settings.username:
        options["username"] = settings.username
        options["password"] = settings.password
    if settings.tls:
        options["tls"] = True
    return pymongo.MongoClient(host=settings.host or "localhost", port=settings.port or 27017,
                               **options)  # fmt: skip


class MongoReader(StoreFiltersCursor, SchemaFromSample, DocumentReader):
    key = "mongodb"

    def __init__(self, settings: NoSqlSettings) -> None:
        super().__init__(settings)
        try:
            self._client = _client(settings)
        except Exception as error:
            raise _classify(error) from None
        self._default = settings.database or self._uri_database() or "test"

    def _uri_database(self) -> str | None:
        try:
            return self._client.get_default_database().name
        except Exception:  # no database in the connection string
            return None

    def _database(self, name: str | None) -> Any:
        return self._client[name or self._default]

    def ping(self) -> None:
        try:
            self._client.admin.command("ping")
        except Exception as error:
            raise _classify(error) from None

    def _namespaces(self) -> list[str]:
        try:
            names = self._client.list_database_names()
        except Exception as error:
            from pymongo import errors

            if isinstance(error, errors.OperationFailure):
                return [self._default]  # a login limited to its database cannot list others
            raise _classify(error) from None
        found = [name for name in names if name not in _SYSTEM_DATABASES]
        return sorted({*found, self._default})

    def _collections(self, namespace: str | None) -> list[TableInfo]:
        database = self._database(namespace)
        try:
            names = sorted(
                n for n in database.list_collection_names() if not n.startswith("system.")
            )
            return [
                TableInfo(database.name, name, database[name].estimated_document_count(),
                          estimated=True)
                for name in names
            ]  # fmt: skip
        except Exception as error:
            raise _classify(error, Stage.VALIDATION) from None

    def _exists(self, source: TableSource) -> bool:
        try:
            return source.table in self._database(source.schema_name).list_collection_names()
        except Exception as error:
            raise _classify(error, Stage.VALIDATION) from None

    def _count(self, source: TableSource) -> int | None:
        try:
            return int(self._database(source.schema_name)[source.table].estimated_document_count())
        except Exception:  # an estimate is advice
            return None

    def _documents(
        self, source: TableSource, bound: CursorBound | None, limit: int | None
    ) -> Iterator[tuple[Any, Mapping[str, Any]]]:
        collection = self._database(source.schema_name)[source.table]
        query: dict[str, Any] = {}
        if bound is not None:
            value = bound_value(bound)
            if isinstance(value, decimal.Decimal):
                from bson.decimal128 import Decimal128

                value = Decimal128(value)
            # Documents whose cursor holds another kind (an ISO string where the sample saw
            # dates) are read too: `$gte` would skip them silently, while the engine loads or
            # rejects them (and drops those before the bound).
            native = "date" if isinstance(value, dt.datetime) else "number"
            name = bound.column.name
            query["$or"] = [
                {name: {"$gte": value}},
                {name: {"$exists": True, "$not": {"$type": native}}},
            ]
        stage = Stage.VALIDATION if limit is not None else Stage.EXTRACTION
        try:
            cursor = collection.find(query, batch_size=_SERVER_BATCH)
            if limit is not None:
                cursor = cursor.limit(limit)
            for document in cursor:
                document_id = document.pop("_id", None)
                yield document_id, document
        except Exception as error:
            raise _classify(error, stage) from None

    def close(self) -> None:
        client = getattr(self, "_client", None)
        if client is not None:
            client.close()
            self._client = None


def open_reader(settings: NoSqlSettings) -> MongoReader:
    return MongoReader(settings)
