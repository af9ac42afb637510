"""Firestore: a collection is a table (a path such as `users/alice/orders` reads a
subcollection); `schema` is not used (the connection names the project and database).

Read with google-cloud-firestore in pages of `batch_rows` documents (`limit` + `start_after` the
last snapshot), so a long read never holds one stream open for its whole length. The document id
becomes `document_id`; Firestore timestamps (`DatetimeWithNanoseconds`) are UTC TIMESTAMPs
(nanoseconds truncated to microseconds, as BigQuery keeps), geo points GEOGRAPHY points,
references their path, maps and arrays JSON.

An incremental run adds `where(cursor >= bound)` when the sampled cursor field holds timestamps
or numbers. Firestore compares a value only with values of its own type (checked on Google's
emulator: `>= a timestamp` never returns a document whose cursor is an ISO string, a number, a
map...), so that query alone would skip, silently, every document whose cursor holds another
type than the sample saw. The reader therefore adds one query per other type (`>= ""` selects
every string, `>= -inf` every number, ...; a field has one type per document, so no document
comes twice), and the engine loads, filters or rejects what they return. Documents whose cursor
is null or missing are not read, as a NULL cursor is never loaded by any source.

`endpoint_url` (or FIRESTORE_EMULATOR_HOST, which the client library honours itself) reaches
Google's Firestore emulator: plain gRPC, no credentials.
"""

from __future__ import annotations

import datetime as dt
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


def emulator_host(endpoint: str) -> str:
    """`host:port` of an emulator endpoint given as `host:port` or `http://host:port`."""
    return endpoint.removeprefix("http://").rstrip("/")


def _client(settings: NoSqlSettings) -> Any:
    factory = client_factory("firestore")
    if factory is not None:
        return factory(settings)
    from google.cloud import firestore

    if not settings.endpoint_url:
        return firestore.Client(
            project=settings.project,
            credentials=settings.credentials,
            database=settings.database or DEFAULT_DATABASE,
        )
    from google.auth.credentials import AnonymousCredentials

    host = emulator_host(settings.endpoint_url)
    client = firestore.Client(
        project=settings.project,
        credentials=AnonymousCredentials(),
        database=settings.database or DEFAULT_DATABASE,
        client_options={"api_endpoint": host},
    )
    # The library speaks plain gRPC (as the emulator needs) only when it read the emulator's
    # address from FIRESTORE_EMULATOR_HOST at construction; a process-wide variable would send
    # every other Firestore connection of this process there too, so the one client is told.
    client._emulator_host = host
    return client


def _filter(field: str, op: str, value: Any) -> Any:
    from google.cloud.firestore_v1.base_query import FieldFilter

    return FieldFilter(field, op, value)


def _every_value_of_each_type(client: Any) -> dict[str, tuple[str, Any]]:
    """Type → the condition that selects every value of that type and nothing else (Firestore
    orders types null < booleans < numbers < timestamps < strings < bytes < references <
    geo points < arrays < vectors < maps, and `>=` stays within the type of its operand; each
    condition was checked on Google's emulator). Null is left out: a NULL cursor never loads."""
    from google.cloud.firestore_v1 import GeoPoint
    from google.cloud.firestore_v1.vector import Vector

    return {
        "boolean": (">=", False),
        "number": (">=", float("-inf")),
        "nan": ("==", float("nan")),  # NaN sorts before every number: its own condition
        "timestamp": (">=", dt.datetime(1, 1, 1, tzinfo=dt.UTC)),
        "string": (">=", ""),
        "bytes": (">=", b""),
        # References into this database order by path: every id sorts at or after " " but one
        # that starts with a control character, an id no one writes (U+0000 would be the true
        # least, accepted by the emulator, but it is not known whether Google's service is).
        "reference": (">=", client.document(" / ")),
        "geopoint": (">=", GeoPoint(-90, -180)),
        "array": (">=", []),
        "vector": (">=", Vector([float("-inf")])),  # vectors order by length, then values
        "map": (">=", {}),
    }


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

    def _conditions(self, bound: CursorBound) -> list[tuple[str, Any]]:
        """`cursor >= bound` in the bound's own type, then every value of each other type (see
        the module's docstring): the engine sees every document whose cursor is not null."""
        value = bound_value(bound)
        if isinstance(value, decimal.Decimal):  # Firestore numbers are int64 or double
            value = int(value) if value == value.to_integral_value() else float(value)
        kinds = _every_value_of_each_type(self._client)
        kinds.pop("timestamp" if isinstance(value, dt.datetime) else "number")
        return [(">=", value), *kinds.values()]

    def _documents(
        self, source: TableSource, bound: CursorBound | None, limit: int | None
    ) -> Iterator[tuple[Any, Mapping[str, Any]]]:
        base = self._collection(source)
        queries = [base]
        if bound is not None:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", UserWarning)
                queries = [
                    base.where(filter=_filter(bound.column.name, op, value))
                    for op, value in self._conditions(bound)
                ]
        page = min(limit, self.settings.batch_rows) if limit else self.settings.batch_rows
        stage = Stage.VALIDATION if limit is not None else Stage.EXTRACTION
        returned = 0
        for query in queries:
            for snapshot in self._pages(query, page, stage):
                yield snapshot.id, snapshot.to_dict() or {}
                returned += 1
                if limit is not None and returned >= limit:
                    return

    @staticmethod
    def _pages(base: Any, page: int, stage: Stage) -> Iterator[Any]:
        last = None
        while True:
            query = base.limit(page)
            if last is not None:
                query = query.start_after(last)
            try:
                snapshots = list(query.stream())
            except Exception as error:
                raise _classify(error, stage) from None
            yield from snapshots
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
