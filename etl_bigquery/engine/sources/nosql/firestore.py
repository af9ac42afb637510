"""Firestore: a collection is a table (a path such as `users/alice/orders` reads a
subcollection); `schema` is not used (the connection names the project and database).

Read with google-cloud-firestore in pages of `batch_rows` documents (`limit` + `start_after` the
last snapshot), so a long read never holds one stream open for its whole length. An incremental
run adds `where(cursor >= bound)` when the cursor field holds timestamps or numbers (Firestore
then orders by that field). The document id becomes `document_id`; Firestore timestamps
(`DatetimeWithNanoseconds`) are UTC TIMESTAMPs (nanoseconds truncated to microseconds, as
BigQuery keeps), geo points GEOGRAPHY points, references their path, maps and arrays JSON.
"""

from __future__ import annotations

import decimal
import warnings
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

DEFAULT_DATABASE = "(default)"


def _classify(error: Exception, stage: Stage = Stage.INIT) -> Exception:
    from google.api_core import exceptions as google

    if isinstance(error, google.Unauthenticated):
        return ConnectionFailed(
            "Authentication failed. Check the service account (gcp_credentials_block).",
            transient=False, stage=stage,
        )  # fmt: skip
    if isinstance(error, google.PermissionDenied):
        return ConnectionFailed(connection_errors.ACCESS, transient=False, stage=stage)
    if isinstance(error, google.NotFound):
        return ValidationError(f"Firestore says: {error.message}.".replace("..", "."))
    if isinstance(error, google.FailedPrecondition):  # e.g. a missing index
        return ValidationError(f"Firestore refused the query: {error.message}")
    if isinstance(error, google.DeadlineExceeded):
        return ConnectionFailed(connection_errors.TIMEOUT, transient=True, stage=stage)
    if isinstance(error, google.ServiceUnavailable | google.InternalServerError
                  | google.TooManyRequests | google.Aborted):  # fmt: skip
        return ConnectionFailed(
            "Firestore is unavailable for now; the run is retried.", transient=True, stage=stage
        )
    from google.auth.exceptions import DefaultCredentialsError

    if isinstance(error, DefaultCredentialsError):
        return ConfigurationError(
            "No Google credentials for Firestore: set gcp_credentials_block on the connection, "
            "or run where Application Default Credentials exist."
        )
    return error


def _client(settings: NoSqlSettings) -> Any:
    factory = client_factory("firestore")
    if factory is not None:
        return factory(settings)
    from google.cloud import firestore

    return firestore.Client(
        project=settings.project,
        credentials=settings.credentials,
        database=settings.database or DEFAULT_DATABASE,
    )


def _filter(field: str, value: Any) -> Any:
    from google.cloud.firestore_v1.base_query import FieldFilter

    return FieldFilter(field, ">=", value)


class FirestoreReader(StoreFiltersCursor, SchemaFromSample, DocumentReader):
    key = "firestore"

    def __init__(self, settings: NoSqlSettings) -> None:
        super().__init__(settings)
        try:
            self._client = _client(settings)
        except Exception as error:
            raise _classify(error) from None

    def ping(self) -> None:
        try:
            next(iter(self._client.collections()), None)
        except Exception as error:
            raise _classify(error) from None

    def _namespaces(self) -> list[str]:
        return [self.settings.database or DEFAULT_DATABASE]

    def _top_level(self, namespace: str | None) -> None:
        if namespace not in (None, "", *self._namespaces()):
            raise ValidationError(
                f"Firestore has no schema '{namespace}': leave schema empty (a subcollection is "
                "read by its path as the table, e.g. users/alice/orders)."
            )

    def _collections(self, namespace: str | None) -> list[TableInfo]:
        self._top_level(namespace)
        database = self._namespaces()[0]
        try:
            names = sorted(collection.id for collection in self._client.collections())
        except Exception as error:
            raise _classify(error, Stage.VALIDATION) from None
        return [TableInfo(database, name, self._count(TableSource(table=name))) for name in names]

    def _collection(self, source: TableSource) -> Any:
        self._top_level(source.schema_name)
        return self._client.collection(source.table)

    def _exists(self, source: TableSource) -> bool:
        try:
            return next(iter(self._collection(source).limit(1).stream()), None) is not None
        except Exception as error:
            raise _classify(error, Stage.VALIDATION) from None

    def _count(self, source: TableSource) -> int | None:
        try:  # an aggregation query: the server counts, nothing is read
            result = self._collection(source).count().get()
            return int(result[0][0].value)
        except Exception:  # an estimate is advice (and not every client can count)
            return None

    def _documents(
        self, source: TableSource, bound: CursorBound | None, limit: int | None
    ) -> Iterator[tuple[Any, Mapping[str, Any]]]:
        base = self._collection(source)
        if bound is not None:
            value = bound_value(bound)
            if isinstance(value, decimal.Decimal):  # Firestore numbers are int64 or double
                value = int(value) if value == value.to_integral_value() else float(value)
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", UserWarning)
                base = base.where(filter=_filter(bound.column.name, value))
        page = min(limit, self.settings.batch_rows) if limit else self.settings.batch_rows
        stage = Stage.VALIDATION if limit is not None else Stage.EXTRACTION
        last = None
        returned = 0
        while True:
            query = base.limit(page)
            if last is not None:
                query = query.start_after(last)
            try:
                snapshots = list(query.stream())
            except Exception as error:
                raise _classify(error, stage) from None
            for snapshot in snapshots:
                yield snapshot.id, snapshot.to_dict() or {}
                returned += 1
                if limit is not None and returned >= limit:
                    return
            if len(snapshots) < page:
                return
            last = snapshots[-1]

    def close(self) -> None:
        client = getattr(self, "_client", None)
        close = getattr(client, "close", None)
        if callable(close):
            close()
        self._client = None


def open_reader(settings: NoSqlSettings) -> FirestoreReader:
    return FirestoreReader(settings)
