"""DynamoDB: a table is a table; `schema` is the region (optional: the connection's).

Read with boto3's `Scan`, page by page (`LastEvaluatedKey`), with strongly consistent reads off
(the default: a scan sees writes acknowledged a moment before it, which the job's `lookback`
covers). An incremental run adds `FilterExpression: #cursor >= :bound` when the cursor attribute
holds numbers (DynamoDB has no date type: a time cursor kept as an ISO string is read whole and
filtered by the engine; one kept as epoch seconds is a number cursor). A scan's filter is
applied after reading, so DynamoDB still reads (and bills) the whole table: that is DynamoDB's
limit, not ours.

Items come through boto3's TypeDeserializer: numbers as Decimal (whole numbers load as INT64),
sets as sorted JSON arrays, binary as BYTES, maps and lists as JSON. `document_id` is the item's
key: the partition key's value, or `[partition, sort]` as JSON when the table has a sort key.
"""

from __future__ import annotations

import decimal
from collections.abc import Iterator, Mapping
from typing import Any

from etl_bigquery.engine.errors import ConfigurationError, ConnectionFailed, Stage, ValidationError
from etl_bigquery.engine.jobs.model import TableSource
from etl_bigquery.engine.sources import connection_errors
from etl_bigquery.engine.sources.base import CursorBound, ReadPlan, TableInfo
from etl_bigquery.engine.sources.nosql.documents import (
    DocumentReader,
    NoSqlSettings,
    SchemaFromSample,
    StoreFiltersCursor,
    bound_value,
    client_factory,
    plain,
    to_json_text,
)

_AUTH_CODES = {"UnrecognizedClientException", "InvalidSignatureException",
               "ExpiredTokenException", "InvalidClientTokenId", "AuthFailure"}  # fmt: skip
_ACCESS_CODES = {"AccessDeniedException", "AccessDenied"}
_THROTTLED = {"ProvisionedThroughputExceededException", "ThrottlingException",
              "RequestLimitExceeded", "InternalServerError", "ServiceUnavailable"}  # fmt: skip


def _classify(error: Exception, stage: Stage = Stage.INIT) -> Exception:
    from botocore import exceptions as boto

    if isinstance(error, boto.ClientError):
        code = error.response.get("Error", {}).get("Code", "")
        if code in _AUTH_CODES:
            return ConnectionFailed(
                "Authentication failed. Check the AWS access key and secret.",
                transient=False, stage=stage,
            )  # fmt: skip
        if code in _ACCESS_CODES:
            return ConnectionFailed(connection_errors.ACCESS, transient=False, stage=stage)
        if code == "ResourceNotFoundException":
            return ValidationError("The DynamoDB table does not exist; check the table name.")
        status = error.response.get("ResponseMetadata", {}).get("HTTPStatusCode") or 0
        if code in _THROTTLED or status >= 500:  # a 5xx's body may be an HTML page: not shown
            return ConnectionFailed(
                f"DynamoDB is busy ({code}); the run is retried.", transient=True, stage=stage
            )
        message = error.response.get("Error", {}).get("Message", code)
        return ValidationError(f"DynamoDB refused the request: {message}.")
    if isinstance(error, boto.NoCredentialsError | boto.PartialCredentialsError):
        return ConfigurationError(
            "No AWS credentials for DynamoDB: set access key id and secret on the connection "
            "(or run where the AWS default credentials exist)."
        )
    if isinstance(error, boto.NoRegionError):
        return ConfigurationError("A DynamoDB connection needs a region (e.g. eu-west-1).")
    if isinstance(error, boto.EndpointConnectionError | boto.ConnectionClosedError):
        return ConnectionFailed(connection_errors.REFUSED, transient=True, stage=stage)
    if isinstance(error, boto.ConnectTimeoutError | boto.ReadTimeoutError):
        return ConnectionFailed(connection_errors.TIMEOUT, transient=True, stage=stage)
    return error


def _client(settings: NoSqlSettings, region: str | None) -> Any:
    factory = client_factory("dynamodb")
    if factory is not None:
        return factory(settings)
    import boto3
    from botocore.config import Config

    config = Config(
        connect_timeout=settings.connect_timeout,
        read_timeout=max(settings.connect_timeout, 60),
        retries={"max_attempts": 5, "mode": "adaptive"},
    )
    return boto3.client(
        "dynamodb",
        region_name=region,
        endpoint_url=settings.endpoint_url or None,
        aws_access_key_id=settings.aws_access_key_id or None,
        aws_secret_access_key=settings.aws_secret_access_key or None,
        config=config,
    )


class DynamoReader(StoreFiltersCursor, SchemaFromSample, DocumentReader):
    key = "dynamodb"

    def __init__(self, settings: NoSqlSettings) -> None:
        super().__init__(settings)
        self._clients: dict[str | None, Any] = {}
        self._keys: dict[tuple[str | None, str], list[str]] = {}
        self._client(None)  # a missing region or credentials library fails here, at init

    def _region(self, namespace: str | None) -> str | None:
        return namespace or self.settings.region

    def _client(self, namespace: str | None) -> Any:
        region = self._region(namespace)
        if region not in self._clients:
            try:
                self._clients[region] = _client(self.settings, region)
            except Exception as error:
                raise _classify(error) from None
        return self._clients[region]

    def ping(self) -> None:
        try:
            self._client(None).list_tables(Limit=1)
        except Exception as error:
            raise _classify(error) from None

    def _namespaces(self) -> list[str]:
        return [self.settings.region or self._client(None).meta.region_name]

    def _table_names(self, namespace: str | None) -> list[str]:
        client = self._client(namespace)
        names: list[str] = []
        try:
            for page in client.get_paginator("list_tables").paginate():
                names.extend(page.get("TableNames", []))
        except Exception as error:
            raise _classify(error, Stage.VALIDATION) from None
        return sorted(names)

    def _describe_table(self, source: TableSource) -> dict[str, Any]:
        try:
            return self._client(source.schema_name).describe_table(TableName=source.table)["Table"]
        except Exception as error:
            raise _classify(error, Stage.VALIDATION) from None

    def _collections(self, namespace: str | None) -> list[TableInfo]:
        region = self._region(namespace) or self._namespaces()[0]
        return [
            TableInfo(region, name, self._count(TableSource(schema=namespace, table=name)),
                      estimated=True)
            for name in self._table_names(namespace)
        ]  # fmt: skip

    def _exists(self, source: TableSource) -> bool:
        return source.table in self._table_names(source.schema_name)

    def _count(self, source: TableSource) -> int | None:
        try:  # DynamoDB refreshes ItemCount about every six hours: an estimate
            return int(self._describe_table(source)["ItemCount"])
        except Exception:
            return None

    def _key_names(self, source: TableSource) -> list[str]:
        cache_key = (source.schema_name, source.table)
        if cache_key not in self._keys:
            schema = self._describe_table(source).get("KeySchema", [])
            ordered = sorted(schema, key=lambda k: 0 if k["KeyType"] == "HASH" else 1)
            self._keys[cache_key] = [k["AttributeName"] for k in ordered]
        return self._keys[cache_key]

    def check_readable(self, plan: ReadPlan) -> None:
        # One request without the filter: a scan's Limit counts items before filtering, so
        # looking for one item at or after the bound asked for one item per request, through
        # the whole table when nothing was new (an unchanged table's every run).
        next(iter(self._documents(self._require(plan.source), None, 1)), None)

    def _documents(
        self, source: TableSource, bound: CursorBound | None, limit: int | None
    ) -> Iterator[tuple[Any, Mapping[str, Any]]]:
        from boto3.dynamodb.types import TypeDeserializer, TypeSerializer

        client = self._client(source.schema_name)
        keys = self._key_names(source)
        arguments: dict[str, Any] = {"TableName": source.table}
        if bound is not None:
            value = bound_value(bound)
            if not isinstance(value, int | float | decimal.Decimal):
                value = None  # DynamoDB compares numbers and strings only: the engine filters
            if value is not None:
                number = decimal.Decimal(str(value))
                # An item whose cursor is not a number (a string where the sample saw numbers)
                # never compares with a number: it is read too, and the engine loads or rejects it.
                arguments["FilterExpression"] = (
                    "(attribute_type(#cursor, :number) AND #cursor >= :bound) OR "
                    "(attribute_exists(#cursor) AND NOT attribute_type(#cursor, :number))"
                )
                arguments["ExpressionAttributeNames"] = {"#cursor": bound.column.name}
                arguments["ExpressionAttributeValues"] = {
                    ":bound": TypeSerializer().serialize(number),
                    ":number": {"S": "N"},
                }
        page = min(limit, self.settings.batch_rows) if limit else self.settings.batch_rows
        arguments["Limit"] = page
        stage = Stage.VALIDATION if limit is not None else Stage.EXTRACTION
        deserialize = TypeDeserializer().deserialize
        returned = 0
        while True:
            try:
                response = client.scan(**arguments)
            except Exception as error:
                raise _classify(error, stage) from None
            for item in response.get("Items", []):
                fields = {name: deserialize(value) for name, value in item.items()}
                yield _item_id(fields, keys), fields
                returned += 1
                if limit is not None and returned >= limit:
                    return
            last = response.get("LastEvaluatedKey")
            if not last:
                return
            arguments["ExclusiveStartKey"] = last

    def close(self) -> None:
        for client in self._clients.values():
            close = getattr(client, "close", None)
            if callable(close):
                close()
        self._clients = {}


def _item_id(fields: Mapping[str, Any], keys: list[str]) -> str | None:
    values = [plain(fields.get(name)) for name in keys]
    if not values or any(v is None for v in values):
        return None
    if len(values) == 1:
        value = values[0]
        if isinstance(value, decimal.Decimal):
            return format(value, "f")
        return value if isinstance(value, str) else to_json_text(value)
    return to_json_text(values)


def open_reader(settings: NoSqlSettings) -> DynamoReader:
    return DynamoReader(settings)
